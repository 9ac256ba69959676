"""Failures inside the engine reach someone: the execution, the caller, or the log."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from actors.supervisor import TaskSupervisor
from water import Engine, ExecutionFailedError, Flow, StateConflictError, task
from water.ref import ExecutionRef
from water.types import json_schema


class Num(BaseModel):
    value: int


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


def test_a_supervisor_that_fails_to_take_a_job_fails_its_step(monkeypatch):
    def broken(self, job):
        raise RuntimeError("a bug in the supervisor")

    monkeypatch.setattr(TaskSupervisor, "_admit", broken)
    flow = Flow("supervised").then(double)
    with Engine("memory://", flows=[flow]) as engine:
        ref = engine.start(flow, Num(value=2))
        with pytest.raises(ExecutionFailedError, match="a bug in the supervisor"):
            ref.result(timeout=10)


def test_a_type_without_a_json_schema_is_named_in_the_log(caplog):
    class Opaque:
        pass

    with caplog.at_level(logging.WARNING, logger="water.types"):
        assert json_schema(Opaque) == {}
        assert json_schema(Opaque) == {}
    said = [r for r in caplog.records if "Opaque has no JSON schema" in r.getMessage()]
    assert len(said) == 1


def test_a_forced_delete_that_cannot_cancel_deletes_nothing(monkeypatch):
    flow = Flow("held").wait_for_signal("go").then(double)
    with Engine("memory://", flows=[flow]) as engine:
        ref = engine.start(flow, None)
        ref.wait_for_status("waiting", timeout=10)

        def no_answer(self, message, timeout=None):
            raise TimeoutError("no answer")

        monkeypatch.setattr(ExecutionRef, "ask", no_answer)
        with pytest.raises(StateConflictError, match="could not be cancelled"):
            engine.delete_execution(ref.execution_id, force=True)
        monkeypatch.undo()
        assert engine.get_execution(ref.execution_id) is not None
        assert ref.status().status == "waiting"
