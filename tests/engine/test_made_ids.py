"""The ids the engine makes for starts without one."""

from __future__ import annotations

import os
import random
import re

import pytest

from water.ids import new_execution_id


def test_made_ids_are_32_hex_digits_and_differ() -> None:
    ids = {new_execution_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_seed_set_by_the_application_does_not_repeat_them() -> None:
    random.seed(7)
    first = new_execution_id()
    random.seed(7)
    assert new_execution_id() != first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_draws_its_own() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, new_execution_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    assert child != new_execution_id()
