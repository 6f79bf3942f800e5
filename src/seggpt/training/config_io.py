"""Typed YAML for frozen dataclasses: values checked against field annotations, `section.key=value` overrides,
and one-line errors that name the key (or the line and column of bad YAML)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

import yaml


def plain(value: Any) -> Any:
    """Nested dicts with tuples turned into lists (what YAML writes)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """`value` checked against a field annotation (and converted: lists -> tuples, ints -> floats)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"config key {key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            raise ValueError(f"config key {key} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ValueError(f"config key {key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config key {key} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads 2e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"config key {key} must be float, got {value!r}") from None
    if annotation is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # e.g. a split name like 2017 written without quotes
    if not isinstance(value, annotation) or (annotation is int and isinstance(value, bool)):
        raise ValueError(f"config key {key} must be {annotation.__name__}, got {value!r}")
    return value


def build_dataclass(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    """A (frozen) dataclass from a nested dict: every key known, every value of its field's type; nested
    dataclass fields are built from mappings. `prefix` names the section in errors ("data.")."""
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(hints)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {sorted(f'{prefix}{k}' for k in unknown)}; "
            f"known in {prefix.rstrip('.') or 'the top level'}: {sorted(hints)}"
        )
    kwargs = {}
    for name, value in data.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ValueError(f"config section {prefix}{name} must be a mapping, got {value!r}")
            kwargs[name] = build_dataclass(annotation, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, annotation, f"{prefix}{name}")
    return cls(**kwargs)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `section.key=value` (value parsed as YAML) to a nested dict in place."""
    if "=" not in assignment:
        raise ValueError(f"override {assignment!r} must look like section.key=value")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"override key {key!r} must be section.key, e.g. data.camvid_root")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {assignment!r}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"override {assignment!r}: cannot parse the value: {yaml_problem(err)}") from err


def yaml_problem(err: yaml.YAMLError) -> str:
    """What is wrong in a YAML text and where, in one line (the parser's own message spans several)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(err).split())
