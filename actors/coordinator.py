"""Coordinator: the actor of one execution, a thin shell around its interpreter.

On each message: ask the interpreter for the events (it folds them into the
state), append them to the journal, and perform the effects of the new state
(dispatch steps, arm timers, message other executions) once the events are
durable. Nothing is performed before the events that justify it are committed;
if the journal fails for good, the in-memory state is discarded and the
execution is rehydrated from what is durable. Through a transient storage fault
the journal holds the appends and retries them, so the coordinator only waits;
a new execution whose start cannot be written is refused and forgotten instead.

Coordinators are ``LoopActor``s: they live on the engine's reactor loop, next
to the journal and the async step bodies, so a step's round trip needs no
thread switch and an active execution costs no thread. A coordinator whose
execution only waits (``Phase.IDLE``) stops after its last append; any message
for it starts a new one that rehydrates.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import traceback
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pykka

from actors.effects import ArmTimer, Dispatch, Effect, Forward, Phase, Route, Status, StopRuns
from actors.jobs import StepJob, SupervisorSpec
from actors.journal import Journal
from actors.logsafe import describe, describe_error
from actors.loop_actor import LoopActor, LoopInbox
from actors.messages import (
    CommandRejected,
    ExecutionNotFound,
    Failure,
    Fenced,
    JournalFailed,
    Query,
    Start,
    Wake,
)
from actors.observer import RuntimeObserver
from actors.protocols import Interpreter, Interpreters, JournalStore, Stored, StreamWriter
from actors.reactor import Reactor
from actors.timers import Timers
from supervision import Clock

log = logging.getLogger("water.coordinator")

PERFORMED_BOUND = 256
"""Past this many remembered effects, forget those the state no longer asks for."""


# -- what a coordinator hands the system to perform ------------------------------------
@dataclass(frozen=True, slots=True)
class Ready:
    """A dispatch whose job is built (from the state it was decided in)."""

    spec: SupervisorSpec
    job: StepJob


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The execution's status changed (performed once that status is durable)."""

    status: Status


@dataclass(frozen=True, slots=True)
class CancelRuns:
    """Abandon the execution's runs still in flight, under the supervisors of these tasks."""

    task_ids: frozenset[str]


Action = Ready | ArmTimer | Route | StatusChanged | CancelRuns


class Host(Protocol):
    """What a coordinator needs from the system that runs it."""

    reactor: Reactor
    store: JournalStore
    interpreters: Interpreters
    journal: Journal
    timers: Timers
    clock: Clock
    observer: RuntimeObserver

    @property
    def closed(self) -> bool: ...

    def perform(self, execution_id: str, actions: Sequence[Action]) -> None: ...

    def tell(self, execution_id: str, message: Any) -> None: ...

    def deliver(self, execution_id: str, message: Any) -> None: ...

    def passivate(self, execution_id: str, coordinator: Coordinator) -> bool: ...

    def finished(self, execution_id: str, ref: pykka.ActorRef[Any], view: Any) -> None: ...

    def crashed(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None: ...

    def fenced(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None: ...

    def detach(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None: ...

    def unloadable(self, execution_id: str, error: BaseException) -> None: ...

    async def storage_backoff(self, attempt: int, error: BaseException) -> bool: ...


class Coordinator(LoopActor):
    def __init__(
        self, host: Host, execution_id: str, incarnation: int = 0, fresh: bool = False
    ) -> None:
        super().__init__()
        self.loop = host.reactor.loop
        self.loop_thread = host.reactor.thread
        self.host = host
        self.execution_id = execution_id
        self.incarnation = incarnation
        self.writer_id = (execution_id, incarnation)
        self.fresh = fresh  # a new id: nothing to load
        self.interpreter: Interpreter | None = None
        self.writer: StreamWriter | None = None
        self.state: Any = None
        self.performed: set[Hashable] = set()
        self.reports: set[Hashable] = set()  # performed reports to a parent
        self.tasks_used: set[str] = set()
        self.timers_armed = False
        self.broken: BaseException | None = None
        self.done = False
        self._detail = True
        self._inflight = 0  # pipelined appends not yet durable
        self._on_durable: list[asyncio.Future[None]] = []
        self._unborn = False  # a new execution whose first append is not durable yet
        self._known: Status | None = None  # the status of self.state, once computed

    # -- lifecycle ---------------------------------------------------------------
    def on_start(self) -> Any:
        return None if self.fresh else self._rehydrate()

    def on_stop(self) -> None:
        # A stopped coordinator is garbage in a reference cycle (it and its inbox
        # refer to each other), freed only by a full collection: let go of the
        # execution's state now, so that a large one is freed at once.
        self.state = None
        self.performed = set()

    async def _rehydrate(self) -> None:
        try:
            stored = await self._load()
        except Exception as exc:  # the store cannot give the execution back
            self.broken = exc
            if not self.host.closed:
                log.error("cannot load execution %s: %s", self.execution_id, exc, exc_info=exc)
                self.host.unloadable(self.execution_id, exc)
            return
        if stored is None:
            return
        try:
            self._adopt(self.host.interpreters.interpreter(stored.definition), stored)
            if self._status().phase is not Phase.DONE:
                self.host.perform(self.execution_id, self._prepare())
        except Exception as exc:
            log.error(
                "cannot rehydrate execution %s: %s\n%s",
                self.execution_id,
                describe_error(exc),
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            self.state = None
            self.broken = exc

    def _adopt(self, interpreter: Interpreter, stored: Stored | None) -> None:
        """Take on the state of the execution (restored from ``stored``, or new)."""
        state = interpreter.restore(self.execution_id, stored)
        self.writer = self.host.store.writer(self.execution_id, interpreter, state, stored)
        self.interpreter = interpreter
        self.state = state
        self._known = None

    async def _load(self) -> Stored | None:
        """The stored execution; through a transient storage fault, tried again with back-off.

        Meanwhile tells wait in the mailbox, and asks are answered with the fault
        (nothing was done: the caller may retry). Raises the fault if the engine
        shuts down first.
        """
        store = self.host.store
        attempt = 0
        while True:
            try:
                return await store.load(self.execution_id)
            except Exception as exc:
                if not store.is_transient(exc):
                    raise
                attempt += 1
                if attempt == 1:
                    log.warning(
                        "cannot load execution %s yet (%s); retrying with back-off",
                        self.execution_id,
                        exc,
                    )
                self._refuse_asks(exc)
                if not await self.host.storage_backoff(attempt, exc):
                    raise

    def _refuse_asks(self, fault: BaseException) -> None:
        """Answer the queued asks with ``fault`` (a copy each: they raise in other threads)."""

        def answer(message: Any) -> Any:
            return Failure(copy.copy(fault)) if isinstance(message, Query) else None

        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        inbox.refuse(answer)

    # -- messages ----------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        query = isinstance(message, Query)
        msg = message.message if query else message
        if self.done and not isinstance(msg, JournalFailed):
            return self._pass_on(msg, query)
        self._detail = message.detail if query else True
        try:
            result = self._handle(msg, query)
        except BaseException as exc:
            return self._error(exc, msg, query)
        if inspect.isawaitable(result):
            return self._completed(result, msg, query)
        return result

    async def _completed(self, pending: Awaitable[Any], msg: Any, query: bool) -> Any:
        try:
            return await pending
        except BaseException as exc:
            return self._error(exc, msg, query)

    def _pass_on(self, msg: Any, query: bool) -> Any:
        """A message that came while this coordinator stops (its execution finished).

        It no longer speaks for the execution (the router routes to a new one), so the
        message goes there: a retry of the execution is handled by the coordinator
        that writes its stream next, never by this one.
        """
        if query:  # the asking side sends it again, to the new coordinator
            return Failure(pykka.ActorDeadError(f"coordinator of {self.execution_id} stopped"))
        self.host.deliver(self.execution_id, msg)  # (dropped if the engine shuts down)
        return None

    def _error(self, exc: BaseException, msg: Any, query: bool) -> Any:
        if self.host.closed:  # e.g. a write the shutdown gave up: nothing to rebuild now
            pass
        elif isinstance(exc, Fenced):
            if self.broken is None:
                self._relinquish(exc)
        elif isinstance(exc, CommandRejected):
            if not query:
                log.info("execution %s ignored %s: %s", self.execution_id, type(msg).__name__, exc)
        elif self.broken is None and self._unborn and query and isinstance(msg, Start):
            # a caller's start that was not written: forget it (the caller gets the error)
            log.warning("execution %s was not started: %s", self.execution_id, exc)
            self._discard(exc)
        elif self.broken is None:
            log.exception(
                "coordinator of %s crashed on %s", self.execution_id, describe(msg), exc_info=exc
            )
            self._crash()
        return Failure(exc) if query else None

    def _handle(self, msg: Any, query: bool) -> Any:
        if isinstance(msg, JournalFailed):
            if msg.incarnation == self.incarnation and self.broken is None:
                if isinstance(msg.error, Fenced):
                    self._relinquish(msg.error)
                    return None
                log.error("journal append of %s failed: %s", self.execution_id, msg.error)
                self._crash()
            return None
        if self.broken is not None:
            raise self.broken
        host = self.host
        if self.state is None:
            if not isinstance(msg, Start):
                self._stop_if_gone()
                if isinstance(msg, Wake):
                    return None
                raise ExecutionNotFound(self.execution_id)
            self._adopt(host.interpreters.interpreter(msg.definition), None)
            self._unborn = True
        elif isinstance(msg, Start):
            # a repeated start (idempotent): report again to a parent that asks
            self.performed -= self.reports
            self.reports.clear()
            host.perform(self.execution_id, self._prepare())
        interpreter = self.interpreter
        assert interpreter is not None
        state = self.state
        previous = self._status()
        self._known = None  # the state moves on: its status is computed again, once
        events = interpreter.handle(state, msg, host.clock.now())
        if isinstance(events, Forward):
            host.tell(events.execution_id, events.message)
            return self._view() if query else None
        if not events:
            if query and self._inflight:
                # answer only with what is durable: wait for the appends in flight
                return self._settle_after(self._durable(), query)
            return self._settle(query)
        # a caller's start of a new execution may be refused while storage is down
        pending = self._commit(events, previous, wait=query, refusable=query and self._unborn)
        if pending is None:
            return self._settle(query)
        return self._settle_after(pending, query)

    async def _settle_after(self, pending: Awaitable[None], query: bool) -> Any:
        await pending
        return self._settle(query)

    def _commit(
        self, events: list[Any], previous: Status, *, wait: bool, refusable: bool = False
    ) -> Awaitable[None] | None:
        """Append the events; their effects are performed once they are durable.

        The effects (with their jobs built now, from this state) are performed by
        the journal right after the commit. Answers, passivation and the end of
        an execution wait for that commit (the returned awaitable); otherwise the
        coordinator goes on with its next message meanwhile (pipelining).
        """
        writer = self.writer
        assert writer is not None
        state = self.state
        status = self._status()
        settle = status.phase in (Phase.IDLE, Phase.DONE)
        request = writer.encode(state, events, settle=settle, status=status)
        actions = self._prepare()
        if status != previous:
            actions.append(StatusChanged(status))
        execution_id, incarnation, host = self.execution_id, self.incarnation, self.host
        done: asyncio.Future[None] | None = None
        if wait or settle:
            done = self.loop.create_future()

        self._inflight += 1

        def then() -> None:
            try:  # observers must not stop the execution
                host.observer.events_committed(state, events)
            except Exception:
                log.exception("observing the committed events of %s failed", execution_id)
            try:
                host.perform(execution_id, actions)
            finally:
                self._unborn = False
                self._landed()
                if done is not None and not done.done():
                    done.set_result(None)

        def failed(exc: BaseException) -> None:
            self._landed()
            if done is not None and not done.done():
                done.set_exception(exc)
            else:
                host.deliver(execution_id, JournalFailed(incarnation, exc))

        host.journal.append(
            request,
            writer=self.writer_id,
            then=then,
            failed=failed,
            wait=False,
            refusable=refusable,
        )
        return done

    def _landed(self) -> None:
        self._inflight -= 1
        if not self._inflight:
            waiters, self._on_durable = self._on_durable, []
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def _durable(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self.loop.create_future()
        self._on_durable.append(future)
        return future

    def _settle(self, query: bool) -> Any:
        phase = self._status().phase
        if phase is Phase.DONE:
            # waiters get the summary (output, error); per-step rows are in storage
            view = self._view() if query else self._view_of(detail=False)
            if self.done:  # a message that arrived while this coordinator was stopping
                return view
            self.done = True
            if self.timers_armed:
                self.host.timers.disarm(self.execution_id)
            self.host.finished(self.execution_id, self.actor_ref, view)
            self.stop()
            return view if query else None
        view = self._view() if query else None
        # idle states were written whole with their last events (see _commit)
        if phase is Phase.IDLE and self.host.passivate(self.execution_id, self):
            self.stop()
        return view

    def _status(self) -> Status:
        """The status of the current state (computed once per message that changes it)."""
        known = self._known
        if known is None:
            interpreter = self.interpreter
            assert interpreter is not None
            known = self._known = interpreter.status(self.state)
        return known

    def _view(self) -> Any:
        return self._view_of(self._detail)

    def _view_of(self, detail: bool) -> Any:
        interpreter = self.interpreter
        assert interpreter is not None
        return interpreter.view(self.state, detail)

    # -- effects -----------------------------------------------------------------
    def _prepare(self) -> list[Action]:
        """The effects to perform now, with jobs built from the current state."""
        interpreter = self.interpreter
        assert interpreter is not None
        actions: list[Action] = []
        for effect in interpreter.effects(self.state, self.performed):
            actions.append(self._action(effect))
            self.performed.add(effect.ident)
        if len(self.performed) > PERFORMED_BOUND:
            live = {e.ident for e in interpreter.effects(self.state, frozenset())}
            self.performed &= live
            self.reports &= live
        return actions

    def _action(self, effect: Effect) -> Action:
        if isinstance(effect, Dispatch):
            self.tasks_used.add(effect.spec.task_id)
            return Ready(effect.spec, effect.make_job())
        if isinstance(effect, ArmTimer):
            self.timers_armed = True
            return effect
        if isinstance(effect, StopRuns):
            return CancelRuns(frozenset(self.tasks_used))
        if effect.report:
            self.reports.add(effect.ident)
        return effect

    # -- failure -----------------------------------------------------------------
    def _crash(self) -> None:
        self.state = None
        self.interpreter = None
        self.broken = RuntimeError(f"coordinator of {self.execution_id!r} crashed")
        self.host.crashed(self.execution_id, self.actor_ref)
        self.stop()

    def _relinquish(self, error: BaseException) -> None:
        """Stop at once, performing nothing more: another engine owns the execution now.

        Whatever this coordinator had not journaled is dropped (that engine resumes
        from what is durable), and it is not restarted here.
        """
        log.warning("execution %s: %s; stopping here", self.execution_id, error)
        self.state = None
        self.interpreter = None
        self.broken = error
        self.host.fenced(self.execution_id, self.actor_ref)
        self.stop()

    def _discard(self, error: BaseException) -> None:
        """Forget a new execution whose start was not written (nothing to rehydrate)."""
        self.state = None
        self.interpreter = None
        self.broken = error
        self.host.detach(self.execution_id, self.actor_ref)
        self.stop()

    def _stop_if_gone(self) -> None:
        if self.host.passivate(self.execution_id, self):
            self.stop()
