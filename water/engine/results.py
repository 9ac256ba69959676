"""The futures ``ExecutionRef.result`` and ``wait`` block on.

A live execution settles its future when it finishes (``actors.waiters``); one that
is not in memory is looked up in storage once, on the reactor, so a finished
execution answers at once and an unknown one fails with ``ExecutionNotFoundError``.
"""

from __future__ import annotations

import concurrent.futures

from actors.system import ActorSystem
from water.errors import ExecutionNotFoundError
from water.ids import can_exist
from water.snapshot import Snapshot
from water.storage import Storage


class Results:
    """Final snapshots of executions, as futures."""

    def __init__(self, system: ActorSystem, storage: Storage) -> None:
        self._system = system
        self._storage = storage

    def final_view(self, execution_id: str) -> concurrent.futures.Future[Snapshot]:
        """A future of the execution's final snapshot."""
        if not can_exist(execution_id):
            unknown: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
            unknown.set_exception(ExecutionNotFoundError(execution_id))
            return unknown
        future = self._system.waiters.result(execution_id)
        if not future.done():
            self._system.reactor.submit(self._settle_if_finished(execution_id, future))
        return future

    async def _settle_if_finished(
        self, execution_id: str, future: concurrent.futures.Future[Snapshot]
    ) -> None:
        waiters = self._system.waiters
        try:
            record = await self._storage.get_execution(execution_id)
            if record is None:
                if not future.done():
                    future.set_exception(ExecutionNotFoundError(execution_id))
                waiters.drop(execution_id, future)
                return
            if record.status.is_terminal:
                view = await self._storage.load_snapshot(execution_id)
                if view is not None and not future.done():
                    future.set_result(view)
                    waiters.drop(execution_id, future)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
