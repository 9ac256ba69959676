"""The SQLite storage's connection thread: jobs in order, one loop callback per batch."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from water.storage.sqlite_thread import SQLiteThread


def connect(path: Path) -> Any:
    return lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def test_jobs_queued_together_run_in_order_and_settle_in_one_callback(tmp_path: Path) -> None:
    async def body() -> None:
        thread = SQLiteThread(connect(tmp_path / "x.db"), name="test-sqlite")
        loop = asyncio.get_running_loop()
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        try:
            started, gate = threading.Event(), threading.Event()
            first = thread.submit(lambda c: started.set() or gate.wait(10))  # holds the thread
            assert started.wait(10)
            order: list[int] = []
            queued = [thread.submit(lambda c, i=i: order.append(i) or i) for i in range(50)]
            wakeups = 0
            gate.set()
            assert await first is True
            assert await asyncio.gather(*queued) == list(range(50))
            assert order == list(range(50))
            # one callback for the first job's batch, one for the 50 taken at once after it
            assert wakeups == 2
        finally:
            loop.call_soon_threadsafe = original  # type: ignore[method-assign]
            await thread.stop()

    asyncio.run(body())


def test_an_error_reaches_its_caller_and_later_jobs_still_run(tmp_path: Path) -> None:
    async def body() -> None:
        thread = SQLiteThread(connect(tmp_path / "x.db"), name="test-sqlite")
        try:
            with pytest.raises(sqlite3.OperationalError):
                await thread.run(lambda c: c.execute("SELECT * FROM missing"))
            assert await thread.run(lambda c: c.execute("SELECT 1").fetchone()) == (1,)
        finally:
            await thread.stop()

    asyncio.run(body())


def test_a_job_runs_in_place_only_while_the_thread_is_idle(tmp_path: Path) -> None:
    async def body() -> None:
        thread = SQLiteThread(connect(tmp_path / "x.db"), name="test-sqlite")
        try:
            here = threading.get_ident()
            done, ident = thread.run_here(lambda c: threading.get_ident())
            assert (done, ident) == (True, here)
            started, gate = threading.Event(), threading.Event()
            busy = thread.submit(lambda c: started.set() or gate.wait(10))
            assert started.wait(10)
            assert thread.run_here(lambda c: 1) == (False, None)  # the thread runs a job
            gate.set()
            await busy
        finally:
            await thread.stop()

    asyncio.run(body())


def test_after_stop_jobs_fail_and_nothing_runs_in_place(tmp_path: Path) -> None:
    async def body() -> None:
        thread = SQLiteThread(connect(tmp_path / "x.db"), name="test-sqlite")
        await thread.run(lambda c: c.execute("SELECT 1"))
        await thread.stop()
        assert thread.run_here(lambda c: 1) == (False, None)
        with pytest.raises(sqlite3.ProgrammingError):
            await asyncio.wait_for(thread.run(lambda c: c.execute("SELECT 1")), 5)

    asyncio.run(body())
