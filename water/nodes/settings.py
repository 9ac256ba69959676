"""A node's identity and timing: its id, its lease, how often it polls the store."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from supervision.durations import Duration, parse_duration

__all__ = ["DEFAULT_LEASE", "NodeSettings", "default_node_id"]

DEFAULT_LEASE = 10.0
"""Seconds a node's lease lasts unless renewed (``Engine(lease=...)``)."""

MIN_LEASE = 0.2
"""The shortest lease taken: a lease must outlast a few heartbeats."""

TICK_MAX = 0.1
"""The longest wait between two reads of the inbox and of remote executions' ends."""


def default_node_id() -> str:
    """``host-pid-random``: unique per process, readable in listings."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """How a node runs: ``lease`` seconds of ownership renewed every ``heartbeat``
    seconds (a quarter of the lease unless given), the store read every ``tick``."""

    node_id: str
    lease: float
    heartbeat: float
    tick: float
    host: str
    pid: int

    @classmethod
    def make(
        cls,
        node_id: str | None = None,
        lease: Duration = DEFAULT_LEASE,
        heartbeat: Duration | None = None,
    ) -> NodeSettings:
        """Settings from ``Engine``'s arguments (``ValueError`` for a bad one)."""
        if node_id is not None and (not isinstance(node_id, str) or not node_id.strip()):
            raise ValueError(f"node_id must be a non-empty string, got {node_id!r}")
        seconds = parse_duration(lease)
        if seconds < MIN_LEASE:
            raise ValueError(f"lease must be at least {MIN_LEASE}s, got {lease!r}")
        beat = seconds / 4 if heartbeat is None else parse_duration(heartbeat)
        if not 0 < beat < seconds:
            raise ValueError(f"heartbeat must be shorter than the lease, got {heartbeat!r}")
        return cls(
            node_id=node_id or default_node_id(),
            lease=seconds,
            heartbeat=beat,
            tick=min(beat, TICK_MAX),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
