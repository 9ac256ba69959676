"""``water validate``, ``water run`` and ``water graph``: the commands over a flows file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape

from water.cli.app import Db, FlowsFile, existing, fail, load, open_db
from water.cli.reading import Reading, read_execution
from water.cli.render import count, err, out, print_reports, progress, styled
from water.definition import Definition
from water.errors import UnstorableValueError
from water.graph import calls_to_mermaid, to_mermaid
from water.recorded import recorded_calls
from water.server.discovery import all_flows, check_flows
from water.snapshot import Snapshot
from water.status import TERMINAL, ExecutionStatus
from water.types import validation_problems
from water.workflow import WorkflowDefinition


# -- validate ---------------------------------------------------------------------------
def validate(flows_file: FlowsFile = Path("flows.py")) -> None:
    """Check every flow in FLOWS_FILE without running it (exit 1 if any is invalid)."""
    flows = load(flows_file)
    reports = check_flows(flows)
    print_reports(reports)
    invalid = sum(not r.ok for r in reports)
    console = out()
    if invalid:
        console.print(f"\n[bold red]{invalid} of {count(len(reports), 'flow')} invalid[/]")
        raise typer.Exit(1)
    console.print(f"\n[bold green]{count(len(reports), 'flow')} valid[/]")


# -- run --------------------------------------------------------------------------------
def run(
    flows_file: FlowsFile,
    flow_id: Annotated[str, typer.Argument(help="Id of the flow to run.")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="The input as JSON, or @file.json. Default: {} when the flow's input is a "
            "model (its field defaults apply), else null.",
        ),
    ] = None,
    db: Db = "water.db",
    timeout: Annotated[
        float | None, typer.Option(help="Give up waiting after this many seconds.")
    ] = None,
) -> None:
    """Run one execution of FLOW_ID, show its progress, and print its output as JSON."""
    from water.engine import Engine

    flow = _find_flow(load(flows_file), flow_id)
    data = _no_input(flow) if input is None else _parse_input(input)
    try:
        engine = Engine(open_db(db), flows=[flow], recover=False)
    except (ValueError, OSError) as exc:
        fail(f"cannot open {db}: {exc}")
    try:
        try:
            ref = engine.start(flow, data)
        except ValidationError as exc:
            fail(f"the input does not fit {flow_id}'s input model:\n{_field_errors(exc)}")
        except UnstorableValueError as exc:
            fail(str(exc))
        final = _follow(ref, flow_id, timeout)
    finally:
        engine.shutdown()
    _report_outcome(final)


def _find_flow(flows: list[Definition], flow_id: str) -> Definition:
    """The flow ``flow_id`` among ``flows`` and the flows nested in them."""
    found = all_flows(flows)
    if flow_id not in found:
        fail(f"no flow {flow_id!r}; flows: {', '.join(sorted(found))}")
    return found[flow_id]


def _no_input(flow: Definition) -> Any:
    """The input of a run without ``--input``: ``{}`` for a model input, else None."""
    tp = flow.input_type
    return {} if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _parse_input(text: str) -> Any:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            fail(f"cannot read the input file: {exc}")
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"--input is not valid JSON: {exc}", code=2)


def _field_errors(exc: ValidationError) -> str:
    return "\n".join(f"  {problem}" for problem in validation_problems(exc, "(input)"))


def _follow(ref: Any, flow_id: str, timeout: float | None) -> Snapshot:
    """Show a live status line until the execution finishes; return its final snapshot."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    console = err()
    label = f"{escape(flow_id)} [dim]{escape(ref.execution_id)}[/]"
    try:
        with console.status(f"{label}: starting") as line:
            while True:
                try:
                    snapshot: Snapshot = ref.wait_for_status(*sorted(TERMINAL), timeout=0.25)
                    return snapshot
                except TimeoutError:
                    pass
                current = ref.status()
                line.update(f"{label}: {progress(current)}")
                if deadline is not None and time.monotonic() > deadline:
                    fail(
                        f"execution {ref.execution_id} is still {current.status} after "
                        f"{timeout}s; it stays in the database (water inspect {ref.execution_id})"
                    )
    except KeyboardInterrupt:
        fail(
            f"interrupted; execution {ref.execution_id} stays in the database and resumes "
            "when an engine with this flow starts (e.g. water dev)",
            code=130,
        )


def _report_outcome(final: Snapshot) -> None:
    console = err()
    status = str(final.status)
    took = (final.updated_at - final.created_at).total_seconds()
    summary = f"{escape(final.execution_id)} {styled(status)} in {took:.3f}s"
    if final.status == ExecutionStatus.COMPLETED:
        console.print(f"[green]✓[/] {summary}")
        typer.echo(json.dumps(final.output, indent=2))
        return
    console.print(f"[red]✗[/] {summary}")
    if final.error is not None:
        fail(str(final.error))
    fail(f"execution {final.execution_id} {status}")


# -- graph ------------------------------------------------------------------------------
def graph(
    flows_file: FlowsFile,
    flow_id: Annotated[str, typer.Argument(help="Id of the flow to draw.")],
    direction: Annotated[str, typer.Option(help="TD (top-down) or LR (left-right).")] = "TD",
    execution: Annotated[
        str | None,
        typer.Option(
            "--execution",
            "-e",
            help="For a code-first workflow: the execution whose recorded steps to draw "
            "(default: its most recent execution in --db).",
        ),
    ] = None,
    db: Db = "water.db",
) -> None:
    """Print FLOW_ID as a Mermaid flowchart (nested flows are subgraphs).

    A code-first workflow's steps are code: it is drawn as one execution recorded it.
    """
    if direction not in ("TD", "TB", "LR", "RL", "BT"):
        fail(f"unknown direction {direction!r}; use TD, LR, RL or BT", code=2)
    flow = _find_flow(load(flows_file), flow_id)
    if not isinstance(flow, WorkflowDefinition):
        if execution is not None:
            fail(
                f"{flow_id} is a flow: its graph is the same for every execution; omit --execution"
            )
        typer.echo(to_mermaid(flow, direction), nl=False)
        return
    found = _recorded(flow, execution, db, str(flows_file))
    waiting = found.snapshot.waiting_for if found.snapshot is not None else []
    sections = recorded_calls(found.events, found.steps, waiting, flow.steps)
    status = found.record.status
    outcome = str(status) if status in TERMINAL else None
    typer.echo(calls_to_mermaid(flow.id, sections, outcome, direction), nl=False)


def _recorded(flow: WorkflowDefinition, execution: str | None, db: str, path: str) -> Reading:
    """The execution of ``flow`` to draw: ``execution``, or the most recent one in ``db``."""
    needs = (
        f"workflow {flow.id!r} is code: its steps are known from an execution only; "
        f"give one with --execution ID --db FILE (run one with: water run {path} {flow.id})"
    )
    storage = existing(db, None if execution is not None else needs)

    async def read() -> Reading | None:
        await storage.initialize()
        try:
            wanted = execution
            if wanted is None:
                latest = await storage.list_executions(flow.id, None, 1, 0)
                if not latest:
                    return None
                wanted = latest[0].execution_id
            return await read_execution(storage, wanted)
        finally:
            await storage.close()

    found = asyncio.run(read())
    if found is None:
        fail(needs if execution is None else f"no execution {execution!r} in {db}")
    if found.record.flow_id != flow.id:
        fail(f"execution {execution!r} runs {found.record.flow_id!r}, not workflow {flow.id!r}")
    if execution is None:
        err().print(
            f"[dim]the most recent execution of {escape(flow.id)}: "
            f"{escape(found.record.execution_id)} ({escape(str(found.record.status))})[/]"
        )
    return found
