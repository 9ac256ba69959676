"""Fixtures shared by every test folder: a PostgreSQL database for the PostgreSQL tests.

The server is ``$WATER_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
a role allowed to create databases). Each test session creates a database of its own
(dropped at the end) and each test gets a fresh schema in it, named by ``pg_url``'s
``search_path``. When no server answers, the PostgreSQL tests are skipped and the
summary says why; under ``CI=true`` they fail instead, so that CI never passes
without having run them.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

PG_ENV = "WATER_TEST_PG"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"

_schemas = itertools.count()
_unavailable: list[str] = []


def _pg_server() -> str:
    return os.environ.get(PG_ENV) or PG_DEFAULT


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit(parts._replace(query=query))


def _no_server(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run under CI=true: {reason}", pytrace=False)
    _unavailable.append(reason)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    """An autocommit psycopg connection to this session's fresh database."""
    server = _pg_server()
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        _no_server("psycopg is not installed (pip install -e '.[dev]')")
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        _no_server(f"no PostgreSQL server answers at {_shown(server)} (set ${PG_ENV}): {reason}")
    name = f"water_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            _no_server(f"{_shown(server)} cannot create a test database: {reason}")
    url = _with_database(server, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_database(pg_admin: Any) -> str:
    """The URL of this session's fresh database."""
    return _with_database(_pg_server(), pg_admin.info.dbname)


@pytest.fixture
def pg_url(pg_database: str, pg_admin: Any) -> str:
    """The URL of a fresh, empty schema (the first of the connections' ``search_path``)."""
    schema = f"t{next(_schemas)}"
    pg_admin.execute(f"CREATE SCHEMA {schema}")
    return _with_schema(pg_database, schema)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _unavailable:
        terminalreporter.write_line(
            f"note: PostgreSQL tests were skipped: {_unavailable[0]}", yellow=True
        )
