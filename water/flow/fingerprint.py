"""A flow's fingerprint: a hash of its structure, recorded with each execution.

The structure is the stages' kinds, ids, arities and limits (and a dag stage's
dependencies), with nested flows spelled out and any other nested definition as
its kind, id and fingerprint (a workflow's version). Resuming an execution under
another structure is refused unless the engine allows flow changes. The hashed
form must stay stable: stored executions compare against it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from water.definition import Definition
from water.flow.node import Node


class Fingerprinted:
    """The identity part of a ``Flow``."""

    id: str
    nodes: list[Node]
    _fingerprint: str | None

    @property
    def fingerprint(self) -> str:
        """A hash of the flow's structure: kinds, ids, arities, nested definitions."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(
                json.dumps(self.structure(set()), sort_keys=True).encode()
            ).hexdigest()[:16]
        return self._fingerprint

    def structure(self, seen: set[int]) -> Any:
        """The JSON-able structure hashed (``seen``: the flows it is nested in)."""
        if id(self) in seen:
            return ["cycle", self.id]
        seen = seen | {id(self)}
        out: list[Any] = [self.id]
        for node in self.nodes:
            parts: list[Any] = [node.kind, node.concurrency, node.max_iterations, node.signal]
            parts.append(len(node.conditions))
            for r in node.runnables:
                if isinstance(r, Fingerprinted):
                    parts.append(r.structure(seen))
                elif isinstance(r, Definition):
                    parts.append([r.kind, r.id, r.fingerprint])
                else:
                    parts.append(["task", r.id])
            if node.kind == "dag":
                parts.append([list(deps) for deps in node.after])
            out.append(parts)
        return out
