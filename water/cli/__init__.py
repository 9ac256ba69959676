"""The ``water`` command: serve, validate, run, list, inspect, draw, retry and fork.

::

    water dev flows.py --db water.db         # the HTTP API over every flow in flows.py
    water validate flows.py                  # check flows without running them
    water run flows.py orders --input '{"order_id": "A-1"}'
    water list --db water.db --status failed
    water inspect <execution-id> --db water.db [--follow]
    water stats --db water.db --flow orders   # executions by status, steps by task
    water graph flows.py orders              # Mermaid
    water pause <execution-id> --db water.db  # also resume, cancel, signal ID NAME
    water retry <execution-id> flows.py --db water.db
    water fork <execution-id> flows.py --from 1.charge --db water.db
    water graph flows.py my-workflow --execution <execution-id> --db water.db

``app`` (the typer app and the shared options), one module per group of
commands (``serve``: dev; ``flows``: validate, run, graph; ``executions``: list,
inspect, stats; ``steering``: pause, resume, cancel, signal; ``recovery``: retry,
fork), ``render`` (what they print), ``reading`` (an execution as its database holds
it) and ``follow`` (``inspect --follow``).
"""

from __future__ import annotations

from water.cli.app import app
from water.cli.executions import inspect, list_executions, stats
from water.cli.flows import graph, run, validate
from water.cli.recovery import fork, retry
from water.cli.serve import dev
from water.cli.steering import cancel, pause, resume, signal

# in the order `water --help` lists them
app.command()(dev)
app.command()(validate)
app.command()(run)
app.command("list")(list_executions)
app.command()(inspect)
app.command()(stats)
app.command()(pause)
app.command()(resume)
app.command()(cancel)
app.command()(signal)
app.command()(graph)
app.command()(retry)
app.command()(fork)


def main() -> None:
    """Entry point of the ``water`` command."""
    app()


__all__ = ["app", "main"]
