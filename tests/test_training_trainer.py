"""The trainer on synthetic data: the loss goes down, exact resume, accumulation, schedule, evaluation, outputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from seggpt.model import build_seggpt, get_preset, load_model
from seggpt.training.config import OptimSection, TrainConfig, config_from_dict
from seggpt.training.distributed import DistEnv
from seggpt.training.optim import lr_at, param_groups
from seggpt.training.pairs import collate_examples
from seggpt.training.trainer import Trainer


def tiny_config(tmp_path: Path, *overrides: str) -> TrainConfig:
    base = [
        "model.preset=seggpt-test",
        "run.device=cpu",
        "run.progress=false",
        "run.tensorboard=false",
        f"run.output_dir={tmp_path}",
        "run.batch_size=4",
        "run.steps=6",
        "optim.warmup_steps=2",
        "data.synthetic_scenes=50",
        "data.eval_source=synthetic",
        "data.eval_examples=8",
    ]
    return config_from_dict({}, [*base, *overrides])


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path, "run.steps=25", "run.batch_size=8", "optim.lr=2e-3", "optim.warmup_steps=3", "data.mixed_prob=0"
    )
    trainer = Trainer(config, DistEnv())
    held_out = collate_examples([trainer.dataset[10**6 + i] for i in range(16)])

    def held_out_loss() -> float:
        model = trainer.base_model.eval()
        with torch.no_grad():
            pred = model(held_out.image_canvas, held_out.target_canvas, held_out.bool_masked_pos, held_out.seg_type)
            return float(model.loss(pred, held_out.target_canvas, held_out.bool_masked_pos, held_out.valid))

    before = held_out_loss()
    trainer.fit()
    after = held_out_loss()
    assert after < 0.8 * before, (before, after)
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0] == "step,lr,loss,eval_miou,seconds" and log[-1].startswith("25,")


def test_exact_resume_equals_a_straight_run(tmp_path: Path) -> None:
    arch = dataclasses.replace(get_preset("seggpt-test"), drop_path_rate=0.2)  # random state matters too

    def fresh(config: TrainConfig) -> Trainer:
        torch.manual_seed(0)
        return Trainer(config, DistEnv(), model=build_seggpt(arch))

    straight = fresh(tiny_config(tmp_path / "a"))
    straight.fit()
    first = fresh(tiny_config(tmp_path / "b"))
    batches = first.micro_batches()
    for _ in range(3):
        first.train_step([next(batches)])
    first.save(tmp_path / "b" / "mid.pt")
    torch.manual_seed(123)  # the resumed process starts from another random state
    resumed = fresh(tiny_config(tmp_path / "c", f"run.resume={tmp_path / 'b' / 'mid.pt'}"))
    resumed.fit()
    assert resumed.step == straight.step == 6
    a, b = weights(straight.base_model), weights(resumed.base_model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    saved = load_model(tmp_path / "c" / "model.safetensors")  # the final model file holds the same weights
    assert all(torch.equal(saved.state_dict()[k], b[k]) for k in a)


def test_accumulation_matches_one_big_batch(tmp_path: Path) -> None:
    results = []
    for accumulation in (1, 2):
        torch.manual_seed(0)
        trainer = Trainer(
            tiny_config(tmp_path / str(accumulation), "run.steps=2", f"run.accumulation={accumulation}"),
            DistEnv(),
            model=build_seggpt(get_preset("seggpt-test")),
        )
        trainer.fit()
        results.append(weights(trainer.base_model))
    for key in results[0]:
        torch.testing.assert_close(results[0][key], results[1][key], atol=2e-6, rtol=1e-4)


def test_schedule_and_layer_decay() -> None:
    optim = OptimSection(lr=1.0, min_lr=0.1, warmup_steps=4)
    assert lr_at(0, 20, optim) == pytest.approx(0.25) and lr_at(3, 20, optim) == pytest.approx(1.0)
    assert lr_at(4, 20, optim) == pytest.approx(1.0) and lr_at(20, 20, optim) == pytest.approx(0.1)
    assert lr_at(12, 20, optim) == pytest.approx(0.55)
    model = build_seggpt(get_preset("seggpt-test"))
    groups = param_groups(model, 0.05, layer_decay=0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    by_name = {names[id(p)]: g for g in groups for p in g["params"]}
    assert by_name["mask_token"]["weight_decay"] == 0 and by_name["blocks.0.attn.qkv.bias"]["weight_decay"] == 0
    assert by_name["blocks.0.attn.qkv.weight"]["weight_decay"] == 0.05
    assert by_name["patch_embed.proj.weight"]["lr_scale"] == 0.5**5
    assert by_name["blocks.3.mlp.fc1.weight"]["lr_scale"] == 0.5
    assert by_name["decoder_embed.weight"]["lr_scale"] == 1.0
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_evaluation_is_perfect_for_an_oracle_and_bf16_runs(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(tmp_path, "run.eval_every=1", "run.precision=bf16"), DistEnv())

    class Oracle(torch.nn.Module):
        def forward(self, image_canvas, target_canvas, seg_type, ensemble_groups, query_only):  # type: ignore[no-untyped-def]
            return target_canvas[:, :, target_canvas.shape[2] // 2 :]

    from seggpt.training.evaluate import evaluate

    truth = [(e, layout, name) for e, layout, name in trainer.eval_pairs if layout.keys]
    assert truth
    assert evaluate(Oracle(), truth, torch.device("cpu")).miou == pytest.approx(100.0)
    result = trainer.evaluate()  # a random model, under bf16 autocast
    assert 0.0 <= result.miou <= 100.0 and result.num_pairs == 8
    trainer.train_step([next(trainer.micro_batches())])
