"""The long chaos run: ``python tests/soak/chaos.py --kills 100``.

It SIGKILLs a child process running executions of a flow with ``for_``, ``parallel``,
``while_`` and retries on SQLite, ``--kills`` times at random moments, each new child
recovering what the last one left; then it recovers everything once more, waits, and
prints: kills, executions, lost, re-runs of durably completed steps, stuck, duration.
It exits with 1 if anything was lost, redone or stuck. ``tests/engine/test_chaos.py``
runs the same thing with ten kills in the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from chaosrun import run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8, help="executions per child")
    parser.add_argument("--max-delay", type=float, default=0.4, help="seconds before a kill")
    parser.add_argument("--dir", type=Path, help="keep the database and logs here")
    parser.add_argument("--quiet", action="store_true", help="no line per kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="water-chaos-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_chaos(
            workdir,
            kills=args.kills,
            seed=args.seed,
            batch_size=args.batch_size,
            max_delay=args.max_delay,
            finish_timeout=120.0,
            progress=not args.quiet,
        )
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
