"""The runtime: pykka actors that run executions durably.

``ActorSystem`` owns the reactor loop, the journal (group commit), the timers,
one ``Coordinator`` per active execution and one ``TaskSupervisor`` per task.
It drives any ``Interpreter`` over any ``JournalStore`` (``actors.protocols``)
and never imports ``water``.
"""

from actors.messages import (
    Cancel,
    ChildUpdate,
    CommandRejected,
    GetStatus,
    Pause,
    Resume,
    Retry,
    RetryChild,
    RunFailed,
    RunSucceeded,
    RunSuspended,
    Signal,
    Start,
    TimerDue,
)

__all__ = [
    "Cancel",
    "ChildUpdate",
    "CommandRejected",
    "GetStatus",
    "Pause",
    "Resume",
    "Retry",
    "RetryChild",
    "RunFailed",
    "RunSucceeded",
    "RunSuspended",
    "Signal",
    "Start",
    "TimerDue",
]
