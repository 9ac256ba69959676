"""Child process of the crash tests: runs a flow until the parent kills it."""

from __future__ import annotations

import sys
import threading
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from crashflows import FLOWS, Num, deep_value

from water import Engine


def main() -> None:
    db, execution_id, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    flow_name = sys.argv[4] if len(sys.argv) > 4 else "crashy"
    flow = FLOWS[flow_name]()
    url = db if "://" in db else f"sqlite:///{db}"  # a storage URL, or a SQLite file
    engine = Engine(url, flows=[flow])
    value = deep_value() if flow_name == "deep" else Num(value=size)
    ref = engine.start(flow, value, execution_id=execution_id)
    print("STARTED", flush=True)
    if flow_name == "backoff":
        # wait until the failed attempt and its retry timer are durable
        deadline = time.monotonic() + 30
        while not any(w.startswith("timer:retry:") for w in ref.status().waiting_for):
            assert time.monotonic() < deadline, "the retry was never armed"
            time.sleep(0.005)
        print("BACKOFF", flush=True)
    if flow_name == "nap":
        ref.wait_for_status("waiting", timeout=30)  # asleep: the timer is durable
        print("SLEEPING", flush=True)
    threading.Event().wait()  # run until killed


if __name__ == "__main__":
    main()
