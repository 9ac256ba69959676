"""Throughput of many engine processes (nodes) on one store.

W2-like work: many executions of a flow of 5 no-op ``async`` steps. For each store
and each number of nodes, that many engine processes open one fresh database; on a
common "go" each starts its share of the executions (``start_many``) and waits for
their results. Reported: executions/s and steps/s from "go" to the last result.

    .venv/bin/python bench/multinode.py                     # SQLite and PostgreSQL, 1/2/4 nodes
    .venv/bin/python bench/multinode.py --stores sqlite --nodes 1,2 --executions 400
    .venv/bin/python bench/multinode.py --pg postgresql://user@host:5432/postgres

PostgreSQL: ``--pg`` (default ``$WATER_BENCH_PG``, else
``postgresql://postgres@127.0.0.1:5432/postgres``) must allow creating databases;
each run gets a database of its own, dropped afterwards. A store that cannot be
opened is reported and skipped. The machine's cores are shared by the nodes: more
nodes than cores measures contention, not scale-out.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

STEPS = 5
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


class Num(BaseModel):
    value: int


def flow() -> object:
    from water import Flow, task

    @task
    async def step(n: Num) -> Num:
        return Num(value=n.value + 1)

    w2 = Flow("w2")
    for _ in range(STEPS):
        w2.then(step)
    return w2


# -- a node ------------------------------------------------------------------------------
def worker(url: str, name: str, count: int) -> None:
    """One node: wait for "go" on stdin, run ``count`` executions, print the seconds."""
    from water import Engine

    with Engine(url, flows=[flow()], node_id=name) as engine:
        print("READY", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        refs = engine.start_many("w2", [Num(value=0)] * count, timeout=600)
        for ref in refs:
            assert ref.result(timeout=600) == Num(value=STEPS)
        print(f"DONE {time.perf_counter() - started:.6f}", flush=True)


# -- the harness -----------------------------------------------------------------------
@contextmanager
def fresh_store(kind: str, pg: str) -> Iterator[str]:
    """The URL of an empty database of this kind (removed afterwards)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    import psycopg

    name = f"water_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg)._replace(path="/" + name))
    finally:
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, nodes: int, executions: int) -> float:
    """Seconds from "go" to the last result, with ``nodes`` processes sharing the work."""
    shares = [executions // nodes + (1 if i < executions % nodes else 0) for i in range(nodes)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, f"node{i}", str(share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, share in enumerate(shares)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY"):
                raise RuntimeError(f"a node did not start: {line!r}")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("DONE"):
                raise RuntimeError(f"a node failed: {line!r}")
        return time.perf_counter() - started
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def table(rows: list[tuple[str, int, int, float]], markdown: bool) -> str:
    head = ("store", "nodes", "executions", "seconds", "executions/s", "steps/s")
    lines = [
        (
            store,
            str(n),
            str(count),
            f"{secs:.2f}",
            f"{count / secs:,.0f}",
            f"{count * STEPS / secs:,.0f}",
        )
        for store, n, count, secs in rows
    ]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), *(fmt.format(*line) for line in lines)])


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Throughput of 1, 2, 4 engine processes sharing one store "
        f"(W2: executions of {STEPS} no-op steps)."
    )
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--nodes", default="1,2,4", help="numbers of node processes")
    parser.add_argument("--executions", type=int, default=1000, help="executions per run")
    parser.add_argument("--reps", type=int, default=1, help="runs per cell (the best is kept)")
    parser.add_argument("--pg", default=os.environ.get("WATER_BENCH_PG") or PG_DEFAULT)
    parser.add_argument("--format", choices=["plain", "markdown"], default="plain")
    parser.add_argument(
        "--worker", nargs=3, metavar=("URL", "NAME", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        url, name, count = args.worker
        worker(url, name, int(count))
        return 0
    rows: list[tuple[str, int, int, float]] = []
    failed = False
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        for nodes in [int(n) for n in args.nodes.split(",")]:
            best: float | None = None
            for _ in range(args.reps):
                try:
                    with fresh_store(store, args.pg) as url:
                        secs = measure(url, nodes, args.executions)
                except Exception as exc:
                    print(f"{store}, {nodes} nodes: {exc}", file=sys.stderr)
                    failed = True
                    break
                best = secs if best is None else min(best, secs)
            if best is not None:
                rows.append((store, nodes, args.executions, best))
                print(f"{store}: {nodes} nodes: {best:.2f}s", file=sys.stderr, flush=True)
    if rows:
        print(table(rows, args.format == "markdown"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
