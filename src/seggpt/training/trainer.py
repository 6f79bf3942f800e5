"""The training loop: in-context colouring with AdamW and a cosine schedule, alone or under torchrun.

The loss of one step is the reference smooth-L1 summed over the whole global batch and divided by the global
count of masked valid pixels, so one process and N processes (and any accumulation) optimise the same number.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from seggpt.inference.precision import AUTOCAST_DTYPES, resolve_dtype
from seggpt.model import PRESETS, SegGPT, SegGPTConfig, build_seggpt, get_preset, load_model, save_model
from seggpt.training import distributed as D
from seggpt.training.config import TrainConfig
from seggpt.training.dataset import StepSampler, evaluation_pairs, training_dataset
from seggpt.training.evaluate import EvalResult, evaluate
from seggpt.training.logs import RunLogger
from seggpt.training.optim import build_optimizer, lr_at, set_lr
from seggpt.training.pairs import Example, collate_examples
from seggpt.training.pretrained import load_pretrained_encoder
from seggpt.training.state import (
    TrainState,
    capture_rng,
    check_run_folder,
    load_state,
    restore_rng,
    resume_differences,
    save_state,
)


def build_model(config: TrainConfig, verbose: bool = True) -> SegGPT:
    """The preset's model, randomly initialised (seeded by run.seed) or loaded from `model.init`, its encoder
    optionally from a pretrained plain ViT (`model.init_encoder`).

    `model.preset` is a preset name or the path of an architecture JSON (`SegGPTConfig.to_dict()` keys).
    """
    name = config.model.preset
    preset = get_preset(name) if name in PRESETS or not name.endswith(".json") else SegGPTConfig.from_json(name)
    torch.manual_seed(config.run.seed)
    model = load_model(config.model.init, image_size=preset.image_size) if config.model.init else build_seggpt(preset)
    spec = config.model
    if spec.init_encoder is not None:
        loaded = load_pretrained_encoder(model, spec.init_encoder, spec.init_encoder_blocks, spec.init_encoder_heads)
        if verbose:
            print(loaded.summary(spec.init_encoder))
    model.grad_checkpointing = config.model.grad_checkpointing
    return model.train()


def pixel_count(batch: Example, patch_size: int) -> Tensor:
    """Number of loss terms of a batch: 3 channels x the valid pixels of masked patches (as `SegGPT.loss`)."""
    mask = batch.bool_masked_pos.to(batch.valid.dtype)
    mask = mask.repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)  # (B, H, W)
    return 3 * (mask * batch.valid[:, 0]).sum()


class Trainer:
    """Builds everything from a `TrainConfig` and trains with `fit()`.

    Args:
        config: the run's configuration.
        env: the process's place in a distributed run (default: `init_distributed(config.run.device)`).
        model: a ready model to train instead of `build_model(config)` (tests).
    """

    def __init__(self, config: TrainConfig, env: D.DistEnv | None = None, model: SegGPT | None = None):
        self.config = config
        self.env = env or D.init_distributed(config.run.device)
        run = config.run
        self.per_rank = run.batch_size // self.env.world_size
        if run.batch_size % (self.env.world_size * run.accumulation):
            raise ValueError(
                f"run.batch_size {run.batch_size} must be a multiple of processes x accumulation = "
                f"{self.env.world_size} x {run.accumulation}"
            )
        self.output_dir = Path(run.output_dir)
        self.base_model = (model or build_model(config, verbose=self.env.is_main)).to(self.env.device)
        self.model = D.wrap_model(self.base_model, self.env, run.strategy)
        self.optimizer = build_optimizer(self.model, config.optim)
        self.patch_size = self.base_model.patch_size
        data = config.data
        self.dataset = training_dataset(config, self.base_model.config.image_size, self.patch_size)
        self.eval_pairs = (
            evaluation_pairs(data, self.base_model.config.image_size, self.patch_size) if (run.eval_every > 0) else []
        )
        self.autocast_dtype = AUTOCAST_DTYPES.get(resolve_dtype(run.precision, self.env.device))
        self.step = 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on this device when run.precision resolves to bf16 (see `seggpt.inference.precision`)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.env.device.type, dtype=self.autocast_dtype)

    def micro_batches(self) -> Iterator[Example]:
        """This process's micro-batches from the current step on (per step: `run.accumulation` of them)."""
        run = self.config.run
        sampler = StepSampler(run.batch_size, self.step, self.env.rank, self.env.world_size, run.steps)
        loader = DataLoader(
            self.dataset,
            batch_size=self.per_rank // run.accumulation,
            sampler=sampler,
            collate_fn=collate_examples,
            num_workers=run.num_workers,
            persistent_workers=run.num_workers > 0,
            generator=torch.Generator(),
        )  # the loader's seed draw must not move the global RNG
        return iter(loader)

    def train_step(self, micro: list[Example]) -> float:
        """One optimizer step over this process's share of the global batch; returns the global mean loss."""
        device = self.env.device
        count = D.all_reduce_sum(
            torch.stack([pixel_count(b, self.patch_size) for b in micro]).sum().to(device), self.env
        )
        set_lr(self.optimizer, lr_at(self.step, self.config.run.steps, self.config.optim))
        total = torch.zeros((), device=device)
        for i, batch in enumerate(micro):
            sync = i == len(micro) - 1 or not isinstance(self.model, torch.nn.parallel.DistributedDataParallel)
            with contextlib.nullcontext() if sync else self.model.no_sync(), self.autocast():  # type: ignore[operator]
                mask = batch.bool_masked_pos.to(device)
                target = batch.target_canvas.to(device)
                pred = self.model(batch.image_canvas.to(device), target, mask, batch.seg_type.to(device))
            valid = batch.valid.to(device)
            local = self.base_model.loss(
                pred.float(), target, mask, valid, beta=self.config.optim.loss_beta
            ) * pixel_count(batch, self.patch_size).to(device)
            loss = local / count.clamp_min(1) * self.env.world_size  # DDP averages over processes: undo it
            loss.backward()
            total += local.detach()
        mean_loss = float(D.all_reduce_sum(total, self.env) / count.clamp_min(1))
        if not math.isfinite(mean_loss):  # every rank sees the same sum: all stop together, before the update
            self.optimizer.zero_grad(set_to_none=True)
            last = self.output_dir / "last.pt"
            kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was saved yet"
            raise ValueError(
                f"step {self.step + 1}: the loss is {mean_loss} (not finite); training stopped before the update and "
                f"{kept}; lower optim.lr, set optim.grad_clip or use run.precision=fp32, then resume"
            )
        if self.config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)  # DTensor-aware
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return mean_loss

    def state(self) -> TrainState:
        """The exact-resume state of this moment (collective under FSDP: call on every rank)."""
        torch_rng, cuda_rng = capture_rng()
        return TrainState(
            D.full_state_dict(self.model),
            D.optimizer_state(self.model, self.optimizer),
            self.step,
            torch_rng,
            cuda_rng,
            self.config.to_dict(),
        )

    def save(self, path: str | Path) -> None:
        """Write the training state (rank 0 writes; every rank takes part in gathering)."""
        state = self.state()
        if self.env.is_main:
            save_state(state, path)
        D.barrier(self.env)

    def resume(self, path: str | Path) -> None:
        """Continue exactly from a state written by `save`: weights, optimizer, step (data position), RNG.

        Raises:
            ValueError: the state's config differs from this run's in keys that break exactness (listed).
        """
        state = load_state(path)
        changed = resume_differences(state.config, self.config.to_dict(), TrainConfig().to_dict())
        if changed:
            raise ValueError(
                f"cannot resume from {path}: the config changed in ways that break an exact resume "
                f"({'; '.join(changed)}); undo them, or start a new run (another run.output_dir or run.overwrite)"
            )
        D.load_full_state_dict(self.model, state.model)
        D.load_optimizer_state(self.model, self.optimizer, state.optimizer)
        self.step = state.step
        restore_rng(state.torch_rng, state.cuda_rng)

    def evaluate(self) -> EvalResult:
        """One-shot mIoU on the held-out pairs (every rank computes it; the numbers agree)."""
        return evaluate(D.unwrap(self.model), self.eval_pairs, self.env.device, autocast_dtype=self.autocast_dtype)

    def fit(self) -> SegGPT:
        """Train to `run.steps` (or `run.stop_at`), logging, evaluating and saving as configured; returns the model."""
        run = self.config.run
        resume = run.resume
        check_run_folder(self.output_dir, resume=resume, overwrite=run.overwrite, inputs=self.config.input_files())
        D.barrier(self.env)  # every rank looks before rank 0 writes anything, so all of them agree
        if resume == "auto":
            resume = str(self.output_dir / "last.pt") if (self.output_dir / "last.pt").is_file() else None
        if resume:
            self.resume(resume)
        logger = RunLogger(self.output_dir, self.env.is_main, run.tensorboard, self.step)
        if logger.note:
            print(logger.note)
        micro = self.micro_batches()
        end = run.steps if run.stop_at is None else run.stop_at
        bar = tqdm(total=end, initial=self.step, disable=not (run.progress and self.env.is_main), desc="train")
        start, losses = time.time(), []
        while self.step < end:
            losses.append(self.train_step([next(micro) for _ in range(run.accumulation)]))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            miou = math.nan
            if self.eval_pairs and (self.step % run.eval_every == 0 or self.step == end):
                miou = self.evaluate().miou
            if self.step % max(1, run.log_every) == 0 or self.step == end or not math.isnan(miou):
                lr = lr_at(self.step - 1, run.steps, self.config.optim)
                logger.log(self.step, lr, sum(losses) / len(losses), time.time() - start, miou)
                losses = []
            if run.save_every > 0 and self.step % run.save_every == 0:
                self.save(self.output_dir / "last.pt")
        bar.close()
        logger.close()
        self.save(self.output_dir / "last.pt")
        if self.env.is_main:
            final = build_seggpt(self.base_model.config, init=False)
            final.load_state_dict(D.full_state_dict(self.model))
            save_model(final, self.output_dir / "model.safetensors")
        else:
            D.full_state_dict(self.model)  # FSDP gathers collectively
        D.barrier(self.env)
        return self.base_model
