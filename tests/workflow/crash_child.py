"""Child process of the workflow crash tests: runs a workflow until the parent kills it."""

from __future__ import annotations

import sys
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from crashworkflows import WORKFLOWS, Num, Signup

from water import Engine


def main() -> None:
    db, execution_id, name = sys.argv[1], sys.argv[2], sys.argv[3]
    definition = WORKFLOWS[name]
    engine = Engine(f"sqlite:///{db}", flows=[definition])
    data = Num(value=int(sys.argv[4])) if name in ("sums", "nested") else Signup(email="ana")
    ref = engine.start(definition, data, execution_id=execution_id)
    print("STARTED", flush=True)
    if name == "onboarding":
        ref.wait_for_status("waiting", timeout=30)  # between its steps, the first one durable
        print("WAITING", flush=True)
    threading.Event().wait()  # run until killed


if __name__ == "__main__":
    main()
