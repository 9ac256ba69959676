"""Finding the flows of a flows file: import it and collect its module-level ``Flow`` objects.

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

from water.errors import WaterError
from water.flow import Flow, FlowValidationError
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


def module_flows(module: ModuleType) -> list[Flow]:
    """The distinct ``Flow`` objects bound to names at module level, in definition order.

    Raises ``DiscoveryError`` when two different flows share an id.
    """
    flows: list[Flow] = []
    names: dict[str, str] = {}
    seen: dict[str, Flow] = {}
    for name, value in vars(module).items():
        if not isinstance(value, Flow) or name.startswith("__"):
            continue
        known = seen.get(value.id)
        if known is value:
            continue
        if known is not None:
            raise DiscoveryError(
                f"duplicate flow id {value.id!r}: module-level names {names[value.id]!r} and "
                f"{name!r} are different flows with the same id; give each flow its own id"
            )
        seen[value.id] = value
        names[value.id] = name
        flows.append(value)
    return flows


def load_flows(path: str | Path) -> list[Flow]:
    """Import a flows file and return its module-level flows (at least one)."""
    flows = module_flows(import_flows_file(path))
    if not flows:
        raise DiscoveryError(
            f"no flows in {path}: define Flow objects at module level, e.g. "
            "`orders = Flow('orders').then(...)`"
        )
    return flows


def all_flows(flows: Iterable[Flow]) -> dict[str, Flow]:
    """The flows and every flow nested in them, by id (the first one seen wins)."""
    found: dict[str, Flow] = {}
    stack = list(flows)[::-1]
    while stack:
        flow = stack.pop()
        if flow.id in found:
            continue
        found[flow.id] = flow
        for node in reversed(flow.nodes):
            stack.extend(r for r in reversed(node.runnables) if isinstance(r, Flow))
    return found


@dataclass
class FlowReport:
    """What ``check_flows`` found about one flow."""

    flow: Flow
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_flows(flows: Iterable[Flow]) -> list[FlowReport]:
    """Validate flows without running them.

    Problems (the flow cannot be registered or run): what ``Flow.validate`` finds
    (no steps, cycles, incompatible models between adjacent steps, ambiguous ids),
    tasks without an ``execute``, and different nested flows sharing an id.
    Warnings: different tasks sharing an id (they share a worker pool and breaker).
    """
    flows = list(flows)
    reports = [FlowReport(flow) for flow in flows]
    flow_owner: dict[str, Flow] = {}
    task_owner: dict[str, Task[Any, Any]] = {}
    for report in reports:
        try:
            report.flow.validate()
        except FlowValidationError as exc:
            report.problems.extend(exc.problems)
        for nested in _walk(report.flow):
            known = flow_owner.setdefault(nested.id, nested)
            if known is not nested and known.fingerprint != nested.fingerprint:
                report.problems.append(
                    f"flow id {nested.id!r} names two different flows (with different steps)"
                )
            for node in nested.nodes:
                for r in node.runnables:
                    if isinstance(r, Task):
                        _check_task(r, report, task_owner)
    return reports


def _walk(flow: Flow) -> list[Flow]:
    """``flow`` and the flows nested in it, each once (cycles are tolerated)."""
    out: list[Flow] = []
    stack = [flow]
    while stack:
        current = stack.pop()
        if any(current is f for f in out):
            continue
        out.append(current)
        for node in current.nodes:
            stack.extend(r for r in node.runnables if isinstance(r, Flow))
    return out


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
