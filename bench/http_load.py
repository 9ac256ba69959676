"""The HTTP start path under load: ``wrk`` against ``water dev`` on loopback.

One run: a fresh ``water dev`` process (a 1-step flow, on a fresh SQLite file or a
fresh PostgreSQL database), a short warm-up, then ``wrk`` keeping ``CONNECTIONS``
requests in flight for ``DURATION`` seconds, each a ``POST /flows/one/execute``
(202 once the start is durable). Reported: requests/s, p50/p99 latency, and the
non-2xx answers and socket errors (any of them fails the run).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

CONNECTIONS = 50
DURATION = 10
THREADS = 1  # wrk's; the server gets the other core

FLOWS = """
from pydantic import BaseModel

from water import Flow, task


class Num(BaseModel):
    value: int


@task
async def step(n: Num) -> Num:
    return Num(value=n.value + 1)


one = Flow("one").then(step)
"""

LUA = """
wrk.method = "POST"
wrk.body = '{"value": 1}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk_missing() -> str | None:
    """Why the HTTP row cannot run here, or None."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"water dev exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("water dev did not answer within 30 s")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["requests_per_s"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            out[f"p{pct}_ms"] = _ms(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    return out


def run(storage: str, db_url: str | None = None) -> dict[str, Any]:
    """One measured run against a fresh server; ``storage`` is ``sqlite`` or ``pg``."""
    with tempfile.TemporaryDirectory(prefix="waterhttp-") as tmp:
        flows = os.path.join(tmp, "flows.py")
        with open(flows, "w") as f:
            f.write(FLOWS)
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(LUA)
        db = db_url if storage == "pg" and db_url else os.path.join(tmp, "http.db")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        water = os.path.join(os.path.dirname(sys.executable), "water")
        cmd = [water, "dev", flows, "--db", db, "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
        try:
            _wait_ready(url, proc)
            target = f"{url}/flows/one/execute"
            warm = ["wrk", "-t1", "-c10", "-d2s", "-s", lua, target]
            subprocess.run(warm, capture_output=True, text=True, timeout=60, check=True)
            load = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency"]
            done = subprocess.run(
                [*load, "-s", lua, target], capture_output=True, text=True, timeout=120
            )
            result = parse_wrk(done.stdout)
            result["wrk"] = f"-t{THREADS} -c{CONNECTIONS} -d{DURATION}s"
            if "requests_per_s" not in result:
                raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
            return result
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
