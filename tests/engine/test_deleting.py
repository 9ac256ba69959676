"""Deleting an execution: nothing of it answers afterwards, in storage or in memory."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from water import (
    Engine,
    ExecutionNotFoundError,
    ExecutionStatus,
    Flow,
    GetStatus,
    Pause,
    Resume,
    Signal,
    StateConflictError,
    task,
)


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


def assert_gone(engine: Engine, execution_id: str) -> None:
    ref = engine.ref(execution_id)
    with pytest.raises(ExecutionNotFoundError):
        engine.snapshot(execution_id)
    with pytest.raises(ExecutionNotFoundError):
        ref.ask(GetStatus())
    with pytest.raises(ExecutionNotFoundError):
        ref.result(timeout=10)
    assert engine.get_execution(execution_id) is None
    assert engine.events(execution_id) == []
    assert engine.list_executions() == []


def test_a_deleted_execution_does_not_answer_from_memory(engine: Engine):
    ref = engine.start(Flow("done").then(inc), {"value": 1})
    assert ref.result(timeout=10) == Num(value=2)
    # a refused command brings the finished execution back into memory just before the delete
    with pytest.raises(StateConflictError):
        ref.ask(Resume())
    assert engine.delete_execution(ref.execution_id) is True
    assert_gone(engine, ref.execution_id)


def test_messages_after_the_delete_do_not_bring_it_back(engine: Engine):
    flow = Flow("approval").then(inc).wait_for_signal("approve")
    ref = engine.start(flow, {"value": 1})
    ref.wait_for_status(ExecutionStatus.WAITING, timeout=10)
    assert engine.delete_execution(ref.execution_id, force=True) is True
    ref.tell(Signal("approve", {"ok": True}))
    ref.tell(Pause())
    with pytest.raises(ExecutionNotFoundError):
        ref.ask(Signal("approve", {"ok": True}))
    assert_gone(engine, ref.execution_id)
    assert engine.delete_execution(ref.execution_id) is False
