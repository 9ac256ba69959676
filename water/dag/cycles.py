"""Dependency cycles: the one a new task's dependencies would close, named task by task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def closed_cycle(
    depends_on: Mapping[str, Sequence[str]], task: str, dependencies: Sequence[str]
) -> list[str] | None:
    """The cycle ``task`` depending on ``dependencies`` would close, in the order the
    tasks would have to run (``[a, b, a]``: b after a, a after b), or None.

    ``depends_on`` holds the dependencies of the tasks already there, by id.
    """
    if task in dependencies:
        return [task, task]
    wanted = set(dependencies)
    dependents: dict[str, list[str]] = {}
    for other, deps in depends_on.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(other)
    # breadth first from the task along "runs before", to one of its dependencies
    came_from: dict[str, str] = {}
    frontier = [task]
    while frontier:
        following: list[str] = []
        for current in frontier:
            for nxt in dependents.get(current, ()):
                if nxt in came_from or nxt == task:
                    continue
                came_from[nxt] = current
                if nxt in wanted:
                    path = [nxt]
                    while path[-1] != task:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), task]
                following.append(nxt)
        frontier = following
    return None
