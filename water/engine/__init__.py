"""``Engine``: runs flows durably inside your service.

::

    with Engine("sqlite:///water.db", flows=[order_flow]) as engine:
        ref = engine.start(order_flow, {"order_id": "A-1"})
        print(ref.result(timeout=60))

The package holds the engine by idea: ``core`` (the ``Engine`` facade: construction,
steering, lifecycle), ``starts`` (starting executions: checks, owning new ids, the
durable start, forks), ``catalog`` (registered definitions, their interpreters
and task supervisor specs), ``reads`` (what is read from storage: snapshots, journals,
index rows, statistics), ``results`` (the futures ``ExecutionRef.result`` waits on)
and ``exposition`` (metrics over HTTP, tracing set-up). Which executions an engine
runs, and how it resumes the interrupted ones, is ``water.nodes``'.
"""

from water.engine.catalog import Runnable
from water.engine.core import Engine

__all__ = ["Engine", "Runnable"]
