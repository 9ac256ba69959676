"""Nested executions: how a parent steers its children and a child reports to its parent.

A step of a flow or of a code-first workflow may run another definition as a
child execution (id ``"<parent>/<step key>"``). The rules are the same for every
interpreter, so they live here once:

* the parent starts the child (``Start``), and starts it again after a restart
  until the child has reported (a repeated start is idempotent);
* the child reports to the parent each status change that matters to it
  (waiting, paused, suspended steps, the end), as a ``ChildUpdate``;
* pausing the parent pauses its running children, and resuming it resumes the
  children *it* paused: a child paused directly stays paused;
* cancelling or failing the parent cancels its running children;
* a ``Resume`` naming a child's suspended step (``"<step key>/<child's key>"``)
  goes to the child;
* retrying the parent retries the children it runs again (``RetryChild``, once per
  retry of the parent), then starts them again, so that a child a retry does not
  apply to (it completed meanwhile) reports where it stands.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Set
from typing import Any, Protocol

from actors.effects import Effect, Forward, Route
from actors.messages import Cancel, ChildUpdate, Pause, Resume, RetryChild, Start
from water.status import ACTIVE, HALTED, ExecutionStatus, StepStatus

_BUSY = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)


class ChildStep(Protocol):
    key: str
    status: str
    child_id: str | None
    child_status: str | None
    paused_by_parent: bool
    retry_child: int


class Nested(Protocol):
    """The part of an execution's state these rules read."""

    execution_id: str
    status: str
    parent_id: str | None
    parent_step: str | None
    suspended: dict[str, Any]
    output: Any
    error: Any
    cancel_reason: str | None
    epoch: int


def report(state: Nested, performed: Set[Hashable]) -> Route | None:
    """The child's report to its parent, if it has something new to say."""
    if state.parent_id is None or state.parent_step is None:
        return None
    status = state.status
    ident = ("notify", status, tuple(sorted(state.suspended)))
    if ident in performed:
        return None
    if status in _BUSY and not any(
        isinstance(i, tuple) and i[0] == "notify" and i[1] not in _BUSY for i in performed
    ):
        return None  # the parent already counts this child as running
    update = ChildUpdate(
        key=state.parent_step,
        child_id=state.execution_id,
        status=status,
        suspended=dict(state.suspended),
        output=state.output if status == ExecutionStatus.COMPLETED else None,
        error=state.error if status == ExecutionStatus.FAILED else state.cancel_reason,
    )
    return Route(ident, state.parent_id, update, report=True)


def steer(
    state: Nested,
    step: ChildStep,
    start: Start | None,
    performed: Set[Hashable],
    out: list[Effect],
) -> None:
    """Effects for a running child step: start (or retry) the child, pause or resume it."""
    child_id = step.child_id
    assert child_id is not None
    generation = step.retry_child
    # once the child has reported, it exists: no need to start it again
    if start is not None and step.child_status is None:
        ident: tuple[Any, ...] = ("retry", child_id, generation)
        if generation and ident not in performed:
            out.append(Route(ident, child_id, RetryChild(generation)))
        ident = ("start", child_id, generation)
        if ident not in performed:
            out.append(Route(ident, child_id, start))
    if not step.paused_by_parent:
        return
    if state.status in HALTED and step.child_status != ExecutionStatus.PAUSED:
        ident = ("pause", child_id, state.epoch)
        if ident not in performed:
            out.append(Route(ident, child_id, Pause()))
    elif state.status in ACTIVE and step.child_status == ExecutionStatus.PAUSED:
        ident = ("resume", child_id, state.epoch)
        if ident not in performed:
            out.append(Route(ident, child_id, Resume()))


def cancel_children(
    state: Nested, steps: Iterable[ChildStep], performed: Set[Hashable], out: list[Effect]
) -> None:
    """A finished parent cancels the children it cancelled (they were running)."""
    for step in steps:
        if step.child_id and step.status == StepStatus.CANCELLED:
            ident = ("cancel", step.child_id)
            if ident not in performed:
                out.append(Route(ident, step.child_id, Cancel(state.cancel_reason)))


def pausing(running: Iterable[ChildStep]) -> None:
    """The parent is pausing: its running children are paused by it."""
    for step in running:
        if step.child_id is not None:
            step.paused_by_parent = True


def reported(state: Nested, step: ChildStep, status: str) -> None:
    """A child reported ``status``: once it runs again under a running parent, the
    parent's pause is over."""
    if status not in HALTED and state.status in ACTIVE:
        step.paused_by_parent = False


def forward_resume(
    state: Nested, steps: dict[str, Any], message: Any, kinds: tuple[str, ...]
) -> Forward | None:
    """A ``Resume`` of a child's suspended step, forwarded to the child."""
    if not isinstance(message, Resume) or state.status in HALTED:
        return None
    target = message.step
    if target is None and message.data is not None and len(state.suspended) == 1:
        only = next(iter(state.suspended))
        target = only if "/" in only else None
    if target is None or "/" not in target:
        return None
    prefix, rest = target.split("/", 1)
    step = steps.get(prefix)
    if step is None or step.kind not in kinds or step.status != StepStatus.RUNNING:
        return None
    assert step.child_id is not None
    return Forward(step.child_id, Resume(message.data, rest))
