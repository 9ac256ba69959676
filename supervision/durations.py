"""Parse human-friendly durations into seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import TypeAlias

Duration: TypeAlias = float | int | timedelta | str
"""A span of time: seconds as a number, a ``timedelta``, or a string like ``"1m30s"``."""

_UNIT_SECONDS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_ORDER: tuple[str, ...] = ("d", "h", "m", "s", "ms")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(_NUMBER)
_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d)")
_COMPOUND = re.compile(rf"(?:\s*{_NUMBER}\s*(?:ms|s|m|h|d))+\s*")
_ACCEPTED = (
    "expected a non-negative number of seconds, a timedelta, or a string such as "
    "'500ms', '5s', '2m', '1h', '1d', '1.5s', '1m30s' or '3'"
)


def _invalid(value: object, reason: str) -> ValueError:
    return ValueError(f"invalid duration {value!r}: {reason}; {_ACCEPTED}")


def _checked(value: object, seconds: float) -> float:
    if not math.isfinite(seconds):
        raise _invalid(value, "must be finite")
    if seconds < 0:
        raise _invalid(value, "must not be negative")
    return seconds


def _parse_string(value: str) -> float:
    text = value.strip().lower()
    if _PLAIN.fullmatch(text):
        return _checked(value, float(text))
    if text.startswith("-"):
        raise _invalid(value, "must not be negative")
    if not _COMPOUND.fullmatch(text):
        raise _invalid(value, "unrecognised format")
    total = 0.0
    last_rank = -1
    for match in _PART.finditer(text):
        number, unit = match.group(1), match.group(2)
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise _invalid(value, "units must appear once each, largest first")
        last_rank = rank
        total += float(number) * _UNIT_SECONDS[unit]
    return _checked(value, total)


def parse_duration(value: Duration) -> float:
    """Return ``value`` as a non-negative, finite number of seconds.

    Raises ``ValueError`` for negatives, booleans, NaN/infinity, unsupported
    types and unparseable strings.
    """
    if isinstance(value, bool):
        raise _invalid(value, "booleans are not durations")
    if isinstance(value, timedelta):
        return _checked(value, value.total_seconds())
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise _invalid(value, "too large") from None
        return _checked(value, seconds)
    if isinstance(value, str):
        return _parse_string(value)
    raise _invalid(value, f"unsupported type {type(value).__name__}")


def format_seconds(seconds: float) -> str:
    """Render seconds compactly for messages, e.g. ``12.3s`` or ``2.0s``."""
    return f"{round(seconds, 3)}s"
