"""``Registry``: the definitions an engine knows, by id (flows and workflows alike).

A definition is registered with every definition nested in it (``walk``), all of
them or none. An id names one definition: another one under a registered id is
refused unless it has the same kind and fingerprint, and then replaces it (the
latest registered runs new executions).
"""

from __future__ import annotations

from water.definition import Definition, walk
from water.errors import FlowNotFoundError

__all__ = ["Registry"]


class Registry:
    def __init__(self) -> None:
        self._by_id: dict[str, Definition] = {}

    def add(self, definition: Definition) -> None:
        """Add ``definition`` and the ones nested in it (``ValueError`` on a conflict)."""
        if self._by_id.get(definition.id) is definition:
            return  # and the ones nested in it, with it
        found: dict[str, Definition] = {}
        for d in walk(definition):
            registered = self._by_id.get(d.id)
            known = found.setdefault(d.id, d if registered is None else registered)
            if known is not d and (known.kind != d.kind or known.fingerprint != d.fingerprint):
                raise ValueError(_conflict(known, d))
            found[d.id] = d
        self._by_id.update(found)

    def knows(self, definition: Definition) -> bool:
        """Whether this very definition is the one registered under its id."""
        return self._by_id.get(definition.id) is definition

    def get(self, definition_id: str) -> Definition | None:
        return self._by_id.get(definition_id)

    def require(self, definition_id: str) -> Definition:
        """The definition of that id (``FlowNotFoundError`` naming the known ones if none)."""
        try:
            return self._by_id[definition_id]
        except KeyError:
            raise FlowNotFoundError(definition_id, list(self._by_id)) from None

    def all(self) -> dict[str, Definition]:
        """Every registered definition, by id (a copy)."""
        return dict(self._by_id)

    def __contains__(self, definition_id: object) -> bool:
        return definition_id in self._by_id


def _conflict(known: Definition, new: Definition) -> str:
    if new.kind == known.kind == "dag":
        return f"another dag with id {new.id!r} and different tasks is already registered"
    if new.kind != "flow":
        return f"another flow or workflow with id {new.id!r} is registered"
    if known.kind == "flow":
        return f"another flow with id {new.id!r} and different steps is already registered"
    return f"a {known.kind} with id {new.id!r} is already registered"
