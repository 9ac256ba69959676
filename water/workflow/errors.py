"""Errors of code-first workflows."""

from __future__ import annotations

from water.errors import WaterError


class NonDeterminismError(WaterError):
    """Replayed workflow code did something else than its journal recorded.

    ``position`` is where the code and the journal disagree, ``recorded`` what the
    journal holds there and ``called`` what the code did. The execution fails with
    this error rather than re-running side effects under a different plan.
    """

    def __init__(self, position: str, recorded: str, called: str) -> None:
        self.position = position
        self.recorded = recorded
        self.called = called
        super().__init__(
            f"workflow code changed under a running execution: at position {position} "
            f"the journal recorded {recorded}, but the code now {called}. Guard changes to "
            "running workflows with water.patched(name), or let old executions finish first."
        )


class SignalTimeoutError(WaterError, TimeoutError):
    """``wait_for_signal(name, timeout=...)`` ran out of time and had no ``default``."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"no signal {name!r} arrived within {timeout:g}s")
        self.name = name
        self.timeout = timeout


class NotDurableError(WaterError):
    """Workflow code did something that cannot be replayed (real time, I/O, ...)."""


class WorkflowCodeStopped(BaseException):
    """Raised into durable calls made while a workflow's code is being stopped.

    A ``BaseException``, so that ``except Exception`` in workflow code does not
    swallow it.
    """
