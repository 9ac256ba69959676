"""Child process of the Dag crash test: runs ``nightly`` until the parent kills it."""

from __future__ import annotations

import sys
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from dagflows import Num, nightly

from water import Engine


def main() -> None:
    db, execution_id = sys.argv[1], sys.argv[2]
    flow = nightly()
    engine = Engine(f"sqlite:///{db}", flows=[flow])
    engine.start(flow, Num(value=1), execution_id=execution_id)
    print("STARTED", flush=True)
    threading.Event().wait()  # run until killed


if __name__ == "__main__":
    main()
