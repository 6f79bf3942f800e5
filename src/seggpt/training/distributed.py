"""torch.distributed plumbing: the same training command runs alone or under `torchrun` (DDP or FSDP).

Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set) the process group starts with
gloo on CPU and nccl on GPU; without them everything is a no-op on one process. Rank 0 logs and saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistEnv:
    """This process's place: rank in [0, world_size), its device, and whether a process group runs."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = CPU
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (rank 0)."""
        return self.rank == 0


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """ "auto" -> this process's GPU if any, else CPU; "cuda" without a GPU is an error."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("run.device=cuda but no CUDA device is available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(requested_device: str = "auto") -> DistEnv:
    """Join the process group when launched by torchrun (env vars), else a single-process `DistEnv`."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistEnv(device=pick_device(requested_device))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = pick_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistEnv(rank, world_size, local_rank, device, initialized=True)


def cleanup(env: DistEnv) -> None:
    """Leave the process group (if this process joined one)."""
    if env.initialized and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every process (no-op alone)."""
    if env.initialized:
        dist.barrier()


def all_reduce_sum(value: Tensor, env: DistEnv) -> Tensor:
    """Sum of `value` over all processes (a copy; `value` alone when not distributed)."""
    total = value.detach().clone()
    if env.initialized:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def broadcast_object(obj: object, env: DistEnv) -> object:
    """Rank 0's `obj` on every process."""
    if not env.initialized:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_model(model: nn.Module, env: DistEnv, strategy: Literal["ddp", "fsdp"] = "ddp") -> nn.Module:
    """DDP, or FSDP (per-parameter sharding, `fully_shard`; each ViT block its own unit), when distributed.

    Alone, the model itself. Under FSDP the returned module is `model`, sharded in place.
    """
    if not env.initialized:
        return model
    if strategy == "ddp":
        device_ids = [env.device.index] if env.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    from torch.distributed.fsdp import fully_shard

    for block in getattr(model, "blocks", []):
        fully_shard(block)
    fully_shard(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP wrapper (FSDP shards the model in place: returned as it is)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _full_options(cpu_offload: bool = False, strict: bool = True) -> StateDictOptions:
    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload, strict=strict)


def full_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The complete model state dict on CPU, the same keys for a plain, DDP or FSDP model.

    Collective in a distributed run (call it on every rank), where only rank 0 receives the tensors ({} elsewhere).
    """
    state = get_model_state_dict(unwrap(model), options=_full_options(cpu_offload=True))
    return {k: v.detach().cpu() for k, v in state.items() if isinstance(v, Tensor)}


def load_full_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load a complete model state dict (every rank passes it) into a plain, DDP or FSDP model, strictly."""
    set_model_state_dict(unwrap(model), dict(state), options=_full_options())  # type: ignore[arg-type]


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's full state keyed by parameter names (portable between plain, DDP and FSDP runs)."""
    return get_optimizer_state_dict(unwrap(model), optimizer, options=_full_options(cpu_offload=True))


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a state written by `optimizer_state` (re-sharded under FSDP)."""
    set_optimizer_state_dict(unwrap(model), optimizer, state, options=_full_options())
