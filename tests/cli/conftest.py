from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

FLOWS = """
from pydantic import BaseModel

from water import FatalError, Flow, task


class Num(BaseModel):
    value: int


class Word(BaseModel):
    text: str


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def explode(n: Num) -> Num:
    raise FatalError(f"cannot handle {n.value}")


inner = Flow("inner", "doubles").then(double)
arithmetic = Flow("arithmetic", "inc then the inner flow").then(inc).then(inner)
failing = Flow("failing").then(explode)
also_arithmetic = arithmetic  # the same flow under a second name is not a duplicate
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a Python file into tmp_path and return its path."""

    def write(source: str, name: str = "flows.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def flows_file(write: Callable[[str, str], Path]) -> Path:
    return write(FLOWS, "flows.py")
