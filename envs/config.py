"""Frozen-dataclass configuration helpers shared by every package.

Rules (docs/design.md, 'Style', rule 7): configs are frozen dataclasses with a docstring per field, validated in
``__post_init__``, serialised into every manifest and checkpoint as plain JSON. Loading a dict
refuses unknown keys and names the allowed ones; no ``**kwargs`` swallowing. It also checks each
value against its field's type hint and names the field and the value when it does not fit: ``int``
takes integral numbers (YAML's ``2e6`` and ``"1e6"`` too), ``float`` any finite number, ``bool``
only true/false, ``str`` only strings, ``tuple[X, ...]`` a list of X, ``dict[str, X]`` a mapping of
X. Every numeric field also gets a range in its ``__post_init__`` (``check_range``, which refuses
NaN and infinities), so a value is never silently out of its meaning.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
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


def check_range(
    field: str, value: Any, low: float | None = None, high: float | None = None, *, open_low: bool = False, integer: bool = False
) -> None:
    """Raise ConfigError unless ``value`` is a finite number with low <= value <= high.

    Either bound may be None; ``open_low`` excludes ``low`` itself (low < value); ``integer``
    also requires an integral value. The message names the field, the value and the allowed range.
    """
    lo = "-inf" if low is None else low
    allowed = f"{'(' if open_low else '['}{lo}, {'inf' if high is None else high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{field}={value!r} must be {'an integer' if integer else 'a number'}; allowed: {allowed}")
    if not math.isfinite(value):
        raise ConfigError(f"{field}={value!r} is not a finite number; allowed: {allowed}")
    if integer and value != int(value):
        raise ConfigError(f"{field}={value!r} must be an integer; allowed: {allowed}")
    below = low is not None and (value <= low if open_low else value < low)
    if below or (high is not None and value > high):
        raise ConfigError(f"{field}={value!r} is out of range; allowed: {allowed}")


def check_each(field: str, values: typing.Iterable[Any], low: float | None = None, high: float | None = None, **kwargs: Any) -> None:
    """``check_range`` on every item of a sequence field, naming the item as ``field[i]``."""
    for i, value in enumerate(values):
        check_range(f"{field}[{i}]", value, low, high, **kwargs)


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
    if hint in (int, float, bool, str):
        return _scalar(hint, value, where)
    if origin is tuple:
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        if not isinstance(value, list | tuple):
            nested = isinstance(inner, type) and dataclasses.is_dataclass(inner)
            kind, example = ("mappings", "[{...}]") if nested else (_KIND_NAMES.get(inner, "values"), _EXAMPLES.get(inner, "[...]"))
            raise ConfigError(f"{where}={value!r} must be a list of {kind}, e.g. {example}")
        return tuple(_from_json(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r} must be a mapping, e.g. {{key: value}}")
        args = typing.get_args(hint)
        inner = args[1] if len(args) == 2 else Any
        return {k: _from_json(inner, v, f"{where}.{k}") for k, v in value.items()}
    return value


_KIND_NAMES = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
_EXAMPLES = {int: "[0, 1]", float: "[0.5, 1.0]", bool: "[true, false]", str: "[a, b]"}


def _scalar(kind: type, value: Any, where: str) -> Any:
    """``value`` as ``kind`` (int, float, bool or str); numbers may come as YAML 1.1 strings (``"1e-4"``)."""
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            raise ConfigError(f"{where}={value!r} must be {'true or false' if kind is bool else 'a string'}")
        return value
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise ConfigError(f"{where}={value!r} must be {'an integer' if kind is int else 'a number'}")
    if not math.isfinite(number):
        raise ConfigError(f"{where}={value!r} is not a finite number")
    if kind is float:
        return float(number)
    if number != int(number):
        raise ConfigError(f"{where}={value!r} must be an integer")
    return int(number)


def replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` that re-runs validation and reports unknown fields clearly."""
    allowed = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ConfigError(f"{type(config).__name__}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return dataclasses.replace(config, **changes)
