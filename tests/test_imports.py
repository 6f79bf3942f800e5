"""Light imports: submodules load without the whole package; `import seggpt` still exposes the public API."""

from __future__ import annotations

import subprocess
import sys

import pytest

import seggpt


def modules_after_import(statement: str) -> set[str]:
    """The module names a fresh interpreter holds after running `statement`."""
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "module", ["seggpt", "seggpt.evaluation.metrics", "seggpt.evaluation.panoptic", "seggpt.inference.palette"]
)
def test_light_modules_do_not_load_torch(module: str) -> None:
    loaded = modules_after_import(f"import {module}")
    assert module in loaded
    assert "torch" not in loaded
    assert "seggpt.inference.segmenter" not in loaded


def test_public_api_resolves_lazily() -> None:
    assert set(seggpt.__all__) <= set(dir(seggpt))
    for name in seggpt.__all__:
        assert getattr(seggpt, name).__name__ == name
    from seggpt import Segmenter
    from seggpt.inference.segmenter import Segmenter as Home

    assert Segmenter is Home
    with pytest.raises(AttributeError, match="no attribute 'Segmentr'"):
        _ = seggpt.Segmentr  # type: ignore[attr-defined]
