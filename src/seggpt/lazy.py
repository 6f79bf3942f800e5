"""Package attributes loaded on first use (PEP 562): a light `import seggpt.x.y` does not load the whole package."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` that import `homes[name]` (a module path) when `name` is first used.

    Args:
        package: the package's `__name__` (for the error message).
        homes: public name -> the module that defines it; a name whose home is `package.name` is that
            submodule itself (e.g. `seggpt.evaluation.fewshot`).
    """

    def getattr_(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(homes[name])
        return module if homes[name] == f"{package}.{name}" else getattr(module, name)

    def dir_() -> list[str]:
        return sorted(homes)

    return getattr_, dir_
