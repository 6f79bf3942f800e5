"""Package attributes loaded on first use (PEP 562): a light `import seggpt.x.y` does not load the whole package."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any


def lazy_attributes(
    package: str, homes: Mapping[str, str], submodules: Collection[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` that import `homes[name]` (a module path) when `name` is first used.

    Args:
        package: the package's `__name__` (for the error message).
        homes: public name -> the module that defines it.
        submodules: public names that are the package's submodules themselves (`package.name`), e.g. the
            evaluation runners. A public function must not share its module's name: once the submodule is
            imported, the package attribute of that name is the module.
    """

    def getattr_(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    def dir_() -> list[str]:
        return sorted([*homes, *submodules])

    return getattr_, dir_
