"""``Scope``: the durable calls of one execution's code, by position.

Every durable operation the code performs (a task step, a child workflow, a
sleep, a wait for a signal, ``now``/``uuid4``/``random``) takes the next
position of a counter (a counter per ``@step`` method for class workflows, its
positions prefixed with the method's name). While the journal is replayed, each
call is checked against what the journal recorded at its position: the same
task (or kind of call) goes on, anything else is a ``NonDeterminismError``.
Decisions the journal holds (a timer's wake time, a drawn value) are answered
from it. Replayed code re-does what the original run did, so it makes no new
decision: one the journal lacks is a divergence too. New decisions are made,
and recorded, only when new events arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from water import events as ev
from water.context import current_workflow
from water.definition import as_definition
from water.events import ErrorInfo
from water.timers import TimerKind, timer_name
from water.types import to_json, validate
from water.workflow.errors import (
    NonDeterminismError,
    NotDurableError,
    SignalTimeoutError,
    WorkflowCodeStopped,
)
from water.workflow.fold import apply
from water.workflow.state import NO_DEFAULT, Run, SignalWait, WfState, refresh_status

if TYPE_CHECKING:
    from water.workflow.run import CodeRunner

_log = logging.getLogger("water.workflow")

_DESCRIBE = {
    "sleep": "a sleep",
    "signal": "a wait for a signal (with a timeout)",
    "now": "a now() value",
    "uuid4": "a uuid4() value",
    "random": "a random() value",
}


def describe_record(kind: str, detail: str) -> str:
    if kind == "call":
        return f"a call of {detail!r}"
    return _DESCRIBE.get(kind, kind)


class ReplayQuietLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger for workflow code: silent while the code replays what already happened."""

    def __init__(self, logger: logging.Logger, state: WfState, extra: dict[str, Any]) -> None:
        super().__init__(logger, extra)
        self._state = state

    def isEnabledFor(self, level: int) -> bool:
        return self._state.replay is None and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return f"[{extra.get('execution_id')}] {msg}", kwargs


class Scope:
    def __init__(self, runner: CodeRunner, state: WfState, run: Run) -> None:
        self.runner = runner
        self.state = state
        self.run = run

    @property
    def execution_id(self) -> str:
        return self.state.execution_id

    @property
    def replaying(self) -> bool:
        return self.state.replay is not None

    def logger(self, name: str) -> ReplayQuietLogger:
        return ReplayQuietLogger(
            logging.getLogger(f"water.workflow.{name}"),
            self.state,
            {"execution_id": self.state.execution_id, "flow_id": self.state.flow_id},
        )

    # -- positions -------------------------------------------------------------------
    def _peek(self) -> str:
        ns = self.run.namespace
        n = self.run.counters.get(ns, 0)
        return f"{ns}.{n}" if ns else str(n)

    def _take(self) -> str:
        position = self._peek()
        ns = self.run.namespace
        self.run.counters[ns] = self.run.counters.get(ns, 0) + 1
        return position

    def enter_step(self, name: str) -> None:
        """A class workflow's ``@step`` method starts: its positions are its own."""
        self.run.namespace = name

    # -- the determinism check ---------------------------------------------------------
    def _guard(self) -> None:
        if self.run.stopping or self.state.failure is not None or self.state.terminal:
            raise WorkflowCodeStopped()

    def diverged(self, position: str, recorded: str, called: str) -> NonDeterminismError:
        error = NonDeterminismError(position, recorded, called)
        if self.state.failure is None:
            self.state.failure = ErrorInfo(
                type="NonDeterminismError",
                message=str(error),
                step=position,
                retryable=False,
                details={"position": position, "recorded": recorded, "called": called},
            )
        return error

    def _expect(self, position: str, kind: str, detail: str, called: str) -> None:
        history = self.state.replay
        if history is None:
            return
        recorded = history.records.get(position)
        if recorded is not None and recorded != (kind, detail):
            raise self.diverged(position, describe_record(*recorded), called)

    def _recorded(self, position: str, kind: str, called: str) -> Any:
        """The decision the journal holds at ``position`` (None when there is none)."""
        self._expect(position, kind, "", called)
        history = self.state.replay
        if history is None:
            return None
        event = history.decisions.get(position)
        if event is None:
            # replayed code does what the original run did: that run made no such decision
            raise self.diverged(position, "nothing", called)
        history.consumed.add(event.seq)
        apply(self.state, event)
        return event

    def _record(self, event: Any) -> Any:
        self.runner.record(self.state, event)
        return event

    def _future(self, name: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.run.loop.create_future()
        self.run.futures[name] = future
        return future

    # -- durable calls -----------------------------------------------------------------
    def call_task(
        self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        """``task(x)`` inside a workflow: an awaitable durable step (or child execution)."""
        self._guard()
        if kwargs or len(args) > 1:
            raise TypeError(
                f"inside a workflow, {task.id!r} takes one argument (its input); "
                f"got {len(args)} positional and {sorted(kwargs)} keyword arguments"
            )
        return self._call(task, args[0] if args else None)

    async def _call(self, target: Any, arg: Any) -> Any:
        self._guard()
        position = self._take()
        definition = as_definition(target)
        what = f"workflow {target.id!r}" if definition is not None else f"task {target.id!r}"
        self._expect(position, "call", target.id, f"calls {what}")
        typed = arg if definition is None else validate(definition.input_type, arg)
        data = to_json(typed, f"input of {what}")
        future = self.runner.schedule(self.state, self.run, position, target, data)
        return await future

    async def sleep(self, seconds: float) -> None:
        self._guard()
        position = self._take()
        if self._recorded(position, "sleep", "sleeps") is None:
            timer = timer_name(TimerKind.SLEEP, position)
            self._record(ev.TimerArmed(timer=timer, fire_at=self.state.now + seconds))
        await self._future(timer_name(TimerKind.SLEEP, position))

    async def wait_for_signal(
        self, name: str, model: Any, timeout: float | None, default: Any = NO_DEFAULT
    ) -> Any:
        self._guard()
        state = self.state
        position = self._take()
        called = f"waits for signal {name!r}"
        queued = state.signals.get(name)
        if queued:
            self._expect(position, "signal", "", called)
            payload = queued.pop(0)
            if not queued:
                del state.signals[name]
            return validate(model, payload)
        wait = SignalWait(position, name, model, timeout=timeout, default=default)
        state.waits[position] = wait
        future = self._future(timer_name(TimerKind.SIGNAL, position))
        if timeout is not None:
            wait.timer = timer_name(TimerKind.SIGNAL, position)
            if self._recorded(position, "signal", called) is None:
                self._record(ev.TimerArmed(timer=wait.timer, fire_at=state.now + timeout))
        else:
            self._expect(position, "signal", "", called)
        refresh_status(state)
        kind, payload = await future
        if kind == "timeout":
            if default is not NO_DEFAULT:
                return default
            assert timeout is not None
            raise SignalTimeoutError(name, timeout)
        return validate(model, payload)

    def value(self, kind: str) -> Any:
        """The JSON form of a value of the world, drawn once and then replayed."""
        self._guard()
        position = self._take()
        event = self._recorded(position, kind, f"calls {kind}()")
        if event is None:
            event = self._record(
                ev.ValueRecorded(
                    position=position, kind=kind, value=self.runner.draw(self.state, kind)
                )
            )
        return event.value

    def patched(self, name: str) -> bool:
        """True where the execution meets this point under the new code (see ``patched``)."""
        self._guard()
        state = self.state
        if name in state.patches:
            return True
        if state.replay is not None:
            # replayed code re-does what the original run did: it passed here without the
            # marker (a run waiting right after this point, on a signal, records nothing)
            return False
        self._record(ev.PatchMarked(name=name, position=self._peek()))
        return True

    def step_done(self, name: str, value: Any) -> Any:
        """A class workflow's ``@step`` method returned: journal its state (or replay it)."""
        self._guard()
        history = self.state.replay
        definition = self.runner.definition
        if history is not None:
            last = history.last_in.get(name)
            taken = self.run.counters.get(name, 0)
            if last is not None and last >= taken:
                where = f"{name}.{last}"
                raise self.diverged(
                    where, describe_record(*history.records[where]), f"finishes step {name!r}"
                )
            event = history.states.get(name)
            if event is None:
                raise self.diverged(name, "nothing", f"finishes step {name!r}")
            history.consumed.add(event.seq)
            return validate(definition.state_type, event.state)
        self._record(
            ev.StateRecorded(
                step=name,
                state=to_json(value, f"state of workflow {definition.id!r}"),
                signals={k: list(v) for k, v in self.state.signals.items()},
            )
        )
        return value

    def returned(self) -> None:
        """The code returned during a replay: the history of a run that ended holds its
        end (and is not replayed), so this run diverged. A call the journal holds after
        the code's last one is named first."""
        history = self.state.replay
        assert history is not None
        last = history.last_in.get("")
        taken = self.run.counters.get("", 0)
        if last is not None and last >= taken and not self.runner.definition.steps:
            position = str(last)
            self.diverged(
                position, describe_record(*history.records[position]), "returns before it"
            )
        if self.state.failure is None:
            self.diverged("end", "a run that went on waiting", "returns from the workflow")


def require_scope(what: str) -> Scope:
    """The scope of the workflow code calling, or a clear error outside one."""
    scope = current_workflow.get()
    if not isinstance(scope, Scope):
        raise NotDurableError(
            f"{what} can only be used inside a code-first workflow run by an Engine"
        )
    return scope
