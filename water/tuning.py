"""Process settings for a long-running service, applied once the engine has started.

Water allocates many short-lived objects per step (messages, events, futures), so
CPython's cyclic garbage collector runs often and, with a large heap, each full
collection walks everything: measured at 16-23% of a busy engine's CPU. The
settings here are safe for a service process (see docs/performance.md):

* ``gc.freeze()`` after start-up: the objects alive then (modules, classes, the
  engine itself) move to a permanent generation that collections never walk;
* a higher threshold for the youngest generation (50,000 allocations instead of
  700): fewer collections, each on more objects, for the same garbage freed;
* a shorter thread switch interval (0.5 ms instead of 5 ms): a thread woken by
  I/O (an HTTP request, a commit's answer) gets the interpreter sooner while
  others are busy, which bounds the latency the engine's threads add to each other.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["GEN0_THRESHOLD", "SWITCH_INTERVAL", "tune_for_service"]

GEN0_THRESHOLD = 50_000
SWITCH_INTERVAL = 0.0005


def tune_for_service(
    *, gen0: int = GEN0_THRESHOLD, switch_interval: float | None = SWITCH_INTERVAL
) -> None:
    """Freeze what is alive now, raise the young generation's threshold, shorten the
    thread switch interval (``None`` leaves it)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
