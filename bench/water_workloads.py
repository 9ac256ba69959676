"""The benchmark workloads on Water (imported only by the subprocesses that run Water).

W1  1 execution of 1,000 sequential steps (a flow of 1,000 ``.then(step)``)
W2  500 executions x 5 sequential steps, started at once with ``start_many``
W3  1 execution of ``for_(step, concurrency=50)`` over 2,000 items

``step`` is an ``async def`` no-op: ``Num(value=n.value + 1)``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from pydantic import BaseModel

from water import Engine, Flow, task

N_W1 = 1000
N_W2_EXEC, N_W2_STEPS = 500, 5
N_W3_ITEMS, W3_CONC = 2000, 50


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


W1_FLOW = chain("w1", N_W1)
W2_FLOW = chain("w2", N_W2_STEPS)
W3_FLOW = Flow("w3").for_(step, concurrency=W3_CONC)
WARM_FLOW = chain("warm", 5)
FLOWS = [W1_FLOW, W2_FLOW, W3_FLOW, WARM_FLOW]
TIMEOUT = 300.0


def warm_up(engine: Engine, workload: str) -> None:
    """An untimed execution of the same kind (smaller) before the timed region."""
    assert engine.start(WARM_FLOW, Num(value=0)).result(TIMEOUT) == Num(value=5)
    if workload == "W2":
        refs = engine.start_many(W2_FLOW, [Num(value=k) for k in range(5)])
        for r in refs:
            r.result(TIMEOUT)
    elif workload == "W3":
        engine.start(W3_FLOW, [Num(value=i) for i in range(W3_CONC)]).result(TIMEOUT)


def w1(engine: Engine) -> int:
    out = engine.start(W1_FLOW, Num(value=0)).result(TIMEOUT)
    assert out == Num(value=N_W1), out
    return N_W1


def w2(engine: Engine) -> int:
    refs = engine.start_many(W2_FLOW, [Num(value=k) for k in range(N_W2_EXEC)])
    outs = [r.result(TIMEOUT) for r in refs]
    assert [o.value for o in outs] == [k + N_W2_STEPS for k in range(N_W2_EXEC)]
    return N_W2_EXEC * N_W2_STEPS


def w3(engine: Engine) -> int:
    items = [Num(value=i) for i in range(N_W3_ITEMS)]
    out = engine.start(W3_FLOW, items).result(TIMEOUT)
    assert [o.value for o in out] == [i + 1 for i in range(N_W3_ITEMS)]
    return N_W3_ITEMS


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3}


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


def run(storage: str, workload: str, tmpdir: str, profile: str | None = None) -> dict[str, Any]:
    """Run one cell in this process (engine start and shutdown are not timed)."""
    fallback = FallbackCounter()
    if storage == "sqlite":
        fallback.install()
    db_path = os.path.join(tmpdir, "bench.db")
    url = "memory://" if storage == "memory" else f"sqlite:///{db_path}"
    for flow in FLOWS:
        flow.fingerprint  # noqa: B018  # computed once per flow definition, not per run
    engine = Engine(url, flows=FLOWS)
    try:
        warm_up(engine, workload)
        journal = engine.system.journal
        commits0, appends0 = journal.commits, journal.appends
        fallback0 = dict(fallback.counts)
        profiler = _start_profile(profile)
        t0 = time.perf_counter()
        steps = WORKLOADS[workload](engine)
        seconds = time.perf_counter() - t0
        _stop_profile(profiler, profile)
        extra: dict[str, Any] = {
            "journal_commits": journal.commits - commits0,
            "journal_appends": journal.appends - appends0,
            "active_coordinators_after": engine.system.active_coordinators(),
        }
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
