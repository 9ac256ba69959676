"""Server-Sent Events over a real HTTP server (uvicorn), and the statistics routes."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from water import Engine
from water.server import create_app
from water.server import streams as streams_module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def base_url(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app over ``engine``, served by uvicorn on a thread (streams are really streamed)."""
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    port = free_port()
    config = uvicorn.Config(
        create_app(engine),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Sse:
    """One server-sent event, or a comment (``event`` empty, ``comment`` set)."""

    id: str | None = None
    event: str = ""
    data: dict | None = None
    comment: str | None = None


def read_sse(response: httpx.Response) -> Iterator[Sse]:
    current = Sse()
    for line in response.iter_lines():
        if line == "":
            if current.event or current.comment is not None:
                yield current
            current = Sse()
        elif line.startswith(":"):
            yield Sse(comment=line[1:].strip())
        else:
            name, _, value = line.partition(": ")
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = json.loads(value)


def journal(engine: Engine, execution_id: str) -> list[tuple[str, str]]:
    return [(str(e.seq), e.type) for e in engine.events(execution_id)]


def test_following_an_execution_streams_its_past_then_live_events_and_ends(
    engine: Engine, base_url: str
) -> None:
    ref = engine.start("approval", {"value": 1})
    ref.wait_for_status("waiting", timeout=10)
    before = journal(engine, ref.execution_id)
    got: list[Sse] = []
    with httpx.Client(base_url=base_url, timeout=20) as client:
        url = f"/sessions/{ref.execution_id}/events?follow=true"
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            events = read_sse(response)
            for _ in before:  # the past first
                got.append(next(events))
            sent = client.post(
                f"/sessions/{ref.execution_id}/signal/approve", json={"approved": True}
            )
            assert sent.status_code == 200
            got.extend(events)  # ends by itself after the last event
    assert [(s.id, s.event) for s in got] == journal(engine, ref.execution_id)
    assert len(got) > len(before)
    assert got[-1].event == "execution_completed"
    first = got[0].data
    assert first is not None
    assert first["execution_id"] == ref.execution_id and first["flow_id"] == "approval"
    assert first["event"]["type"] == "execution_started" and first["event"]["seq"] == 1
    assert first["event"]["ts"].endswith("Z") or "+00:00" in first["event"]["ts"]


def test_a_reconnecting_client_resumes_after_its_last_event_id(
    engine: Engine, base_url: str
) -> None:
    ref = engine.start("arithmetic", {"value": 1})
    ref.result(timeout=10)
    everything = journal(engine, ref.execution_id)
    url = f"/sessions/{ref.execution_id}/events?follow=true"
    with httpx.Client(base_url=base_url, timeout=20) as client:
        with client.stream("GET", url, headers={"Last-Event-ID": "2"}) as response:
            rest = [(s.id, s.event) for s in read_sse(response)]
        assert rest == everything[2:]
        with client.stream("GET", url + "&after_seq=1") as response:
            assert [(s.id, s.event) for s in read_sse(response)] == everything[1:]
        # nothing after the last event of an ended execution: 204 (EventSource stops)
        last = everything[-1][0]
        done = client.get(url, headers={"Last-Event-ID": last})
        assert done.status_code == 204


def test_a_flow_stream_relays_every_execution_of_the_flow(engine: Engine, base_url: str) -> None:
    got: list[Sse] = []
    with httpx.Client(base_url=base_url, timeout=20) as client:
        with client.stream("GET", "/flows/arithmetic/events?follow=true&timeout=20") as response:
            assert response.status_code == 200
            events = read_sse(response)
            assert next(events).comment == "subscribed"
            refs = [engine.start("arithmetic", {"value": i}) for i in range(3)]
            engine.start("failing", {"value": 1})  # another flow: not in this stream
            ended: set[str] = set()
            for item in events:
                if item.comment is not None:
                    continue
                got.append(item)
                assert item.data is not None
                if item.event == "execution_completed":
                    ended.add(item.data["execution_id"])
                if ended == {r.execution_id for r in refs}:
                    break
    for ref in refs:
        mine = [
            (str(s.data["event"]["seq"]), s.event)
            for s in got
            if s.data and s.data["execution_id"] == ref.execution_id
        ]
        assert mine == journal(engine, ref.execution_id)
    assert {s.data["flow_id"] for s in got if s.data} == {"arithmetic"}
    assert all(s.id is None for s in got)  # no resumable position in a flow's stream


def test_streams_send_keep_alive_comments_and_end_at_their_timeout(
    engine: Engine, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams_module, "KEEPALIVE", 0.05)
    with httpx.Client(base_url=base_url, timeout=20) as client:
        with client.stream("GET", "/flows/arithmetic/events?timeout=0.5") as response:
            comments = [s.comment for s in read_sse(response)]  # ends by itself
    assert comments[0] == "subscribed"
    assert "keep-alive" in comments[1:]


def test_streams_check_what_they_follow(client: TestClient, engine: Engine) -> None:
    missing = client.get("/sessions/nope/events?follow=true")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "execution_not_found"
    assert client.get("/flows/nope/events").json()["error"]["code"] == "flow_not_found"
    live_only = client.get("/flows/arithmetic/events?follow=false")
    assert live_only.status_code == 422
    assert live_only.json()["error"]["details"]["errors"][0]["loc"] == ["query", "follow"]
    ref = engine.start("arithmetic", {"value": 1})
    ref.result(timeout=10)
    bad_id = client.get(
        f"/sessions/{ref.execution_id}/events?follow=true", headers={"Last-Event-ID": "x"}
    )
    assert bad_id.status_code == 422
    # without follow, the journal as before
    journal_json = client.get(f"/sessions/{ref.execution_id}/events").json()
    assert [e["seq"] for e in journal_json["events"]] == [1, 2, 3, 4]


def test_streams_need_the_token(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    client = TestClient(create_app(engine, api_token="s3cret"))
    ref = engine.start("arithmetic", {"value": 1})
    ref.result(timeout=10)
    url = f"/sessions/{ref.execution_id}/events?follow=true"
    assert client.get(url).status_code == 401
    assert client.get("/flows/arithmetic/events?timeout=0.1").status_code == 401
    assert client.get("/stats").status_code == 401
    authorised = client.get(url, headers={"Authorization": "Bearer s3cret"})
    assert authorised.status_code == 200
    assert authorised.text.count("event: ") == 4


def test_stats_routes(client: TestClient, engine: Engine) -> None:
    for value in (1, 2):
        engine.start("arithmetic", {"value": value}).result(timeout=10)
    failed = engine.start("failing", {"value": 1})
    failed.wait_for_status("failed", timeout=10)

    flow = client.get("/flows/arithmetic/stats")
    assert flow.status_code == 200
    body = flow.json()
    assert body["flow_id"] == "arithmetic"
    assert body["counts"]["completed"] == 2 and body["counts"]["failed"] == 0
    assert set(body["steps"]) == {"inc", "double"}
    assert body["steps"]["inc"]["count"] == 2 and body["steps"]["inc"]["p50_ms"] >= 0

    overall = client.get("/stats").json()
    assert overall["flow_id"] is None
    assert overall["counts"]["completed"] == 2 and overall["counts"]["failed"] == 1
    assert overall["steps"]["explode"] == {
        "count": 1,
        "failures": 1,
        "retries": 0,
        "p50_ms": None,
        "p95_ms": None,
    }
    assert client.get("/stats?flow_id=failing").json()["counts"]["failed"] == 1
    assert client.get("/flows/nope/stats").status_code == 404
