"""Errors of code-first workflows (the public ones are defined in ``water.errors``)."""

from __future__ import annotations

from water.errors import NonDeterminismError, NotDurableError, SignalTimeoutError

__all__ = ["NonDeterminismError", "NotDurableError", "SignalTimeoutError", "WorkflowCodeStopped"]


class WorkflowCodeStopped(BaseException):
    """Raised into durable calls made while a workflow's code is being stopped.

    A ``BaseException``, so that ``except Exception`` in workflow code does not
    swallow it.
    """
