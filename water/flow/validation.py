"""The rules of a well-formed flow, checked before it runs (``Flow.validate``).

A flow's own problems: no steps, ids that would be ambiguous inside a stage,
different definitions under one id, and a stage's output type that cannot feed
the next stage's input type (``water.compatibility`` compares them). Nested
definitions and cycles are checked by ``water.definition.problems_of``, which
walks the whole tree once.
"""

from __future__ import annotations

from water.compatibility import NOT_A_LIST, describe, feed_problem, for_item_type
from water.definition import Definition
from water.flow.node import Node
from water.flow.types import StageTypes, input_type


class FlowRules(StageTypes):
    """The validation part of a ``Flow``."""

    def problems(self) -> list[str]:
        """What is wrong with this flow alone (nested definitions are checked apart)."""
        problems: list[str] = []
        if not self.nodes:
            return [f"flow {self.id!r} has no steps"]
        nested: dict[str, Definition] = {}
        for index, node in enumerate(self.nodes):
            where = f"flow {self.id!r} step {index} ({node.label()})"
            if node.kind in ("parallel", "branch"):
                ids = [r.id for r in node.runnables]
                dupes = sorted({i for i in ids if ids.count(i) > 1})
                if dupes:
                    problems.append(f"{where}: duplicated ids {dupes} would be ambiguous")
            for r in node.runnables:
                if isinstance(r, Definition):
                    other = nested.setdefault(r.id, r)
                    if other is not r:
                        problems.append(f"{where}: {_two(other, r)} share the id {r.id!r}")
            if index > 0 or self._input_model is not None:
                self._check_feed(index, node, where, problems)
        return problems

    def _check_feed(self, index: int, node: Node, where: str, problems: list[str]) -> None:
        produced = self.stage_output_type(index - 1)
        source = "the flow's input" if index == 0 else "output of the previous step"
        if produced is None or not node.runnables:
            return
        if node.kind == "for":
            item = for_item_type(produced)
            if item is NOT_A_LIST:
                problems.append(
                    f"{where}: for_ needs a list (or a model with one list field), but "
                    f"{source} is {describe(produced)}"
                )
                return
            r = node.runnables[0]
            needed = input_type(r)
            problem = feed_problem(item, needed)
            if problem:
                problems.append(
                    f"{where}: items of {source} ({describe(produced)}) are {describe(item)}, "
                    f"which cannot feed {r.id!r} (needs {describe(needed)}): {problem}"
                )
            return
        for r in node.runnables:
            needed = input_type(r)
            problem = feed_problem(produced, needed)
            if problem:
                problems.append(
                    f"{where}: {source} ({describe(produced)}) cannot feed {r.id!r} "
                    f"(needs {describe(needed)}): {problem}"
                )


def _two(first: Definition, second: Definition) -> str:
    if first.kind == second.kind:
        return f"two different {first.kind}s"
    return f"a {first.kind} and a {second.kind}"
