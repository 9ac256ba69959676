"""A real ``water dev`` process (uvicorn, SQLite), and a real Prometheus scraping it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PROMETHEUS = shutil.which("prometheus")  # wherever it is installed, as long as it is on PATH

FLOWS = """
from pydantic import BaseModel

from water import Flow, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


arithmetic = Flow("arithmetic", "inc then double").then(inc).then(double)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen) -> Any:
    """Call ``check`` until it returns something truthy (an external process is starting)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            result = check()
            if result:
                return result
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{what}: not ready after {timeout}s (last error: {last})")


def stop(proc: subprocess.Popen, log: Path) -> str:
    """Stop a process we started (SIGINT, then SIGKILL) and return what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return log.read_text(errors="replace")


@dataclass
class DevServer:
    url: str
    port: int
    db: Path
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    folder = tmp_path_factory.mktemp("dev")
    (folder / "flows.py").write_text(textwrap.dedent(FLOWS))
    port = free_port()
    db = folder / "water.db"
    env = {k: v for k, v in os.environ.items() if k != "WATER_API_TOKEN"}
    log = folder / "dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "water.cli", "dev", "flows.py"),
                *("--port", str(port), "--db", str(db), "--log-level", "warning"),
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 30, "dev", proc)
        yield DevServer(url, port, db, proc)
    finally:
        output = stop(proc, log)
    assert "arithmetic" in output and url in output, output  # it listed the flows and URL
    assert proc.returncode == 0, output


def test_dev_serves_the_flows_of_the_file(dev_server):
    with httpx.Client(base_url=dev_server.url, timeout=30) as http:
        assert http.get("/health").json()["flows"] == 1
        done = http.post("/flows/arithmetic/execute?wait=true", json={"value": 4})
        assert done.status_code == 200
        assert done.json()["output"] == {"value": 10}
        accepted = http.post("/flows/arithmetic/execute", json={"value": 1})
        assert accepted.status_code == 202
        eid = accepted.json()["execution_id"]
        snapshot = http.get(f"/sessions/{eid}").json()
        assert snapshot["flow_id"] == "arithmetic"
        invalid = http.post("/flows/arithmetic/execute", json={"value": "x"})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["details"]["errors"][0]["loc"] == ["body", "value"]
    assert dev_server.db.is_file()


def test_dev_refuses_what_a_web_page_could_send(dev_server):
    execute = f"{dev_server.url}/flows/arithmetic/execute"
    with httpx.Client(timeout=30) as http:
        form = http.post(execute, content=b'{"value": 1}', headers={"content-type": "text/plain"})
        assert form.status_code == 415
        foreign = http.post(execute, json={"value": 1}, headers={"origin": "http://evil.example"})
        assert foreign.status_code == 403
        rebound = http.get(
            f"{dev_server.url}/flows", headers={"host": f"evil.example:{dev_server.port}"}
        )
        assert rebound.status_code == 400
        own = http.get(
            f"{dev_server.url}/flows", headers={"origin": f"http://127.0.0.1:{dev_server.port}"}
        )
        assert own.status_code == 200


@pytest.mark.skipif(
    PROMETHEUS is None and os.environ.get("CI") != "true",  # under CI it must run
    reason="prometheus is not on PATH",
)
def test_prometheus_scrapes_the_dev_server(dev_server, tmp_path):
    with httpx.Client(base_url=dev_server.url, timeout=30) as http:
        for value in range(3):
            done = http.post("/flows/arithmetic/execute?wait=true", json={"value": value})
            assert done.status_code == 200
    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: water
                scrape_interval: 1s
                scrape_timeout: 1s
                static_configs:
                  - targets: ["127.0.0.1:{dev_server.port}"]
            """
        )
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("w") as out:
        prometheus = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}/api/v1"

    def started_series() -> dict[str, float]:
        answer = httpx.get(
            f"{api}/query", params={"query": "water_executions_started_total"}, timeout=2
        )
        if answer.status_code != 200:
            return {}
        results = answer.json()["data"]["result"]
        return {r["metric"]["flow"]: float(r["value"][1]) for r in results}

    def target_up() -> bool:
        answer = httpx.get(f"{api}/query", params={"query": "up"}, timeout=2)
        results = answer.json()["data"]["result"] if answer.status_code == 200 else []
        return any(r["value"][1] == "1" for r in results)

    try:
        series = poll(
            lambda: (s := started_series()).get("arithmetic", 0) >= 3 and s,
            45,
            "prometheus",
            prometheus,
        )
        assert series["arithmetic"] >= 3
        assert target_up()
        finished = httpx.get(
            f"{api}/query",
            params={"query": 'water_executions_finished_total{status="completed"}'},
            timeout=5,
        ).json()["data"]["result"]
        assert finished and finished[0]["metric"]["flow"] == "arithmetic"
    finally:
        stop(prometheus, log)


def test_dev_stops_at_ctrl_c_while_an_event_stream_is_open(tmp_path):
    (tmp_path / "flows.py").write_text(textwrap.dedent(FLOWS))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WATER_API_TOKEN"}
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "water.cli", "dev", "flows.py"),
                *("--port", str(port), "--db", "water.db", "--log-level", "warning"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 30, "dev", proc)
        with httpx.stream("GET", f"{url}/flows/arithmetic/events", timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": subscribed"
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)  # the open stream does not hold the server up
    finally:
        output = stop(proc, log)
    assert proc.returncode == 0, output
