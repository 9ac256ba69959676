"""A harness that drives the pure decider: no threads, no storage, no sleeping."""

from __future__ import annotations

import pytest

from water.interpreter import dump_state
from water.testing import Simulator


class Sim(Simulator):
    """``water.testing.Simulator``, plus the check that replay rebuilds the same state."""

    def assert_replay_matches(self) -> None:
        assert dump_state(self.replayed()) == dump_state(self.state)


@pytest.fixture
def sim_of():
    return Sim
