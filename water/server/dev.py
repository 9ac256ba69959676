"""The app ``water dev`` serves, built from a flows file named in the environment.

``uvicorn --reload`` needs an import string and a factory, so ``water dev`` puts
the flows file, the database and the allowed hosts and origins in
``WATER_FLOWS_FILE``, ``WATER_DB``, ``WATER_ALLOWED_HOSTS`` and
``WATER_ALLOWED_ORIGINS`` (comma-separated) and hands uvicorn
``water.server:app_from_env``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from water.server.app import create_app_from_flows
from water.server.discovery import DiscoveryError, check_flows, load_flows
from water.storage import SQLiteStorage, Storage, storage_from_url

FLOWS_FILE_ENV = "WATER_FLOWS_FILE"
DB_ENV = "WATER_DB"
ALLOWED_HOSTS_ENV = "WATER_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "WATER_ALLOWED_ORIGINS"
DEFAULT_DB = "water.db"


def open_storage(db: str) -> Storage:
    """A storage from ``--db``: a URL (``memory://``, ``sqlite:///...``) or a SQLite file path."""
    if "://" in db or db.startswith("sqlite:"):
        return storage_from_url(db)
    return SQLiteStorage(db)


def app_from_env() -> FastAPI:
    """Build the app from ``$WATER_FLOWS_FILE`` (required), ``$WATER_DB`` (a path or URL)
    and the allowed hosts and origins (unset: any host, only the API's own origin)."""
    path = os.environ.get(FLOWS_FILE_ENV)
    if not path:
        raise DiscoveryError(f"set {FLOWS_FILE_ENV} to the flows file to serve")
    flows = load_flows(path)
    problems = [p for report in check_flows(flows) for p in report.problems]
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DiscoveryError(f"{path} has invalid flows:\n{listed}")
    db = os.environ.get(DB_ENV) or DEFAULT_DB
    hosts = os.environ.get(ALLOWED_HOSTS_ENV)
    return create_app_from_flows(
        flows,
        open_storage(db),
        allowed_hosts=None if hosts is None else _listed(hosts),
        allowed_origins=_listed(os.environ.get(ALLOWED_ORIGINS_ENV, "")),
    )


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
