"""Pause an execution by message, kill its process, resume it in a new one.

``python examples/pause_kill_resume.py`` runs a 12-step flow in a child process,
pauses it and resumes it there, then kills that process with SIGKILL halfway
through. A new engine on the same SQLite file picks the execution up where it
stopped: completed steps do not run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from water import Engine, Flow, Pause, Resume, TaskContext, task


class Progress(BaseModel):
    done: list[str] = []


@task
def work(p: Progress, ctx: TaskContext) -> Progress:
    time.sleep(0.15)  # some real work
    print(f"    [pid {os.getpid()}] ran {ctx.step}", flush=True)
    return Progress(done=[*p.done, ctx.step])


flow = Flow("long-job", "Twelve slow steps")
for _ in range(12):
    flow.then(work)


def child(db: str) -> None:
    """Start the job, steer it a little, then keep working until killed."""
    engine = Engine(f"sqlite:///{db}", flows=[flow])
    ref = engine.start(flow, Progress(), execution_id="job-1")
    time.sleep(0.4)
    print(f"  pause  -> {ref.ask(Pause()).status}", flush=True)
    print(f"  paused -> {ref.wait_for_status('paused').status}", flush=True)
    print(f"  resume -> {ref.ask(Resume()).status}", flush=True)
    time.sleep(60)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    db = str(Path(tempfile.mkdtemp()) / "job.db")
    print("1. a worker process runs the job:")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", db], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    before: list[str] = []
    for line in proc.stdout:
        print(line, end="")
        if "ran" in line:
            before.append(line.split()[-1])
        if len(before) == 6:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    print("2. the worker was killed with SIGKILL after 6 steps")

    print("3. a new engine on the same database resumes it:")
    with Engine(f"sqlite:///{db}", flows=[flow]) as engine:
        ref = engine.ref("job-1")
        snap = ref.status()
        print(f"    status at restart: {snap.status}, completed: {len(snap.completed_steps)}")
        result = ref.result(timeout=60)
    print(f"4. done: {len(result.done)} steps in order: {', '.join(result.done)}")
    again = [s for s in before if s not in snap.completed_steps]
    print(f"   completed before the kill and not run again: {len(snap.completed_steps)}")
    print(f"   in flight at the kill, so run again (at least once): {again or 'none'}")


if __name__ == "__main__":
    main()
