"""Argument validation helpers shared by the configuration classes."""

from __future__ import annotations

import math


def require_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int (not bool) and at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def require_number(name: str, value: object) -> float:
    """Return ``value`` as a finite float; bools and non-numbers are rejected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result
