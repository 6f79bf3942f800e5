"""The training stream: sources from the config, weighted sampling, and a deterministic example per index.

Example i of a run depends only on (seed, i): the position in the data is the step number, so a resumed or
sharded run sees exactly the examples a straight single-process run would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset, Sampler

from seggpt.data.ade20k import ade20k
from seggpt.data.camvid import camvid
from seggpt.data.cityscapes import cityscapes
from seggpt.data.coco import coco_instances
from seggpt.data.davis import davis
from seggpt.data.sources import PairSource
from seggpt.data.voc import pascal_voc, voc_instances
from seggpt.data.ytvos import youtube_vos
from seggpt.training.config import DataSection, TrainConfig
from seggpt.training.pairs import EVAL_OPTIONS, Example, PairLayout, PairOptions, build_example
from seggpt.training.synthetic import SyntheticScenes, synthetic_sources


@dataclass(frozen=True)
class SourceFamily:
    """A family of training sources (its name is the key of `data.weights`) and how the data section builds it.

    ``build`` returns the family's sources, or [] when the config does not name its data.
    """

    name: str
    build: Callable[[DataSection], list[PairSource]]


def _synthetic(data: DataSection) -> list[PairSource]:
    size = (data.synthetic_size, data.synthetic_size)
    return list(synthetic_sources(data.synthetic_scenes, size, seed=0)) if data.synthetic else []


# Adding a training dataset: its reader in seggpt/data/, a root field in DataSection, and one line here. The
# order is the order of the sources, which decides every sampled pair: append, never reorder.
SOURCE_FAMILIES = (
    SourceFamily("camvid", lambda d: [camvid(d.camvid_root, "train")] if d.camvid_root else []),
    SourceFamily("ade20k", lambda d: [ade20k(d.ade20k_root, "training")] if d.ade20k_root else []),
    SourceFamily(
        "voc", lambda d: [pascal_voc(d.voc_root, "train"), voc_instances(d.voc_root, "train")] if d.voc_root else []
    ),
    SourceFamily("cityscapes", lambda d: [cityscapes(d.cityscapes_root, "train")] if d.cityscapes_root else []),
    SourceFamily(
        "coco", lambda d: [coco_instances(d.coco_json, d.coco_images)] if d.coco_json and d.coco_images else []
    ),
    SourceFamily("davis", lambda d: [davis(d.davis_root, d.davis_resolution, d.davis_split)] if d.davis_root else []),
    SourceFamily("ytvos", lambda d: [youtube_vos(d.ytvos_root, "train")] if d.ytvos_root else []),
    SourceFamily("synthetic", _synthetic),
)


@dataclass
class WeightedSource:
    """A source and its family (the key of `data.weights`) and sampling weight."""

    source: PairSource
    family: str
    weight: float


def build_sources(data: DataSection) -> list[WeightedSource]:
    """The training sources the config names, in `SOURCE_FAMILIES` order; a family's weight (default 1) is split
    evenly among its sources."""
    families = [(family.name, family.build(data)) for family in SOURCE_FAMILIES]
    families = [(name, group) for name, group in families if group]
    if not families:
        raise ValueError("no training data: set a data root (e.g. data.camvid_root=PATH) or data.synthetic=true")
    known = [family.name for family in SOURCE_FAMILIES]
    unknown = set(data.weights) - set(known)  # weights of known but unused families are fine
    if unknown:
        raise ValueError(f"data.weights names unknown source families {sorted(unknown)}; known: {known}")
    return [
        WeightedSource(src, name, data.weights.get(name, 1.0) / len(group)) for name, group in families for src in group
    ]


class PairDataset(Dataset[Example]):
    """Map-style dataset over an endless stream: item i is the in-context example (seed, i).

    Args:
        sources: weighted sources; items below `warmup_items` draw from synthetic sources only (if any).
        image_size, patch_size: the model's canvas (H, W) and patch side.
        options: augmentation and masking.
        mixed_prob, mixed_count: probability of a mixed-context example and how many pairs it stitches.
        same_image_prob: probability that a pair is two augmented views of its query sample (a copy-first
            curriculum: the prompt holds exactly the query's content, so matching and copying are learned first).
    """

    def __init__(
        self,
        sources: list[WeightedSource],
        image_size: tuple[int, int],
        patch_size: int,
        *,
        seed: int = 0,
        options: PairOptions | None = None,
        mixed_prob: float = 0.0,
        mixed_count: int = 2,
        warmup_items: int = 0,
        same_image_prob: float = 0.0,
    ):
        self.sources, self.image_size, self.patch_size = sources, image_size, patch_size
        self.seed, self.options, self.mixed_prob, self.mixed_count = (
            seed,
            options or PairOptions(),
            mixed_prob,
            mixed_count,
        )
        self.warmup_items, self.same_image_prob = warmup_items, same_image_prob
        self.all_weights = self._normalized([s.weight for s in sources])
        synthetic = [s.weight if isinstance(s.source, SyntheticScenes) else 0.0 for s in sources]
        self.warmup_weights = self._normalized(synthetic) if sum(synthetic) > 0 else self.all_weights

    @staticmethod
    def _normalized(weights: list[float]) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError("all data source weights are zero")
        return w / w.sum()

    def __len__(self) -> int:
        return 2**62  # endless; the sampler decides which items a run uses

    def __getitem__(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, index])
        weights = self.warmup_weights if index < self.warmup_items else self.all_weights
        source = self.sources[int(rng.choice(len(self.sources), p=weights))].source
        count = self.mixed_count if rng.random() < self.mixed_prob else 1
        views = [source.pair(int(rng.integers(len(source))), rng) for _ in range(count)]
        if self.same_image_prob > 0 and rng.random() < self.same_image_prob:
            views = [(query, query) for _, query in views]
        example, _ = build_example(views, source.task, self.image_size, self.patch_size, rng, self.options)
        return example


def training_dataset(config: TrainConfig, image_size: tuple[int, int], patch_size: int) -> PairDataset:
    """The stream of in-context examples `config` trains on (its sources, augmentation, mixed context and
    seed), for a model of canvas `image_size` (H, W) and `patch_size`."""
    data, run = config.data, config.run
    options = PairOptions(
        crop_scale=data.crop_scale,
        flip_prob=data.flip_prob,
        jitter=data.jitter,
        block_mask_ratio=data.block_mask_ratio,
        align_same=data.same_image_aligned,
        palette_prob=data.palette_prob,
    )
    return PairDataset(
        build_sources(data),
        image_size,
        patch_size,
        seed=run.seed,
        options=options,
        mixed_prob=data.mixed_prob,
        mixed_count=data.mixed_count,
        same_image_prob=data.same_image_prob,
        warmup_items=data.synthetic_warmup_steps * run.batch_size,
    )


class StepSampler(Sampler[int]):
    """Item indexes of one process, step after step from `start_step`: a deterministic shard of each global batch.

    Global batch s holds items [s * B, (s + 1) * B); rank r of R takes the contiguous slice r * B/R ... (r+1) * B/R.
    """

    def __init__(self, batch_size: int, start_step: int, rank: int = 0, world_size: int = 1, steps: int | None = None):
        if batch_size % world_size:
            raise ValueError(f"run.batch_size {batch_size} must be a multiple of the number of processes {world_size}")
        self.batch_size, self.start_step, self.rank, self.world_size, self.steps = (
            batch_size,
            start_step,
            rank,
            world_size,
            steps,
        )

    def __iter__(self) -> Iterator[int]:
        per_rank = self.batch_size // self.world_size
        step = self.start_step
        while self.steps is None or step < self.steps:
            first = step * self.batch_size + self.rank * per_rank
            yield from range(first, first + per_rank)
            step += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless StepSampler has no length")
        return max(0, self.steps - self.start_step) * (self.batch_size // self.world_size)


def evaluation_pairs(
    data: DataSection, image_size: tuple[int, int], patch_size: int, seed: int = 1
) -> list[tuple[Example, PairLayout, str]]:
    """The fixed held-out one-shot pairs named by `data.eval_source`, without augmentation, all shared labels coloured.

    Returns (example, layout, task) triples; [] when evaluation is off.
    """
    if data.eval_source == "none":
        return []
    if data.eval_source == "camvid-val":
        if not data.camvid_root:
            raise ValueError("data.eval_source=camvid-val needs data.camvid_root")
        held_out: list[PairSource] = [camvid(data.camvid_root, "val")]
    else:  # scenes of another seed than the training scenes
        held_out = list(
            synthetic_sources(max(data.eval_examples, 8), seed=10_000 + seed, tasks=("shape", "colour", "instance"))
        )
    result = []
    for i in range(data.eval_examples):
        source = held_out[i % len(held_out)]
        rng = np.random.default_rng([seed, i])
        index = (i // len(held_out)) * max(1, len(source) // max(1, data.eval_examples)) % len(source)
        pair = source.pair(index, rng)
        example, layout = build_example([pair], source.task, image_size, patch_size, rng, EVAL_OPTIONS)
        result.append((example, layout, source.name))
    return result
