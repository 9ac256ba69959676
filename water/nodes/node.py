"""A node: one engine among those sharing a store, and what it owns.

The store is the only coordinator (no broker, no protocol between nodes):

* **Lease.** A node's row in ``nodes`` carries ``lease_until``; one statement per
  heartbeat (every quarter of the lease) renews it, and so the lease of every
  execution the node owns. A node whose renewal finds the lease run out joins
  again and checks, in one read, which of its executions it still owns; it stops
  running the others at once.
* **Claims.** An execution is run only by its owner. A node claims (``epoch + 1``)
  the unfinished executions of the flows it has registered whose owner's lease ran
  out (or that have none), at start and at every heartbeat, and resumes them as
  after a crash. Each claims its share of them (divided by the live nodes, rounded
  up), so that a dead node's executions spread over the survivors. A message for
  an execution it does not own may claim it the same way, on demand. A node with no
  flows claims nothing.
* **Fence.** Every append carries ``(node, epoch)`` and the store refuses it once
  the execution is owned otherwise (``OwnershipLost``): the coordinator then stops,
  performing nothing, and late results of its steps are dropped here.
* **Inbox.** A message for an execution owned elsewhere is left in the store; its
  owner reads its inbox when the store pushes the news (PostgreSQL's LISTEN/NOTIFY,
  ``Storage.listen``) or every ``tick`` (a short poll: SQLite), hands each message to
  the execution and removes it (or keeps the answer for an ``ask``) once it is handled,
  so a message outlives the death of an owner: the next owner handles it. Waiters
  for the end (or a status) of an execution owned elsewhere learn of it from the
  store when it pushes the news of a new status (PostgreSQL: the owner's commit
  notifies it), or on the same tick as the inbox (SQLite).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from actors.messages import CommandRejected, ExecutionNotFound, GetStatus, Start
from water.nodes.messages import body, decode, decode_reply, encode_error, encode_view
from water.nodes.settings import NodeSettings
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage import Storage
from water.storage.base import INBOX, REPLIES, STATUSES, Claimed, Closer, Fence

if TYPE_CHECKING:
    from actors.system import ActorSystem

log = logging.getLogger("water.nodes")
T = TypeVar("T")

CLAIM_BATCH = 500
"""The most executions one claim takes (the next heartbeat takes more)."""

FINISHED_KEPT = 100_000
"""How many finished executions a node remembers owning (a message for one it forgot
claims it again, under a new epoch)."""

INBOX_BATCH = 200
"""The most inbox messages one tick reads."""

HANDLE_TIMEOUT = 60.0
"""How long the owner waits for an execution to handle an inbox message."""

PUSHED_POLL = 1.0
"""Seconds between two reads of the inbox and of the executions waited for elsewhere
when the store pushes its news (PostgreSQL's LISTEN/NOTIFY): the reads then only catch
what a lost notification missed."""

UNCOLLECTED = 3600.0
"""Seconds an answer waits for its asker (gone, if it has not read it by then)."""

RESUMED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)
"""Statuses of claimed executions that are woken at once (others wait for a message
or their timer)."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Node:
    """The ownership of one engine's executions (``actors.protocols.Placement``)."""

    def __init__(
        self,
        settings: NodeSettings,
        storage: Storage,
        system: ActorSystem,
        flows: Callable[[], Sequence[str]],
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.storage = storage
        self.system = system
        self._flows = flows
        self._owned: dict[str, int] = {}  # execution id -> the epoch it is run under
        self._done: OrderedDict[str, int] = OrderedDict()  # the same, of finished ones
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handling: set[str] = set()  # inbox messages being handled
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="water-inbox")
        self._seen: dict[str, str] = {}  # last status seen of executions owned elsewhere
        self._woken = threading.Event()  # the store pushed news: a message, or a status
        self._replies: dict[str, threading.Event] = {}  # asks waiting for their answer
        self._closer: Closer | None = None  # stops the store's pushes
        self.claims = False  # take over executions without a live owner
        self.lease_held = False
        self.renewed_at = 0.0  # time.monotonic() of the last renewal
        self._beats = 0
        self.claimed_count = 0  # executions claimed since start
        self.lost_count = 0  # executions lost to another node since start

    # -- the store, from a thread that is not the loop ------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        return self.system.reactor.run(coro, timeout)

    # -- ownership (``actors.protocols.Placement``) ----------------------------------------
    def owned(self) -> list[str]:
        """The executions this node owns and runs, as far as it knows."""
        with self._lock:
            return list(self._owned)

    def is_local(self, execution_id: str) -> bool:
        return execution_id in self._owned or execution_id in self._done

    def fence(self, execution_id: str) -> Fence:
        """The fence of an append to the execution (epoch 0: not owned, always refused)."""
        epoch = self._owned.get(execution_id)
        if epoch is None:
            epoch = self._done.get(execution_id, 0)
        return (self.node_id, epoch)

    def adopt_new(self, execution_id: str) -> None:
        """An execution this node creates under an id it made (nobody else can know it)."""
        with self._lock:
            self._owned[execution_id] = 1

    def abandon(self, execution_id: str, *, created: bool) -> None:
        """A start that was refused: nothing of it to own. Under a caller's id
        (``created`` False), the index row ``place`` made for it is removed if nothing
        was journaled (else a later start of that id would find a husk)."""
        if not created:
            try:
                created = self._run(self._remove_husk(execution_id))
            except Exception as exc:  # the storage is down: the next start takes it over
                log.warning("execution %s: its empty row stays (%s)", execution_id, exc)
        if created:  # else it exists, and is still run here
            with self._lock:
                self._owned.pop(execution_id, None)

    async def _remove_husk(self, execution_id: str) -> bool:
        """Remove the row of an execution this node owns that has no journal; whether it did."""
        owners = await self.storage.owners([execution_id])
        if owners.get(execution_id) != self.fence(execution_id):
            return False
        if await self.storage.last_seq(execution_id) != 0:
            return False
        return await self.storage.delete_execution(execution_id)

    def _adopt(self, execution_id: str, epoch: int) -> None:
        with self._lock:
            self._done.pop(execution_id, None)
            self._owned[execution_id] = epoch

    def lost(self, execution_id: str) -> None:
        with self._lock:
            found = self._owned.pop(execution_id, None)
            found = self._done.pop(execution_id, found)
            if found is not None:
                self.lost_count += 1

    def finished(self, execution_id: str) -> None:
        """The execution finished: it is still this node's (a retry runs here), but no
        longer counted among those it runs, and forgotten after ``FINISHED_KEPT`` more."""
        with self._lock:
            epoch = self._owned.pop(execution_id, None)
            if epoch is None:
                return
            self._done[execution_id] = epoch
            if len(self._done) > FINISHED_KEPT:
                self._done.popitem(last=False)

    async def _take(self, execution_id: str) -> bool:
        """Claim one execution on demand (if it has no live owner and a flow of ours)."""
        if self.is_local(execution_id):
            return True
        flows = self._flows()
        if not flows:
            return False
        claimed = await self.storage.claim(
            self.node_id, flows, execution_ids=[execution_id], mine=True
        )
        for claim in claimed:
            self._adopt(claim.execution_id, claim.epoch)
            self.claimed_count += 1
        return bool(claimed)

    async def _create_or_take(
        self, execution_id: str, flow_id: str, parent_id: str | None = None
    ) -> bool:
        """Own a new execution (created here at epoch 1) or an existing one without a
        live owner; False if another node owns it (idempotent start across nodes)."""
        if self.is_local(execution_id):
            return True
        if await self.storage.create_owned(execution_id, flow_id, self.node_id, parent_id):
            self._adopt(execution_id, 1)
            return True
        return await self._take(execution_id)

    def place(self, execution_id: str, flow_id: str) -> bool:
        """Before a start under a caller's id: True if this node runs it (new, or taken
        over), False if another node owns it (the start is then theirs)."""
        return self._run(self._create_or_take(execution_id, flow_id))

    def forward(self, execution_id: str, message: Any) -> None:
        if isinstance(message, Start):
            self.system.reactor.submit(self._start_forwarded(execution_id, message))
        elif body(message, ask=False) is None:  # a late outcome of a run, a timer: not ours
            log.debug("dropped %s for execution %s (owned elsewhere)", message, execution_id)
        elif self.system.reactor.in_loop_thread():  # from an execution: never block
            self.system.reactor.submit(self._forward(execution_id, message))
        else:  # from a caller: durable when ``tell`` returns
            self._run(self._forward(execution_id, message))

    async def _start_forwarded(self, execution_id: str, message: Start) -> None:
        """A child started by one of our executions: it runs here, unless it exists and
        another node owns it (the start goes to that node, whose child reports again)."""
        try:
            if await self._create_or_take(execution_id, message.definition, message.parent_id):
                self.system.tell(execution_id, message)
                return
            encoded = body(message, ask=False)
            if encoded is not None:
                await self.storage.post(execution_id, *encoded)
        except Exception:
            log.exception("could not start execution %s", execution_id)

    async def _forward(self, execution_id: str, message: Any) -> None:
        try:
            if await self._take(execution_id):
                self.system.tell(execution_id, message)
                return
            encoded = body(message, ask=False)
            if encoded is not None:
                await self.storage.post(execution_id, *encoded)
        except Exception:
            log.exception("could not deliver a message to execution %s", execution_id)

    def ask(self, execution_id: str, message: Any, timeout: float | None, detail: bool) -> Any:
        """Ask an execution this node does not own: claim it if it may, else through the
        inbox, waiting for its owner's answer (``TimeoutError`` after ``timeout``: the
        message is then withdrawn, unless handled meanwhile)."""
        if self._run(self._take(execution_id)):
            return self.system.ask(execution_id, message, timeout, detail=detail)
        if isinstance(message, GetStatus):
            view = self._run(self._stored_view(execution_id))
            if view is not None:
                return view
        elif self._run(self.storage.get_execution(execution_id)) is None:
            raise ExecutionNotFound(execution_id)
        encoded = body(message, ask=True)
        if encoded is None:
            raise CommandRejected(
                f"{type(message).__name__} cannot be sent to execution {execution_id!r}, "
                "which another engine runs",
                "invalid",
            )
        message_id = self._run(self.storage.post(execution_id, *encoded))
        deadline = float("inf") if timeout is None else time.monotonic() + timeout
        answered = self._replies[message_id] = threading.Event()
        pause = self.settings.tick if self._closer is None else PUSHED_POLL
        try:
            while True:
                found = self._run(self.storage.reply(message_id))
                if found is None:
                    raise ExecutionNotFound(execution_id)
                handled, reply = found
                if handled:
                    return decode_reply(execution_id, reply)
                left = deadline - time.monotonic()
                if left <= 0 and self._run(self.storage.withdraw(message_id)):
                    raise TimeoutError(
                        f"execution {execution_id!r} is run by another engine, which did not "
                        f"handle {type(message).__name__} within {timeout}s; the message was "
                        "withdrawn (nothing was done)"
                    )
                answered.wait(max(0.0, min(pause, left)))
                answered.clear()
        finally:
            del self._replies[message_id]

    async def _stored_view(self, execution_id: str) -> Snapshot | None:
        """The stored snapshot with the index row's status (None if either is missing)."""
        record = await self.storage.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFound(execution_id)
        view = await self.storage.load_snapshot(execution_id)
        if view is None:
            return None
        if view.status != record.status:
            view = view.model_copy(update={"status": record.status})
        return view

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, *, claims: bool) -> None:
        """Join the store (a lease from now) and run the heartbeat from now on (a store
        other processes share only), claiming executions without a live owner if
        ``claims``. What a node of the same id owned before is released first: the
        claims take it back (a node restarting under its id)."""
        s = self.settings
        self._run(self.storage.leave(self.node_id))
        self._run(self.storage.join(self.node_id, s.host, s.pid, s.lease))
        self.lease_held = True
        self.renewed_at = time.monotonic()
        self.claims = claims
        if not self.storage.shared:
            return
        self._closer = self._run(self.storage.listen(self._pushed))
        self._thread = threading.Thread(target=self._loop, name="water-node", daemon=True)
        self._thread.start()

    def recover(self) -> int:
        """Claim and resume the executions of its flows without a live owner (all of them
        if no other node is alive, else its share); how many were woken."""
        nodes = self._live_nodes()
        flows = self._flows()
        if not flows:
            return 0
        woken = 0
        while True:
            claimed = self._run(
                self.storage.claim(self.node_id, flows, limit=CLAIM_BATCH, share=nodes)
            )
            woken += self._resume(claimed)
            if len(claimed) < CLAIM_BATCH or nodes > 1:
                return woken

    def _resume(self, claimed: Sequence[Claimed]) -> int:
        """Run claimed executions as after a crash: wake those that were running, re-arm
        the wake-up of those waiting on a timer; paused ones wait for a message."""
        woken = 0
        for claim in claimed:
            self._adopt(claim.execution_id, claim.epoch)
            self.claimed_count += 1
            if claim.status in RESUMED:
                self.system.wake(claim.execution_id)
                woken += 1
            elif claim.status == ExecutionStatus.WAITING and claim.wake_at is not None:
                self.system.timers.arm(claim.execution_id, "wake", claim.wake_at)
        if claimed:
            log.info("node %s took over %d executions", self.node_id, len(claimed))
        return woken

    def _pushed(self, channel: str, payload: str) -> None:
        """News from the store (on the loop): a message posted, an ask answered, or the
        status of an execution changed (news only if someone here waits for it)."""
        if channel == INBOX:
            self._woken.set()
        elif channel == STATUSES:
            if self.system.waiters.watches(payload) and not self.is_local(payload):
                self._woken.set()
        elif channel == REPLIES:
            answered = self._replies.get(payload)
            if answered is not None:
                answered.set()

    def stop(self) -> None:
        """Stop the heartbeat and the inbox (the engine stops its actors next)."""
        self._stop.set()
        self._woken.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        closer, self._closer = self._closer, None
        if closer is not None:
            try:
                self._run(closer(), timeout=10)
            except Exception:
                log.exception("node %s: stopping LISTEN failed", self.node_id)
        self._pool.shutdown(wait=False, cancel_futures=True)  # asks end with the actors

    async def leave(self) -> None:
        """Leave the store: this node's executions are free for others at once."""
        await self.storage.leave(self.node_id)
        self.lease_held = False

    # -- the heartbeat and the inbox -------------------------------------------------------
    def _loop(self) -> None:
        s = self.settings
        next_beat = time.monotonic() + s.heartbeat
        while not self._stop.is_set():
            # pushed news wakes it at once, and a slow read catches lost news; without
            # pushes (SQLite), a short poll
            pushed = self._closer is not None
            self._woken.wait(min(PUSHED_POLL, s.heartbeat) if pushed else s.tick)
            self._woken.clear()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + s.heartbeat
                    self._heartbeat()
                self._read_inbox()
                self._watch_elsewhere()
            except Exception as exc:
                if self._stop.is_set() or self.system.closed:
                    return
                log.warning("node %s: %s", self.node_id, exc)

    def _heartbeat(self) -> None:
        s = self.settings
        if self._run(self.storage.renew(self.node_id, s.lease)):
            self.lease_held = True
            self.renewed_at = time.monotonic()
        else:
            self._lapsed()
        self._beats += 1
        if self._beats % 100 == 1:
            self._run(self.storage.prune_inbox(time.time() - UNCOLLECTED))
        if self.claims:
            nodes = self._live_nodes()
            flows = self._flows()
            if flows:
                claimed = self._run(
                    self.storage.claim(self.node_id, flows, limit=CLAIM_BATCH, share=nodes)
                )
                self._resume(claimed)

    def _lapsed(self) -> None:
        """The lease ran out (this process was paused, or the store unreachable): join
        again, and stop running what another node claimed meanwhile."""
        s = self.settings
        self.lease_held = False
        log.warning("node %s: its lease ran out; checking what it still owns", self.node_id)
        self._run(self.storage.join(self.node_id, s.host, s.pid, s.lease))
        self.renewed_at = time.monotonic()
        self.lease_held = True
        with self._lock:
            owned = {**self._done, **self._owned}
        owners = self._run(self.storage.owners(list(owned)))
        for execution_id, epoch in owned.items():
            if owners.get(execution_id, (self.node_id, epoch)) != (self.node_id, epoch):
                log.warning(
                    "node %s: execution %s is owned by another node now; stopping it here",
                    self.node_id,
                    execution_id,
                )
                self.lost(execution_id)
                self.system.relinquish(execution_id)

    def _live_nodes(self) -> int:
        """How many nodes are alive, this one included (they share the executions
        without a live owner). First end the leases of nodes of this host whose process
        is gone: a crash here is taken over without waiting for the lease to run out."""
        rows = self._run(self.storage.nodes())
        dead = [
            r.node_id
            for r in rows
            if r.alive
            and r.node_id != self.node_id
            and r.host == self.settings.host
            and not pid_alive(r.pid)
        ]
        if dead:
            self._run(self.storage.expire(dead))
        others = {r.node_id for r in rows if r.alive} - set(dead) - {self.node_id}
        return 1 + len(others)

    def _read_inbox(self) -> None:
        if not self._flows():
            return
        for message in self._run(self.storage.inbox(self.node_id, INBOX_BATCH)):
            with self._lock:
                if message.id in self._handling:
                    continue
                self._handling.add(message.id)
            self._pool.submit(self._handle, message.id, message.execution_id, message)

    def _handle(self, message_id: str, execution_id: str, row: Any) -> None:
        try:
            try:
                message, ask = decode(row.kind, row.body)
            except Exception as exc:  # written by a newer version, or by hand
                log.error("inbox message %s cannot be read: %s", message_id, exc)
                self._run(self.storage.answer(message_id, encode_error(exc)))
                return
            if not self._run(self._take(execution_id)):
                return  # owned elsewhere now: its owner handles it
            reply: str | None = None
            try:
                view = self.system.ask(execution_id, message, HANDLE_TIMEOUT)
                if ask:
                    reply = encode_view(view)
            except Exception as exc:
                if ask:
                    reply = encode_error(exc)
                else:
                    log.info("execution %s ignored %s: %s", execution_id, row.kind, exc)
            self._run(self.storage.answer(message_id, reply))
        except Exception:
            if not self.system.closed:
                log.exception("inbox message %s was not handled", message_id)
        finally:
            with self._lock:
                self._handling.discard(message_id)

    def _watch_elsewhere(self) -> None:
        """Tell waiters of executions owned elsewhere of their statuses and ends."""
        waiters = self.system.waiters
        ids = [i for i in waiters.watched() if not self.is_local(i)]
        for gone in set(self._seen) - set(ids):
            del self._seen[gone]
        for execution_id in ids:
            record = self._run(self.storage.get_execution(execution_id))
            if record is None:
                continue
            status = record.status.value
            if self._seen.get(execution_id) != status:
                self._seen[execution_id] = status
                waiters.status_changed(execution_id, status)
            if record.status.is_terminal:
                view = self._run(self.storage.load_snapshot(execution_id))
                if view is not None and view.status.is_terminal:
                    waiters.finished(execution_id, view, remember=False)

    # -- what it shows -------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The node as ``/health`` shows it."""
        since = time.monotonic() - self.renewed_at
        return {
            "node_id": self.node_id,
            "host": self.settings.host,
            "pid": self.settings.pid,
            "lease_seconds": self.settings.lease,
            "lease_held": self.lease_held and since < self.settings.lease,
            "lease_renewed_ago": round(since, 3),
            "owned_executions": len(self._owned),
            "claimed": self.claimed_count,
            "lost": self.lost_count,
        }
