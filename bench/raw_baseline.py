"""Physical-limit baselines for bench.py: the same workloads without Water.

This module never imports Water. It follows the reference variants of the peers
benchmark (``/work/shared/peers-bench/raw_bench.py``), with two changes so that
the comparison with Water is like for like:

* the step is the same no-op as in Water's workloads: ``async def step(n: Num) -> Num``
  returning ``Num(value=n.value + 1)`` (a pydantic model in and out);
* the journal gets as many rows as Water's ``events`` table gets for the same
  workload: one "started" row per execution, one row per step, one "completed"
  row per execution (a step's row holds its output, ``Num.model_dump_json()``).
  The started row is awaited before the execution's first step, the completed
  row before its result is returned (for the awaited variants).

Variants:
  raw-asyncio          plain asyncio calls, no persistence
  raw-sqlite-commit1   one INSERT + COMMIT per row, on the loop thread; a step
                       returns after its commit
  raw-sqlite-batch256  write-behind: rows buffered, executemany + COMMIT every
                       256 rows (and once at the end); steps never wait
  raw-sqlite-group256  awaited group commit: a step returns after the commit that
                       holds its row; one flush per event-loop turn, <= 256 rows

All SQLite variants: WAL, synchronous=NORMAL, stdlib sqlite3, autocommit
connection with explicit BEGIN/COMMIT, on the event-loop thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from pydantic import BaseModel

N_W1 = 1000
N_W2_EXEC, N_W2_STEPS = 500, 5
N_W3_ITEMS, W3_CONC = 2000, 50
N_START_ONE, N_START_MANY, START_CALLERS = 400, 1600, 8
N_RSS_ITEMS = 50_000
BATCH = 256

VARIANTS = ["raw-asyncio", "raw-sqlite-commit1", "raw-sqlite-batch256", "raw-sqlite-group256"]


class Num(BaseModel):
    value: int


async def step(n: Num) -> Num:
    return Num(value=n.value + 1)


def dump(value: Any) -> str:
    """A row's payload: the step output as JSON (a marker string for start/end rows)."""
    return value.model_dump_json() if isinstance(value, BaseModel) else str(value)


# --------------------------------------------------------------------------- journals
class NoJournal:
    commits = 0

    async def record(self, wf_id: str, seq: int, value: Any) -> None:
        return None  # no persistence: nothing is serialised either

    def finish(self) -> None:
        pass


def open_db(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS journal ("
        " id INTEGER PRIMARY KEY, wf_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " payload TEXT NOT NULL)"
    )
    return conn


class Commit1Journal:
    """One INSERT + COMMIT per row, on the loop thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.commits = 0

    async def record(self, wf_id: str, seq: int, value: Any) -> None:
        c = self.conn
        c.execute("BEGIN")
        c.execute(
            "INSERT INTO journal(wf_id, seq, payload) VALUES (?,?,?)", (wf_id, seq, dump(value))
        )
        c.execute("COMMIT")
        self.commits += 1

    def finish(self) -> None:
        pass


class BatchJournal:
    """Write-behind: buffer rows, commit every BATCH rows; callers never wait."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.buf: list[tuple[str, int, str]] = []
        self.commits = 0

    async def record(self, wf_id: str, seq: int, value: Any) -> None:
        self.buf.append((wf_id, seq, dump(value)))
        if len(self.buf) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        c = self.conn
        c.execute("BEGIN")
        c.executemany("INSERT INTO journal(wf_id, seq, payload) VALUES (?,?,?)", self.buf)
        c.execute("COMMIT")
        self.buf.clear()
        self.commits += 1

    def finish(self) -> None:
        self.flush()


class GroupCommitJournal:
    """Durable group commit: a caller returns only after the commit holding its row.

    Rows appended during one event-loop turn share a commit (flush scheduled with
    call_soon), capped at BATCH rows per commit.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pending: list[tuple[tuple[str, int, str], asyncio.Future[None]]] = []
        self.scheduled = False
        self.commits = 0

    async def record(self, wf_id: str, seq: int, value: Any) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.pending.append(((wf_id, seq, dump(value)), fut))
        if len(self.pending) >= BATCH:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.flush)
        await fut

    def flush(self) -> None:
        self.scheduled = False
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        c = self.conn
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO journal(wf_id, seq, payload) VALUES (?,?,?)", [r for r, _ in batch]
        )
        c.execute("COMMIT")
        self.commits += 1
        for _, f in batch:
            if not f.done():
                f.set_result(None)

    def finish(self) -> None:
        self.flush()


def make_journal(variant: str, path: str) -> tuple[Any, sqlite3.Connection | None]:
    if variant == "raw-asyncio":
        return NoJournal(), None
    conn = open_db(path)
    cls = {
        "raw-sqlite-commit1": Commit1Journal,
        "raw-sqlite-batch256": BatchJournal,
        "raw-sqlite-group256": GroupCommitJournal,
    }[variant]
    return cls(conn), conn


# --------------------------------------------------------------------------- workloads
async def run_execution(journal: Any, wf_id: str, n_steps: int, x: Num) -> Num:
    await journal.record(wf_id, 1, x)  # "started"
    for i in range(n_steps):
        x = await step(x)
        await journal.record(wf_id, i + 2, x)
    await journal.record(wf_id, n_steps + 2, x)  # "completed"
    return x


async def w1(journal: Any) -> int:
    out = await run_execution(journal, "wf-w1", N_W1, Num(value=0))
    assert out.value == N_W1
    return N_W1


async def w2(journal: Any) -> int:
    res = await asyncio.gather(
        *(run_execution(journal, f"wf-{k}", N_W2_STEPS, Num(value=k)) for k in range(N_W2_EXEC))
    )
    assert [r.value for r in res] == [k + N_W2_STEPS for k in range(N_W2_EXEC)]
    return N_W2_EXEC * N_W2_STEPS


async def w3(journal: Any, n: int = N_W3_ITEMS) -> int:
    items = [Num(value=i) for i in range(n)]
    sem = asyncio.Semaphore(W3_CONC)
    await journal.record("wf-w3", 0, "started")

    async def item(i: int, x: Num) -> Num:
        async with sem:
            r = await step(x)
            await journal.record("wf-w3", i + 1, r)
            return r

    res = await asyncio.gather(*(item(i, x) for i, x in enumerate(items)))
    await journal.record("wf-w3", n + 1, "completed")
    assert [r.value for r in res] == [i + 1 for i in range(n)]
    return n


async def big(journal: Any) -> int:
    return await w3(journal, N_RSS_ITEMS)


STARTS: dict[str, float] = {}


async def starts(journal: Any) -> int:
    """The floor of a durable start: one row committed (p50/p99 of one caller), then
    8 callers at once (their rows share group commits)."""
    latencies = []
    for i in range(N_START_ONE):
        t0 = time.perf_counter()
        await journal.record(f"s{i}", 1, Num(value=i))
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    STARTS["p50_us"] = latencies[len(latencies) // 2] * 1e6
    STARTS["p99_us"] = latencies[int(len(latencies) * 0.99)] * 1e6
    each = N_START_MANY // START_CALLERS

    async def caller(k: int) -> None:
        for i in range(each):
            await journal.record(f"c{k}-{i}", 1, Num(value=i))

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(START_CALLERS)))
    STARTS["concurrent_per_s"] = each * START_CALLERS / (time.perf_counter() - t0)
    return N_START_ONE


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "START": starts, "RSS": big}


def run(variant: str, workload: str, db_path: str) -> dict[str, Any]:
    """Run one cell in this process; return seconds, steps and diagnostics."""
    fn = WORKLOADS[workload]
    journal, conn = make_journal(variant, db_path)

    async def main() -> tuple[float, int]:
        await run_execution(journal, "warmup", 5, Num(value=0))  # untimed warm-up
        journal.finish()
        journal.commits = 0
        t0 = time.perf_counter()
        steps = await fn(journal)
        journal.finish()
        return time.perf_counter() - t0, steps

    seconds, steps = asyncio.run(main())
    extra: dict[str, Any] = {}
    if conn is not None:
        rows = conn.execute("SELECT count(*) FROM journal WHERE wf_id != 'warmup'").fetchone()[0]
        extra["rows"] = rows
        extra["commits"] = journal.commits
        conn.close()
    extra.update({k: round(v, 1) for k, v in STARTS.items()})
    return {"seconds": seconds, "steps": steps, **extra}
