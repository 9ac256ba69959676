"""Child process of the crash tests: runs a flow until the parent kills it."""

from __future__ import annotations

import sys
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from crashflows import crash_flow

from water import Engine


def main() -> None:
    db, execution_id, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    flow = crash_flow()
    engine = Engine(f"sqlite:///{db}", flows=[flow])
    engine.start(flow, {"value": size}, execution_id=execution_id)
    print("STARTED", flush=True)
    threading.Event().wait()  # run until killed


if __name__ == "__main__":
    main()
