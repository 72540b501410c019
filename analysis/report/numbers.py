"""Numbers as a reader wants them: a few significant digits, thousands separators, readable units.

Rules (shared by the HTML report and the Markdown summary, so both show the same text):
- missing values (None, NaN) print as an em dash; infinities as ``inf`` / ``-inf``;
- integers (and floats that are whole numbers, such as env steps) keep every digit, with commas;
- other values keep ``sig`` significant digits in fixed notation between 1e-3 and 1e6, and
  switch to scientific notation outside that range;
- p-values print with two significant digits, and as ``<0.001`` below 0.001;
- env steps print as ``320k`` / ``5.0M``, durations as ``14.1 s`` / ``3 min 5 s`` / ``1 h 12 min``.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "—"


def _float(x: Any) -> float | None:
    if x is None or isinstance(x, str | bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def num(x: Any, sig: int = 3) -> str:
    """``x`` with ``sig`` significant digits (module docstring)."""
    f = _float(x)
    if f is None:
        return DASH
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f.is_integer() and abs(f) < 1e15 and (isinstance(x, int) or abs(f) >= 10 ** (sig - 1) or f == 0):
        return f"{int(f):,}"
    mag = abs(f)
    if 1e-3 <= mag < 1e6:
        decimals = max(0, sig - 1 - math.floor(math.log10(mag)))
        return f"{f:,.{decimals}f}"
    return f"{f:.{max(sig - 1, 0)}e}"


def signed(x: Any, sig: int = 3) -> str:
    """Like ``num`` with an explicit ``+`` for positive values."""
    text = num(x, sig)
    f = _float(x)
    return f"+{text}" if f is not None and f > 0 else text


def fixed(x: Any, decimals: int = 2, sign: bool = True) -> str:
    """Fixed decimals (for effect sizes): ``-8.3214`` → ``-8.32``, ``0.0004`` → ``+0.00``."""
    f = _float(x)
    if f is None or math.isinf(f):
        return DASH if f is None else ("+∞" if f > 0 else "−∞")
    return f"{f:+.{decimals}f}" if sign else f"{f:.{decimals}f}"


def p_value(p: Any) -> str:
    """``<0.001`` or two significant digits."""
    f = _float(p)
    if f is None:
        return DASH
    return "<0.001" if f < 0.001 else num(f, 2)


def percent(x: Any, decimals: int = 0, sign: bool = False) -> str:
    """A fraction as a percentage: ``0.963`` → ``96%``."""
    f = _float(x)
    if f is None or math.isinf(f):
        return DASH if f is None else ("+∞" if f > 0 else "−∞")
    text = f"{100 * f:.{decimals}f}%"
    return f"+{text}" if sign and f > 0 else text


def interval(low: Any, high: Any, sig: int = 3) -> str:
    """A confidence interval: ``[-220, -176]``."""
    return f"[{num(low, sig)}, {num(high, sig)}]"


def mean_sd(mean: Any, sd: Any, sig: int = 3) -> str:
    """``220 ± 12.5``; the mean alone when the spread is unknown."""
    return num(mean, sig) if _float(sd) is None else f"{num(mean, sig)} ± {num(sd, sig)}"


def steps(n: Any) -> str:
    """Env steps in ``k`` / ``M``: ``320000`` → ``320k``, ``5004800`` → ``5.0M``."""
    f = _float(n)
    if f is None:
        return DASH
    if abs(f) >= 1e6:
        return f"{f / 1e6:.1f}M"
    if abs(f) >= 1e4:
        return f"{f / 1e3:.0f}k"
    return f"{int(f):,}"


def duration(seconds: Any) -> str:
    """``14.1 s``, ``3 min 5 s``, ``1 h 12 min``."""
    f = _float(seconds)
    if f is None:
        return DASH
    if f < 60:
        return f"{f:.1f} s"
    total = round(f)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"
