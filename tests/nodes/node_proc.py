"""A node process of the multi-node tests: an engine on a shared store, until told to stop.

``node_proc.py URL NAME LEASE FLOWS [FLOW:ID ...]``: runs ``Engine(URL, node_id=NAME,
lease=LEASE)`` with the flows named in ``FLOWS`` (comma separated, or ``-`` for
none), starts each ``FLOW:ID`` given (under that id), prints ``READY``, then answers
``status`` on stdin with ``OWNED <n> LOST <m>`` and stops cleanly at end of input.
"""

from __future__ import annotations

import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from nodeflows import FLOWS

from water import Engine


def main() -> None:
    url, name, lease, names = sys.argv[1:5]
    logging.basicConfig(level=logging.WARNING, format=f"{name} %(name)s: %(message)s")
    flows = {n: FLOWS[n]() for n in names.split(",") if n != "-"}
    engine = Engine(url, flows=list(flows.values()), node_id=name, lease=float(lease))
    for spec in sys.argv[5:]:
        flow_name, execution_id = spec.split(":", 1)
        engine.start(flows[flow_name], {"n": 1}, execution_id=execution_id)
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "status":
            print(f"OWNED {len(engine.node.owned())} LOST {engine.node.lost_count}", flush=True)
    engine.shutdown()
    print("BYE", flush=True)


if __name__ == "__main__":
    main()
