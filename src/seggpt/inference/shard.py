"""Inference on more than one process: under `torchrun`, each rank takes a deterministic shard of the inputs.

`torchrun --nproc-per-node N seggpt segment ...` (or `seggpt eval ...`) starts N copies of the command; each
reads RANK / WORLD_SIZE / LOCAL_RANK from the environment, takes every N-th input from its rank on (of the
same sorted list), and writes its own outputs; per-input outputs are identical to one process's. The ranks
share only a gloo process group for barriers (so it also serves GPU runs: no tensors are exchanged).
Without torchrun `join_shards` returns the single shard (rank 0 of 1) and nothing is started.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")
BARRIER_TIMEOUT = timedelta(hours=24)  # ranks wait for the slowest shard at the end of a run


@dataclass(frozen=True)
class Shard:
    """This process's share of a run: rank in [0, world_size), and its GPU index on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that prints and writes the run's summary (rank 0)."""
        return self.rank == 0

    @property
    def suffix(self) -> str:
        """A file-name tag for this shard's own files: "" alone, else ".<rank>-of-<world_size>"."""
        return "" if self.world_size == 1 else f".{self.rank}-of-{self.world_size}"

    def take(self, items: Sequence[T], block: int = 1) -> list[T]:
        """This rank's items: consecutive blocks of `block` items dealt round robin, block `rank` first.

        With `block` = the batch size every batch holds the same inputs as in one process (bit-identical
        outputs); block 1 takes every world_size-th item from index `rank` on.
        """
        blocks = [items[i : i + block] for i in range(0, len(items), block)]
        return [item for chunk in blocks[self.rank :: self.world_size] for item in chunk]

    def device(self, requested: str) -> str:
        """`requested` with "cuda" pinned to this rank's GPU (cuda:LOCAL_RANK) when sharded."""
        if requested == "cuda" and self.world_size > 1:
            return f"cuda:{self.local_rank}"
        return requested

    def barrier(self) -> None:
        """Wait for every rank (no-op alone)."""
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()


def join_shards() -> Shard:
    """This process's shard: from torchrun's environment (joining a gloo group for barriers), else rank 0 of 1.

    Raises:
        ValueError: RANK / WORLD_SIZE are set but not integers with 0 <= RANK < WORLD_SIZE.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Shard()
    try:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError as err:
        raise ValueError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers (as torchrun sets them): {err}") from err
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} must be in [0, WORLD_SIZE={world_size})")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=BARRIER_TIMEOUT)
    return Shard(rank, world_size, local_rank)


def leave_shards(shard: Shard) -> None:
    """Leave the process group `join_shards` joined (no-op alone)."""
    if shard.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
