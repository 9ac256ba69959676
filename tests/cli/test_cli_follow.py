"""``water inspect --follow``: the progress of an execution another engine runs, read from
the database until it finishes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.messages import Signal
from water import Engine
from water.cli import app
from water.server.discovery import load_flows
from water.storage.sqlite import SQLiteStorage

FLOWS = """
from pydantic import BaseModel

from water import Flow, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


gated = Flow("gated").then(inc).wait_for_signal("go").then(inc)
"""


@pytest.fixture
def waiting(write, tmp_path) -> Iterator[tuple[Engine, str, Path]]:
    """An engine (the other one) holding an execution that waits for the signal "go"."""
    path, db = write(FLOWS), tmp_path / "water.db"
    engine = Engine(f"sqlite:///{db}", flows=load_flows(path))
    try:
        ref = engine.start("gated", {"value": 1})
        ref.wait_for_status("waiting")
        yield engine, ref.execution_id, db
    finally:
        engine.shutdown()


@pytest.fixture
def first_read(monkeypatch) -> threading.Event:
    """Set once the command (on this thread) has read the journal for the first time."""
    read = threading.Event()
    original = SQLiteStorage.load_events
    caller = threading.current_thread()

    async def load_events(self, execution_id, after_seq=0):
        events = await original(self, execution_id, after_seq)
        if threading.current_thread() is caller:  # not the engine's reads
            read.set()
        return events

    monkeypatch.setattr(SQLiteStorage, "load_events", load_events)
    return read


def finish_after(read: threading.Event, engine: Engine, execution_id: str) -> threading.Thread:
    def finish() -> None:
        if read.wait(30):
            engine.ref(execution_id).ask(Signal("go", {"value": 2}))

    sender = threading.Thread(target=finish)
    sender.start()
    return sender


def test_follow_shows_progress_until_the_execution_finishes_elsewhere(runner, waiting, first_read):
    engine, execution_id, db = waiting
    sender = finish_after(first_read, engine, execution_id)
    try:
        result = runner.invoke(
            app, ["inspect", execution_id, "--db", str(db), "--follow", "--interval", "0.05"]
        )
    finally:
        sender.join(30)
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output  # no terminal: plain lines, no escape codes
    lines = result.stdout.splitlines()
    progress = [line for line in lines if " · event " in line]
    assert re.search(r"waiting · 1 step done · waiting for signal:go · event \d+", progress[0])
    assert re.search(r"completed · 2 steps done · event \d+: execution_completed", progress[-1])
    # then the full view of the finished execution, as `water inspect` prints it
    final = "\n".join(lines[lines.index(progress[-1]) + 1 :])
    assert re.search(r"status\s+completed", final)
    assert re.search(r"2\.inc\W+inc\W+completed", final)
    assert '"value": 3' in final and "execution_completed" in final


def test_follow_redraws_in_place_on_a_terminal(runner, waiting, first_read, monkeypatch):
    engine, execution_id, db = waiting
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes the output for a terminal
    sender = finish_after(first_read, engine, execution_id)
    try:
        result = runner.invoke(
            app, ["inspect", execution_id, "--db", str(db), "-f", "--interval", "0.05"]
        )
    finally:
        sender.join(30)
    assert result.exit_code == 0, result.output
    assert " · event " in result.output  # the live view, drawn and redrawn in place
    assert "\x1b[2K" in result.output  # then erased, and the full view printed
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.output)
    assert re.search(r"status\s+completed", plain) and "execution_completed" in plain


def test_follow_of_a_finished_execution_prints_it_once(runner, waiting):
    engine, execution_id, db = waiting
    engine.ref(execution_id).ask(Signal("go", {"value": 2}))
    engine.ref(execution_id).result(30)
    result = runner.invoke(app, ["inspect", execution_id, "--db", str(db), "--follow"])
    assert result.exit_code == 0, result.output
    assert " · event " not in result.output and re.search(r"status\s+completed", result.output)
    missing = runner.invoke(app, ["inspect", "nope", "--db", str(db), "--follow"])
    assert missing.exit_code == 1 and "no execution 'nope'" in missing.stderr


def test_ctrl_c_stops_following_and_shows_the_execution_as_it_is(waiting):
    _, execution_id, db = waiting
    command = [sys.executable, "-m", "water.cli", "inspect", execution_id, "--db", str(db)]
    child = subprocess.Popen(
        [*command, "--follow", "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # the first progress line: it follows now
        assert "waiting" in first, first
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert f"stopped following; execution {execution_id} is waiting" in err
    assert re.search(r"status\s+waiting", out)  # the view as it was, then the exit
