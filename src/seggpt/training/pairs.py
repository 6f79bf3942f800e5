"""In-context colouring (paper 3.1): from two samples to a pair of canvases with a random colour mapping.

The categories (semantic) or objects (instance) of the pair are a random non-empty subset of those both views
share; each is mapped to a random colour, distinct from the others and far from black; everything else is
black background; ignore pixels are black with `valid` 0. Mixed context stitches several pairs with one
mapping side by side, then randomly crops and resizes the stitched halves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from seggpt.data.io import label_values, small_span
from seggpt.data.sources import Sample, Task
from seggpt.inference.canvas import normalize
from seggpt.inference.palette import palette
from seggpt.inference.resize import resize_image, resize_labels
from seggpt.model.seggpt import seg_type_code


@dataclass(frozen=True)
class PairOptions:
    """Augmentation and masking of in-context pairs.

    Attributes:
        crop_scale: area fraction range of the random resized crop.
        crop_ratio: aspect ratio (w / h) range of the crop, relative to the output's aspect.
        flip_prob: probability of a horizontal flip (per view).
        jitter: brightness, contrast and saturation jitter strength (images only).
        block_mask_ratio: fraction of the prompt half's target patches also masked in random blocks (Painter).
        min_colour_distance: the smallest RGB distance between two mapped colours and to black.
        colour_all: colour every shared label instead of a random subset (evaluation).
        palette_prob: probability that a pair's mapping uses the reference palette for its K colours (what
            inference gives K classes: white first, then bright colours 85 apart), in random order, instead of
            random colours; a small model trained on random colours only is too imprecise to tell them apart.
        align_same: a pair of one sample (prompt is query) shows one view twice: the query is the prompt, so
            the model only has to copy the prompt's colours in place (the first stage of a copy-first curriculum).
    """

    crop_scale: tuple[float, float] = (0.3, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.333)
    flip_prob: float = 0.5
    jitter: float = 0.4
    block_mask_ratio: float = 0.0
    min_colour_distance: float = 60.0
    colour_all: bool = False
    palette_prob: float = 0.0
    align_same: bool = False


EVAL_OPTIONS = PairOptions(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0, jitter=0.0, colour_all=True)


@dataclass
class Example:
    """One training example (batched: a leading B on every field).

    image_canvas, target_canvas: (3, H, W) float32 normalized; valid: (1, H, W) float32 in {0, 1};
    bool_masked_pos: (h, w) bool patch mask (True = hidden, counted in the loss); seg_type: () int64 (0/1).
    """

    image_canvas: Tensor
    target_canvas: Tensor
    valid: Tensor
    bool_masked_pos: Tensor
    seg_type: Tensor


def collate_examples(examples: list[Example]) -> Example:
    """Stack examples into a batch."""
    return Example(*(torch.stack([getattr(e, f) for e in examples]) for f in Example.__dataclass_fields__))


def random_colours(count: int, rng: np.random.Generator, min_distance: float = 60.0) -> NDArray[np.uint8]:
    """(count, 3) uint8 random colours, pairwise and from black at least `min_distance` apart (relaxed if needed)."""
    chosen: list[NDArray[np.float64]] = []
    distance, attempts = min_distance, 0
    while len(chosen) < count:
        c = rng.uniform(0, 255, 3).round()
        if np.linalg.norm(c) >= distance and all(np.linalg.norm(c - o) >= distance for o in chosen):
            chosen.append(c)
        attempts += 1
        if attempts % 200 == 0:
            distance *= 0.8  # too many colours for this spacing: relax, they stay distinct
    return np.array(chosen, dtype=np.uint8).reshape(count, 3)


def resized_crop(
    sample: Sample,
    size: tuple[int, int],
    rng: np.random.Generator,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> Sample:
    """Random resized crop of image (bicubic) and labels (nearest) to `size` (h, w)."""
    H, W = sample.labels.shape
    target_aspect = size[1] / size[0]
    area = H * W * rng.uniform(*scale)
    aspect = target_aspect * np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
    ch = round(float(min(H, np.sqrt(area / aspect))))
    cw = round(float(min(W, np.sqrt(area * aspect))))
    top, left = int(rng.integers(H - ch + 1)), int(rng.integers(W - cw + 1))
    image = sample.image[top : top + ch, left : left + cw]
    labels = sample.labels[top : top + ch, left : left + cw]
    return Sample(resize_image(image, size), resize_labels(labels, size))


def colour_jitter(image: NDArray[np.uint8], rng: np.random.Generator, strength: float) -> NDArray[np.uint8]:
    """Random brightness, contrast and saturation (torchvision's ColorJitter factors), in random order."""
    x: NDArray[np.floating] = image.astype(np.float32)  # float32 throughout (numpy keeps it with Python floats)
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for op in rng.permutation(3):
        f = rng.uniform(1 - strength, 1 + strength)
        if op == 0:
            x = x * f
        elif op == 1:
            grey = x @ luma
            x = grey.mean() + f * (x - grey.mean())
        else:
            grey = x @ luma
            x = grey[..., None] + f * (x - grey[..., None])
        x = np.clip(x, 0, 255)
    return x.round().astype(np.uint8)


def augment(sample: Sample, size: tuple[int, int], rng: np.random.Generator, options: PairOptions) -> Sample:
    """One augmented view at `size` (h, w): resized crop (crop_scale (1, 1): none), flip, colour jitter on the image."""
    if options.crop_scale == (1.0, 1.0):  # the whole image, stretched
        view = Sample(
            resize_image(sample.image, size),
            resize_labels(sample.labels, size),
        )
    else:
        view = resized_crop(sample, size, rng, options.crop_scale, options.crop_ratio)
    if rng.random() < options.flip_prob:
        view = Sample(view.image[:, ::-1].copy(), view.labels[:, ::-1].copy())
    if options.jitter > 0:
        view = Sample(colour_jitter(view.image, rng, options.jitter), view.labels)
    return view


def choose_keys(
    prompt: NDArray[np.int64], query: NDArray[np.int64], rng: np.random.Generator, colour_all: bool = False
) -> list[int]:
    """A random non-empty subset (random size) of the labels >= 1 both maps share; [] when they share none."""
    shared = sorted((set(label_values(prompt).tolist()) & set(label_values(query).tolist())) - {0, -1})
    if not shared or colour_all:
        return shared
    count = int(rng.integers(1, len(shared) + 1))
    return sorted(int(k) for k in rng.choice(shared, size=count, replace=False))


def colour_target(
    labels: NDArray[np.int64], keys: list[int], colours: NDArray[np.uint8]
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(H, W) labels -> (H, W, 3) uint8 target (key i -> colours[i], else black) and (H, W) valid (0 on -1).

    Labels spanning a small range (`small_span`) take their colours from a table, in one pass over the map."""
    valid = (labels != -1).astype(np.float32)
    span = small_span(labels)
    if span is None:
        target = np.zeros((*labels.shape, 3), dtype=np.uint8)
        for key, colour in zip(keys, colours):
            target[labels == key] = colour
        return target, valid
    low, high = span
    table = np.zeros((high - low + 1, 3), dtype=np.uint8)
    for key, colour in zip(keys, colours):
        if low <= key <= high:
            table[key - low] = colour
    return table[np.subtract(labels, low, dtype=np.intp)], valid


def block_mask(grid: tuple[int, int], ratio: float, rng: np.random.Generator) -> NDArray[np.bool_]:
    """(h, w) patch mask: the bottom half, plus random rectangles covering ~`ratio` of the top half."""
    h, w = grid
    mask = np.zeros(grid, dtype=bool)
    mask[h // 2 :] = True
    goal = round(ratio * (h // 2) * w)
    for _ in range(100):
        if mask[: h // 2].sum() >= goal:
            break
        bh, bw = int(rng.integers(1, max(2, h // 4) + 1)), int(rng.integers(1, max(2, w // 2) + 1))
        top, left = int(rng.integers(0, max(1, h // 2 - bh + 1))), int(rng.integers(0, max(1, w - bw + 1)))
        mask[top : top + bh, left : left + bw] = True
    mask[h // 2 :] = True
    return mask


@dataclass
class PairLayout:
    """What a pair's canvases show, for evaluation: the mapping and the query's key map.

    keys: the coloured labels; colours: (K + 1, 3) uint8 with row 0 black and row i + 1 for keys[i];
    query_labels: (h, W) int64 index into `colours` (0 = background), -1 = ignore.
    """

    keys: list[int]
    colours: NDArray[np.uint8]
    query_labels: NDArray[np.int64]


def build_example(
    views: list[tuple[Sample, Sample]],
    task: Task,
    image_size: tuple[int, int],
    patch_size: int,
    rng: np.random.Generator,
    options: PairOptions,
) -> tuple[Example, PairLayout]:
    """Canvases of one in-context example from one pair (or several, stitched: mixed context).

    Args:
        views: (prompt, query) sample pairs of one source; more than one = mixed context.
        task: "semantic" (keys are category ids, shared across the stitched pairs) or "instance".
        image_size: (H, W) of the canvas; each half is (H / 2, W).
    """
    half = (image_size[0] // 2, image_size[1])
    n = len(views)
    prompts: list[Sample] = []
    queries: list[Sample] = []
    keys: list[int] = []
    for j, (prompt, query) in enumerate(views):
        p = augment(prompt, half, rng, options)
        # A separate Sample over the same arrays: the instance offset below rebinds each view's labels once.
        q = Sample(p.image, p.labels) if options.align_same and prompt is query else augment(query, half, rng, options)
        chosen = choose_keys(p.labels, q.labels, rng, options.colour_all)
        if task == "instance" and n > 1:  # one mapping over several pairs: objects of pair j get their own ids
            offset = (j + 1) * (1 << 20)
            for s in (p, q):
                s.labels = np.where(s.labels > 0, s.labels + offset, s.labels)
            chosen = [k + offset for k in chosen]
        prompts.append(p)
        queries.append(q)
        keys.extend(k for k in chosen if k not in keys)
    if keys and options.palette_prob > 0 and rng.random() < options.palette_prob:
        colours = palette(len(keys))[1:][rng.permutation(len(keys))]
    else:
        colours = random_colours(len(keys), rng, options.min_colour_distance)
    halves = []
    for group in (prompts, queries):
        stitched = Sample(np.concatenate([s.image for s in group], 1), np.concatenate([s.labels for s in group], 1))
        if n > 1:
            stitched = resized_crop(stitched, half, rng, (1.0 / n, 1.0), options.crop_ratio)
        halves.append(stitched)
    (prompt_target, prompt_valid), (query_target, query_valid) = (
        colour_target(s.labels, keys, colours) for s in halves
    )
    grid = (image_size[0] // patch_size, image_size[1] // patch_size)
    example = Example(
        image_canvas=torch.cat([normalize(np.array(halves[0].image)), normalize(np.array(halves[1].image))], dim=1),
        target_canvas=torch.cat([normalize(prompt_target), normalize(query_target)], dim=1),
        valid=torch.from_numpy(np.concatenate([prompt_valid, query_valid], 0))[None],
        bool_masked_pos=torch.from_numpy(block_mask(grid, options.block_mask_ratio, rng)),
        seg_type=torch.tensor(seg_type_code(task), dtype=torch.long),
    )
    lookup = {k: i + 1 for i, k in enumerate(keys)}
    query_labels = np.zeros(half, dtype=np.int64)
    for k, i in lookup.items():
        query_labels[halves[1].labels == k] = i
    query_labels[halves[1].labels == -1] = -1
    table = np.concatenate([np.zeros((1, 3), dtype=np.uint8), colours], 0)
    return example, PairLayout(keys, table, query_labels)
