"""Resuming the executions that were interrupted, however the last process stopped."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from actors.system import ActorSystem
from water.registry import Registry
from water.status import ExecutionStatus
from water.storage import ExecutionRecord

log = logging.getLogger("water.engine")


def resume(records: Iterable[ExecutionRecord], registry: Registry, system: ActorSystem) -> int:
    """Wake every running execution of a registered flow; re-arm the wake-ups of waiting ones.

    Returns how many were woken. An execution of a flow this engine does not know is
    left as it is (logged): another engine, or a later start of this one, resumes it.
    """
    resumed = 0
    for record in records:
        if record.flow_id not in registry:
            log.warning(
                "execution %s of unregistered flow %r is not resumed",
                record.execution_id,
                record.flow_id,
            )
            continue
        if record.status == ExecutionStatus.WAITING:
            if record.wake_at is not None:
                system.timers.arm(record.execution_id, "wake", record.wake_at)
            continue
        system.wake(record.execution_id)
        resumed += 1
    if resumed:
        log.info("resuming %d interrupted executions", resumed)
    return resumed
