"""Two processes (gloo on CPU) stay identical and match one process on the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from seggpt.training.config import TrainConfig, config_from_dict
from seggpt.training.dataset import StepSampler
from seggpt.training.distributed import DistEnv, cleanup, init_distributed
from seggpt.training.trainer import Trainer


def run_config(output_dir: Path, strategy: str = "ddp") -> TrainConfig:
    return config_from_dict(
        {},
        [
            "model.preset=seggpt-test",
            "run.device=cpu",
            "run.progress=false",
            "run.tensorboard=false",
            f"run.output_dir={output_dir}",
            "run.batch_size=4",
            "run.steps=3",
            "optim.warmup_steps=1",
            "optim.lr=1e-3",
            "data.synthetic_scenes=50",
            "data.eval_source=none",
            f"run.strategy={strategy}",
        ],
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def step_gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The gradients one more step of global batch 0 leaves (Adam hides a wrong scale; gradients do not)."""
    trainer.optimizer.step = lambda *args, **kwargs: None  # type: ignore[method-assign]
    trainer.optimizer.zero_grad = lambda *args, **kwargs: None  # type: ignore[method-assign]
    trainer.step = 0
    trainer.train_step([next(trainer.micro_batches()) for _ in range(trainer.config.run.accumulation)])
    grads = {n: p.grad for n, p in trainer.base_model.named_parameters() if p.grad is not None}
    return {n: (g.full_tensor() if hasattr(g, "full_tensor") else g).detach().clone() for n, g in grads.items()}


def worker(rank: int, world_size: int, port: int, output_dir: str, strategy: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    env = init_distributed("cpu")
    try:
        trainer = Trainer(run_config(Path(output_dir), strategy), env)
        trainer.fit()
        from seggpt.training.distributed import full_state_dict

        # each DDP replica's own weights; under FSDP the gathered tensors (only rank 0 receives them)
        state = trainer.base_model.state_dict() if strategy == "ddp" else full_state_dict(trainer.model)
        if strategy == "ddp" or rank == 0:
            torch.save(state, Path(output_dir) / f"rank{rank}.pt")
        torch.save(step_gradients(trainer), Path(output_dir) / f"grads{rank}.pt")
    finally:
        cleanup(env)


def test_step_sampler_shards_the_global_batch() -> None:
    shards = [list(StepSampler(4, 1, rank, 2, steps=3)) for rank in range(2)]
    assert shards == [[4, 5, 8, 9], [6, 7, 10, 11]]
    assert list(StepSampler(4, 1, 0, 1, steps=3)) == list(range(4, 12))
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        StepSampler(3, 0, 0, 2)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_gloo_processes_match_one(tmp_path: Path, strategy: str) -> None:
    mp.spawn(worker, args=(2, free_port(), str(tmp_path), strategy), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    if strategy == "ddp":  # the replicas stay identical (FSDP keeps one sharded copy)
        rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    single = Trainer(run_config(tmp_path / "single"), DistEnv())
    single.fit()
    reference = single.base_model.state_dict()
    for key, value in reference.items():  # the same global batch: the same update (up to summation order)
        torch.testing.assert_close(rank0[key], value, atol=2e-5, rtol=1e-4, msg=key)
    grads = [torch.load(tmp_path / f"grads{rank}.pt", weights_only=True) for rank in range(2)]
    single_grads = step_gradients(single)
    assert single_grads.keys() == grads[0].keys() == grads[1].keys()
    for key, value in single_grads.items():
        assert torch.equal(grads[0][key], grads[1][key])
        torch.testing.assert_close(grads[0][key], value, atol=1e-6, rtol=1e-4, msg=key)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "last.pt").is_file()  # rank 0 saved
