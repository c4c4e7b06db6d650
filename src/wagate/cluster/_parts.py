"""The collaborators a :class:`~wagate.cluster.Cluster` is assembled from."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

import attrs
import redis.asyncio

from ..stores.postgres import PostgresStore
from ._backplane import RedisBackplane
from ._lease import Leases
from ._redis import redis_client
from ._routing import Router

DEFAULT_NAME = "wagate"
"""The cluster name used when none is given (Redis key prefix ``wagate:``, tables ``wagate_*``)."""


def new_member() -> str:
    """A new id for this process in the cluster: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@attrs.frozen(kw_only=True)
class ClusterParts:
    """What a :class:`Cluster` is made of: its Redis client, store, leases, backplane, router.

    :meth:`from_urls` makes them as ``Cluster(redis_url, database)`` does; a test
    can make its own (another table prefix, a client of its own) and pass them as
    ``Cluster(parts=...)``.  The cluster binds the backplane and router to itself,
    runs them, and closes the client and leases when it stops.
    """

    redis_url: str
    """The Redis server's URL (for messages, shown without its password)."""
    client: redis.asyncio.Redis
    """The Redis client the backplane and router share."""
    store: PostgresStore
    """The sessions' store (table ``<name>_sessions``)."""
    leases: Leases
    """Which process holds which tenant, in PostgreSQL; its ``ttl`` is the cluster's."""
    backplane: RedisBackplane
    """Carries the events between processes; its replay settings are the hub's."""
    router: Router
    """Carries commands to the process holding a tenant."""

    @classmethod
    def from_urls(
        cls,
        redis_url: str,
        database: str,
        *,
        name: str = DEFAULT_NAME,
        lease_ttl: float = 15.0,
        replay_length: int = 1024,
        replay_age: timedelta = timedelta(hours=1),
        stream_length: int = 100_000,
        outbox: int = 10_000,
        connect_timeout: float = 5.0,
    ) -> ClusterParts:
        """The parts on one Redis and one PostgreSQL database (see :class:`Cluster`'s args)."""
        client = redis_client(redis_url, connect_timeout)
        store = PostgresStore(database, table=f"{name}_sessions", connect_timeout=connect_timeout)
        ttl = float(lease_ttl)
        return cls(
            redis_url=redis_url,
            client=client,
            store=store,
            leases=Leases(
                database,
                name=name,
                sessions_table=store.table,
                ttl=ttl,
                timeout=max(1.0, min(connect_timeout, ttl / 2)),
            ),
            backplane=RedisBackplane(
                client,
                prefix=f"{name}:",
                log_length=replay_length,
                stream_length=stream_length,
                replay_age=replay_age,
                outbox=outbox,
            ),
            router=Router(client, prefix=f"{name}:", takeover_within=ttl + ttl / 2),
        )
