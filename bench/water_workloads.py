"""The benchmark workloads on Water (imported only by the subprocesses that run Water).

Each workload in two forms: a flow (``water-*`` systems) and a code-first
``@workflow`` (``water-code-*`` systems):

W1  1 execution of 1,000 sequential steps: a flow of 1,000 ``.then(step)`` /
    a workflow awaiting ``step`` 1,000 times in a loop
W2  500 executions x 5 sequential steps, started at once with ``start_many``:
    a flow of 5 ``.then(step)`` / a workflow awaiting ``step`` 5 times
W3  1 execution over 2,000 items, 50 in flight: ``for_(step, concurrency=50)`` /
    ``asyncio.gather`` over the items, each call behind an ``asyncio.Semaphore(50)``
    (a sliding window, like ``for_`` and the raw-asyncio baseline; chunks of 50
    would wait for the slowest of each chunk)

START  one durable ``engine.start()`` of a 1-step flow at a time (latency of each
       call, p50/p99), then 8 threads calling ``start`` at once (starts/s)
RSS    1 execution of ``for_(step, concurrency=50)`` over 50,000 items (peak RSS)

``step`` is an ``async def`` no-op: ``Num(value=n.value + 1)``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from typing import Any

from pydantic import BaseModel

from water import Engine, Flow, task, workflow
from water.definition import Definition
from water.tuning import tune_for_service

N_W1 = 1000
N_W2_EXEC, N_W2_STEPS = 500, 5
N_W3_ITEMS, W3_CONC = 2000, 50
N_START_ONE, N_START_MANY, START_CALLERS = 400, 1600, 8
N_RSS_ITEMS = 50_000


class Num(BaseModel):
    value: int


@task
async def step(n: Num) -> Num:
    return Num(value=n.value + 1)


def chain(flow_id: str, n: int) -> Flow:
    flow = Flow(flow_id)
    for _ in range(n):
        flow.then(step)
    return flow


async def awaits(n: Num, times: int) -> Num:
    for _ in range(times):
        n = await step(n)
    return n


@workflow(id="cw1")
async def cw1(n: Num) -> Num:
    return await awaits(n, N_W1)


@workflow(id="cw2")
async def cw2(n: Num) -> Num:
    return await awaits(n, N_W2_STEPS)


@workflow(id="cw3")
async def cw3(items: list[Num]) -> list[Num]:
    window = asyncio.Semaphore(W3_CONC)

    async def one(item: Num) -> Num:
        async with window:
            return await step(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


@workflow(id="cwarm")
async def cwarm(n: Num) -> Num:
    return await awaits(n, 5)


class Shape:
    """The definitions one form of the workloads runs."""

    def __init__(
        self, w1: Definition, w2: Definition, w3: Definition, warm: Definition, one: Definition
    ):
        self.w1, self.w2, self.w3, self.warm, self.one = w1, w2, w3, warm, one

    @property
    def all(self) -> list[Definition]:
        return [self.w1, self.w2, self.w3, self.warm, self.one]


FLOWS = Shape(
    chain("w1", N_W1),
    chain("w2", N_W2_STEPS),
    Flow("w3").for_(step, concurrency=W3_CONC),
    chain("warm", 5),
    chain("one", 1),
)


@workflow(id="cone")
async def cone(n: Num) -> Num:
    return await awaits(n, 1)


CODE = Shape(cw1, cw2, cw3, cwarm, cone)
TIMEOUT = 300.0


def warm_up(engine: Engine, shape: Shape, workload: str) -> None:
    """An untimed execution of the same kind (smaller) before the timed region."""
    assert engine.start(shape.warm, Num(value=0)).result(TIMEOUT) == Num(value=5)
    if workload == "W2":
        refs = engine.start_many(shape.w2, [Num(value=k) for k in range(5)])
        for r in refs:
            r.result(TIMEOUT)
    elif workload in ("W3", "RSS"):
        engine.start(shape.w3, [Num(value=i) for i in range(W3_CONC)]).result(TIMEOUT)
    elif workload == "START":
        for i in range(20):
            engine.start(shape.one, Num(value=i))


def w1(engine: Engine, shape: Shape) -> int:
    out = engine.start(shape.w1, Num(value=0)).result(TIMEOUT)
    assert out == Num(value=N_W1), out
    return N_W1


def w2(engine: Engine, shape: Shape) -> int:
    refs = engine.start_many(shape.w2, [Num(value=k) for k in range(N_W2_EXEC)])
    outs = [r.result(TIMEOUT) for r in refs]
    assert [o.value for o in outs] == [k + N_W2_STEPS for k in range(N_W2_EXEC)]
    return N_W2_EXEC * N_W2_STEPS


def w3(engine: Engine, shape: Shape) -> int:
    items = [Num(value=i) for i in range(N_W3_ITEMS)]
    out = engine.start(shape.w3, items).result(TIMEOUT)
    assert [o.value for o in out] == [i + 1 for i in range(N_W3_ITEMS)]
    return N_W3_ITEMS


def big(engine: Engine, shape: Shape) -> int:
    items = [Num(value=i) for i in range(N_RSS_ITEMS)]
    out = engine.start(shape.w3, items).result(TIMEOUT)
    assert len(out) == N_RSS_ITEMS and out[-1].value == N_RSS_ITEMS
    return N_RSS_ITEMS


STARTS: dict[str, float] = {}


def starts(engine: Engine, shape: Shape) -> int:
    """Latency of one caller's starts, then the throughput of 8 callers at once."""
    latencies = []
    for i in range(N_START_ONE):
        t0 = time.perf_counter()
        engine.start(shape.one, Num(value=i))
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    STARTS["p50_us"] = latencies[len(latencies) // 2] * 1e6
    STARTS["p99_us"] = latencies[int(len(latencies) * 0.99)] * 1e6
    each = N_START_MANY // START_CALLERS
    gate = threading.Barrier(START_CALLERS + 1)

    def caller() -> None:
        gate.wait()
        for i in range(each):
            engine.start(shape.one, Num(value=i))

    threads = [threading.Thread(target=caller) for _ in range(START_CALLERS)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    STARTS["concurrent_per_s"] = each * START_CALLERS / (time.perf_counter() - t0)
    return N_START_ONE


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "START": starts, "RSS": big}


def table_counts(db_path: str) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("events", "executions", "flow_snapshots", "task_results")
        }
    finally:
        conn.close()


class FallbackCounter:
    """Counts how often a group commit on SQLite falls back to slower paths.

    ``SQLiteStorage`` writes an events-only group commit as one multi-row INSERT;
    when that statement fails it re-applies the batch in one checked transaction
    (``_write_checked``) and, if that fails too, one request per transaction
    (``_write_one``). The wrappers only count calls; behaviour is unchanged.
    Nothing is counted if those private methods do not exist.
    """

    def __init__(self) -> None:
        self.counts = {"checked_batches": 0, "single_request_txns": 0}
        self.installed = False

    def install(self) -> None:
        from water.storage import sqlite as mod

        cls = mod.SQLiteStorage
        for name, key in (
            ("_write_checked", "checked_batches"),
            ("_write_one", "single_request_txns"),
        ):
            original = getattr(cls, name, None)
            if original is None:
                return
            setattr(cls, name, self._wrap(original, key))
        self.installed = True

    def _wrap(self, original: Any, key: str) -> Any:
        counts = self.counts

        async def counted(*args: Any, **kwargs: Any) -> Any:
            counts[key] += 1
            return await original(*args, **kwargs)

        return counted


PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_url() -> str:
    return os.environ.get("WATER_TEST_PG") or PG_DEFAULT


class FreshDatabase:
    """A PostgreSQL database made for one run, dropped after it."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        self.admin = url
        self.name = f"waterbench_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = urlunsplit(urlsplit(url)._replace(path="/" + self.name))

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run(storage: str, workload: str, tmpdir: str, profile: str | None = None) -> dict[str, Any]:
    """Run one cell in this process (engine start and shutdown are not timed).

    ``storage`` is ``memory``, ``sqlite`` or ``pg`` (flows), ``code-memory``,
    ``code-sqlite`` or ``code-pg`` (code-first workflows). ``pg`` runs on a fresh
    database of the server ``$WATER_TEST_PG`` names (default ``PG_DEFAULT``).
    """
    form, _, storage = storage.rpartition("-")
    shape = CODE if form == "code" else FLOWS
    fallback = FallbackCounter()
    if storage == "sqlite":
        fallback.install()
    db_path = os.path.join(tmpdir, "bench.db")
    fresh = FreshDatabase(pg_url()) if storage == "pg" else None
    if fresh is not None:
        url = fresh.url
    else:
        url = "memory://" if storage == "memory" else f"sqlite:///{db_path}"
    for flow in shape.all:
        flow.fingerprint  # noqa: B018  # computed once per flow definition, not per run
    try:
        return _run(url, shape, storage, workload, db_path, fallback, profile)
    finally:
        if fresh is not None:
            fresh.drop()


def _run(
    url: str,
    shape: Shape,
    storage: str,
    workload: str,
    db_path: str,
    fallback: FallbackCounter,
    profile: str | None,
) -> dict[str, Any]:
    engine = Engine(url, flows=shape.all)
    if os.environ.get("WATER_BENCH_TUNING", "service") == "service":
        tune_for_service()  # what `water dev` applies (docs/performance.md)
    try:
        warm_up(engine, shape, workload)
        journal = engine.system.journal
        commits0, appends0 = journal.commits, journal.appends
        fallback0 = dict(fallback.counts)
        profiler = _start_profile(profile)
        t0 = time.perf_counter()
        steps = WORKLOADS[workload](engine, shape)
        seconds = time.perf_counter() - t0
        _stop_profile(profiler, profile)
        extra: dict[str, Any] = {
            "journal_commits": journal.commits - commits0,
            "journal_appends": journal.appends - appends0,
            "active_coordinators_after": engine.system.active_coordinators(),
        }
        extra.update({k: round(v, 1) for k, v in STARTS.items()})
        if fallback.installed:
            extra["commit_fallbacks"] = {k: v - fallback0[k] for k, v in fallback.counts.items()}
    finally:
        engine.shutdown()
    if storage == "sqlite":
        extra["db_rows"] = table_counts(db_path)
    return {"seconds": seconds, "steps": steps, **extra}


def _start_profile(profile: str | None) -> Any:
    if not profile:
        return None
    import yappi  # all threads: the steps and the journal run on the reactor thread

    yappi.set_clock_type("wall" if profile.endswith(".wall") else "cpu")
    yappi.start()
    return yappi


def _stop_profile(yappi: Any, profile: str | None) -> None:
    if yappi is None or not profile:
        return
    yappi.stop()
    stats = yappi.get_func_stats()
    stats.save(profile, type="pstat")
