"""DAGs: tasks added with ``depends_on``, each started once its dependencies completed.

``builder`` (``Dag`` and the plan it runs on), ``cycles`` (the cycle a dependency
would close), ``validation`` (the rules of a well-formed Dag). A Dag is a
``water.definition.Definition`` run by the flow interpreter.
"""

from water.dag.builder import Dag, DagPlan

__all__ = ["Dag", "DagPlan"]
