"""In-context tuning: learn the prompt image and target of a frozen SegGPT on a fixed-class dataset.

The loop is the training loss with every model parameter frozen: each step puts the learnable prompt on top
of a batch of augmented training images whose label maps are coloured with the classes' fixed colours, and
minimises the smooth-L1 loss on the query half. The state (prompt, optimiser, step, random state) is saved
atomically every `save_every` steps, so an interrupted run resumes exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from tqdm import tqdm

from seggpt.atomic import atomic_write
from seggpt.data.sources import SemanticFolder
from seggpt.evaluation.cache import files_stamp
from seggpt.inference.canvas import normalize
from seggpt.inference.incontext import paint_queries
from seggpt.inference.palette import palette
from seggpt.inference.precision import AUTOCAST_DTYPES, resolve_dtype
from seggpt.inference.tuned_prompt import TunedPrompt, model_fingerprint
from seggpt.model import SegGPT
from seggpt.model.files import load_torch_file
from seggpt.training.optim import warmup_cosine
from seggpt.training.pairs import PairOptions, augment, colour_target
from seggpt.training.state import resume_differences


@dataclass(frozen=True)
class TuneConfig:
    """Schedule and augmentation of in-context tuning.

    Attributes:
        steps: optimiser steps.
        batch_size: query images per step.
        lr: peak AdamW learning rate of the prompt pixels (normalized units); cosine after a linear warmup.
        min_lr: final learning rate.
        warmup_steps: linear warmup steps.
        crop_scale: area range of the random resized crop of query images.
        flip_prob: horizontal flip probability of query images.
        precision: "auto" (bf16 where the hardware runs it natively, else fp32), "fp32" or "bf16" (the frozen
            model under bf16 autocast); see `seggpt.inference.precision`.
        seed: seeds the data order and the prompt's initial example.
        save_every: steps between resumable state files (0 = only at the end).
    """

    steps: int = 300
    batch_size: int = 4
    lr: float = 0.03
    min_lr: float = 0.0
    warmup_steps: int = 20
    crop_scale: tuple[float, float] = (0.5, 1.0)
    flip_prob: float = 0.5
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    save_every: int = 50

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("tuning needs steps >= 1 and batch_size >= 1")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"tuning needs lr > 0 and 0 <= min_lr <= lr, got lr {self.lr}, min_lr {self.min_lr}")
        if min(self.warmup_steps, self.save_every, self.seed) < 0:
            raise ValueError(
                f"tuning needs warmup_steps, save_every and seed >= 0, got {self.warmup_steps}, {self.save_every}, "
                f"{self.seed}"
            )
        if not 0 <= self.flip_prob <= 1:
            raise ValueError(f"flip_prob must lie in [0, 1], got {self.flip_prob}")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")


@dataclass(frozen=True)
class TuneDataset:
    """A fixed-class dataset for tuning.

    `source` yields label maps with 0 = background, k >= 1 = class k and -1 = ignore; `class_ids[k - 1]` is
    class k's label value in the dataset's own files (what predictions are written as). `content` is a digest of
    data held in memory (examples given as arrays), which a resumed run must share as it shares the files.
    """

    source: SemanticFolder
    class_ids: list[int]
    class_names: list[str]
    background: bool
    content: str = ""


def sample_batch(
    data: TuneDataset,
    colours: NDArray[np.uint8],
    size: tuple[int, int],
    n: int,
    rng: np.random.Generator,
    options: PairOptions,
) -> tuple[Tensor, Tensor, Tensor]:
    """n augmented training views: query images, coloured targets (n, 3, h, W) normalized, valid (n, 1, h, W)."""
    images, targets, valids = [], [], []
    classes = list(range(1, len(colours)))
    for _ in range(n):
        view = augment(data.source.load(int(rng.integers(len(data.source)))), size, rng, options)
        target, valid = colour_target(view.labels, classes, colours[1:])  # class k -> colours[k], fixed
        images.append(normalize(view.image))
        targets.append(normalize(target))
        valids.append(torch.from_numpy(valid)[None])
    return torch.stack(images), torch.stack(targets), torch.stack(valids)


@dataclass
class TuneState:
    """What an interrupted tuning run needs to resume exactly.

    Attributes:
        step: optimiser steps done.
        prompt_image, prompt_target: (3, h, W) float32 normalized, the learned prompt.
        optimizer: the AdamW `state_dict()`.
        rng: the numpy generator's `bit_generator.state`.
        settings: the run's `resume_settings` (empty in states of older versions).
    """

    step: int
    prompt_image: Tensor
    prompt_target: Tensor
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """torch.save of the fields to a temp file in the same folder, then rename (never a half-written state)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        atomic_write(path, lambda tmp: torch.save(fields, tmp))

    @classmethod
    def load(cls, path: Path, device: torch.device) -> TuneState:
        """Read a state written by `save` (tensors and plain values only: never code).

        Raises:
            ValueError: one line naming `path`, for a file that is not such a state.
        """
        expected = "tensors and plain values written by `seggpt tune`"
        fields = load_torch_file(path, "a seggpt tune state", expected, map_location=device)
        if not isinstance(fields, dict) or not set(cls.__dataclass_fields__) - {"settings"} <= set(fields):
            raise ValueError(
                f"{path} is not a seggpt tune state (written by `seggpt tune`); remove it or drop --resume"
            )
        return cls(**{name: fields[name] for name in cls.__dataclass_fields__ if name in fields})


SAFE_RESUME_KEYS = frozenset({"tune.steps", "tune.save_every"})  # as `seggpt train`'s run.steps and run.save_every


def resume_settings(model: SegGPT, data: TuneDataset, config: TuneConfig, precision: str) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (`SAFE_RESUME_KEYS` aside): the schedule and
    augmentation (`precision` resolved), the model's weights, and the dataset's classes and files (their paths,
    sizes and times, as a digest)."""
    files = "\n".join(f"{p.resolve()}:{files_stamp(p)}" for pair in data.source.files for p in pair)
    return {
        "tune": {**dataclasses.asdict(config), "precision": precision},
        "model": {"fingerprint": model_fingerprint(model)},
        "data": {
            "files": hashlib.sha256(files.encode()).hexdigest()[:16],
            "class_ids": list(data.class_ids),
            "class_names": list(data.class_names),
            "background": data.background,
            "offset": data.source.offset,
            "ignore_values": list(data.source.ignore_values),
            **({"content": data.content} if data.content else {}),
        },
    }


def tune_prompt(
    model: SegGPT,
    data: TuneDataset,
    config: TuneConfig,
    state_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TunedPrompt:
    """Learn a prompt for `data` with `model` frozen.

    Args:
        model: the SegGPT to tune for (left unchanged).
        data: the dataset and its classes.
        config: schedule and augmentation.
        state_path: where to keep the resumable state (None: no state file).
        resume: continue from `state_path` if it exists.
        progress: show a tqdm bar.

    Returns:
        The TunedPrompt (prompt tensors (3, h, W), classes, colours, the model's fingerprint).
    """
    device = next(model.parameters()).device
    precision = resolve_dtype(config.precision, device)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"tuning runs in fp32 or bf16 (it needs gradients through the model), got {precision}")
    model.eval().requires_grad_(False)
    half = model.config.query_size
    K = len(data.class_ids)
    colours = palette(K)  # row 0 black, row k the colour of class k
    rng = np.random.default_rng(config.seed)
    options = PairOptions(crop_scale=config.crop_scale, flip_prob=config.flip_prob, jitter=0.0)
    init_image, init_target, _ = sample_batch(data, colours, half, 1, rng, options)  # start from a real example
    prompt_image = torch.nn.Parameter(init_image[0].to(device))
    prompt_target = torch.nn.Parameter(init_target[0].to(device))
    optimizer = torch.optim.AdamW([prompt_image, prompt_target], lr=config.lr, weight_decay=0.0)
    start = 0
    state_file = Path(state_path) if state_path is not None else None
    settings = resume_settings(model, data, config, precision)
    if resume and state_file is not None and state_file.is_file():
        state = TuneState.load(state_file, device)
        changed = resume_differences(state.settings, settings, {}, safe=SAFE_RESUME_KEYS)
        if changed:
            raise ValueError(
                f"cannot resume from {state_file}: the model, data or settings changed in ways that break an exact "
                f"resume ({'; '.join(changed)}); undo them, or start afresh without --resume"
            )
        with torch.no_grad():
            prompt_image.copy_(state.prompt_image)
            prompt_target.copy_(state.prompt_target)
        optimizer.load_state_dict(state.optimizer)
        rng.bit_generator.state = state.rng
        start = int(state.step)
    B = config.batch_size
    rows = model.grid_size[0] // 2
    mask = torch.ones(B, rows, model.grid_size[1], dtype=torch.bool, device=device)  # the whole query half
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not progress, desc="tune")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(
                step, config.steps, lr=config.lr, min_lr=config.min_lr, warmup_steps=config.warmup_steps
            )
        queries, targets, valid = (t.to(device) for t in sample_batch(data, colours, half, B, rng, options))
        pred = paint_queries(  # (B, 1, 3, h, W)
            model,
            prompt_image[None],
            prompt_target[None],
            queries,
            targets,
            seg_type="semantic",
            autocast_dtype=AUTOCAST_DTYPES.get(precision),
        )[:, 0]
        loss = model.loss(pred, targets, mask, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        done = step + 1
        if state_file is not None and (done == config.steps or (config.save_every and done % config.save_every == 0)):
            TuneState(
                done,
                prompt_image.detach(),
                prompt_target.detach(),
                optimizer.state_dict(),
                dict(rng.bit_generator.state),
                settings,
            ).save(state_file)
    return TunedPrompt(
        prompt_image=prompt_image.detach().cpu(),
        prompt_target=prompt_target.detach().cpu(),
        class_ids=list(data.class_ids),
        class_names=list(data.class_names),
        colours=colours[1:].copy(),
        background=data.background,
        seg_type="semantic",
        model_config=model.config.to_dict(),
        model_fingerprint=model_fingerprint(model),
    )
