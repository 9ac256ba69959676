"""Typed units of work: ``Task`` (``base``), and tasks made of functions with the
``@task`` decorator (``function``)."""

from water.task.base import Compensate, In, Out, Task, check_id
from water.task.function import FunctionTask, P, R, TaskDecorator, task

__all__ = [
    "Compensate",
    "FunctionTask",
    "In",
    "Out",
    "P",
    "R",
    "Task",
    "TaskDecorator",
    "check_id",
    "task",
]
