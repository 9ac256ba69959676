"""Flows of the tracing tests; imported by the tests and by the child process one of them kills."""

from __future__ import annotations

import os
import threading

from water import Flow, task

BLOCK = os.environ.get("WATER_TEST_BLOCK") == "1"


@task
def fetch(n: int) -> int:
    return n + 1


@task
def store(n: int) -> int:
    if BLOCK:  # the child process stops here until it is killed
        print("BLOCKED", flush=True)
        threading.Event().wait()
    return n * 10


def two_steps() -> Flow:
    return Flow("two-steps").then(fetch).then(store)
