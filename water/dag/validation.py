"""The rules of a well-formed Dag, checked before it runs (``Dag.validate``).

Every problem is reported at once, naming the tasks: no tasks, an id shared by
several tasks, a dependency on a task that is not in the Dag, and an input that
does not fit what feeds it. A task with no dependency takes the Dag's input (the
first such task's input type); with one, that task's output; with several, their
outputs by id: its parameters (the fields of its input model) must be named after
them and take their types (``water.compatibility`` compares them). Cycles never
get this far: ``Dag.add`` refuses them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from water.compatibility import describe, feed_problem
from water.flow import Runnable, input_type, output_type


def dag_problems(
    dag_id: str, tasks: Sequence[Runnable], depends_on: Sequence[tuple[str, ...]], given: Any
) -> list[str]:
    """What is wrong with a Dag of ``tasks`` (``depends_on``: their dependencies' ids)
    whose input type is ``given`` (nested definitions are checked apart)."""
    where = f"dag {dag_id!r}"
    if not tasks:
        return [f"{where} has no tasks"]
    problems: list[str] = []
    counts = Counter(r.id for r in tasks)
    shared = sorted(i for i, n in counts.items() if n > 1)
    if shared:
        problems.append(f"{where}: ids {shared} each name several tasks; give each its own id")
    by_id: dict[str, Runnable] = {}
    for r in tasks:
        by_id.setdefault(r.id, r)
    first_root: Runnable | None = None
    for r, deps in zip(tasks, depends_on, strict=True):
        unknown = [d for d in deps if d not in by_id]
        if unknown:
            problems.append(
                f"{where}: task {r.id!r} depends on {_names(unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not in the dag"
            )
        if not deps:
            if first_root is None:
                first_root = r
            else:
                _check_root(where, first_root, r, given, problems)
        elif not unknown:
            feeding = [by_id[d] for d in deps]
            if len(feeding) == 1:
                _check_one(where, feeding[0], r, problems)
            else:
                _check_several(where, feeding, r, problems)
    return problems


def _check_root(
    where: str, first: Runnable, root: Runnable, given: Any, problems: list[str]
) -> None:
    needed = input_type(root)
    problem = feed_problem(given, needed)
    if problem:
        problems.append(
            f"{where}: tasks {first.id!r} and {root.id!r} both take the dag's input, but "
            f"{describe(given)} cannot feed {root.id!r} (needs {describe(needed)}): {problem}"
        )


def _check_one(where: str, dep: Runnable, task: Runnable, problems: list[str]) -> None:
    produced, needed = output_type(dep), input_type(task)
    problem = feed_problem(produced, needed)
    if problem:
        problems.append(
            f"{where}: output of {dep.id!r} ({describe(produced)}) cannot feed {task.id!r} "
            f"(needs {describe(needed)}): {problem}"
        )


def _check_several(where: str, deps: list[Runnable], task: Runnable, problems: list[str]) -> None:
    """A task with several dependencies takes ``{dep_id: output}``: one parameter each."""
    needed = input_type(task)
    if not (isinstance(needed, type) and issubclass(needed, BaseModel)):
        return  # untyped, or a mapping: trusted (pydantic checks it at run time)
    fields = {(info.alias or name): info for name, info in needed.model_fields.items()}
    ids = [d.id for d in deps]
    missing = [i for i in ids if i not in fields]
    if missing:
        problems.append(
            f"{where}: task {task.id!r} depends on {_names(ids)} but has no parameter named "
            f"{_names(missing)} (its parameters: {_names(list(fields)) or 'none'})"
        )
    extra = [name for name, info in fields.items() if info.is_required() and name not in ids]
    if extra:
        problems.append(
            f"{where}: task {task.id!r} needs {_names(extra)}, which "
            f"{'is' if len(extra) == 1 else 'are'} not among its dependencies {_names(ids)}"
        )
    for dep in deps:
        info = fields.get(dep.id)
        if info is None:
            continue
        produced = output_type(dep)
        problem = feed_problem(produced, info.annotation)
        if problem:
            problems.append(
                f"{where}: output of {dep.id!r} ({describe(produced)}) cannot feed parameter "
                f"{dep.id!r} of {task.id!r} (needs {describe(info.annotation)}): {problem}"
            )


def _names(ids: list[str]) -> str:
    return ", ".join(repr(i) for i in ids)
