"""Training config: frozen dataclasses in four sections, loaded from YAML with `key=value` overrides.

A YAML file holds any subset of the sections `model`, `data`, `optim`, `run`; `--set data.camvid_root=PATH`
overrides one key (the value is parsed as YAML: numbers, booleans, null, lists and mappings work). Unknown
sections or keys, wrong types and out-of-range values are errors that name the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from seggpt.training.config_io import apply_override, build_dataclass, plain, yaml_problem


@dataclass(frozen=True)
class ModelSection:
    """preset: architecture preset name or architecture JSON path; init: checkpoint to start from, None = random.

    init_encoder: a pretrained plain-ViT file (timm key layout, e.g. DeiT) for the encoder only: patch embedding,
    position table, blocks and final norm; relative positions, tokens and decoder keep their own initialisation.
    init_encoder_blocks: which of its blocks become blocks 0..depth-1 (default the first depth);
    init_encoder_heads: its head count (files do not record it), checked against the model's.
    """

    preset: str = "seggpt-vit-tiny"
    init: str | None = None
    init_encoder: str | None = None
    init_encoder_blocks: tuple[int, ...] | None = None
    init_encoder_heads: int | None = None
    grad_checkpointing: bool = False


@dataclass(frozen=True)
class DataSection:
    """Data roots (None = not used), sampling weights per source family, pair building and evaluation.

    Curriculum keys (the embedded default's recipe): same_image_prob, the share of pairs made of two views of the
    query's own sample; same_image_aligned, those two views are one (the answer is the prompt's target in place);
    palette_prob, the share of pairs coloured with the reference palette instead of random colours.
    """

    camvid_root: str | None = None
    ade20k_root: str | None = None
    voc_root: str | None = None
    cityscapes_root: str | None = None
    coco_json: str | None = None
    coco_images: str | None = None
    davis_root: str | None = None
    davis_resolution: str = "480p"
    davis_split: str = "train"
    ytvos_root: str | None = None
    synthetic: bool = True
    synthetic_scenes: int = 2000
    synthetic_size: int = 64
    synthetic_warmup_steps: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    mixed_prob: float = 0.2
    mixed_count: int = 2
    same_image_prob: float = 0.0
    same_image_aligned: bool = False
    palette_prob: float = 0.0
    crop_scale: tuple[float, float] = (0.3, 1.0)
    flip_prob: float = 0.5
    jitter: float = 0.4
    block_mask_ratio: float = 0.0
    eval_source: Literal["camvid-val", "synthetic", "none"] = "synthetic"
    eval_examples: int = 64


@dataclass(frozen=True)
class OptimSection:
    """AdamW with a cosine schedule after a linear warmup; layer_decay < 1 enables layer-wise lr decay.

    loss_beta: the smooth-L1 beta of the loss (0.01 = the reference). A large beta (e.g. 2) makes it quadratic
    in normalized units: from scratch, the reference's near-L1 loss collapses to predicting black (the median
    colour) while a quadratic loss learns to copy colours from the prompt (measured; see the README).
    """

    lr: float = 1e-4
    min_lr: float = 0.0
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    layer_decay: float = 1.0
    grad_clip: float = 0.0
    loss_beta: float = 0.01


@dataclass(frozen=True)
class RunSection:
    """Steps, batch (global, over all processes and accumulation), devices, logging and checkpoints.

    stop_at: end this sitting after that many steps (saving the exact-resume state and the model) while the
    schedule still runs to `steps`; a later run with run.resume and a larger stop_at (or none) continues exactly.
    overwrite: start afresh in an output_dir that holds an earlier run (replacing its files); without it (or
    `resume`) such a folder is refused.
    """

    steps: int = 1000
    stop_at: int | None = None
    batch_size: int = 8
    accumulation: int = 1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the hardware runs it natively
    strategy: Literal["ddp", "fsdp"] = "ddp"
    num_workers: int = 0
    output_dir: str = "runs/train"
    resume: str | None = None
    overwrite: bool = False
    log_every: int = 10
    eval_every: int = 0
    save_every: int = 0
    progress: bool = True
    tensorboard: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """The whole training configuration."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)

    def __post_init__(self) -> None:
        checks = [
            (self.run.steps >= 1, "run.steps must be at least 1"),
            (
                self.run.stop_at is None or 1 <= self.run.stop_at <= self.run.steps,
                "run.stop_at must lie in [1, run.steps]",
            ),
            (
                self.run.batch_size >= 1 and self.run.accumulation >= 1,
                "run.batch_size and run.accumulation must be >= 1",
            ),
            (self.run.batch_size % self.run.accumulation == 0, "run.batch_size must be a multiple of run.accumulation"),
            (self.optim.lr > 0 and 0 <= self.optim.min_lr <= self.optim.lr, "need optim.lr > 0 and 0 <= min_lr <= lr"),
            (0 < self.optim.layer_decay <= 1, "optim.layer_decay must lie in (0, 1]"),
            (self.optim.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
            (
                self.optim.weight_decay >= 0 and self.optim.grad_clip >= 0 and self.optim.loss_beta >= 0,
                "optim.weight_decay, optim.grad_clip and optim.loss_beta must be >= 0",
            ),
            (all(0 <= b < 1 for b in self.optim.betas), "optim.betas must lie in [0, 1)"),
            (
                min(self.run.seed, self.run.num_workers, self.run.log_every, self.run.eval_every, self.run.save_every)
                >= 0,
                "run.seed, run.num_workers, run.log_every, run.eval_every and run.save_every must be >= 0",
            ),
            (0 <= self.data.flip_prob <= 1 and self.data.jitter >= 0, "need 0 <= data.flip_prob <= 1, jitter >= 0"),
            (
                0 <= self.data.mixed_prob <= 1 and self.data.mixed_count >= 2,
                "need 0 <= data.mixed_prob <= 1, mixed_count >= 2",
            ),
            (
                0 < self.data.crop_scale[0] <= self.data.crop_scale[1] <= 1,
                "data.crop_scale must satisfy 0 < lo <= hi <= 1",
            ),
            (0 <= self.data.same_image_prob <= 1, "data.same_image_prob must lie in [0, 1]"),
            (self.data.synthetic_size >= 16, "data.synthetic_size must be at least 16 pixels"),
            (0 <= self.data.palette_prob <= 1, "data.palette_prob must lie in [0, 1]"),
            (0 <= self.data.block_mask_ratio < 1, "data.block_mask_ratio must lie in [0, 1)"),
            (all(w >= 0 for w in self.data.weights.values()), "data.weights must be non-negative"),
            (
                self.model.init is None or self.model.init_encoder is None,
                "set model.init (a whole SegGPT checkpoint) or model.init_encoder (a ViT encoder), not both",
            ),
            (
                (self.data.coco_json is None) == (self.data.coco_images is None),
                "set both data.coco_json and data.coco_images",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid training config: {message}")

    def input_files(self) -> list[Path]:
        """The files the run reads that a run must never write over: checkpoints and an architecture JSON."""
        from seggpt.model.checkpoint import checkpoint_files, config_files

        inits = [init for init in (self.model.init, self.model.init_encoder) if init is not None]
        return config_files(self.model.preset) + [path for init in inits for path in checkpoint_files(init)]

    def to_dict(self) -> dict[str, Any]:
        """A YAML-ready nested dict (tuples become lists)."""
        return yaml.safe_load(yaml.safe_dump(plain(dataclasses.asdict(self))))


def config_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Build a `TrainConfig` from a nested dict plus `section.key=value` overrides."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for assignment in overrides:
        apply_override(data, assignment)
    return build_dataclass(TrainConfig, data, "")


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML training config (None = defaults) and apply overrides."""
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as err:
            raise FileNotFoundError(f"cannot read training config {path}: {err}") from err
        except UnicodeDecodeError as err:
            raise ValueError(
                f"training config {path} is not UTF-8 text ({err.reason} at byte {err.start}); expected a YAML file"
            ) from err
        except yaml.YAMLError as err:
            raise ValueError(f"training config {path} is not valid YAML: {yaml_problem(err)}") from err
        if not isinstance(data, dict):
            raise ValueError(f"training config {path} must hold a mapping of sections, got {type(data).__name__}")
    return config_from_dict(data, overrides)
