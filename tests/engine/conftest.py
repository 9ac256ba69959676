from __future__ import annotations

from collections.abc import Iterator

import pytest

from water import Engine


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request, tmp_path) -> Iterator[Engine]:
    url = {
        "memory": lambda: "memory://",
        "sqlite": lambda: f"sqlite:///{tmp_path}/water.db",
        "postgres": lambda: request.getfixturevalue("pg_url"),
    }[request.param]()
    with Engine(url) as e:
        yield e


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/water.db"
