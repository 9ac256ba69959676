"""The definitions an engine knows, the interpreter built for each, and task specs.

An interpreter is built once per registered definition and rebuilt when the
definition under its id is replaced; a task's supervisor spec is built once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.jobs import SupervisorSpec
from actors.messages import Start
from supervision import RetryPolicy
from water.definition import Definition, as_definition
from water.interpreters import Machine, interpreter_for
from water.registry import Registry
from water.task import Task
from water.types import to_json, validate

if TYPE_CHECKING:
    from water.tracing import Tracing

Runnable = Definition | type[Any]
"""A definition (a Flow, a ``@workflow`` function) or a class standing for one
(a ``Workflow`` class)."""


class Catalog:
    """Registered definitions by id, with their interpreters (``actors.protocols.Interpreters``)."""

    def __init__(
        self,
        *,
        default_retry: RetryPolicy,
        max_workers: int,
        max_restarts: int,
        restart_period: float,
        allow_flow_changes: bool,
        tracing: Tracing | None,
    ) -> None:
        self.default_retry = default_retry
        self.max_workers = max_workers
        self.max_restarts = max_restarts
        self.restart_period = restart_period
        self.allow_flow_changes = allow_flow_changes
        self.tracing = tracing
        self.registry = Registry()
        self._machines: dict[str, tuple[Definition, Machine]] = {}
        self._specs: dict[str, SupervisorSpec] = {}

    def register(self, flow: Runnable) -> Definition:
        """Validate and register a definition and everything nested in it."""
        definition = as_definition(flow)
        if definition is None:
            raise TypeError(f"expected a Flow or a workflow, got {type(flow).__name__}")
        definition.validate()
        self.registry.add(definition)
        return definition

    def resolve(self, flow: Runnable | str) -> Definition:
        """The definition a start names: by id, or the object (registered on first use)."""
        if isinstance(flow, str):
            return self.registry.require(flow)
        definition = as_definition(flow)
        if definition is None:
            raise TypeError(f"expected a Flow, a workflow or an id, got {type(flow).__name__}")
        if not self.registry.knows(definition):
            self.register(definition)
        return definition

    def start_message(self, flow: Runnable | str, input: Any) -> tuple[Definition, Start]:
        """The definition and the ``Start`` message of a start, its input validated."""
        resolved = self.resolve(flow)
        data = validate(resolved.input_type, input)
        return resolved, Start(resolved.id, to_json(data, f"input of flow {resolved.id!r}"))

    def interpreter(self, flow_id: str) -> Machine:
        definition = self.registry.require(flow_id)
        built = self._machines.get(flow_id)
        if built is None or built[0] is not definition:  # new, or replaced since
            machine = interpreter_for(
                definition,
                default_retry=self.default_retry,
                spec_for=self.spec_for,
                allow_flow_changes=self.allow_flow_changes,
                on_child=self.registry.add,
                tracing=self.tracing,
            )
            built = self._machines[flow_id] = (definition, machine)
        return built[1]

    def spec_for(self, task: Task[Any, Any]) -> SupervisorSpec:
        spec = self._specs.get(task.id)
        if spec is None:
            spec = SupervisorSpec(
                task_id=task.id,
                breaker=task.circuit_breaker,
                max_workers=task.max_workers or self.max_workers,
                max_restarts=self.max_restarts,
                restart_period=self.restart_period,
            )
            self._specs[task.id] = spec
        return spec

    def typed_output(self, flow_id: str, output: Any) -> Any:
        """A finished execution's output as its definition's output type (as is if unknown)."""
        definition = self.registry.get(flow_id)
        if definition is None:
            return output
        return validate(definition.output_type, output)
