"""What the subscription tests share: flows, a collecting callback, the journal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from water import Engine, Flow, task
from water.subscriptions import TERMINAL_TYPES, CommittedEvent


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def square(n: Num) -> Num:
    return Num(value=n.value * n.value)


@task
def total(xs: list[Num]) -> Num:
    return Num(value=sum(x.value for x in xs))


def fan_out() -> Flow:
    return Flow("fan").then(inc).parallel([inc, double, square]).then(total)


def other() -> Flow:
    return Flow("other").then(double)


class Collector:
    """A callback that keeps what it gets and tells when executions have finished."""

    def __init__(self) -> None:
        self.items: list[CommittedEvent] = []
        self._changed = threading.Condition()

    def __call__(self, item: CommittedEvent) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def of(self, execution_id: str) -> list[tuple[int, str]]:
        with self._changed:
            return [(i.seq, i.type) for i in self.items if i.execution_id == execution_id]

    def wait_for(self, check: Callable[[], bool], timeout: float = 10) -> None:
        with self._changed:
            assert self._changed.wait_for(check, timeout)

    def wait_finished(self, execution_ids: Iterable[str], timeout: float = 10) -> None:
        wanted = set(execution_ids)

        def done() -> bool:
            ended = {i.execution_id for i in self.items if i.type in TERMINAL_TYPES}
            return wanted <= ended

        with self._changed:
            assert self._changed.wait_for(done, timeout), f"not all of {wanted} finished"


def journal(engine: Engine, execution_id: str) -> list[tuple[int, str]]:
    return [(e.seq, e.type) for e in engine.events(execution_id)]
