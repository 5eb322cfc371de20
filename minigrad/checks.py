"""Argument validation shared by every public entry point.

Each helper returns the value in canonical form or raises a ``TypeError``/``ValueError``
that names the caller, the argument and the value, so that ``Conv2D(0, 3)`` or
``fit(batch_size=-1)`` fail where the mistake is made, not deep inside NumPy.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["positive_int", "int_pair", "number", "one_of"]


def _integral(value, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{where}: {name} must be an integer, got {value!r}")
    return int(value)


def positive_int(value, where: str, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (whole floats such as 64.0 are accepted)."""
    v = _integral(value, where, name)
    if v < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return v


def int_pair(value, where: str, name: str, minimum: int = 1) -> tuple:
    """An int or a pair of ints (each >= ``minimum``) as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{where}: {name} must be an integer or a pair, got {value!r}")
        try:
            return tuple(positive_int(v, where, name, minimum) for v in value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {name} must be a pair of integers >= {minimum}, got "
                            f"{value!r}") from None
    v = positive_int(value, where, name, minimum)
    return (v, v)


def number(value, where: str, name: str, low=None, high=None, low_open=False,
           high_open=False) -> float:
    """``value`` as a finite float within the given bounds (open or closed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        bounds = "" if low is None and high is None else \
            " in " + _interval(low, high, low_open, high_open)
        raise ValueError(f"{where}: {name} must be a finite number{bounds}, got {value!r}")
    return v


def _interval(low, high, low_open, high_open) -> str:
    """'[0.0, 1.0)', '(0.0, inf)', '(-inf, 2]': the allowed range, as mathematicians
    write it."""
    left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low}"
    right = "inf)" if high is None else f"{high}" + (")" if high_open else "]")
    return f"{left}, {right}"


def one_of(value, where: str, name: str, choices) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {list(choices)}, got {value!r}")
    return value
