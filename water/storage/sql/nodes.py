"""The SQL of nodes, ownership and the inbox, shared by every dialect.

Leases are timed by the database's clock (``Dialect.now``): PostgreSQL's server
clock, the same for every host; SQLite's host clock (one host). Every statement
that changes ownership decides in one conditional write, so two nodes racing for
an execution never both win: a claim is an ``UPDATE`` whose ``WHERE`` says the
execution is still unowned (or its owner's lease has run out), and every claim adds
one to the execution's ``epoch``, which every append of the new owner checks
(``insert_events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from water.storage.base import TERMINAL
from water.storage.sql.dialect import Dialect

__all__ = ["NodeStatements"]

_CLAIMED = "execution_id, flow_id, status, wake_at, COALESCE(epoch, 0)"


class NodeStatements:
    """The statements of ``water.nodes``' storage primitives in one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        p = dialect.param
        now = dialect.now
        # (node_id, host, pid, lease) ->
        self.join = (
            "INSERT INTO nodes (node_id, host, pid, started_at, lease_until) "
            f"VALUES ({p}, {p}, {p}, {now}, {now} + {p}) ON CONFLICT (node_id) DO UPDATE SET "
            "host = excluded.host, pid = excluded.pid, started_at = excluded.started_at, "
            "lease_until = excluded.lease_until"
        )
        # (lease, node_id) -> (node_id,) if the lease had not run out
        self.renew = (
            f"UPDATE nodes SET lease_until = {now} + {p} "
            f"WHERE node_id = {p} AND lease_until > {now} RETURNING node_id"
        )
        # (node_id,) ->
        self.expire = f"UPDATE nodes SET lease_until = 0 WHERE node_id = {p}"
        # (node_id,) ->
        self.release = f"UPDATE executions SET owner = NULL WHERE owner = {p}"
        self.forget_node = f"DELETE FROM nodes WHERE node_id = {p}"
        # () -> (node_id, host, pid, started_at, lease_until, alive)
        self.nodes = (
            "SELECT node_id, host, pid, started_at, lease_until, "
            f"CASE WHEN lease_until > {now} THEN 1 ELSE 0 END FROM nodes ORDER BY node_id"
        )
        # (execution_id, flow_id, parent_id, created_at, updated_at, owner) -> (execution_id,)
        self.create_owned = (
            "INSERT INTO executions (execution_id, flow_id, status, parent_id, created_at, "
            f"updated_at, owner, epoch) VALUES ({p}, {p}, 'pending', {p}, {p}, {p}, {p}, 1) "
            "ON CONFLICT (execution_id) DO NOTHING RETURNING execution_id"
        )
        # (id, execution_id, kind, body, created_at) ->
        self.post = (
            "INSERT INTO inbox (id, execution_id, kind, body, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        # (node_id, limit) -> (id, execution_id, kind, body)
        self.inbox = (
            "SELECT i.id, i.execution_id, i.kind, i.body FROM inbox AS i "
            "JOIN executions AS x ON x.execution_id = i.execution_id "
            f"WHERE x.owner = {p} AND i.handled_at IS NULL ORDER BY i.id LIMIT {p}"
        )
        # (handled_at, reply, id) ->
        self.answer = f"UPDATE inbox SET handled_at = {p}, reply = {p} WHERE id = {p}"
        # (id,) ->
        self.remove = f"DELETE FROM inbox WHERE id = {p}"
        # (id,) -> (handled_at, reply)
        self.reply = f"SELECT handled_at, reply FROM inbox WHERE id = {p}"
        # (id,) -> (id,) if it was not handled yet
        self.withdraw = f"DELETE FROM inbox WHERE id = {p} AND handled_at IS NULL RETURNING id"
        # (before,) -> : answers nobody collected
        self.prune = f"DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < {p}"

    def _orphan(self, alias: str, node_id: str, mine: bool) -> tuple[str, list[Any]]:
        """``alias`` has no live owner (or, with ``mine``, is owned by ``node_id``)."""
        p = self.dialect.param
        own, params = (f" OR {alias}.owner = {p}", [node_id]) if mine else ("", [])
        sql = (
            f"({alias}.owner IS NULL{own} OR NOT EXISTS (SELECT 1 FROM nodes AS n "
            f"WHERE n.node_id = {alias}.owner AND n.lease_until > {self.dialect.now}))"
        )
        return sql, params

    def candidates(
        self, node_id: str, flow_ids: Sequence[str], mine: bool, limit: int
    ) -> tuple[str, list[Any]]:
        """Executions to take over -> (execution_id,): of these flows, unfinished or with
        messages waiting, and without a live owner; oldest first."""
        p = self.dialect.param
        flows, flow_params = self.dialect.any_of("c.flow_id", flow_ids)
        done, done_params = self.dialect.any_of("c.status", [s.value for s in TERMINAL])
        orphan, orphan_params = self._orphan("c", node_id, mine)
        sql = (
            f"SELECT c.execution_id FROM executions AS c WHERE {flows} AND (NOT ({done}) "
            "OR EXISTS (SELECT 1 FROM inbox AS i WHERE i.execution_id = c.execution_id "
            f"AND i.handled_at IS NULL)) AND {orphan} ORDER BY c.created_at, c.execution_id "
            f"LIMIT {p}"
        )
        return sql, [*flow_params, *done_params, *orphan_params, limit]

    def claim(
        self, node_id: str, execution_ids: Sequence[str], flow_ids: Sequence[str], mine: bool
    ) -> tuple[str, list[Any]]:
        """Claim these executions if they still have no live owner -> ``Claimed`` values.

        The conditions are on the updated row itself, so that on PostgreSQL a claim
        that waited for a racing one is checked again against the row it left.
        """
        p = self.dialect.param
        ids, id_params = self.dialect.any_of("execution_id", execution_ids)
        flows, flow_params = self.dialect.any_of("flow_id", flow_ids)
        orphan, orphan_params = self._orphan("executions", node_id, mine)
        sql = (
            f"UPDATE executions SET owner = {p}, epoch = COALESCE(epoch, 0) + 1 "
            f"WHERE {ids} AND {flows} AND {orphan} RETURNING {_CLAIMED}"
        )
        return sql, [node_id, *id_params, *flow_params, *orphan_params]

    def owners(self, execution_ids: Sequence[str]) -> tuple[str, list[Any]]:
        """-> (execution_id, owner, epoch) of these executions."""
        ids, params = self.dialect.any_of("execution_id", execution_ids)
        return f"SELECT execution_id, owner, COALESCE(epoch, 0) FROM executions WHERE {ids}", params
