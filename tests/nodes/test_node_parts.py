"""The parts of a node that need no second process: settings, inbox messages, what an
engine shows of itself as a node."""

from __future__ import annotations

import concurrent.futures
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actors.messages import Start
from water import Cancel, Engine, GetStatus, Pause, Resume, Retry, Signal
from water.cli import app
from water.errors import StorageError
from water.nodes import NodeSettings, default_node_id
from water.nodes import node as node_module
from water.nodes.messages import (
    RemoteError,
    body,
    decode,
    decode_reply,
    encode_error,
    encode_view,
)
from water.snapshot import Snapshot
from water.storage import AppendRequest, MemoryStorage

from .nodeflows import steer_flow, work_flow


@pytest.mark.parametrize("lease", [10, 10.0, "10s", timedelta(seconds=10), "10000ms"])
def test_a_lease_is_seconds_a_timedelta_or_a_duration_string(lease: object) -> None:
    settings = NodeSettings.make(lease=lease)  # type: ignore[arg-type]
    assert settings.lease == 10.0
    assert settings.heartbeat == 2.5  # a quarter of the lease
    assert settings.tick == 0.1


def test_bad_leases_and_ids_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        NodeSettings.make(lease="soon")
    with pytest.raises(ValueError, match="lease must be at least"):
        NodeSettings.make(lease=0)
    with pytest.raises(ValueError, match="heartbeat must be shorter"):
        NodeSettings.make(lease=1, heartbeat=2)
    with pytest.raises(ValueError, match="node_id must be a non-empty string"):
        NodeSettings.make(node_id=" ")


def test_the_default_node_id_names_the_host_and_the_process() -> None:
    host, pid, rest = default_node_id().rsplit("-", 2)
    assert host == socket.gethostname() and pid == str(os.getpid()) and len(rest) == 6
    assert default_node_id() != default_node_id()


@pytest.mark.parametrize(
    "message",
    [
        Pause(),
        Resume({"a": [1, 2]}, "0.approve"),
        Cancel("no longer needed"),
        Signal("go", {"n": 1}),
        GetStatus(),
        Retry(),
        Start("flow", {"n": 1}, "parent", "0.child", {"traceparent": "00-ab"}, None, (("k", 1),)),
    ],
)
def test_steering_messages_travel_as_json(message: object) -> None:
    encoded = body(message, ask=True)
    assert encoded is not None
    assert decode(*encoded) == (message, True)


def test_what_does_not_travel_is_refused_and_errors_come_back_typed() -> None:
    assert body(object(), ask=False) is None
    with pytest.raises(ValueError, match="unknown message kind"):
        decode("format_disk", "{}")
    with pytest.raises(RemoteError, match="boom"):
        decode_reply("e1", encode_error(RuntimeError("boom")))
    now = datetime.now(UTC)
    view = Snapshot(execution_id="e1", flow_id="f", status="paused", created_at=now, updated_at=now)
    assert decode_reply("e1", encode_view(view)).status == "paused"


def test_an_engine_shows_itself_as_a_node(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with Engine(url, flows=[work_flow()], node_id="n1", lease="2s") as engine:
        ref = engine.start("work", {"n": 1}, execution_id="one")
        ref.result(timeout=10)
        record = engine.get_execution("one")
        assert record is not None and (record.owner, record.epoch) == ("n1", 1)
        text = engine.metrics_text().decode()
        assert 'water_node_lease_held{node="n1"} 1.0' in text
        assert 'water_node_owned_executions{node="n1"} 0.0' in text
        info = engine.node.info()
        assert info["node_id"] == "n1" and info["lease_held"] is True
    listed = CliRunner().invoke(app, ["list", "--db", str(tmp_path / "one.db")])
    assert listed.exit_code == 0, listed.output
    assert "owner" in listed.output
    # a clean shutdown leaves its executions to others at once
    with Engine(url, node_id="n2") as reader:
        record = reader.get_execution("one")
        assert record is not None and record.owner is None


class _Refusing(MemoryStorage):
    """Refuses every write of the execution ``refused`` (a permanent storage error)."""

    refused = "refused"

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        if any(r.execution_id == self.refused for r in batch):
            return [
                StorageError("refused") if r.execution_id == self.refused else None for r in batch
            ]
        return await super().commit(batch)


def test_a_refused_start_under_a_chosen_id_leaves_no_row_behind() -> None:
    storage = _Refusing()
    with Engine(storage, flows=[work_flow()]) as engine:
        with pytest.raises(StorageError):
            engine.start("work", {"n": 1}, execution_id="refused")
        assert engine.get_execution("refused") is None
        assert engine.node.info()["owned_executions"] == 0
        storage.refused = "another"
        ref = engine.start("work", {"n": 1}, execution_id="refused")
        assert ref.result(timeout=10) == "test"


def test_postgresql_pushes_the_status_of_an_execution_owned_elsewhere(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiters on another node learn of a status and of the end when the owner commits
    them: with the reads that catch lost news put off for an hour, and the signals
    sent on the owner (no inbox message), only the store's pushes can wake them."""
    monkeypatch.setattr(node_module, "PUSHED_POLL", 3600.0)
    with (
        Engine(pg_url, flows=[steer_flow()], node_id="owner", lease="1h") as owner,
        Engine(pg_url, node_id="observer", lease="1h") as observer,
    ):
        for execution_id in ("status", "end"):
            owner.start("steer", {}, execution_id=execution_id).wait_for_status(
                "waiting", timeout=30
            )
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            completed = pool.submit(observer.ref("status").wait_for_status, "completed", timeout=30)
            finished = pool.submit(observer.ref("end").result, timeout=30)
            while observer.system.waiters.watched() != {"status", "end"}:
                if concurrent.futures.wait([completed, finished], timeout=0.01).done:
                    break  # one failed: its error is raised below
            for execution_id in ("status", "end"):
                owner.ref(execution_id).tell(Signal("go", execution_id))
            assert completed.result().status == "completed"
            assert finished.result() == {"signal": "end"}
