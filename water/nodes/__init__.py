"""Many engines on one store: nodes, leases, fencing, takeover and the inbox.

Every engine is a node (``Engine(node_id=None, lease="10s")``). ``settings``: its id
and timing; ``node``: ownership, the heartbeat that renews its lease and takes over
the executions of dead nodes, and the inbox through which any node steers an
execution another one runs; ``messages``: messages as the inbox keeps them. The
storage primitives they use are in ``water.storage`` (``Storage.claim`` and kin).
See docs/nodes.md.
"""

from water.nodes.node import Node
from water.nodes.settings import DEFAULT_LEASE, NodeSettings, default_node_id

__all__ = ["DEFAULT_LEASE", "Node", "NodeSettings", "default_node_id"]
