"""Child process of the chaos test: recovers what is running, starts batches, until killed.

Arguments: the database, the run log, the batch size and the batches to start
(comma-separated indexes). It prints ``READY`` once its engine is up (recovery has
begun) and ``STARTED <index>`` once a batch's starts are durable.
"""

from __future__ import annotations

import sys
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])

import chaosflows

from water import Engine


def main() -> None:
    db, run_log, size, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    chaosflows.RUN_LOG = run_log
    flow = chaosflows.chaos_flow()
    engine = Engine(f"sqlite:///{db}", flows=[flow])  # resumes what the last process left
    print("READY", flush=True)
    for index in [int(b) for b in batches.split(",") if b]:
        for execution_id, n in chaosflows.batch(index, size):
            engine.start(flow, chaosflows.Num(value=n), execution_id=execution_id)
        print(f"STARTED {index}", flush=True)
    threading.Event().wait()  # run until killed


if __name__ == "__main__":
    main()
