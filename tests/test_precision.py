"""The precision knob: what `auto` picks, what each device refuses, and int8 close to fp32."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seggpt import Segmenter, VideoSegmenter, load_model
from seggpt.inference import precision
from seggpt.inference.precision import as_precision, prepare_model, resolve_dtype
from seggpt.model import SegGPT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "shapes"


@pytest.mark.parametrize(
    ("flags", "expected"), [({"avx2", "fma"}, "fp32"), ({"avx2", "avx512_bf16"}, "fp32"), ({"amx_bf16"}, "bf16")]
)
def test_auto_is_bf16_only_on_cpus_with_amx(monkeypatch: pytest.MonkeyPatch, flags: set[str], expected: str) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert resolve_dtype("auto", "cpu") == expected
    assert resolve_dtype("fp32", "cpu") == "fp32" and resolve_dtype("bf16", "cpu") == "bf16"


def test_names_aliases_and_refusals() -> None:
    assert as_precision(torch.bfloat16) == "bf16" and as_precision("float32") == "fp32" and as_precision("int8")
    assert resolve_dtype(torch.float32, "cpu") == "fp32" and resolve_dtype("int8", "cpu") == "int8"
    with pytest.raises(ValueError, match="dtype must be one of auto, fp32, bf16, fp16, int8; got 'fp64'"):
        as_precision("fp64")
    with pytest.raises(ValueError, match="fp16 runs on a CUDA GPU only"):
        resolve_dtype("fp16", "cpu")
    with pytest.raises(ValueError, match=r"int8 .* runs on the CPU only"):
        resolve_dtype("int8", "cuda")
    with pytest.raises(ValueError, match="dtype must be one of"):
        Segmenter(nn.Linear(1, 1), dtype="half-ish")  # type: ignore[arg-type]


def test_int8_quantises_a_copy_of_the_linear_layers_but_the_first_blocks(tiny_model: Callable[..., SegGPT]) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    model = tiny_model()
    runner = prepare_model(model, "int8", torch.device("cpu"))
    assert runner is not model and precision.INT8_FP32_BLOCKS == 1
    first = [m for m in runner.blocks[0].modules() if isinstance(m, nn.Linear)]
    block = model.blocks[0]
    own = [block.attn.qkv.weight, block.attn.proj.weight, block.mlp.fc1.weight, block.mlp.fc2.weight]
    assert len(first) == len(own) and all(m.weight is w for m, w in zip(first, own))  # fp32, the model's own weights
    rest = [m for m in runner.modules() if isinstance(m, (nn.Linear, DynamicLinear)) and all(m is not f for f in first)]
    assert rest and all(type(m) is DynamicLinear for m in rest)  # every other Linear is int8
    assert all(type(m) is nn.Linear for m in (model.blocks[0].attn.qkv, model.decoder_embed))  # unchanged


def _canvases(model: SegGPT, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = model.config.query_size
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, 2 * h, w, generator=g), torch.randn(batch, 3, 2 * h, w, generator=g)


@pytest.mark.skipif(not precision.onednn_linear_available(), reason="this torch has no oneDNN Linear kernel")
def test_fp32_cpu_runner_runs_every_linear_on_onednn_with_the_models_own_weights(
    tiny_model: Callable[..., SegGPT],
) -> None:
    from torch.profiler import ProfilerActivity, profile

    model = tiny_model()
    runner = prepare_model(model, "fp32", torch.device("cpu"))
    linears = [m for m in runner.modules() if isinstance(m, nn.Linear)]
    assert runner is not model and linears and all(type(m) is precision.OneDNNLinear for m in linears)
    assert type(model.decoder_embed) is nn.Linear  # the model itself is unchanged
    assert {id(p) for p in runner.parameters()} == {id(p) for p in model.parameters()}  # no copy of any weight
    images, targets = _canvases(model, 2)
    with torch.inference_mode():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fast = runner(images, targets, query_only=True)
        reference = model(images, targets, query_only=True)
    calls = {event.key: event.count for event in prof.key_averages()}
    assert calls.get("mkldnn::_linear_pointwise") == len(linears)  # each layer once, through oneDNN
    # the only other products: the two patch embeddings (image and target canvas; a convolution's weights, which
    # run as one matrix product each and are not nn.Linear layers)
    assert calls.get("aten::linear") == calls.get("aten::addmm") == 2
    torch.testing.assert_close(fast, reference, rtol=0, atol=1e-5)  # the same products, rounded differently


def test_fp32_runner_trains_through_the_plain_linear_and_falls_back_without_onednn(
    tiny_model: Callable[..., SegGPT], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    runner = prepare_model(model, "fp32", torch.device("cpu"))
    images, targets = _canvases(model, 1)
    runner(images, targets, query_only=True).square().mean().backward()  # gradients: nn.Linear's own forward
    assert model.decoder_embed.weight.grad is not None and model.blocks[0].attn.qkv.weight.grad is not None
    torch.manual_seed(0)
    state = torch.get_rng_state()
    assert precision.onednn_linear_available.__wrapped__() in (True, False)  # type: ignore[attr-defined]
    assert torch.equal(torch.get_rng_state(), state)  # the check draws from its own generator
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert precision.onednn_linear_available.__wrapped__() is False  # type: ignore[attr-defined]
    monkeypatch.setattr(precision, "onednn_linear_available", lambda: False)
    assert prepare_model(model, "fp32", torch.device("cpu")) is model


def test_int8_runner_is_torch_dynamic_quantisation_sharing_the_other_weights(
    tiny_model: Callable[..., SegGPT], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner computes exactly what `quantize_dynamic` (per-channel qconfig, the first block left out) on a
    deep copy computes, while every non-Linear parameter is the fp32 model's own tensor (no second copy of the
    model in memory)."""
    import copy
    import warnings

    from torch.ao.quantization import quantize_dynamic

    monkeypatch.setattr(precision, "onednn_linear_available", lambda: False)  # fp32 layers as in the reference
    model = tiny_model()
    first = {id(m) for m in model.blocks[0].modules()}
    qconfig = precision._int8_qconfig()
    spec = {n: qconfig for n, m in model.named_modules() if type(m) is nn.Linear and id(m) not in first}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8)  # type: ignore[arg-type]
    assert type(reference.blocks[0].attn.qkv) is nn.Linear and type(reference.blocks[1].attn.qkv) is not nn.Linear
    runner = prepare_model(model, "int8", torch.device("cpu"))
    images, targets = _canvases(model, 2)
    kwargs = {"seg_type": "instance", "ensemble_groups": torch.zeros(2, dtype=torch.long), "query_only": True}
    with torch.inference_mode():
        torch.testing.assert_close(
            runner(images, targets, **kwargs), reference(images, targets, **kwargs), rtol=0, atol=0
        )
    shared = {t.data_ptr() for t in model.parameters()}
    kept = list(runner.parameters())  # quantised Linear weights are packed params, not Parameters
    assert kept and all(t.data_ptr() in shared for t in kept)


def test_int8_labels_agree_with_fp32_on_the_example_scenes() -> None:
    """The embedded default model on examples/shapes: int8 decodes (almost) the labels fp32 decodes."""
    model = load_model("seggpt-default")
    prompts = [str(EXAMPLES / f"prompt_{i}.png") for i in range(2)]
    masks = [str(EXAMPLES / f"prompt_{i}_mask.png") for i in range(2)]
    queries = sorted(str(p) for p in (EXAMPLES / "queries").glob("*.png"))
    labels = {}
    for dtype in ("fp32", "int8"):
        segmenter = Segmenter(model, seg_type="semantic", dtype=dtype)
        assert segmenter.dtype == dtype
        segmenter.set_prompts(prompts, masks)
        labels[dtype] = np.stack([p.labels for p in segmenter.segment(queries)])
    agreement = float((labels["fp32"] == labels["int8"]).mean())
    assert agreement >= 0.98, agreement  # 99.5 % measured (benchmarks/int8_agreement.py)
    assert len(np.unique(labels["int8"])) > 1


def test_video_segmenter_runs_int8_and_keeps_the_model_fp32(tiny_model: Callable[..., SegGPT]) -> None:
    model = tiny_model()
    segmenter = VideoSegmenter(model, memory=2, dtype="int8")
    frame = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=np.int64)
    mask[5:10, 5:15] = 1
    state = segmenter.init_state(frame, mask)
    assert segmenter.step(state, frame).shape == (20, 30)
    assert next(model.parameters()).dtype == torch.float32 and type(model.decoder_embed) is nn.Linear
