"""The columns bench.py runs outside Water's venv: DBOS (SQLite and PostgreSQL), and
whether PostgreSQL answers.

DBOS runs the peers bench's own script (``/work/shared/peers-bench/dbos_bench.py``)
in the peers' virtual environment, one fresh process per run: on SQLite its ``wal``
configuration (WAL + synchronous=NORMAL, as Water and the raw floors), on PostgreSQL
through ``dbos_pg.py`` (a fresh database per run). A column whose environment is
missing is skipped with the reason printed.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = "/work/shared/peers-bench"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
DBOS_MODE = {"W1": "async", "W2": "async", "W3": "gather"}
"""The DBOS mode run for each workload (W3: asyncio.gather inside a workflow, at most
50 in flight, as Water's for_ and the raw floors; DBOS queues are slower still)."""


def pg_url() -> str:
    return os.environ.get("WATER_TEST_PG") or PG_DEFAULT


def pg_missing(url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'water[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {url} does not answer: {str(exc).splitlines()[0]}"
    return None


def find_venv(given: str | None) -> str | None:
    """The peers' python: --peers-venv, $WATER_PEERS_VENV, or a .venv-peers found here."""
    candidates = [
        given,
        os.environ.get("WATER_PEERS_VENV"),
        os.path.join(PEERS_DIR, ".venv-peers"),
        os.path.join(ROOT, ".venv-peers"),
    ]
    for venv in candidates:
        if venv and os.path.exists(os.path.join(venv, "bin", "python")):
            return os.path.join(venv, "bin", "python")
    return None


def dbos_missing(python: str | None, peers_dir: str) -> str | None:
    if not os.path.exists(os.path.join(peers_dir, "dbos_bench.py")):
        return f"{peers_dir}/dbos_bench.py is missing"
    if python is None:
        return (
            "no peers venv (python3 -m venv .venv-peers && .venv-peers/bin/pip install -r "
            f"{peers_dir}/requirements-peers.lock.txt; or --peers-venv DIR)"
        )
    check = subprocess.run([python, "-c", "import dbos"], capture_output=True, text=True)
    if check.returncode != 0:
        return f"{python} cannot import dbos"
    return None


def run_dbos(
    system: str, workload: str, python: str, peers_dir: str, timeout: float
) -> dict[str, Any]:
    """One DBOS run in a fresh process: its JSON line, or ``{"error": ...}``."""
    mode = DBOS_MODE[workload]
    if system == "dbos-sqlite":
        script = os.path.join(peers_dir, "dbos_bench.py")
        cmd = [python, script, "--poll", "0.01", "--one", "wal", workload, mode]
    else:
        cmd = [python, os.path.join(HERE, "dbos_pg.py"), peers_dir, pg_url(), workload, mode]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=peers_dir)
    except subprocess.TimeoutExpired:
        return {"system": system, "workload": workload, "error": f"timeout {timeout}s"}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        return {
            "system": system,
            "workload": workload,
            "error": f"exit {p.returncode}\n{p.stderr[-3000:]}",
        }
    line = dict(json.loads(lines[-1]))
    line["system"] = system
    line["mode"] = mode
    return line
