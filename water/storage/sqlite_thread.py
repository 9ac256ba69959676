"""One thread owning a stdlib ``sqlite3`` connection: SQLite's calls off the event loop.

A storage hands the thread jobs (functions of the connection). The thread takes
every job queued at once, runs them in order, then settles all their futures in
one callback on their event loop (one ``call_soon_threadsafe`` per batch): each
hop between the loop and the thread costs two thread wake-ups, so the fewer the
better. A group commit is one job whatever it writes (``run_inline``: the whole
write, its transaction and its fallbacks, runs on the thread).

A small job may also run in place on the caller's thread while the thread is idle
(``run_here``): the connection is used by one thread at a time either way.

``Connection`` gives the storage's code the awaitable calls it is written
against: off the thread each call is a job of its own; on the thread (inside a
job) it runs at once, so a coroutine made of such calls can be driven to its end
there without an event loop (``drive``).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["Connection", "SQLiteThread", "drive"]

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
_Settled = tuple["asyncio.Future[Any]", Any, BaseException | None]
_STOP = object()


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its awaits complete at once) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a job on the SQLite thread waited for the event loop")


def _settle(settled: list[_Settled]) -> None:
    """On the loop: complete the futures of a batch of jobs."""
    for future, result, error in settled:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class SQLiteThread:
    """A daemon thread running jobs on one connection, opened and closed on it."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str) -> None:
        self._connect = connect
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._busy = threading.Lock()  # held while a job runs, here or on the thread
        self._here: int | None = None  # the thread running a job in place (run_here)
        self._stopped = False
        self._exited = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def on_thread(self) -> bool:
        """Whether the caller runs a job (on the thread, or in place)."""
        me = threading.get_ident()
        return me == self._thread.ident or me == self._here

    def run_here(self, job: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """Run ``job`` on the calling thread if the thread is idle with nothing queued:
        (True, its result); else (False, None), and the caller submits it.

        A small write costs the thread two wake-ups more than the write itself
        (~25 us in SQLite's WAL mode, ~80 us of wake-ups on a loaded 2-core machine).
        """
        if self._stopped or not self._jobs.empty() or not self._busy.acquire(blocking=False):
            return False, None
        try:
            self._here = threading.get_ident()
            return True, job(self._open())
        finally:
            self._here = None
            self._busy.release()

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue a job; the future (of the running loop) gets what it returns or raises."""
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((job, future))
        if self._exited:  # the thread is gone (or going): nobody else fails the job
            self._fail_rest()
        return future

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self.submit(job)
        return result

    async def stop(self) -> None:
        """Close the connection after the jobs queued so far; the thread then ends."""
        if self._exited:
            return
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((_STOP, future))
        await future

    def _main(self) -> None:
        jobs = self._jobs
        running = True
        while running:
            taken = [jobs.get()]
            while True:
                try:
                    taken.append(jobs.get_nowait())
                except queue.Empty:
                    break
            settled: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
            with self._busy:
                for job, future in taken:
                    result: Any = None
                    error: BaseException | None = None
                    try:
                        if job is _STOP:
                            running = False
                            self._stopped = True
                            self._close()
                        else:
                            result = job(self._open())
                    except BaseException as exc:  # handed to the caller
                        error = exc
                    settled.setdefault(future.get_loop(), []).append((future, result, error))
                    if not running:
                        break
            for loop, done in settled.items():
                try:
                    loop.call_soon_threadsafe(_settle, done)
                except RuntimeError:  # that loop is closed: nobody waits any more
                    pass
        # jobs queued after the stop fail rather than wait forever
        self._exited = True
        self._fail_rest()

    def _fail_rest(self) -> None:
        while True:
            try:
                _, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            error = sqlite3.ProgrammingError("Cannot operate on a closed database.")
            try:
                future.get_loop().call_soon_threadsafe(_settle, [(future, None, error)])
            except RuntimeError:
                pass

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Connection:
    """The awaitable calls of a connection owned by a ``SQLiteThread``.

    Off the thread each call is one job; on the thread it runs at once.
    """

    def __init__(self, thread: SQLiteThread) -> None:
        self.thread = thread

    def _call(self, job: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        if self.thread.on_thread:
            return _done(job(self.thread._open()))
        return self.thread.run(job)

    def run(self, job: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        """Run ``job`` (a function of the connection) as one job."""
        return self._call(job)

    def run_inline(self, coro: Callable[[], Coroutine[Any, Any, T]]) -> Awaitable[T]:
        """Run the coroutine ``coro()``, built of this connection's calls, as one job."""
        return self._call(lambda _: drive(coro()))

    def run_here(self, coro: Callable[[], Coroutine[Any, Any, T]]) -> tuple[bool, T | None]:
        """``run_inline`` on the calling thread if the thread is idle (see ``SQLiteThread``)."""
        return self.thread.run_here(lambda _: drive(coro()))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Awaitable[sqlite3.Cursor]:
        return self._call(lambda c: c.execute(sql, params))

    def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> Awaitable[list[Any]]:
        return self._call(lambda c: c.execute(sql, params).fetchall())

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Awaitable[sqlite3.Cursor]:
        return self._call(lambda c: c.executemany(sql, rows))

    def executescript(self, script: str) -> Awaitable[sqlite3.Cursor]:
        return self._call(lambda c: c.executescript(script))

    def set_trace_callback(self, callback: Callable[[str], object] | None) -> Awaitable[None]:
        return self._call(lambda c: c.set_trace_callback(callback))

    async def close(self) -> None:
        await self.thread.stop()


async def _done(value: T) -> T:
    return value
