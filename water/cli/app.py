"""The typer app, the options several commands share, and what they do alike.

Every command reports a problem the same way (``fail``: ``error: ...`` on stderr,
then a non-zero exit) and opens flows files and databases the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from water.cli.render import err
from water.definition import Definition
from water.server.discovery import DiscoveryError, load_flows
from water.storage import MemoryStorage, Storage

app = typer.Typer(
    name="water",
    help="Durable, typed workflows: serve, validate, run and inspect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FlowsFile = Annotated[
    Path,
    typer.Argument(help="Python file defining flows (or workflows) at module level."),
]
Db = Annotated[
    str,
    typer.Option("--db", help="SQLite database file (or a storage URL such as sqlite:///x.db)."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    err().print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def load(path: Path) -> list[Definition]:
    """The flows a flows file defines at module level."""
    try:
        return load_flows(path)
    except DiscoveryError as exc:
        fail(str(exc))


def open_db(db: str) -> Storage:
    """The storage ``--db`` names (a file or a URL)."""
    from water.server.dev import open_storage

    try:
        return open_storage(db)
    except ValueError as exc:
        fail(str(exc))


def existing(db: str, missing: str | None = None) -> Storage:
    """The storage of an existing database (never creates one; else ``missing`` is said)."""
    opened = open_db(db)
    if isinstance(opened, MemoryStorage):
        fail("an in-memory storage holds nothing between processes; give a database file")
    path = getattr(opened, "path", None)
    if path is not None and not Path(path).is_file():
        fail(missing or f"no database at {path}")
    return opened
