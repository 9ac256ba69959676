#!/usr/bin/env python3
"""DBOS on PostgreSQL (its home store): the peers bench's own DBOS workloads, one run.

Runs in the peers' virtual environment (``dbos``, ``psycopg``), never imports Water.
``/work/shared/peers-bench/dbos_bench.py`` builds its workflows for a SQLite system
database; this script runs its ``run_one`` unchanged, with the system database URL
that DBOS is handed replaced by a fresh PostgreSQL database (created here, dropped
at the end).

Usage: python dbos_pg.py PEERS_DIR POSTGRES_URL WORKLOAD MODE   (e.g. W1 async)
Prints one JSON line, as ``dbos_bench.py --one`` does.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def main() -> None:
    peers_dir, url, workload, mode = sys.argv[1:5]
    sys.path.insert(0, peers_dir)
    import dbos
    import dbos_bench
    import psycopg

    name = f"dbosbench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = with_database(url, name)
    original = dbos.DBOS.__init__

    def init(self: Any, *, config: Any, **kwargs: Any) -> None:
        config["system_database_url"] = target
        original(self, config=config, **kwargs)

    dbos.DBOS.__init__ = init  # type: ignore[method-assign]
    try:
        line = dbos_bench.run_one("default", workload, mode, poll=0.01)
    finally:
        try:
            dbos.DBOS.destroy()
        except Exception:
            pass
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    line["system"] = "dbos-pg"
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
