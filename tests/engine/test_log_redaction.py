"""Logs name messages by type, ids and sizes; inputs, outputs and payloads never reach them."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from pydantic import BaseModel, ValidationError

from actors.logsafe import describe, describe_error
from actors.messages import Resume, RunFailed, RunSucceeded, Signal
from water import Engine, Flow, task

SECRET = "card-4111-1111-1111-1111"


class Card(BaseModel):
    number: str


@task
def charge(card: Card) -> Card:
    return Card(number=card.number)


def test_messages_are_described_by_ids_and_sizes():
    data = {"number": SECRET}
    size = len(json.dumps(data))
    assert describe(RunSucceeded("0.charge", 2, data)) == (
        f"RunSucceeded(key='0.charge', attempt=2, output=<{size} bytes>, tag=None)"
    )
    failed = describe(RunFailed("0.charge", 1, ValueError(SECRET)))
    assert failed.startswith("RunFailed(key='0.charge', attempt=1, error=<ValueError>")
    assert describe(Signal("approve", data)) == f"Signal(name='approve', payload=<{size} bytes>)"
    assert describe(Resume(data, step="1.review")) == (
        f"Resume(data=<{size} bytes>, step='1.review')"
    )
    assert describe(object()) == "object"


def test_a_validation_error_is_described_without_the_values():
    with pytest.raises(ValidationError) as info:
        Card.model_validate({"number": [SECRET]})
    assert SECRET in str(info.value)
    assert describe_error(info.value) == "ValidationError at number"
    assert describe_error(RuntimeError("boom")) == "RuntimeError: boom"


class _Seen(logging.Handler):
    """Keeps the records of one logger and signals when one matches."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.found = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if self.needle in record.getMessage():
            self.found.set()


def test_a_coordinator_crash_logs_no_output(monkeypatch):
    flow = Flow("payments").then(charge)
    seen = _Seen("crashed on")
    logger = logging.getLogger("water.coordinator")
    logger.addHandler(seen)
    try:
        with Engine("memory://", flows=[flow]) as engine:
            machine = engine.interpreter("payments")
            handle = machine.handle

            def crashing(state, message, now):
                if isinstance(message, RunSucceeded):
                    raise RuntimeError("a bug in the decider")
                return handle(state, message, now)

            monkeypatch.setattr(machine, "handle", crashing)
            ref = engine.start(flow, {"number": SECRET})
            assert seen.found.wait(10), seen.lines
            monkeypatch.setattr(machine, "handle", handle)
            assert ref.result(timeout=10).number == SECRET
    finally:
        logger.removeHandler(seen)
    text = "\n".join(seen.lines)
    assert "RunSucceeded(key='0.charge', attempt=1, output=<" in text
    assert SECRET not in text
