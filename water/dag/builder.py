"""``Dag``: tasks added with the tasks they depend on, run as soon as those completed.

::

    etl = (Dag("etl", "Nightly ETL")
           .add(extract)                                  # no dependency: the Dag's input
           .add(clean, depends_on=["extract"])            # one: its output
           .add(enrich, depends_on=["extract"])
           .add(report, depends_on=["clean", "enrich"]))  # several: report(clean, enrich)

A task starts once all its dependencies completed (at most ``concurrency`` at
once); the output is ``{task_id: output}`` of the tasks nothing depends on. A Dag
runs on the flow interpreter: it compiles to a plan of one ``"dag"`` stage
(``DagPlan``), so journaling, retries, pausing, recovery, compensation and nesting
are a flow's. ``add`` refuses a dependency cycle at once; ``validate()`` reports
unknown dependencies, duplicate ids and inputs that do not fit (``water.dag.validation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from supervision import RetryPolicy
from water.dag.cycles import closed_cycle
from water.dag.validation import dag_problems
from water.definition import Definition, FlowValidationError, as_definition
from water.flow import Flow, Node, Runnable, Step
from water.flow.fingerprint import Fingerprinted
from water.flow.node import check_runnable
from water.task import Task, check_id

__all__ = ["Dag", "DagPlan"]

Dependency = str | Step
"""A dependency: the id of a task of the Dag, or the task (or definition) itself."""


class DagPlan(Flow):
    """What a Dag runs on: a flow of a single ``"dag"`` stage, walked by the flow interpreter."""

    def restage(self, node: Node | None) -> None:
        """Replace its stage (``None``: a Dag without tasks has none)."""
        self.nodes[:] = [] if node is None else [node]
        self._fingerprint = None


class Dag(Fingerprinted, Definition):
    """A workflow built as a graph: ``Dag(id, description="", concurrency=None)``.

    ``add(task, depends_on=[...])`` adds a task (or a nested Flow, Dag or code-first
    workflow, run as a child execution) and returns the Dag. A task with no
    dependency takes the Dag's input; with one, that task's output; with several,
    their outputs by id, one parameter each (``def report(clean: C, enrich: E)``).
    ``concurrency`` bounds how many tasks run at once; ``retry`` is the default
    policy of its tasks.
    """

    kind: ClassVar[str] = "dag"

    def __init__(
        self,
        id: str,
        description: str = "",
        concurrency: int | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.id = check_id("dag", id)
        self.description = description
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise ValueError(f"dag {id!r}: concurrency must be a positive int or None")
        self.concurrency = concurrency
        self._tasks: list[Runnable] = []
        self._depends_on: list[tuple[str, ...]] = []
        self._plan = DagPlan(id, description, retry=retry)
        self.nodes = self._plan.nodes  # the same list: the Dag's structure is its plan's
        self._fingerprint: str | None = None

    # -- building ----------------------------------------------------------------------
    def add(self, task: Step, depends_on: Dependency | Sequence[Dependency] = ()) -> Dag:
        """Add ``task``, to start once every task of ``depends_on`` (ids) completed.

        Refuses (``FlowValidationError``) a dependency that closes a cycle, naming
        the tasks on it; the Dag is left as it was.
        """
        runnable = check_runnable(f"{self.id}.add", task)
        dependencies = _dependency_ids(self.id, runnable.id, depends_on)
        cycle = closed_cycle(self.dependencies, runnable.id, dependencies)
        if cycle is not None:
            raise FlowValidationError(
                self.id,
                [
                    f"task {runnable.id!r} cannot depend on {list(dependencies)}: that closes "
                    f"the cycle {' -> '.join(cycle)}"
                ],
                self.kind,
            )
        self._tasks.append(runnable)
        self._depends_on.append(dependencies)
        self._plan.restage(self._stage())
        self._fingerprint = None
        return self

    def _stage(self) -> Node | None:
        if not self._tasks:
            return None
        slots: dict[str, int] = {}
        for slot, r in enumerate(self._tasks):
            slots.setdefault(r.id, slot)
        after = tuple(
            tuple(slots[d] for d in deps if d in slots)  # validate() reports the unknown ones
            for deps in self._depends_on
        )
        return Node("dag", tuple(self._tasks), concurrency=self.concurrency, after=after)

    # -- what it holds -----------------------------------------------------------------
    @property
    def tasks(self) -> list[Runnable]:
        """Its tasks (and nested definitions), in the order they were added."""
        return list(self._tasks)

    @property
    def entries(self) -> list[tuple[Runnable, tuple[str, ...]]]:
        """Each task with the ids it depends on, in the order they were added."""
        return list(zip(self._tasks, self._depends_on, strict=True))

    @property
    def dependencies(self) -> dict[str, list[str]]:
        """The ids each task depends on, by task id (in the order they were added)."""
        found: dict[str, list[str]] = {}
        for r, deps in zip(self._tasks, self._depends_on, strict=True):
            known = found.setdefault(r.id, [])
            known.extend(d for d in deps if d not in known)
        return found

    @property
    def plan(self) -> DagPlan:
        """The flow of one ``"dag"`` stage that the flow interpreter runs."""
        return self._plan

    # -- as a definition (its fingerprint: a hash of its tasks, their dependencies and
    # its concurrency, the same as its plan's) ------------------------------------------
    @property
    def input_type(self) -> Any:
        """The input type of the (first) tasks that depend on nothing."""
        return self._plan.input_type

    @property
    def output_type(self) -> Any:
        """``{task_id: output}`` of the tasks nothing depends on, as a ``TypedDict``."""
        return self._plan.output_type

    def children(self) -> list[Definition]:
        """The definitions among its tasks (nested flows, Dags, workflows), each once."""
        return self._plan.children()

    def problems(self) -> list[str]:
        return dag_problems(self.id, self._tasks, self._depends_on, self.input_type)

    def __repr__(self) -> str:
        return f"Dag(id={self.id!r}, tasks={len(self._tasks)})"


def _dependency_ids(
    dag_id: str, task_id: str, depends_on: Dependency | Sequence[Dependency]
) -> tuple[str, ...]:
    """The ids of ``depends_on`` (ids or tasks), each once, in order."""
    given: Sequence[Any] = (
        [depends_on]
        if isinstance(depends_on, str) or not isinstance(depends_on, Sequence)
        else depends_on
    )
    ids: dict[str, None] = {}
    for d in given:
        if isinstance(d, str):
            ids[d] = None
            continue
        found: Task[Any, Any] | Definition | None = d if isinstance(d, Task) else as_definition(d)
        if found is None:
            raise TypeError(
                f"{dag_id}.add({task_id!r}): depends_on takes task ids (or tasks), "
                f"got {type(d).__name__} ({d!r})"
            )
        ids[found.id] = None
    return tuple(ids)
