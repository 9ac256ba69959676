"""What the SQL storages share: the schema, the rows, the statements, the group commit.

``SQLStorage`` (``store``) holds the whole ``Storage`` contract over a few
primitives; a dialect (``water.storage.sqlite``, ``water.storage.postgres``) fills
them in with its connection, its batch write and its ``Dialect`` (type names and
parameter marks).

- ``dialect``: what differs in the SQL text of two databases (``Dialect``)
- ``schema``: the tables, described once, and their migrations by version
- ``rows``: records, checkpoints, step rows and events to and from rows
- ``statements``: the SQL every dialect shares (reads, filters, upserts, the
  gap-refusing events insert)
- ``commit``: the group commit's requests as rows, and its conflicts
- ``store``: ``SQLStorage``
"""
