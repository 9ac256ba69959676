"""``water pause``, ``resume``, ``cancel`` and ``signal``: steer an execution in a database.

No flows file is needed: the command runs an engine with no flows, which claims
nothing. An execution another process runs gets the message through the store's
inbox, and the command waits until that process has handled it; one that no process
runs waits there for the next engine with its flow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from water.cli.app import Db, existing, fail
from water.cli.render import out, progress

if TYPE_CHECKING:
    from water.snapshot import Snapshot

ExecutionId = Annotated[str, typer.Argument(help="The execution's id.")]
Timeout = Annotated[
    float, typer.Option(min=0.1, help="Give up (the message withdrawn) after this many seconds.")
]


def _send(db: str, execution_id: str, message: Any, timeout: float) -> Snapshot:
    from water.engine import Engine
    from water.errors import ExecutionNotFoundError, StateConflictError

    storage = existing(db)
    try:
        engine = Engine(storage, recover=False)
    except (ValueError, OSError) as exc:
        fail(f"cannot open {db}: {exc}")
    try:
        if engine.get_execution(execution_id) is None:
            fail(f"no execution {execution_id!r} in {db}")
        try:
            return engine.ref(execution_id).ask(message, timeout=timeout)
        except (StateConflictError, ExecutionNotFoundError, TimeoutError) as exc:
            fail(str(exc))
    finally:
        engine.shutdown()


def _report(execution_id: str, view: Snapshot) -> None:
    out().print(f"execution {execution_id}: {progress(view)}")


def pause(execution_id: ExecutionId, db: Db = "water.db", timeout: Timeout = 30.0) -> None:
    """Pause an execution (whichever process runs it): no new step starts."""
    from water import Pause

    _report(execution_id, _send(db, execution_id, Pause(), timeout))


def resume(
    execution_id: ExecutionId,
    db: Db = "water.db",
    data: Annotated[
        str | None, typer.Option(help="JSON data for a suspended step (see water inspect).")
    ] = None,
    step: Annotated[str | None, typer.Option(help="The suspended step to resume.")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Resume a paused execution, or a suspended step of it with --data."""
    from water import Resume

    value = None if data is None else _json(data, "--data")
    _report(execution_id, _send(db, execution_id, Resume(value, step), timeout))


def cancel(
    execution_id: ExecutionId,
    db: Db = "water.db",
    reason: Annotated[str | None, typer.Option(help="Why (kept with the execution).")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Cancel an execution for good: its running steps are abandoned."""
    from water import Cancel

    _report(execution_id, _send(db, execution_id, Cancel(reason), timeout))


def signal(
    execution_id: ExecutionId,
    name: Annotated[str, typer.Argument(help="The signal's name.")],
    db: Db = "water.db",
    payload: Annotated[str | None, typer.Option(help="The signal's payload, as JSON.")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Send a named signal to an execution (a step waiting for it continues)."""
    from water import Signal

    value = None if payload is None else _json(payload, "--payload")
    _report(execution_id, _send(db, execution_id, Signal(name, value), timeout))


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option} is not JSON: {exc}")
