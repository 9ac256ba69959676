"""The actor system of one engine: the parts that run executions, put together.

``ActorSystem`` owns the reactor loop, the journal (group commit), the timers,
the router (one coordinator per active execution), the supervisors (one per
task) and the waiters (results and statuses). It is the ``Host`` its
coordinators run in, and it performs the effects they hand it once their
events are durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pykka

from actors.coordinator import Action, CancelRuns, Coordinator, Ready, StatusChanged
from actors.effects import ArmTimer, Route
from actors.journal import Journal
from actors.messages import SystemShutDown, TimerDue
from actors.observer import RuntimeObserver
from actors.outage import storage_delay
from actors.protocols import Interpreters, JournalStore, Placement
from actors.reactor import Reactor
from actors.router import Router
from actors.supervisors import Supervisors
from actors.timers import Timers
from actors.waiters import Waiters
from supervision import Clock, SystemClock

log = logging.getLogger("water.runtime")


class ActorSystem:
    def __init__(
        self,
        interpreters: Interpreters,
        store: JournalStore,
        *,
        clock: Clock | None = None,
        observer: RuntimeObserver | None = None,
    ) -> None:
        self.placement: Placement | None = None  # set by an engine sharing its store
        self.interpreters = interpreters
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.observer = observer or RuntimeObserver()
        self.reactor = Reactor().start()
        self.journal = Journal(
            self.reactor,
            store,
            on_commit=self.observer.journal_committed,
            on_health=self.observer.storage_changed,
        )
        self.timers = Timers(self.reactor, self._timer_due)
        self.waiters = Waiters()
        self.router = Router(
            self._spawn, self.clock, lambda: self.observer.actor_restarted("coordinator")
        )
        self.router.on_loop = self.reactor.in_loop_thread
        self.router.call_soon = self.reactor.call_soon
        self.supervisors = Supervisors(self.reactor, self.clock, self.observer, self.deliver)
        self._closing = asyncio.Event()  # set on the loop when shutting down

    def _spawn(self, execution_id: str, incarnation: int, fresh: bool) -> pykka.ActorRef[Any]:
        return Coordinator.start(self, execution_id, incarnation, fresh)

    # -- the coordinators' host ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.router.closed

    def _elsewhere(self, execution_id: str) -> bool:
        placement = self.placement
        return placement is not None and not placement.is_local(execution_id)

    def tell(self, execution_id: str, message: Any) -> None:
        if self._elsewhere(execution_id):
            assert self.placement is not None
            self.placement.forward(execution_id, message)
            return
        self.router.tell(execution_id, message)

    def deliver(self, execution_id: str, message: Any) -> None:
        if self._elsewhere(execution_id):
            assert self.placement is not None
            self.placement.forward(execution_id, message)
            return
        self.router.deliver(execution_id, message)

    def fenced(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        """A coordinator's append was fenced: the execution is another engine's now."""
        self.router.detach(execution_id, ref)
        self.timers.disarm(execution_id)
        if self.placement is not None:
            self.placement.lost(execution_id)

    def relinquish(self, execution_id: str) -> None:
        """Stop running an execution another engine owns now (its coordinator, timers);
        its waiters keep waiting (they learn of its end from the store)."""
        self.router.forget(execution_id)
        self.timers.disarm(execution_id)

    def passivate(self, execution_id: str, coordinator: Coordinator) -> bool:
        return self.router.passivate(
            execution_id, coordinator.actor_ref, coordinator.actor_inbox.empty()
        )

    def finished(self, execution_id: str, ref: pykka.ActorRef[Any], view: Any) -> None:
        # only the routed coordinator speaks for the execution: one that was
        # forgotten (its execution deleted) must not leave its view behind
        routed = self.router.finished(execution_id, ref)
        if routed and self.placement is not None:
            self.placement.finished(execution_id)
        self.waiters.finished(execution_id, view, remember=routed)

    def crashed(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        if self._elsewhere(execution_id):
            self.router.detach(execution_id, ref)
            return
        self.router.crashed(execution_id, ref)

    def detach(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        self.router.detach(execution_id, ref)

    def unloadable(self, execution_id: str, error: BaseException) -> None:
        """The store cannot give an execution back: its result waiters get the error."""
        self.waiters.fail(execution_id, error)

    async def storage_backoff(self, attempt: int, error: BaseException) -> bool:
        """On the loop: wait out the back-off after failed ``attempt`` of a storage call.

        Returns False at once if the system shuts down meanwhile.
        """
        try:
            await asyncio.wait_for(self._closing.wait(), storage_delay(attempt, error))
        except TimeoutError:
            return True
        return False

    def perform(self, execution_id: str, actions: Sequence[Action]) -> None:
        """Carry out prepared effects (jobs already built); callable from any thread."""
        for action in actions:
            if isinstance(action, Ready):
                self.supervisors.dispatch(action.spec, action.job)
            elif isinstance(action, ArmTimer):
                self.timers.arm(execution_id, action.timer, action.fire_at)
            elif isinstance(action, StatusChanged):
                self.waiters.status_changed(execution_id, action.status.label)
            elif isinstance(action, CancelRuns):
                self.supervisors.cancel_runs(execution_id, action.task_ids)
            elif isinstance(action, Route):
                try:
                    self.tell(action.execution_id, action.message)
                except SystemShutDown:
                    return

    def _timer_due(self, execution_id: str, timer: str, fire_at: float) -> None:
        if self.closed:
            return
        try:
            self.tell(execution_id, TimerDue(timer, fire_at))
        except SystemShutDown:
            pass

    # -- for the engine -------------------------------------------------------------------
    def ask(
        self,
        execution_id: str,
        message: Any,
        timeout: float | None = None,
        *,
        detail: bool = True,
        fresh: bool = False,
    ) -> Any:
        """Send a message and wait for the execution's answer (its view)."""
        if self._elsewhere(execution_id):
            assert self.placement is not None
            return self.placement.ask(execution_id, message, timeout, detail)
        return self.router.ask(execution_id, message, timeout, detail=detail, fresh=fresh)

    async def ask_async(
        self,
        execution_id: str,
        message: Any,
        timeout: float | None = None,
        *,
        detail: bool = True,
        fresh: bool = False,
    ) -> Any:
        """``ask`` for a coroutine (on any event loop, the reactor's included)."""
        if self._elsewhere(execution_id):  # through the store: a blocking call, off the loop
            assert self.placement is not None
            return await asyncio.to_thread(
                self.placement.ask, execution_id, message, timeout, detail
            )
        return await self.router.ask_async(
            execution_id, message, timeout, detail=detail, fresh=fresh
        )

    def ask_many(
        self, messages: list[tuple[str, Any]], timeout: float | None = None, *, fresh: bool = False
    ) -> list[Any]:
        return self.router.ask_many(messages, timeout, fresh=fresh)

    def wake(self, execution_id: str) -> None:
        self.router.wake(execution_id)

    def forget(self, execution_id: str, error: BaseException | None = None) -> None:
        """Drop every trace of an execution kept in memory (its rows were deleted).

        Its coordinator, if any, is detached and stopped, so the next message for
        the execution starts a new one, which finds nothing in storage; its final
        view and its timers are dropped; waiters for its end get ``error`` (if given).
        """
        self.router.forget(execution_id)
        self.waiters.forget(execution_id, error)
        self.timers.disarm(execution_id)

    def is_live(self, execution_id: str) -> bool:
        return self.router.is_live(execution_id)

    def active_coordinators(self) -> int:
        return self.router.count()

    def mailbox_depths(self) -> dict[str, int]:
        """Total queued messages by actor kind (read at scrape time)."""
        return {
            "coordinator": self.router.mailbox_depth(),
            "supervisor": self.supervisors.mailbox_depth(),
        }

    # -- shutdown -------------------------------------------------------------------------
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every actor, then the reactor."""
        self.shutdown_actors(timeout)
        self.reactor.stop()

    def shutdown_actors(self, timeout: float = 10.0) -> None:
        """Stop every coordinator and supervisor (the reactor keeps running)."""
        if self.closed:
            return
        coordinators = self.router.close()
        self.reactor.call_soon(self._closing.set)
        self.journal.stop_retrying()  # what a storage fault holds would block the stops
        for ref in coordinators:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        for ref in coordinators:
            if ref.is_alive():
                try:
                    ref.stop(block=True, timeout=timeout)
                except (pykka.ActorDeadError, pykka.Timeout):
                    pass
        self.supervisors.stop(timeout)
        self.waiters.close(SystemShutDown())
