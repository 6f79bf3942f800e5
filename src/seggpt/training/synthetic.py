"""Procedural synthetic scenes for tests and warm-up: textured shapes on a textured background.

A scene is fully determined by (seed, index). One scene gives several segmentation tasks, each a source:
- "shape": semantic, category = shape kind (circle, square, triangle, ring);
- "colour": semantic, category = the object's base colour (6 hues);
- "part": semantic, 1 = the object's core, 2 = its rim;
- "contour": semantic, 1 = a 2-pixel band along each object's boundary;
- "instance": each object is its own id; a pair is two augmented views of one scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from seggpt.data.io import label_values
from seggpt.data.sources import Sample, Task

SyntheticTask = Literal["shape", "colour", "part", "contour", "instance"]
SYNTHETIC_TASKS: tuple[SyntheticTask, ...] = ("shape", "colour", "part", "contour", "instance")
SHAPES = ("circle", "square", "triangle", "ring")
HUES = np.array([[220, 40, 40], [40, 190, 60], [50, 80, 230], [230, 210, 40], [200, 60, 200], [40, 200, 210]])


@dataclass
class Scene:
    """Rendered scene: image (H, W, 3) uint8 and per-pixel maps (H, W) int64, 0 = background."""

    image: NDArray[np.uint8]
    objects: NDArray[np.int64]  # object id 1..N
    shapes: NDArray[np.int64]  # shape kind + 1
    colours: NDArray[np.int64]  # hue index + 1
    parts: NDArray[np.int64]  # 1 core, 2 rim


def shape_mask(kind: str, yy: NDArray[np.float64], xx: NDArray[np.float64], radius: float) -> NDArray[np.bool_]:
    """Boolean mask of a shape of `radius` centred at the origin of the offset grids `yy`, `xx`."""
    d = np.sqrt(yy**2 + xx**2)
    if kind == "circle":
        return d < radius
    if kind == "square":
        return np.maximum(np.abs(yy), np.abs(xx)) < radius * 0.85
    if kind == "triangle":
        return (yy > -radius) & (yy < radius) & (np.abs(xx) < (yy + radius) * 0.55)
    if kind == "ring":
        return (d < radius) & (d > radius * 0.55)
    raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPES}")


def texture(rng: np.random.Generator, size: tuple[int, int], contrast: float) -> NDArray[np.float64]:
    """(H, W) multiplicative texture around 1: stripes, checks or smooth noise."""
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    kind = int(rng.integers(3))
    period = float(rng.uniform(3, 10))
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        pattern = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    elif kind == 1:
        pattern = np.sign(np.sin(xx * np.pi / period) * np.sin(yy * np.pi / period))
    else:
        coarse = rng.standard_normal((H // 8 + 2, W // 8 + 2))
        pattern = np.kron(coarse, np.ones((8, 8)))[:H, :W]
    return 1.0 + contrast * pattern


def render_scene(seed: int, index: int, size: tuple[int, int] = (64, 64), max_objects: int = 5) -> Scene:
    """Render the scene (seed, index): 1..max_objects textured shapes, later ones on top."""
    rng = np.random.default_rng([seed, index])
    H, W = size
    background = rng.uniform(40, 160, size=3) * texture(rng, size, 0.25)[..., None]
    image = background + rng.normal(0, 6, (H, W, 3))
    maps = {k: np.zeros(size, dtype=np.int64) for k in ("objects", "shapes", "colours", "parts")}
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    for obj in range(1, int(rng.integers(1, max_objects + 1)) + 1):
        kind, hue = int(rng.integers(len(SHAPES))), int(rng.integers(len(HUES)))
        radius = rng.uniform(0.12, 0.28) * min(H, W)
        cy, cx = rng.uniform(radius * 0.5, H - radius * 0.5), rng.uniform(radius * 0.5, W - radius * 0.5)
        mask = shape_mask(SHAPES[kind], yy - cy, xx - cx, radius)
        core = mask & shape_mask("circle", yy - cy, xx - cx, radius * 0.5)
        colour = np.clip(HUES[hue] + rng.normal(0, 12, 3), 0, 255)
        image[mask] = colour * texture(rng, size, 0.2)[mask][:, None]
        maps["objects"][mask], maps["shapes"][mask], maps["colours"][mask] = obj, kind + 1, hue + 1
        maps["parts"][mask] = np.where(core[mask], 1, 2)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), **maps)


def contour_labels(objects: NDArray[np.int64], width: int = 2) -> NDArray[np.int64]:
    """(H, W) 1 on pixels within `width` of a boundary between different object ids (inside objects), else 0."""
    edge = np.zeros(objects.shape, dtype=bool)
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        edge |= objects != np.roll(objects, (dy, dx), axis=(0, 1))
    for _ in range(width - 1):
        edge |= np.roll(edge, 1, 0) | np.roll(edge, -1, 0) | np.roll(edge, 1, 1) | np.roll(edge, -1, 1)
    return (edge & (objects > 0)).astype(np.int64)


def task_labels(scene: Scene, task: SyntheticTask) -> NDArray[np.int64]:
    """The (H, W) label map of one task for a scene."""
    if task == "contour":
        return contour_labels(scene.objects)
    maps = {"shape": scene.shapes, "colour": scene.colours, "part": scene.parts, "instance": scene.objects}
    return maps[task]


class SyntheticScenes:
    """A seeded synthetic source for one task; `pair` follows the `PairSource` protocol.

    Args:
        kind: which synthetic task (see the module docstring).
        num_scenes: scenes in the source (index i renders scene (seed, i)).
        size: (H, W) of a scene.
        seed: scene seed; two sources with the same seed render the same scenes.
    """

    def __init__(
        self,
        kind: SyntheticTask,
        num_scenes: int = 1000,
        size: tuple[int, int] = (64, 64),
        seed: int = 0,
        tries: int = 8,
    ):
        if kind not in SYNTHETIC_TASKS:
            raise ValueError(f"unknown synthetic task {kind!r}; expected one of {SYNTHETIC_TASKS}")
        if num_scenes < 1:
            raise ValueError(f"num_scenes must be at least 1, got {num_scenes}")
        self.kind, self.num_scenes, self.size, self.seed, self.tries = kind, num_scenes, size, seed, tries
        self.name = f"synthetic-{kind}"
        self.task: Task = "instance" if kind == "instance" else "semantic"

    def __len__(self) -> int:
        return self.num_scenes

    def load(self, index: int) -> Sample:
        scene = render_scene(self.seed, index, self.size)
        return Sample(scene.image, task_labels(scene, self.kind))

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        query = self.load(index)
        if self.task == "instance":
            return query, query
        classes = set(label_values(query.labels).tolist()) - {0}
        for _ in range(self.tries):
            prompt = self.load(int(rng.integers(self.num_scenes)))
            if classes & set(label_values(prompt.labels).tolist()):
                return prompt, query
        return query, query


def synthetic_sources(
    num_scenes: int = 1000,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    tasks: tuple[SyntheticTask, ...] = SYNTHETIC_TASKS,
) -> list[SyntheticScenes]:
    """One `SyntheticScenes` per task, all over the same scenes."""
    return [SyntheticScenes(kind, num_scenes, size, seed) for kind in tasks]
