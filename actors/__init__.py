"""The runtime: pykka actors that run executions durably.

``ActorSystem`` owns the reactor loop, the journal (group commit), the timers,
one ``Coordinator`` per active execution and one ``TaskSupervisor`` per task.
It drives any ``Decider`` over any ``JournalStore`` and never imports ``water``.
"""

from actors.messages import (
    Cancel,
    ChildUpdate,
    CommandRejected,
    GetStatus,
    Pause,
    Resume,
    Signal,
    Start,
    StepFailed,
    StepSucceeded,
    StepSuspended,
    TimerFired,
)

__all__ = [
    "Cancel",
    "ChildUpdate",
    "CommandRejected",
    "GetStatus",
    "Pause",
    "Resume",
    "Signal",
    "Start",
    "StepFailed",
    "StepSucceeded",
    "StepSuspended",
    "TimerFired",
]
