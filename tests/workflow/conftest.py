"""A harness that drives the code-first interpreter: no threads, no storage, no sleeping.

Step bodies are called in-process when a test says so (``run``); time is a number
the test moves; recovery is what ``crash()`` rebuilds from the recorded events.
"""

from __future__ import annotations

import pytest

from water.testing import Simulator as Sim


@pytest.fixture
def sim_of():
    return Sim
