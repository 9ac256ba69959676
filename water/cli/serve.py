"""``water dev``: serve the HTTP API over the flows of a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from water.cli.app import Db, FlowsFile, fail, load, open_db
from water.cli.render import out, print_flows, print_reports, warn_open
from water.server.discovery import check_flows
from water.tuning import tune_for_service

SHUTDOWN_GRACE = 3
"""Seconds the server waits for open requests (event streams follow forever) at Ctrl-C."""


def dev(
    flows_file: FlowsFile = Path("flows.py"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart when a file changes.")] = False,
    db: Db = "water.db",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests for this Host (name, name:port, *.domain or *; "
            "repeatable). Always answered: the --host address and localhost, 127.0.0.1 "
            "and [::1], with the port."
        ),
    ] = None,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Accept browser requests from this origin, e.g. http://localhost:3000 "
            "(repeatable; * for any). The API's own origin is always accepted."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API for every flow defined in FLOWS_FILE.

    Set WATER_API_TOKEN to require 'Authorization: Bearer <token>'.
    """
    import uvicorn

    from water.server import create_app_from_flows
    from water.server.auth import TOKEN_ENV, resolve_token
    from water.server.dev import ALLOWED_HOSTS_ENV, ALLOWED_ORIGINS_ENV, DB_ENV, FLOWS_FILE_ENV
    from water.server.guard import is_loopback, served_hosts

    try:
        token = resolve_token(None)
    except ValueError as exc:
        fail(str(exc))
    flows = load(flows_file)
    reports = check_flows(flows)
    if not all(r.ok for r in reports):
        print_reports(reports)
        fail(f"{flows_file} has invalid flows; fix them before serving")
    hosts = [*served_hosts(host, port), *(allowed_host or [])]
    origins = list(allowed_origin or [])
    print_flows(flows)
    url = f"http://{host}:{port}"
    console = out()
    console.print(
        f"\nServing [bold]{escape(url)}[/]  (API docs: {escape(url)}/docs, "
        f"metrics: {escape(url)}/metrics)"
    )
    console.print(f"Database: {escape(db)}")
    console.print(f"Answering for hosts: {escape(', '.join(hosts))}")
    if origins:
        console.print(f"Accepting browser requests from: {escape(', '.join(origins))}")
    if token is not None:
        console.print(f"API token required ({TOKEN_ENV} is set).")
    elif not is_loopback(host):
        warn_open(host)
    if reload:
        os.environ[FLOWS_FILE_ENV] = str(flows_file.resolve())
        os.environ[DB_ENV] = (
            db if "://" in db or db.startswith("sqlite:") else str(Path(db).resolve())
        )
        os.environ[ALLOWED_HOSTS_ENV] = ",".join(hosts)
        os.environ[ALLOWED_ORIGINS_ENV] = ",".join(origins)
        uvicorn.run(
            "water.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            reload=True,
            reload_dirs=[str(flows_file.resolve().parent)],
            log_level=log_level,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
        return
    try:
        api = create_app_from_flows(
            flows, open_db(db), allowed_hosts=hosts, allowed_origins=origins
        )
    except (ValueError, OSError) as exc:
        fail(f"cannot start the engine: {exc}")
    tune_for_service()  # the engine has started: see docs/performance.md
    uvicorn.run(
        api, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=SHUTDOWN_GRACE
    )
