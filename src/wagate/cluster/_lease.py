"""Leases in PostgreSQL: which cluster member holds which tenant, with fencing tokens.

Three tables, named after the cluster (``<name>_members``, ``<name>_leases``,
``<name>_lease_history``):

- a **member** row per running process, whose ``expires_at`` the process pushes
  forward every renewal; a member that misses renewals for ``ttl`` seconds (by
  the database's clock, so hosts' clocks do not matter) is dead, and is marked
  ``evicted`` by the first process that takes one of its tenants, so a late
  renewal can never revive it;
- a **lease** row per tenant: its holder and its **token**, which goes up by one
  every time the tenant changes hands and is never reset;
- a **history** row per holding (tenant, token, member, from, until), for audits
  and tests: the holdings of one tenant never overlap.

A lease is valid while its holder is alive.  Every write of a session goes
through :meth:`Leases.guard` (in the same SQL statement), and takes a share lock
on the lease and member rows: a claim waits for a write in flight, and a write
after the claim finds the token changed and is refused.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import attrs
import psycopg
from psycopg import sql

from .._errors import NotOwner, StoreError
from ..stores._libpq import CREATE_LOCK, connect_options, display_url, failure

__all__ = ["Leases", "Orphan", "rendezvous"]

log = logging.getLogger("wagate.cluster")


def rendezvous(tenant: str, members: Iterable[str]) -> str | None:
    """The member a tenant belongs to among ``members`` (highest random weight).

    Every process computes the same answer from the same members, and when a
    member joins or leaves only the tenants that go to it or came from it move.
    """
    best: tuple[bytes, str] | None = None
    for member in members:
        weight = hashlib.blake2b(f"{member}\0{tenant}".encode(), digest_size=8).digest()
        if best is None or (weight, member) > best:
            best = (weight, member)
    return None if best is None else best[1]


@attrs.frozen
class Orphan:
    """A tenant without a live holder: ``linked`` ones are resumed, others wait for a command."""

    tenant: str
    holder: str | None
    linked: bool


class Leases:
    """One process's view of the lease tables (its own connection, autocommit).

    Args:
        url: The PostgreSQL URL (the session store's).
        name: The cluster's name, the prefix of the tables.
        sessions_table: The session store's table (to find linked tenants).
        ttl: Seconds a member stays alive after its last renewal.
        timeout: Seconds one statement may take before the connection is dropped.
    """

    def __init__(
        self, url: str, *, name: str, sessions_table: str, ttl: float, timeout: float
    ) -> None:
        self._url = url
        self.display_url = display_url(psycopg.conninfo.conninfo_to_dict(url))
        self.ttl = ttl
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()
        self.members_table = f"{name}_members"
        self.leases_table = f"{name}_leases"
        self.history_table = f"{name}_lease_history"
        members = sql.Identifier(self.members_table)
        leases = sql.Identifier(self.leases_table)
        history = sql.Identifier(self.history_table)
        sessions = sql.Identifier(sessions_table)
        self._lock_key = f"wagate-cluster:{name}"
        self._create = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (member TEXT PRIMARY KEY,"
                " started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),"
                " expires_at TIMESTAMPTZ NOT NULL, evicted BOOLEAN NOT NULL DEFAULT false)"
            ).format(members),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (tenant TEXT PRIMARY KEY, member TEXT,"
                " token BIGINT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL)"
            ).format(leases),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (member)").format(
                sql.Identifier(f"{self.leases_table}_member"), leases
            ),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (tenant TEXT NOT NULL, token BIGINT NOT NULL,"
                " member TEXT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL,"
                " ended_at TIMESTAMPTZ, PRIMARY KEY (tenant, token))"
            ).format(history),
        ]
        ttl_sql = sql.Literal(f"{ttl} seconds")
        self._join = sql.SQL(
            "INSERT INTO {} (member, expires_at) VALUES (%s, clock_timestamp() + {}::interval)"
        ).format(members, ttl_sql)
        self._renew = sql.SQL(
            "UPDATE {} SET expires_at = clock_timestamp() + {}::interval"
            " WHERE member = %s AND NOT evicted AND expires_at > clock_timestamp()"
            " RETURNING expires_at"
        ).format(members, ttl_sql)
        self._leave = sql.SQL(
            "UPDATE {} SET expires_at = clock_timestamp() WHERE member = %s"
        ).format(members)
        self._prune = sql.SQL(
            "DELETE FROM {0} m WHERE m.expires_at < clock_timestamp() - interval '1 day'"
            " AND NOT EXISTS (SELECT 1 FROM {1} l WHERE l.member = m.member)"
        ).format(members, leases)
        self._since_renewal = sql.SQL(
            "SELECT extract(epoch FROM clock_timestamp() - (expires_at - {}::interval))"
            " FROM {} WHERE member = %s"
        ).format(ttl_sql, members)
        self._live = sql.SQL(
            "SELECT member FROM {} WHERE NOT evicted AND expires_at > clock_timestamp()"
            " ORDER BY member"
        ).format(members)
        self._held = sql.SQL("SELECT tenant, token FROM {} WHERE member = %s").format(leases)
        self._holder = sql.SQL(
            "SELECT l.member, (m.member IS NOT NULL AND NOT m.evicted"
            " AND m.expires_at > clock_timestamp()) FROM {0} l LEFT JOIN {1} m"
            " ON m.member = l.member WHERE l.tenant = %s"
        ).format(leases, members)
        self._orphans = sql.SQL(
            "SELECT l.tenant, l.member, s.account_jid IS NOT NULL FROM {0} l"
            " LEFT JOIN {1} m ON m.member = l.member LEFT JOIN {2} s ON s.tenant = l.tenant"
            " WHERE (l.member IS NULL AND s.account_jid IS NOT NULL) OR (l.member IS NOT NULL"
            " AND (m.member IS NULL OR m.evicted OR m.expires_at <= clock_timestamp()))"
            " UNION ALL SELECT s.tenant, NULL, true FROM {2} s WHERE s.account_jid IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM {0} l WHERE l.tenant = s.tenant)"
        ).format(leases, members, sessions)
        self._lock_lease = sql.SQL(
            "SELECT member, token FROM {} WHERE tenant = %s FOR UPDATE"
        ).format(leases)
        self._insert_lease = sql.SQL(
            "INSERT INTO {} (tenant, member, token, acquired_at)"
            " VALUES (%s, %s, 1, clock_timestamp()) ON CONFLICT (tenant) DO NOTHING RETURNING token"
        ).format(leases)
        self._lock_member = sql.SQL(
            "SELECT evicted OR expires_at <= clock_timestamp(), expires_at FROM {}"
            " WHERE member = %s FOR UPDATE"
        ).format(members)
        self._evict = sql.SQL("UPDATE {} SET evicted = true WHERE member = %s").format(members)
        self._take = sql.SQL(
            "UPDATE {} SET member = %s, token = token + 1, acquired_at = clock_timestamp()"
            " WHERE tenant = %s RETURNING token"
        ).format(leases)
        self._history_end = sql.SQL(
            "UPDATE {} SET ended_at = LEAST(clock_timestamp(), COALESCE(%s, clock_timestamp()))"
            " WHERE tenant = %s AND token = %s AND ended_at IS NULL"
        ).format(history)
        self._history_start = sql.SQL(
            "INSERT INTO {} (tenant, token, member, acquired_at)"
            " VALUES (%s, %s, %s, clock_timestamp()) ON CONFLICT DO NOTHING"
        ).format(history)
        self._release = sql.SQL(
            "UPDATE {} SET member = NULL WHERE tenant = %s AND member = %s AND token = %s"
        ).format(leases)
        self.guard = sql.SQL(
            "EXISTS (SELECT 1 FROM {0} fl JOIN {1} fm ON fm.member = fl.member"
            " WHERE fl.tenant = %s AND fl.token = %s AND NOT fm.evicted"
            " AND fm.expires_at > clock_timestamp() FOR SHARE OF fl, fm)"
        ).format(leases, members)
        """The SQL condition "this token is the tenant's current, live lease" (tenant, token)."""

    # ------------------------------------------------------------------ connection
    async def open(self) -> None:
        """Connect and create the tables.

        Raises:
            StoreError: the server cannot be reached or refuses.
        """
        async with self._lock:
            conn = await self._connection()
            try:
                with anyio.fail_after(self.timeout):
                    async with conn.transaction():
                        await conn.execute(CREATE_LOCK, (self._lock_key,))
                        for statement in self._create:
                            await conn.execute(statement)
            except (psycopg.Error, TimeoutError) as exc:
                await self._drop()
                raise StoreError(
                    f"the cluster's lease tables in {self.display_url} are not usable: "
                    f"{failure(exc)}"
                ) from None

    async def close(self) -> None:
        """Close the connection."""
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.move_on_after(1, shield=True):
                await conn.close()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                with anyio.fail_after(self.timeout):
                    self._conn = await psycopg.AsyncConnection.connect(
                        self._url, **connect_options(self.timeout, "wagate-cluster")
                    )
            except (psycopg.Error, TimeoutError) as exc:
                raise StoreError(
                    f"cannot connect to PostgreSQL {self.display_url} for the cluster's leases: "
                    f"{failure(exc)}"
                ) from None
        return self._conn

    async def _run(self, steps: Any) -> Any:
        """Run ``await steps(conn)`` under the lock, with the timeout; drop a failed connection."""
        async with self._lock:
            conn = await self._connection()
            try:
                with anyio.fail_after(self.timeout):
                    return await steps(conn)
            except NotOwner:
                raise
            except (psycopg.Error, TimeoutError) as exc:
                await self._drop()
                raise StoreError(f"cluster leases in {self.display_url}: {failure(exc)}") from None

    # ------------------------------------------------------------------ members
    async def join(self, member: str) -> float:
        """Register ``member`` as alive; return when (``anyio.current_time()``) it dies."""
        started = anyio.current_time()

        async def steps(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._prune)
            await conn.execute(self._join, (member,))

        await self._run(steps)
        return started + self.ttl

    async def renew(self, member: str) -> float | None:
        """Push ``member``'s life forward; ``None`` when it is already dead (or evicted).

        Returns the time (``anyio.current_time()``) the member is alive until at
        least: the database adds ``ttl`` to its own clock after this call started.
        """
        started = anyio.current_time()

        async def steps(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = await conn.execute(self._renew, (member,))
            return await cursor.fetchone() is not None

        alive = await self._run(steps)
        return started + self.ttl if alive else None

    async def leave(self, member: str) -> None:
        """Mark ``member`` dead now (its tenants are free at once)."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._leave, (member,))

        await self._run(steps)

    async def since_renewal(self, member: str) -> float | None:
        """Seconds since ``member`` last renewed, by the database's clock (``None``: unknown)."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> float | None:
            cursor = await conn.execute(self._since_renewal, (member,))
            row = await cursor.fetchone()
            return None if row is None else float(row[0])

        result: float | None = await self._run(steps)
        return result

    async def live_members(self) -> list[str]:
        """The members alive now, sorted."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> list[str]:
            cursor = await conn.execute(self._live)
            return [row[0] for row in await cursor.fetchall()]

        result: list[str] = await self._run(steps)
        return result

    # ------------------------------------------------------------------ leases
    async def held(self, member: str) -> dict[str, int]:
        """The tenants whose lease ``member`` holds, with their tokens."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
            cursor = await conn.execute(self._held, (member,))
            return {row[0]: int(row[1]) for row in await cursor.fetchall()}

        result: dict[str, int] = await self._run(steps)
        return result

    async def holder(self, tenant: str) -> tuple[str | None, bool]:
        """The member holding ``tenant`` (``None`` if none) and whether it is alive."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> tuple[str | None, bool]:
            cursor = await conn.execute(self._holder, (tenant,))
            row = await cursor.fetchone()
            return (None, False) if row is None else (row[0], bool(row[1]))

        result: tuple[str | None, bool] = await self._run(steps)
        return result

    async def orphans(self) -> list[Orphan]:
        """Tenants whose holder is dead, and linked tenants that no one holds."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> list[Orphan]:
            cursor = await conn.execute(self._orphans)
            return [Orphan(row[0], row[1], bool(row[2])) for row in await cursor.fetchall()]

        result: list[Orphan] = await self._run(steps)
        return result

    async def claim(self, tenant: str, member: str) -> int:
        """Give ``tenant`` to ``member`` unless a live member holds it; return the token.

        Raises:
            NotOwner: another live member holds the tenant (its id is ``owner``).
            StoreError: PostgreSQL failed, or ``member`` itself is no longer alive.
        """

        async def steps(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction():
                cursor = await conn.execute(self._lock_lease, (tenant,))
                row = await cursor.fetchone()
                if row is None:
                    cursor = await conn.execute(self._insert_lease, (tenant, member))
                    inserted = await cursor.fetchone()
                    if inserted is None:  # another process inserted it first: look again
                        cursor = await conn.execute(self._lock_lease, (tenant,))
                        row = await cursor.fetchone()
                        assert row is not None
                    else:
                        await self._check_self(conn, member, tenant)
                        await conn.execute(self._history_start, (tenant, 1, member))
                        return 1
                holder, token = row[0], int(row[1])
                if holder == member:
                    return token
                ended_at = None
                if holder is not None:
                    cursor = await conn.execute(self._lock_member, (holder,))
                    state = await cursor.fetchone()
                    if state is not None:
                        dead, ended_at = bool(state[0]), state[1]
                        if not dead:
                            raise NotOwner(
                                f"tenant {tenant!r} is held by cluster member {holder}",
                                tenant=tenant,
                                owner=holder,
                            )
                        # A renewal of the dead member waiting on this row fails after us.
                        await conn.execute(self._evict, (holder,))
                await self._check_self(conn, member, tenant)
                cursor = await conn.execute(self._take, (member, tenant))
                taken = await cursor.fetchone()
                assert taken is not None
                await conn.execute(self._history_end, (ended_at, tenant, token))
                await conn.execute(self._history_start, (tenant, int(taken[0]), member))
                return int(taken[0])

        result: int = await self._run(steps)
        return result

    async def _check_self(
        self, conn: psycopg.AsyncConnection[Any], member: str, tenant: str
    ) -> None:
        cursor = await conn.execute(self._lock_member, (member,))
        state = await cursor.fetchone()
        if state is None or bool(state[0]):
            raise StoreError(
                f"cannot take tenant {tenant!r}: this process's cluster membership has lapsed",
                tenant=tenant,
            )

    async def release(self, tenant: str, member: str, token: int) -> None:
        """Give ``tenant`` up (if ``member`` still holds it with ``token``)."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                cursor = await conn.execute(self._release, (tenant, member, token))
                if cursor.rowcount:
                    await conn.execute(self._history_end, (None, tenant, token))

        await self._run(steps)

    async def release_dead(self, orphans: Sequence[Orphan]) -> None:
        """Free unlinked tenants of dead members (they are taken again on their next command)."""

        async def steps(conn: psycopg.AsyncConnection[Any]) -> None:
            for orphan in orphans:
                async with conn.transaction():
                    cursor = await conn.execute(self._lock_lease, (orphan.tenant,))
                    row = await cursor.fetchone()
                    if row is None or row[0] is None or row[0] != orphan.holder:
                        continue
                    cursor = await conn.execute(self._lock_member, (orphan.holder,))
                    state = await cursor.fetchone()
                    if state is not None and not bool(state[0]):
                        continue  # alive after all
                    ended_at = None if state is None else state[1]
                    await conn.execute(self._release, (orphan.tenant, orphan.holder, int(row[1])))
                    await conn.execute(self._history_end, (ended_at, orphan.tenant, int(row[1])))

        await self._run(steps)
