"""The CLI and the web app are consumers of the public API: they import seggpt names only from its entry points.

The public surface: the top-level `seggpt` package and the subpackage entry points below, each name in the
entry point's `__all__`; infrastructure modules (`seggpt.safety`, `seggpt.atomic`, `seggpt.lazy`) as they are;
and a front end's own package (`seggpt.cli.*` inside cli/, `seggpt.app.*` inside app/).
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "seggpt"
ENTRY_POINTS = (
    "seggpt",
    "seggpt.app",
    "seggpt.data",
    "seggpt.evaluation",
    "seggpt.inference",
    "seggpt.model",
    "seggpt.training",
    "seggpt.tuning",
)
INFRASTRUCTURE = ("seggpt.atomic", "seggpt.lazy", "seggpt.safety")
FRONT_ENDS = ("cli", "app")


def private_imports(source: str, own_package: str) -> list[str]:
    """`module.name` for each import of `source` that reaches past the public API (empty when it does not)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            pairs = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in pairs:
            own = module == own_package or module.startswith(own_package + ".")
            if module.split(".")[0] != "seggpt" or module in INFRASTRUCTURE or own:
                continue
            if module not in ENTRY_POINTS or name is None or name not in importlib.import_module(module).__all__:
                found.append(f"{module}.{name}" if name else module)
    return found


@pytest.mark.parametrize("path", sorted(p for d in FRONT_ENDS for p in (SRC / d).glob("*.py")), ids=str)
def test_front_ends_import_only_the_public_api(path: Path) -> None:
    own = f"seggpt.{path.parent.name}"
    assert private_imports(path.read_text(), own) == [], f"{path.name} imports non-public seggpt modules"


def test_the_check_catches_a_private_import() -> None:
    source = (
        "import seggpt.inference.writers\n"
        "from seggpt.inference.writers import OUTPUTS\n"
        "from seggpt.inference import segmenter\n"  # a module, not a name in __all__
        "from seggpt.inference import OUTPUTS, Segmenter\n"
        "from seggpt.cli.errors import CLIError\n"
        "from seggpt.safety import check_device\n"
        "def f():\n    from seggpt.data.io import load_rgb\n"
    )
    assert private_imports(source, "seggpt.cli") == [
        "seggpt.inference.writers",
        "seggpt.inference.writers.OUTPUTS",
        "seggpt.inference.segmenter",
        "seggpt.data.io.load_rgb",
    ]
    assert private_imports("from seggpt.cli.errors import CLIError\n", "seggpt.app") == ["seggpt.cli.errors.CLIError"]


@pytest.mark.parametrize("package", ENTRY_POINTS)
def test_entry_points_export_what_they_list(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):  # a submodule exported as such, not one shadowing its namesake
            assert value.__name__ == f"{package}.{name}" and not hasattr(value, name), f"{package}.{name}"
        else:
            importlib.import_module(getattr(value, "__module__", package))  # its home loaded: the attribute stays
            assert getattr(module, name) is value, f"{package}.{name} is shadowed by its submodule"
