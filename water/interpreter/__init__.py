"""The flow interpreter: a pure decider (decide / evolve / effects) per flow.

``Decider.decide`` turns a message into events, ``evolve`` folds an event into
the state, ``FlowMachine.effects`` says what the runtime must do next; together
they are the runtime's ``Interpreter`` of a flow. None of them touches threads,
storage or clocks: time comes in as an argument.
"""

from water.interpreter.decide import ADVANCE, Decider
from water.interpreter.evolve import evolve
from water.interpreter.failures import error_info
from water.interpreter.machine import FlowMachine
from water.interpreter.state import ExecState, dump_state, load_state

__all__ = [
    "ADVANCE",
    "Decider",
    "ExecState",
    "FlowMachine",
    "dump_state",
    "error_info",
    "evolve",
    "load_state",
]
