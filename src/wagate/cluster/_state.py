"""What the parts of a :class:`~wagate.cluster.Cluster` share: its state, declared once.

The cluster is one object written in a few modules: the member watch
(:mod:`._watch`) and the keeping of this process's share of the tenants
(:mod:`._share`) are mixins of :class:`~wagate.cluster.Cluster`, and this base
says which attributes and helpers they rely on.  ``Cluster.__init__`` sets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anyio
    import anyio.abc
    import redis.asyncio

    from .._gateway import Gateway
    from .._hub import Hub
    from ..stores.postgres import PostgresStore
    from ._backplane import RedisBackplane
    from ._lease import Leases
    from ._routing import Router


class ClusterState:
    """The attributes of a cluster that its mixins read and change."""

    name: str
    member: str
    lease_ttl: float
    connect_timeout: float
    hub: Hub
    store: PostgresStore
    backplane: RedisBackplane
    leases: Leases
    router: Router
    _client: redis.asyncio.Redis
    _gateway: Gateway | None
    _tg: anyio.abc.TaskGroup | None
    _limiter: anyio.CapacityLimiter
    _owned: dict[str, int]
    _leaving: set[str]
    _taking: set[str]
    _busy: dict[str, int]
    _lost: set[str]
    _members: list[str]
    _deadline: float
    _stopping: bool
    _pg_down: bool

    if TYPE_CHECKING:

        @property
        def interval(self) -> float: ...
        @property
        def takeover_bound(self) -> float: ...
        @property
        def presence_grace(self) -> float: ...
        def _valid(self) -> bool: ...
        async def _join(self) -> float: ...
