"""``water retry`` and ``water fork``: recovery by hand of an execution in a database.

Both run steps, so they run an engine of their own on the database, with the flows
of a flows file: the file must define the execution's flow (its code runs the steps
again). They follow the execution until it finishes and print its output, as
``water run`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from water.cli.app import Db, FlowsFile, existing, fail, load
from water.cli.flows import _follow, _report_outcome
from water.errors import ExecutionNotFoundError, FlowNotFoundError, StateConflictError

if TYPE_CHECKING:
    from water.engine import Engine

ExecutionId = Annotated[str, typer.Argument(help="The execution's id.")]
Timeout = Annotated[float | None, typer.Option(help="Give up waiting after this many seconds.")]


def _engine(flows_file: Path, db: str, execution_id: str) -> tuple[Engine, str]:
    """An engine on the database with the flows of the file; the execution's flow id."""
    from water.engine import Engine

    flows = load(flows_file)
    storage = existing(db)
    try:
        engine = Engine(storage, flows=flows, recover=False)
    except (ValueError, OSError) as exc:
        fail(f"cannot open {db}: {exc}")
    record = engine.get_execution(execution_id)
    if record is None:
        engine.shutdown()
        fail(f"no execution {execution_id!r} in {db}")
    if record.flow_id not in engine.flows:
        engine.shutdown()
        fail(
            f"execution {execution_id!r} runs flow {record.flow_id!r}, which {flows_file} does "
            f"not define (it defines {', '.join(sorted(engine.flows)) or 'none'}); give the "
            "flows file whose code runs its steps"
        )
    return engine, record.flow_id


def retry(
    execution_id: ExecutionId,
    flows_file: FlowsFile = Path("flows.py"),
    db: Db = "water.db",
    timeout: Timeout = None,
) -> None:
    """Retry a failed execution: its failed steps run again, its completed ones do not.

    It runs here, with the code of FLOWS_FILE, and its output is printed at the end.
    """
    engine, flow_id = _engine(flows_file, db, execution_id)
    try:
        ref = engine.ref(execution_id)
        try:
            ref.retry()
        except (StateConflictError, ExecutionNotFoundError) as exc:
            fail(str(exc))
        final = _follow(ref, flow_id, timeout)
    finally:
        engine.shutdown()
    _report_outcome(final)


def fork(
    execution_id: ExecutionId,
    from_step: Annotated[
        str,
        typer.Option(
            "--from",
            help="Key of a step of the execution: the fork runs from it on (see water "
            "inspect); the steps that completed before it keep their outputs.",
        ),
    ],
    flows_file: FlowsFile = Path("flows.py"),
    db: Db = "water.db",
    new_id: Annotated[
        str | None, typer.Option("--id", help="The fork's execution id (default: a new one).")
    ] = None,
    timeout: Timeout = None,
) -> None:
    """Fork an execution from one of its steps: a new one runs from that step on.

    The steps that completed before it keep their outputs (see water inspect).

    It runs here, with the code of FLOWS_FILE, and its output is printed at the end.
    """
    engine, flow_id = _engine(flows_file, db, execution_id)
    try:
        try:
            ref = engine.fork(execution_id, from_step, execution_id=new_id)
        except (StateConflictError, ExecutionNotFoundError, FlowNotFoundError, ValueError) as exc:
            fail(str(exc))
        final = _follow(ref, flow_id, timeout)
    finally:
        engine.shutdown()
    _report_outcome(final)
