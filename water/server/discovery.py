"""Finding the flows of a flows file: import it and collect its module-level definitions
(``Flow`` and ``Dag`` objects, ``@workflow`` functions, ``Workflow`` classes).

Shared by the CLI (``water dev``, ``validate``, ``run``, ``graph``) and by the
server factory that ``water dev --reload`` hands to uvicorn.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from water.dag import Dag
from water.definition import Definition, FlowValidationError, as_definition, walk
from water.errors import WaterError
from water.flow import Flow
from water.task import Task

__all__ = [
    "DiscoveryError",
    "FlowReport",
    "all_flows",
    "check_flows",
    "import_flows_file",
    "load_flows",
    "module_flows",
]


class DiscoveryError(WaterError):
    """A flows file could not be loaded; the message says why, for people."""


def import_flows_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (its folder is importable, as with ``python file.py``)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise DiscoveryError(f"flows file not found: {path}")
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:8]
    name = f"_water_flows_{file.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise DiscoveryError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module  # pydantic resolves postponed annotations through it
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = f"{exc.filename}:{exc.lineno}" if exc.lineno else str(file)
        raise DiscoveryError(f"cannot import {path}: syntax error at {where}: {exc.msg}") from exc
    except KeyboardInterrupt:
        sys.modules.pop(name, None)
        raise
    except BaseException as exc:  # SystemExit too: a flows file must not end the process
        sys.modules.pop(name, None)
        raise DiscoveryError(
            f"cannot import {path}: {type(exc).__name__}: {exc}{_where(exc, file)}"
        ) from exc
    return module


def _where(exc: BaseException, file: Path) -> str:
    """`` (at file:line)`` of the deepest frame of the traceback inside the user's folder."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).parent == file.parent
    ]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno})"


def module_flows(module: ModuleType) -> list[Definition]:
    """The distinct definitions bound to names at module level, in definition order:
    flows, ``@workflow`` functions and ``Workflow`` classes.

    Raises ``DiscoveryError`` when two different ones share an id.
    """
    flows: list[Definition] = []
    names: dict[str, str] = {}
    seen: dict[str, Definition] = {}
    for name, value in vars(module).items():
        definition = as_definition(value)
        if definition is None or name.startswith("__"):
            continue
        known = seen.get(definition.id)
        if known is definition:
            continue
        if known is not None:
            raise DiscoveryError(
                f"duplicate flow id {definition.id!r}: module-level names {names[definition.id]!r} "
                f"and {name!r} are different flows with the same id; give each flow its own id"
            )
        seen[definition.id] = definition
        names[definition.id] = name
        flows.append(definition)
    return flows


def load_flows(path: str | Path) -> list[Definition]:
    """Import a flows file and return its module-level flows and workflows (at least one)."""
    flows = module_flows(import_flows_file(path))
    if not flows:
        raise DiscoveryError(
            f"no flows in {path}: define Flow objects at module level, e.g. "
            "`orders = Flow('orders').then(...)`"
        )
    return flows


def all_flows(flows: Iterable[Definition]) -> dict[str, Definition]:
    """The definitions and every one nested in them, by id (the first one seen wins)."""
    found: dict[str, Definition] = {}
    for definition in walk(flows):
        found.setdefault(definition.id, definition)
    return found


@dataclass
class FlowReport:
    """What ``check_flows`` found about one flow (or workflow)."""

    flow: Definition
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_flows(flows: Iterable[Definition]) -> list[FlowReport]:
    """Validate flows without running them.

    Problems (the flow cannot be registered or run): what ``Flow.validate`` finds
    (no steps, cycles, incompatible models between adjacent steps, ambiguous ids),
    tasks without an ``execute``, and different nested flows sharing an id.
    Warnings: different tasks sharing an id (they share a worker pool and breaker).
    """
    flows = list(flows)
    reports = [FlowReport(flow) for flow in flows]
    owner: dict[str, Definition] = {}
    task_owner: dict[str, Task[Any, Any]] = {}
    for report in reports:
        try:
            report.flow.validate()
        except FlowValidationError as exc:
            report.problems.extend(exc.problems)
        for nested in walk(report.flow):
            known = owner.setdefault(nested.id, nested)
            if known is not nested and (
                known.kind != nested.kind or known.fingerprint != nested.fingerprint
            ):
                report.problems.append(_two_under_one_id(known, nested))
            plan = nested.plan if isinstance(nested, Dag) else nested
            if isinstance(plan, Flow):
                for node in plan.nodes:
                    for r in node.runnables:
                        if isinstance(r, Task):
                            _check_task(r, report, task_owner)
    return reports


def _two_under_one_id(known: Definition, other: Definition) -> str:
    if known.kind != other.kind:
        return f"id {other.id!r} names both a {known.kind} and a {other.kind}"
    what = "steps" if other.kind == "flow" else "fingerprints"
    return f"{other.kind} id {other.id!r} names two different {other.kind}s (with different {what})"


def _check_task(
    task: Task[Any, Any], report: FlowReport, owners: dict[str, Task[Any, Any]]
) -> None:
    if type(task).execute is Task.execute:
        problem = f"task {task.id!r} does not implement execute()"
        if problem not in report.problems:
            report.problems.append(problem)
    known = owners.setdefault(task.id, task)
    if known is not task:
        warning = (
            f"task id {task.id!r} is used by two different tasks; they share one worker "
            "pool, retry defaults and circuit breaker"
        )
        if warning not in report.warnings:
            report.warnings.append(warning)
