"""``Definition``: what the engine runs, whatever its shape, and ``walk`` over nested ones.

A flow (built with the fluent API) and a code-first workflow (``@workflow``,
``Workflow`` classes) are both definitions: an id, a description, a fingerprint
recorded with each execution, input and output types, the definitions nested
directly in it (``children``), and a ``kind`` that names the interpreter running
it (``water.interpreters.interpreter_for``). The engine, the server, the CLI, the
graph and a flow's stages know definitions only through this protocol, so a
definition of any kind nests in a flow as its own child execution.

``Definition`` is an abstract class rather than a ``typing.Protocol``: a runtime
check of a protocol with properties evaluates them (a flow's types and
fingerprint), and an explicit base says which classes mean to be definitions.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Self

from supervision import WaterError

__all__ = [
    "Definition",
    "FlowValidationError",
    "as_definition",
    "endless",
    "has_cycle",
    "install_one_shot",
    "problems_of",
    "walk",
]


class FlowValidationError(WaterError, ValueError):
    """A flow (or any definition) is not well formed; ``problems`` lists every finding.

    ``kind`` names what is invalid in the message (``"flow"``, ``"dag"``, ...).
    """

    def __init__(self, flow_id: str, problems: list[str], kind: str = "flow") -> None:
        self.flow_id = flow_id
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{kind} {flow_id!r} is invalid:\n{lines}")


OneShot = Callable[["Definition", Any, "float | None"], Any]
OneShotAsync = Callable[["Definition", Any, "float | None"], Awaitable[Any]]
_one_shot: list[tuple[OneShot, OneShotAsync]] = []


def install_one_shot(run: OneShot, run_async: OneShotAsync) -> None:
    """Give ``Definition.run``/``run_async`` their implementation (``water.oneshot`` does).

    Definitions sit below the engine and never import it; the module that knows
    both installs the one-shot runner when ``water`` is imported.
    """
    _one_shot[:] = [(run, run_async)]


def _runner() -> tuple[OneShot, OneShotAsync]:
    if not _one_shot:
        raise RuntimeError("no one-shot runner is installed: import water first")
    return _one_shot[0]


class Definition(abc.ABC):
    """What the engine runs: a Flow, a code-first workflow.

    ``id`` names it everywhere (registration, routes, listings, metrics);
    ``fingerprint`` is what an execution records of the definition it started
    under (a flow's structure hash, a workflow's declared version); ``kind``
    picks the interpreter. ``children()`` are the definitions nested directly in
    it, each run as its own child execution and registered with it.
    """

    kind: ClassVar[str]
    """What it is (``"flow"``, ``"workflow"``): names the interpreter that runs it."""
    recursive: ClassVar[bool] = False
    """Whether it may be nested in itself: code that decides as it runs which children
    to start may (a workflow calling itself); a structure that always starts its
    children (a flow) would never end."""
    id: str
    description: str

    @property
    @abc.abstractmethod
    def fingerprint(self) -> str:
        """What an execution records of the definition: a structure hash or a version."""

    @property
    @abc.abstractmethod
    def input_type(self) -> Any:
        """The type an execution's input is validated against (``None``: untyped)."""

    @property
    @abc.abstractmethod
    def output_type(self) -> Any:
        """The type of an execution's output (``None``: untyped)."""

    @property
    def input_model(self) -> Any:
        return self.input_type

    @property
    def output_model(self) -> Any:
        return self.output_type

    def children(self) -> Sequence[Definition]:
        """The definitions nested directly in this one, in order, each once."""
        return ()

    def problems(self) -> list[str]:
        """What is wrong with this definition alone (the nested ones are checked apart)."""
        return []

    def validate(self) -> Self:
        """Raise ``FlowValidationError`` listing every problem (nested definitions'
        and cycles included); return the definition if sound."""
        found = problems_of(self)
        if found:
            raise FlowValidationError(self.id, found, self.kind)
        return self

    def run(self, input: Any = None, *, timeout: float | None = None) -> Any:
        """Run once on an ephemeral in-memory engine and return the output."""
        return _runner()[0](self, input, timeout)

    async def run_async(self, input: Any = None, *, timeout: float | None = None) -> Any:
        """``run`` for async code: does not block the event loop."""
        return await _runner()[1](self, input, timeout)


def as_definition(value: object) -> Definition | None:
    """The definition ``value`` stands for, if any: itself, or the ``__definition__``
    of a class that stands for one (a ``Workflow`` class)."""
    if isinstance(value, Definition):
        return value
    if isinstance(value, type):
        found = getattr(value, "__definition__", None)
        if isinstance(found, Definition):
            return found
    return None


def walk(
    roots: Definition | Iterable[Definition],
    on_cycle: Callable[[list[Definition]], None] | None = None,
) -> Iterator[Definition]:
    """Every definition reachable from ``roots``, each once, depth first in declared
    order (a definition before the ones nested in it).

    A definition met again inside itself is not followed: ``on_cycle`` gets the
    chain from the root to it (``[outer, inner, outer]``).
    """
    seen: set[int] = set()
    for root in [roots] if isinstance(roots, Definition) else roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        yield root
        path = [root]
        pending = [iter(root.children())]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                pending.pop()
                path.pop()
            elif any(child is d for d in path):
                if on_cycle is not None:
                    on_cycle([*path, child])
            elif id(child) not in seen:
                seen.add(id(child))
                yield child
                path.append(child)
                pending.append(iter(child.children()))


def endless(chain: list[Definition]) -> bool:
    """Whether a chain met by ``walk`` (``[..., d, ..., d]``) nests ``d`` in itself through
    definitions that always start their children: an execution of it would never end."""
    again = chain[-1]
    start = next(i for i, d in enumerate(chain) if d is again)
    return not any(d.recursive for d in chain[start:])


def has_cycle(root: Definition) -> bool:
    """Whether a definition is nested in itself, endlessly, anywhere inside ``root``."""
    found: list[list[Definition]] = []

    def note(chain: list[Definition]) -> None:
        if endless(chain):
            found.append(chain)

    for _ in walk(root, note):
        if found:
            return True
    return bool(found)


def problems_of(root: Definition) -> list[str]:
    """Every problem of ``root`` and of the definitions nested in it, cycles included."""
    found: list[str] = []

    def nested_in_itself(chain: list[Definition]) -> None:
        if endless(chain):
            again = chain[-1]
            names = " -> ".join(d.id for d in chain)
            found.append(f"{again.kind} {again.id!r} is nested in itself ({names})")

    for definition in walk(root, nested_in_itself):
        found.extend(definition.problems())
    return found
