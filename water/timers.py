"""Names of durable timers: what a timer is for, written once.

A timer's name is journaled (``timer_armed``/``timer_fired`` events) and keys the
runtime's timers, so it stays a string, ``"<kind>:<what>"``; this module is the
only place that builds one or reads one back.
"""

from __future__ import annotations

import enum


class TimerKind(enum.StrEnum):
    RETRY = "retry"
    """A step's retry back-off (``what``: the step key)."""
    UNDO = "comp"
    """A compensation's retry back-off (``what``: the key of the step it undoes)."""
    SLEEP = "sleep"
    """A durable sleep (``what``: the flow node or the workflow position)."""
    SIGNAL = "signal"
    """A signal wait's time-out (``what``: the flow node or the workflow position)."""


BACKOFFS = frozenset({TimerKind.RETRY, TimerKind.UNDO})
"""Timers that only space out attempts: the execution is not waiting for the world."""


def timer_name(kind: TimerKind, what: object) -> str:
    return f"{kind}:{what}"


def parse_timer(name: str) -> tuple[TimerKind | None, str]:
    """The kind and subject of a timer name (kind None for a name of no known kind)."""
    kind, _, what = name.partition(":")
    try:
        return TimerKind(kind), what
    except ValueError:
        return None, what


def is_backoff(name: str) -> bool:
    return parse_timer(name)[0] in BACKOFFS
