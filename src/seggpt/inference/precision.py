"""One precision knob for every entry point: `auto`, `fp32`, `bf16`, `fp16` or `int8`.

`auto` (the default everywhere) picks bf16 only where the hardware runs it fast (a CUDA GPU with bf16, a
CPU with AMX) and fp32 elsewhere: on a CPU without bf16 instructions (AVX2 only) bf16 matrix products are
emulated and 5x slower than fp32, and with AVX-512 BF16 but no AMX they still ran at about 160 GFLOP/s
against 280 for fp32 (README, "Fidelity and speed"). bf16 and fp16 run the model under
autocast (weights stay as loaded); fp16 needs a GPU; int8 quantises the Linear layers dynamically
(`torch.ao` dynamic quantisation: int8 weights, activations quantised per batch), except those of the first
encoder block, and runs on CPU only.

`fidelity()` is the GPU counterpart of the CPU's exact fp32: no TF32 and the math attention kernel.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn

from seggpt.model.seggpt import SegGPT

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Resolved = Literal["fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float": "fp32"}
_TORCH_DTYPES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CPU_BF16_FLAGS = ("amx_bf16",)  # /proc/cpuinfo flag of bf16 matrix tiles (AVX-512 BF16 alone measured slower)
INT8_FP32_BLOCKS = 1
"""Encoder blocks, from the first, whose Linear layers the int8 runner keeps in fp32. The first block reads the
patch embeddings, whose activations lose the most to one int8 scale: kept in fp32, CamVid label agreement with
fp32 went from 97.75 % to 98.64 % (the first two blocks: 99.04 %; the second or third block alone, or one kind
of layer in every block: at most 98.25 %), for 6 % of ViT-L's int8 time (README, "int8 agreement")."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products faster than fp32 (AMX bf16 tiles)."""
    return any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)


def as_precision(requested: str | torch.dtype) -> Precision:
    """Normalise a precision name or torch dtype ("float32", torch.bfloat16, "fp16", ...) to a `Precision`.

    Raises:
        ValueError: an unknown name or dtype (the message lists the known ones).
    """
    name = _TORCH_DTYPES.get(requested) if isinstance(requested, torch.dtype) else requested
    name = _ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in PRECISIONS:
        raise ValueError(f"dtype must be one of {', '.join(PRECISIONS)}; got {requested!r}")
    return name  # type: ignore[return-value]


def resolve_dtype(requested: str | torch.dtype, device: torch.device | str) -> Resolved:
    """The precision to run on `device`: `auto` becomes bf16 where the hardware runs it fast, else fp32.

    Args:
        requested: a `Precision` name, an alias ("float32", "bfloat16", "float16") or a torch dtype.
        device: where the model runs.

    Returns:
        "fp32", "bf16", "fp16" or "int8".

    Raises:
        ValueError: an unknown name, fp16 off a GPU, or int8 off the CPU.
    """
    precision = as_precision(requested)
    device = torch.device(device)
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"dtype fp16 runs on a CUDA GPU only, not on {device.type}; use fp32, bf16 or int8")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"dtype int8 (dynamic quantisation) runs on the CPU only, not on {device.type}")
    return precision


def autocast(precision: Resolved, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast context of bf16/fp16 on `device`; a no-op for fp32 and int8."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def _int8_qconfig() -> Any:
    """torch.ao's per-channel dynamic qconfig: one int8 scale per output channel of each weight (CamVid label
    agreement with fp32 98.1 % against 98.0 % for one scale per tensor; README, "Benchmarks")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig

    return per_channel_dynamic_qconfig


def _shallow_clone(module: nn.Module) -> nn.Module:
    """A copy of `module` holding its very parameters and buffers in dicts of its own (registering on the copy
    leaves `module` alone); its children are still `module`'s until replaced."""
    copied = copy.copy(module)
    copied._parameters = dict(module._parameters)
    copied._buffers = dict(module._buffers)
    return copied


def _swap_linears(model: nn.Module, convert: Callable[[nn.Linear], nn.Module]) -> nn.Module:
    """A clone of `model` whose nn.Linear layers are `convert(layer)`; every other module is a shallow clone
    that shares its parameters and buffers with `model` (no second copy of the weights)."""

    def clone(module: nn.Module) -> nn.Module:
        if type(module) is nn.Linear:
            return convert(module)
        copied = _shallow_clone(module)
        copied._modules = {name: clone(child) for name, child in module._modules.items() if child is not None}
        return copied

    return clone(model)


def quantize_int8(model: nn.Module, keep_fp32: Iterable[nn.Module] = ()) -> nn.Module:
    """`model` with every nn.Linear dynamically quantised to int8 (`torch.ao` dynamic quantisation: qint8
    weights with a scale per output channel, activations quantised per batch), except those inside the modules
    `keep_fp32`, which run in fp32 (on oneDNN where available); `model` itself is unchanged.

    Only the Linear layers are new: every other module shares its parameters and buffers with `model`, so the
    runner adds the int8 weights (~1/4 of the fp32 Linear weights) to memory, not a second copy of the model.
    A model that is not fp32 on the CPU is converted on a deep copy instead (and `keep_fp32` then finds no layer).
    """
    kept = {id(m) for module in keep_fp32 for m in module.modules()}
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in (*model.parameters(), *model.buffers())):
        model = copy.deepcopy(model).float().cpu()
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated for torchao, which we do not depend on
        warnings.simplefilter("ignore")
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

        qconfig = _int8_qconfig()

        def convert(layer: nn.Linear) -> nn.Module:
            if id(layer) in kept:
                return fp32_linear(layer)
            observed = copy.copy(layer)  # from_float reads the qconfig off the module it converts
            observed.qconfig = qconfig  # type: ignore[assignment]
            return DynamicLinear.from_float(observed)

        return _swap_linears(model, convert).eval()


def int8_fp32_modules(model: nn.Module) -> list[nn.Module]:
    """What the int8 runner keeps in fp32: the first `INT8_FP32_BLOCKS` encoder blocks of a SegGPT."""
    return list(model.blocks[:INT8_FP32_BLOCKS]) if isinstance(model, SegGPT) else []


@functools.cache
def onednn_linear_available() -> bool:
    """Whether this torch runs fp32 Linear layers through oneDNN (`torch.ops.mkldnn._linear_pointwise`, the
    kernel torch's own CPU compiler uses): checked once on a small product against `F.linear`."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        g = torch.Generator().manual_seed(0)  # not the global generator: the check leaves the user's stream alone
        x, w, b = torch.randn(3, 8, generator=g), torch.randn(5, 8, generator=g), torch.randn(5, generator=g)
        out = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return bool(torch.allclose(out, torch.nn.functional.linear(x, w, b), atol=1e-5))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class OneDNNLinear(nn.Linear):
    """An nn.Linear (sharing its layer's parameters) whose inference forward on CPU fp32 runs oneDNN's matrix
    product instead of the default BLAS call: the same arithmetic, differently blocked (outputs differ by
    rounding, ~1e-6). Measured on an AVX2 CPU: ViT-L 1.04-1.10x faster, its decoder projection 1.23x, the small
    default model unchanged (README, "CPU Linear layers"). With gradients needed, or other dtypes, it is the
    plain nn.Linear."""

    @classmethod
    def sharing(cls, layer: nn.Linear) -> OneDNNLinear:
        """A OneDNNLinear holding `layer`'s own weight and bias Parameters (no copy)."""
        new = _shallow_clone(layer)
        new.__class__ = cls
        return new  # type: ignore[return-value]  # its class is now cls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = (
            x.dtype == self.weight.dtype == torch.float32
            and x.device.type == "cpu"
            and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
        )
        if not fast:
            return super().forward(x)
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


def fp32_linear(layer: nn.Linear) -> nn.Module:
    """How an fp32 Linear layer runs for inference on the CPU: as `OneDNNLinear` on its own Parameters where this
    torch has the operator, else as it is."""
    return OneDNNLinear.sharing(layer) if onednn_linear_available() else layer


def onednn_linears(model: nn.Module) -> nn.Module:
    """`model` with its nn.Linear layers as `OneDNNLinear` (same Parameters): the CPU fp32 runner; `model`
    itself where it has no nn.Linear or this torch lacks the operator."""
    if not onednn_linear_available() or not any(type(m) is nn.Linear for m in model.modules()):
        return model
    return _swap_linears(model, fp32_linear)


def prepare_model(model: nn.Module, precision: Resolved, device: torch.device, compile: bool = False) -> nn.Module:
    """The module to run: `model` in eval mode on `device`, int8-quantised for int8 (but for
    `int8_fp32_modules`), its Linear layers on oneDNN for fp32 on a CPU, compiled with `compile`.

    The returned module may be a clone (new Linear modules; int8 weights for int8, `model`'s own Parameters for
    oneDNN; every other tensor shared with `model`) or a compiled wrapper; keep `model` for its config and
    weights.
    """
    model = model.to(device).eval()
    runner = model
    if precision == "int8":
        runner = quantize_int8(model, keep_fp32=int8_fp32_modules(model))
    elif precision == "fp32" and device.type == "cpu" and not compile:
        runner = onednn_linears(model)
    if compile:
        runner = torch.compile(runner)  # type: ignore[assignment]
    return runner


@contextlib.contextmanager
def fidelity() -> Iterator[None]:
    """Reproduce CPU fp32 on a GPU: TF32 off (matmul and cuDNN) and the math attention kernel, restored after."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


DTYPE_HELP = (
    "precision: auto (default: bf16 where the hardware runs it fast, a GPU with bf16 or a CPU with AMX, "
    "else fp32), fp32, bf16, fp16 (GPU only) or int8 (CPU only: dynamically quantised linear layers)"
)
DEVICE_HELP = "cpu, cuda, cuda:N or auto (default: auto, the GPU when there is one, else the CPU)"
COMPILE_HELP = "run the model through torch.compile (a slow first call; for long runs)"
