"""What a code-first execution recorded: its durable calls in position order, by stage.

A workflow's steps are code, so only an execution knows them. Its step rows and its
journal hold every durable call the code made, by position (``"3"``, or
``"welcome.1"`` in a class's ``@step`` method ``welcome``): task steps and child
workflows (step rows), sleeps and signal waits with a time-out (their timers), values
(``now()``, ...: they take a position, and are not drawn). A wait for a signal without
a time-out records nothing: it is the position a later call skipped, the wait the
execution is in now (its snapshot names the signal), or the end of code that a signal
woke (the signal and the end share their time).

Calls are grouped into stages: a call made while the calls of the current stage were
still in flight (an ``asyncio.gather``) joins that stage; one made after they all ended
starts the next. A signal wait is named when the journal ties it to a signal (waits
one after another take the signals in the order they came: the first one not taken yet
that came after the wait began and before the code went on) or when it is the wait the
execution is in; a signal sent before its wait began leaves the wait unnamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from water.timers import TimerKind, parse_timer

__all__ = ["Call", "Section", "StepRow", "recorded_calls"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ENDS = frozenset({"execution_completed", "execution_failed", "cancelled"})


class StepRow(Protocol):
    """A step's row (``TaskResult`` in storage, ``StepView`` in a snapshot)."""

    @property
    def key(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def child_execution_id(self) -> str | None: ...


@dataclass
class Call:
    """One durable call: ``kind`` is ``task``, ``workflow``, ``sleep`` or ``signal``."""

    number: int
    """Its position's number in its namespace."""
    kind: str
    name: str = ""
    """The task's or workflow's id, the signal's name ("" when the journal does not say)."""
    started: int | None = None
    ended: int | None = None
    """Microseconds since the epoch (None: unknown, or not yet)."""
    seconds: float | None = None
    """A sleep's duration, a signal wait's time-out."""
    timed_out: bool = False


@dataclass
class Section:
    """The calls of one namespace (``""``: a function; a method's name: a class step)."""

    name: str
    stages: list[list[Call]]


def _micros(value: datetime | float | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def _split(position: str) -> tuple[str, int]:
    namespace, _, number = position.rpartition(".")
    return namespace, int(number)


def recorded_calls(
    events: Sequence[Any],
    steps: Iterable[StepRow],
    waiting_for: Sequence[str] = (),
    order: Sequence[str] = (),
) -> list[Section]:
    """The calls of an execution (its events, step rows, and ``Snapshot.waiting_for``).

    ``order``: a class workflow's ``@step`` methods, in order (empty for a function).
    """
    calls: dict[str, dict[int, Call]] = {}
    taken: dict[str, set[int]] = {}

    def add(position: str, call: Call | None) -> None:
        namespace, number = _split(position)
        taken.setdefault(namespace, set()).add(number)
        if call is not None:
            call.number = number
            calls.setdefault(namespace, {}).setdefault(number, call)

    for row in steps:
        what = "workflow" if row.child_execution_id else "task"
        call = Call(0, what, row.task_id, _micros(row.started_at), _micros(row.finished_at))
        add(row.key[: -len(row.task_id) - 1], call)
    fired = {e.timer: e.ts for e in events if e.type == "timer_fired"}
    ends: dict[str, int | None] = {}  # when each namespace's code was done
    signals: list[tuple[int | None, str]] = []
    for e in events:
        if e.type == "timer_armed":
            timer, position = parse_timer(e.timer)
            if timer in (TimerKind.SLEEP, TimerKind.SIGNAL):
                done = fired.get(e.timer)
                call = Call(0, str(timer), "", _micros(e.ts), _micros(done), e.fire_at - e.ts)
                call.timed_out = timer is TimerKind.SIGNAL and done is not None
                add(position, call)
        elif e.type == "value_recorded":
            add(e.position, None)
        elif e.type == "signal_received":
            signals.append((_micros(e.ts), e.name))
        elif e.type == "state_recorded":
            ends[e.step] = _micros(e.ts)
        elif e.type in _ENDS:
            ends[""] = _micros(e.ts)  # the last end (a retried execution has several)
    current = next((step for step in order if step not in ends), "")  # the step running
    for step in order:  # a step that recorded no state was running at the end, or never ran
        ends.setdefault(step, ends.get(""))
    waiting = [w.removeprefix("signal:") for w in waiting_for if w.startswith("signal:")]

    names = [*(order or [""]), *sorted(set(taken) - {"", *order})]
    sections = []
    for namespace in names:
        numbers = taken.get(namespace, set())
        own = calls.get(namespace, {})
        for n in range(max(numbers, default=-1) + 1):
            if n not in numbers:  # skipped: a wait for a signal without a time-out
                own[n] = Call(n, "signal")
        listed = [own[n] for n in sorted(own)]
        end = ends.get(namespace)
        _settle_waits(listed, end, signals, waiting)
        woke = _signal_at(signals, end) if end not in {c.started for c in listed} else None
        if woke is not None:  # a signal woke code that then returned: its last call was a wait
            last = listed[-1].ended if listed else None
            listed.append(Call(max(numbers, default=-1) + 1, "signal", woke, last, end))
        if namespace == current and end is None and waiting:
            start = max(numbers, default=-1) + 1
            listed.extend(Call(start + i, "signal", name) for i, name in enumerate(waiting))
            waiting.clear()
        if listed:
            sections.append(Section(namespace, _stages(listed)))
    return sections


def _signal_at(signals: list[tuple[int | None, str]], at: int | None) -> str | None:
    """The name of the first signal not accounted for yet that came at ``at`` (taken)."""
    if at is None:
        return None
    for k, (when, name) in enumerate(signals):
        if when == at:
            del signals[k]
            return name
    return None


def _settle_waits(
    calls: list[Call], end: int | None, signals: list[tuple[int | None, str]], waiting: list[str]
) -> None:
    """When each signal wait ended, and the signal that ended it.

    Waits one after another take the signals in the order they came: a wait's signal
    is the first one not taken yet that came after the wait began and before the next
    call the code made (or its end).
    """
    for i, call in enumerate(calls):
        if call.kind != "signal":
            continue
        if call.started is None and i > 0:
            call.started = calls[i - 1].ended
        if call.timed_out:
            continue
        later = (c.started for c in calls[i + 1 :] if c.started is not None)
        limit = next(later, end)
        if limit is None:  # nothing came after it: the execution waits here now
            if waiting:
                call.name = waiting.pop(0)
            continue
        call.ended = limit
        for k, (when, name) in enumerate(signals):
            if when is not None and call.started is not None and when < call.started:
                continue
            if when is not None and when <= limit:
                call.ended, call.name = when, name
                del signals[k]
            break


def _stages(calls: list[Call]) -> list[list[Call]]:
    """Calls made while the current stage's calls were in flight join that stage."""
    stages: list[list[Call]] = []
    until: int | None = None  # when the current stage's calls had all ended (None: not yet)
    for call in calls:
        joins = stages and call.started is not None and (until is None or call.started < until)
        if joins:
            stages[-1].append(call)
            ends = [c.ended for c in stages[-1]]
            until = None if None in ends else max(e for e in ends if e is not None)
        else:
            stages.append([call])
            until = call.ended
    return stages
