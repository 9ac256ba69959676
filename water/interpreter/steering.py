"""Steering a flow's execution: which events a pause, resume, cancel, signal or retry
causes, checked against the execution's status (pure: reads the state only)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from actors.messages import Cancel, CommandRejected, Resume, Retry, RetryChild, Signal
from water import events as ev
from water.errors import UnstorableValueError
from water.flow import Flow
from water.interpreter.state import CANCELLED, FAILED, ExecState
from water.status import TERMINAL, ExecutionStatus
from water.task import Task
from water.types import describe_validation_error, to_json, validate


def storable(value: Any, what: str) -> Any:
    """The JSON form of a value a message brings; ``CommandRejected`` if it cannot be stored."""
    try:
        return to_json(value, what)
    except UnstorableValueError as exc:
        raise CommandRejected(str(exc), code="invalid") from None


def check_retryable(status: str, msg: Retry | RetryChild) -> None:
    """``CommandRejected`` unless an execution in ``status`` can be retried by ``msg``.

    A user retries a failed execution; a parent's retry also retries a cancelled child
    (a parent that fails cancels its running children).
    """
    allowed = _BY_PARENT if isinstance(msg, RetryChild) else _BY_USER
    if status not in allowed:
        raise CommandRejected(
            f"cannot retry an execution that is {status}; only a failed execution can be retried"
        )


_BY_USER = frozenset({ExecutionStatus.FAILED})
_BY_PARENT = frozenset({ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


def pause(state: ExecState, now: float) -> list[Any]:
    if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
        return []
    if state.status in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING):
        return [ev.PauseRequested(ts=now)]
    raise CommandRejected(f"cannot pause an execution that is {state.status}")


def resume(flow: Flow, state: ExecState, msg: Resume, now: float) -> list[Any]:
    if state.status in TERMINAL or state.status == ExecutionStatus.PENDING:
        raise CommandRejected(f"cannot resume an execution that is {state.status}")
    out: list[Any] = []
    if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
        out.append(ev.Resumed(ts=now))
    # not paused and nothing named to resume: its effect already holds (no events)
    if msg.step is not None or msg.data is not None or (not out and state.suspended):
        key = resume_target(state.suspended, msg.step)
        if key is None:
            if not out:
                raise CommandRejected("nothing to resume: no step is suspended")
            return out
        step = state.steps[key]
        out.append(step_resumed(key, flow.nodes[step.node].runnables[step.slot], msg.data, now))
    return out


def step_resumed(key: str, target: Any, data: Any, now: float) -> ev.StepResumed:
    """The event of resuming step ``key`` with ``data``, checked against the resume model
    of the task it runs (``CommandRejected`` if the data does not fit or cannot be stored)."""
    model = target.resume_model if isinstance(target, Task) else None
    if model is not None:
        try:
            data = validate(model, data)
        except ValidationError as exc:
            raise CommandRejected(
                f"resume data for step {key!r} does not fit {model.__name__}: "
                f"{describe_validation_error(exc)}",
                code="invalid",
            ) from None
    return ev.StepResumed(key=key, data=storable(data, f"resume data for step {key!r}"), ts=now)


def resume_target(suspended: Collection[str], step: str | None) -> str | None:
    """The suspended step a Resume names (or the only one, when it names none): one of
    the execution's own steps, not a nested child's (``CommandRejected`` if unclear)."""
    own = [k for k in suspended if "/" not in k]
    if step is not None:
        if step in own:
            return step
        raise CommandRejected(
            f"step {step!r} is not suspended; suspended steps: {sorted(suspended)}",
            code="not_found" if not suspended else "conflict",
        )
    if not suspended:
        return None
    if len(suspended) > 1:
        raise CommandRejected(
            f"several steps are suspended; say which with Resume(step=...): {sorted(suspended)}"
        )
    return own[0] if own else None


def cancel(state: ExecState, msg: Cancel, now: float) -> list[Any]:
    if state.status == ExecutionStatus.CANCELLED:
        return []  # already holds: answered with the snapshot, as a repeated pause
    if state.status in TERMINAL:
        raise CommandRejected(f"execution is already {state.status}; nothing to cancel")
    return [ev.Cancelled(reason=storable(msg.reason, "the cancel reason"), ts=now)]


def signal(flow: Flow, state: ExecState, msg: Signal, now: float) -> list[Any]:
    if state.status in TERMINAL:
        raise CommandRejected(f"execution is {state.status}; it takes no more signals")
    models = [n.model for n in flow.nodes if n.kind == "signal" and n.signal == msg.name]
    if not models:
        raise CommandRejected(
            f"flow {flow.id!r} never waits for signal {msg.name!r}", code="invalid"
        )
    payload = msg.payload
    if models[0] is not None:
        try:
            payload = validate(models[0], payload)
        except ValidationError as exc:
            raise CommandRejected(
                f"signal {msg.name!r} payload is invalid: {describe_validation_error(exc)}",
                code="invalid",
            ) from None
    stored = storable(payload, f"payload of signal {msg.name!r}")
    return [ev.SignalReceived(name=msg.name, payload=stored, ts=now)]


def retry(state: ExecState, msg: Retry | RetryChild, now: float) -> list[Any]:
    """Run the failed (or cancelled) steps of the stage the execution stopped at again.

    A rolled-back execution is not retried: its compensations undid the completed
    steps a retry would build on.
    """
    parent_retry = msg.generation if isinstance(msg, RetryChild) else None
    if parent_retry is not None and parent_retry <= state.parent_retry:
        return []  # this retry of the parent was applied already
    check_retryable(state.status, msg)
    comp = state.compensation
    if comp is not None:
        raise CommandRejected(
            f"execution {state.execution_id!r} was rolled back: the compensations of "
            f"{comp.keys} ran after it failed, so the steps a retry would build on were "
            "undone; start a new execution instead"
        )
    stage = state.stage
    keys = [] if stage is None else [k for k in stage.keys if k is not None]
    keys = [k for k in keys if state.steps[k].status in (FAILED, CANCELLED)]
    if state.status == ExecutionStatus.FAILED and not any(
        state.steps[k].status == FAILED for k in keys
    ):
        where = state.error.step if state.error is not None else None
        raise CommandRejected(
            f"execution {state.execution_id!r} failed"
            + (f" at {where!r}" if where else "")
            + (f" ({state.error.type})" if state.error is not None else "")
            + ", not in a step: a retry runs failed steps again and no step failed; "
            "start a new execution (or fork this one) instead"
        )
    return [ev.ExecutionRetried(keys=keys, parent_retry=parent_retry, ts=now)]
