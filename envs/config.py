"""Frozen-dataclass configuration helpers shared by every package.

Rules (DESIGN.md, Style 7): configs are frozen dataclasses with a docstring per field, validated in
``__post_init__``, serialised into every manifest and checkpoint as plain JSON. Loading a dict
refuses unknown keys and names the allowed ones; no ``**kwargs`` swallowing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the field and the allowed values."""


def check_choice(field: str, value: Any, allowed: typing.Iterable[Any]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{field}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")


def check_range(field: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ConfigError unless low <= value <= high (either bound may be None)."""
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ConfigError(f"{field}={value!r} is out of range; allowed: [{lo}, {hi}]")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen dataclass as a JSON-able dict (tuples become lists, enums their values)."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def config_from_dict(cls: type[T], data: dict[str, Any], *, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys are an error naming the allowed ones.

    Nested dataclass fields are built recursively; lists become tuples where the field is a tuple.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _from_json(hints[name], value, f"{where}.{name}" if where else name)
    return cls(**kwargs)


def _from_json(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = options[0] if len(options) == 1 else hint
        origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where=where)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{where}={value!r} is not allowed; choose one of: {', '.join(str(m.value) for m in hint)}") from None
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_from_json(inner, v, where) for v in value)
    return value


def replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` that re-runs validation and reports unknown fields clearly."""
    allowed = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ConfigError(f"{type(config).__name__}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return dataclasses.replace(config, **changes)
