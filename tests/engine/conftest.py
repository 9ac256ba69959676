from __future__ import annotations

from collections.abc import Iterator

import pytest

from water import Engine


@pytest.fixture(params=["memory", "sqlite"])
def engine(request, tmp_path) -> Iterator[Engine]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/water.db"
    with Engine(url) as e:
        yield e


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/water.db"
