"""Coordinator: the actor of one execution, a thin shell around its decider.

On each message: ask the decider for the events (it folds them into the state),
append them to the journal, and perform the effects of the new state (dispatch
steps, arm timers, message other executions) once the events are durable.
Nothing is performed before the events that justify it are committed; if the
journal fails for good, the in-memory state is discarded and the execution is
rehydrated from what is durable. Through a transient storage fault the journal
holds the appends and retries them, so the coordinator only waits; a new
execution whose start cannot be written is refused and forgotten instead.

Coordinators are ``LoopActor``s: they live on the engine's reactor loop, next
to the journal and the async step bodies, so a step's round trip needs no
thread switch and an active execution costs no thread. A coordinator whose
execution only waits (paused, sleeping, waiting for a signal or a person)
checkpoints and stops; any message for it starts a new one that rehydrates.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import traceback
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors.effects import ArmTimer, Dispatch
from actors.logsafe import describe, describe_error
from actors.loop_actor import LoopActor, LoopInbox
from actors.messages import CommandRejected, Start
from actors.protocols import Decider

if TYPE_CHECKING:
    from actors.system import ActorSystem

from actors.jobs import StepJob, SupervisorSpec


@dataclass(frozen=True, slots=True)
class Ready:
    """A dispatch whose job is built (on the coordinator's thread)."""

    spec: SupervisorSpec
    job: StepJob


log = logging.getLogger("water.coordinator")


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Performed after a commit that changed the execution's status."""

    status: str


@dataclass(frozen=True, slots=True)
class Query:
    """An ``ask``: handle ``message`` and answer with the execution's view.

    ``brief`` asks for the summary view (no per-step detail), which is cheaper.
    """

    message: Any
    brief: bool = False


@dataclass(frozen=True, slots=True)
class Wake:
    """Rehydrate (if needed) and carry on: used by recovery and wake-up timers."""


@dataclass(frozen=True, slots=True)
class JournalFailed:
    """A pipelined append of this coordinator failed: its state is not durable."""

    incarnation: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answered to an ``ask`` (raised again on the asking side)."""

    error: BaseException


class ExecutionNotFound(CommandRejected):
    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution {execution_id!r}", code="not_found")
        self.execution_id = execution_id


class Coordinator(LoopActor):
    def __init__(
        self, system: ActorSystem, execution_id: str, incarnation: int = 0, fresh: bool = False
    ) -> None:
        super().__init__()
        self.loop = system.reactor.loop
        self.loop_thread = system.reactor.thread
        self.system = system
        self.execution_id = execution_id
        self.writer = (execution_id, incarnation)
        self.fresh = fresh  # a new id: nothing to load
        self.decider: Decider | None = None
        self.state: Any = None
        self.performed: set[Any] = set()
        self.tasks_used: set[str] = set()
        self.timers_armed = False
        self.broken: BaseException | None = None
        self.done = False
        self._brief = False
        self._inflight = 0  # pipelined appends not yet durable
        self._on_durable: list[asyncio.Future[None]] = []
        self._unborn = False  # a new execution whose first append is not durable yet

    # -- lifecycle ---------------------------------------------------------------
    def on_start(self) -> Any:
        return None if self.fresh else self._rehydrate()

    async def _rehydrate(self) -> None:
        try:
            stored = await self._load()
        except Exception as exc:  # the store cannot give the execution back
            self.broken = exc
            if not self.system.closed:
                log.error("cannot load execution %s: %s", self.execution_id, exc, exc_info=exc)
                self.system.unloadable(self.execution_id, exc)
            return
        if stored is None:
            return
        try:
            self.decider = self.system.factory.decider_for(self.system.factory.flow_of(stored))
            self.state = self.decider.recover(self.execution_id, stored)
            if not self.decider.is_terminal(self.state):
                self.system.perform(self.execution_id, self._prepare())
        except Exception as exc:
            log.error(
                "cannot rehydrate execution %s: %s\n%s",
                self.execution_id,
                describe_error(exc),
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            self.broken = exc

    async def _load(self) -> Any:
        """The stored stream; through a transient storage fault, tried again with back-off.

        Meanwhile tells wait in the mailbox, and asks are answered with the fault
        (nothing was done: the caller may retry). Raises the fault if the engine
        shuts down first.
        """
        store = self.system.store
        attempt = 0
        while True:
            try:
                return await store.load_stream(self.execution_id)
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
                if not await self.system.storage_backoff(attempt, exc):
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
        self._brief = query and message.brief
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

    def _error(self, exc: BaseException, msg: Any, query: bool) -> Any:
        if self.system.closed:  # e.g. a write the shutdown gave up: nothing to rebuild now
            pass
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
            if msg.incarnation == self.writer[1] and self.broken is None:
                log.error("journal append of %s failed: %s", self.execution_id, msg.error)
                self._crash()
            return None
        if self.broken is not None:
            raise self.broken
        system = self.system
        if self.state is None:
            if not isinstance(msg, Start):
                self._stop_if_gone()
                if isinstance(msg, Wake):
                    return None
                raise ExecutionNotFound(self.execution_id)
            self.decider = system.factory.decider_for(msg.flow_id)
            self.state = self.decider.initial(self.execution_id)
            self._unborn = True
        elif isinstance(msg, Start):
            # a repeated start (idempotent): report again to a parent that asks
            self.performed = {i for i in self.performed if not (i and i[0] == "notify")}
            system.perform(self.execution_id, self._prepare())
        decider = self.decider
        assert decider is not None
        state = self.state
        forward = decider.forward(state, msg)
        if forward is not None:
            system.tell(forward[0], forward[1])
            return self._view() if query else None
        previous = decider.status(state)
        events = decider.handle(state, msg, system.clock.now())
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
        self, events: list[Any], previous: str | None, *, wait: bool, refusable: bool = False
    ) -> Awaitable[None] | None:
        """Append the events; their effects are performed once they are durable.

        The effects (with their jobs built now, from this state) are performed by
        the journal right after the commit. Answers, passivation and the end of
        an execution wait for that commit (the returned awaitable); otherwise the
        coordinator goes on with its next message meanwhile (pipelining).
        """
        decider = self.decider
        assert decider is not None
        state = self.state
        settle = decider.is_terminal(state) or decider.is_idle(state)
        checkpoint = settle or decider.wants_checkpoint(state)
        request = decider.append_request(state, events, previous, checkpoint)
        actions = self._prepare()
        status = decider.status(state)
        if status != previous:
            actions.append(StatusChanged(status))
        execution_id, incarnation, system = self.execution_id, self.writer[1], self.system
        done: asyncio.Future[None] | None = None
        if wait or settle:
            done = self.loop.create_future()

        self._inflight += 1

        def then() -> None:
            try:
                decider.committed(state, events)  # observers: they must not stop the execution
            except Exception:
                log.exception("observing the committed events of %s failed", execution_id)
            try:
                system.perform(execution_id, actions)
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
                system.deliver(execution_id, JournalFailed(incarnation, exc))

        system.journal.append(
            request, writer=self.writer, then=then, failed=failed, wait=False, refusable=refusable
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
        decider = self.decider
        assert decider is not None
        state = self.state
        if decider.is_terminal(state):
            # waiters get the summary (output, error); per-step rows are in storage
            view = self._view() if query else decider.summary(state)
            if self.done:  # a message that arrived while this coordinator was stopping
                return view
            self.done = True
            if self.timers_armed:
                self.system.timers.disarm(self.execution_id)
            if decider.status(state) != "completed":  # runs may still be in flight
                self.system.cancel_runs(self.execution_id, self.tasks_used)
            self.system.finished(self.execution_id, self.actor_ref, view)
            self.stop()
            return view if query else None
        view = self._view() if query else None
        # idle states were checkpointed with their last events (see _commit)
        if decider.is_idle(state) and self.system.passivate(self.execution_id, self):
            self.stop()
        return view

    def _view(self) -> Any:
        decider = self.decider
        assert decider is not None
        return decider.summary(self.state) if self._brief else decider.view(self.state)

    # -- effects -----------------------------------------------------------------
    def _prepare(self) -> list[Any]:
        """The effects to perform now, with jobs built from the current state."""
        decider = self.decider
        assert decider is not None
        actions: list[Any] = []
        for effect in decider.effects(self.state, self.performed):
            if isinstance(effect, Dispatch):
                self.tasks_used.add(effect.spec.task_id)
                actions.append(Ready(effect.spec, effect.make_job()))
            else:
                self.timers_armed = self.timers_armed or isinstance(effect, ArmTimer)
                actions.append(effect)
            self.performed.add(effect.ident)
        if len(self.performed) > 256:
            live = {e.ident for e in decider.effects(self.state, set())}
            self.performed &= live
        return actions

    # -- failure -----------------------------------------------------------------
    def _crash(self) -> None:
        self.state = None
        self.decider = None
        self.broken = RuntimeError(f"coordinator of {self.execution_id!r} crashed")
        self.system.coordinator_crashed(self.execution_id, self.actor_ref)
        self.stop()

    def _discard(self, error: BaseException) -> None:
        """Forget a new execution whose start was not written (nothing to rehydrate)."""
        self.state = None
        self.decider = None
        self.broken = error
        self.system.detach(self.execution_id, self.actor_ref)
        self.stop()

    def _stop_if_gone(self) -> None:
        if self.system.passivate(self.execution_id, self):
            self.stop()
