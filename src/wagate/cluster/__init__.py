"""Many gateway processes, on several machines if need be, acting as one gateway.

Needs the ``redis`` and ``postgres`` extras: ``pip install 'wagate[redis,postgres]'``.

Example:
    ```python
    from wagate import Gateway
    from wagate.cluster import Cluster

    cluster = Cluster("redis://redis.internal:6379/0", "postgresql://wagate@db.internal/wagate")
    async with Gateway(make_driver, cluster=cluster) as gateway:
        await gateway.send_text("acme", "+628123456789", "hello")  # from any process
    ```

Every process of a cluster runs the same code with the same Redis URL,
PostgreSQL URL and cluster ``name``.  Then:

- **one owner per tenant**: a tenant's WhatsApp session runs in exactly one
  process, the holder of the tenant's *lease* in PostgreSQL.  Processes renew
  their membership every ``lease_ttl / 4`` seconds; one that stops (even
  ``kill -9``) loses its tenants ``lease_ttl`` seconds later, and live processes
  take them over and resume them from the store, without a new QR code.
  A process seen gone (its command channel in Redis has had no listener for
  :attr:`Cluster.presence_grace` seconds, as a killed process's connections
  close at once, *and* it has missed a renewal in PostgreSQL, so that a live
  process cut off from Redis only is not taken for dead) is reported before
  that: one survivor publishes
  ``Disconnected(owner_lost, will_retry=True)`` for each of its tenants, so
  clients anywhere stop showing them connected; ``Connected`` follows the
  takeover.
  Tenants are spread over the live processes by rendezvous hashing, and spread
  again when a process joins or leaves.  Each lease carries a *fencing token*:
  the session store refuses a write, and Redis refuses an event, made with a
  token that is no longer the tenant's current one, so a process that was
  paused past its lease cannot write or emit for a tenant it lost;
- **events everywhere**: each event goes through Redis to every process's hub,
  so callbacks, SSE streams and Socket.IO sockets see every tenant's events
  whichever process they are in; the replay log is in Redis, so an SSE client
  resumes with ``Last-Event-ID`` on any process.  Webhooks are posted once, by
  the process that holds the tenant (see :attr:`wagate.Hub.local`);
- **commands from anywhere**: :meth:`wagate.Gateway.send_text`, ``restart``,
  ``logout``, ``request_pairing_code``, ``status`` (and the REST routes built on
  them) run in the process that holds the tenant, wherever they are called,
  and answer with its result; a tenant whose holder is gone and not yet
  replaced gets :class:`~wagate.NoOwner`, a holder that does not answer
  :class:`~wagate.OwnerTimeout`.

The deployment guide (``docs/deployment.md``) says what each part stores and
what happens when one fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import redis.asyncio
import redis.exceptions

from .._commands import Command
from .._errors import InvalidInput, NotOwner, OwnerTimeout, StoreError, WagateError
from .._gateway import Ownership
from .._hub import Hub
from .._store import SessionStore
from .._validate import validate_tenant
from ..stores.postgres import PostgresStore
from ._lease import rendezvous
from ._parts import DEFAULT_NAME, ClusterParts, new_member
from ._redis import REDIS_DOWN, BackplaneError, check_redis, redis_display_url, redis_problem
from ._share import TenantShare
from ._watch import MemberWatch

if TYPE_CHECKING:
    from .._gateway import Gateway

__all__ = [
    "DEFAULT_NAME",
    "BackplaneError",
    "Cluster",
    "ClusterParts",
    "check_redis",
    "redis_display_url",
]

log = logging.getLogger("wagate.cluster")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class Cluster(MemberWatch, TenantShare, Ownership):
    """The processes of one gateway on one Redis and one PostgreSQL (see the module).

    Give it to a gateway: ``Gateway(driver_factory, cluster=Cluster(redis_url,
    database))``; the gateway then uses the cluster's store (a
    :class:`~wagate.stores.postgres.PostgresStore`, table ``<name>_sessions``) and
    hub, and the cluster decides which tenants this process runs.

    Args:
        redis_url: The Redis server (``redis://[user:password@]host:6379/0``).
        database: The PostgreSQL database (``postgresql://...``): sessions and leases.
        name: Keeps clusters that share a Redis or a database apart: the Redis key
            prefix (``<name>:``) and the tables' prefix; lower-case letters,
            digits and ``_``.
        lease_ttl: Seconds after its last renewal that a silent process loses its
            tenants (renewed every ``lease_ttl / 4``); a takeover happens within
            about ``lease_ttl * 1.5`` seconds of a crash.
        command_timeout: Seconds a routed command waits for the tenant's holder.
        replay_length: Events kept per tenant in the shared replay log.
        replay_age: How long a tenant's replay log lives after its last event.
        stream_length: Events kept in the stream every process reads (how far a
            process cut off from Redis can catch up).
        outbox: Events kept for Redis while it is unreachable (then the oldest
            are dropped and reported as a ``stream:gap``).
        connect_timeout: Seconds to wait for Redis or PostgreSQL to answer.

        parts: The collaborators, assembled already (instead of the two URLs):
            what :meth:`from_urls` makes, or a test's own.  Their settings
            (lease, replay log) are the cluster's then.

    Raises:
        InvalidInput: a URL, the name or a number is malformed.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        database: str | None = None,
        *,
        parts: ClusterParts | None = None,
        name: str = DEFAULT_NAME,
        lease_ttl: float = 15.0,
        command_timeout: float = 10.0,
        replay_length: int = 1024,
        replay_age: timedelta = timedelta(hours=1),
        stream_length: int = 100_000,
        outbox: int = 10_000,
        connect_timeout: float = 5.0,
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"cluster name {name!r} is invalid: use 1-40 lower-case letters, digits and "
                "'_', starting with a letter"
            )
        for label, value, low in (
            ("lease_ttl", lease_ttl, 0.5),
            ("command_timeout", command_timeout, 0.1),
            ("connect_timeout", connect_timeout, 0.1),
        ):
            if not isinstance(value, (int, float)) or not value >= low:
                raise InvalidInput(f"{label} must be a number of seconds >= {low}, got {value!r}")
        for label, count in (
            ("replay_length", replay_length),
            ("stream_length", stream_length),
            ("outbox", outbox),
        ):
            if not isinstance(count, int) or count < 1:
                raise InvalidInput(f"{label} must be a positive integer, got {count!r}")
        if parts is None:
            if redis_url is None or database is None:
                raise InvalidInput("a Cluster needs a Redis URL and a PostgreSQL URL (or parts=)")
            parts = ClusterParts.from_urls(
                redis_url,
                database,
                name=name,
                lease_ttl=lease_ttl,
                replay_length=replay_length,
                replay_age=replay_age,
                stream_length=stream_length,
                outbox=outbox,
                connect_timeout=connect_timeout,
            )
        elif redis_url is not None or database is not None:
            raise InvalidInput("give a Cluster either its two URLs or its parts, not both")
        self.name = name
        self.redis_url = redis_display_url(parts.redis_url)
        """The Redis URL without its password."""
        self.lease_ttl = parts.leases.ttl
        self.command_timeout = float(command_timeout)
        self.connect_timeout = float(connect_timeout)
        self._redis_url = parts.redis_url
        self._client = parts.client
        self.store: PostgresStore = parts.store
        self.member = new_member()
        """This process's id in the cluster (host:pid:random; a new one after a lapse)."""
        self.backplane = parts.backplane
        backplane = parts.backplane
        self.hub: Hub = Hub(
            buffer=backplane.log_length, replay_age=backplane.replay_age, backplane=backplane
        )
        backplane.bind(self.hub, token_for=self._token_for, member=lambda: self.member)
        self.leases = parts.leases
        self.router = parts.router
        self.router.bind(self._execute_here)
        self._gateway: Gateway | None = None
        self._owned: dict[str, int] = {}
        self._leaving: set[str] = set()
        self._taking: set[str] = set()
        self._busy: dict[str, int] = {}
        self._deadline = 0.0
        self._members: list[str] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self._keeper: anyio.CancelScope | None = None
        self._running = False
        self._stopping = False
        self._stop = anyio.Event()
        self._done = anyio.Event()
        self._pg_down = False
        self._limiter = anyio.CapacityLimiter(16)
        self._lost: set[str] = set()

    @classmethod
    def from_urls(cls, redis_url: str, database: str, **options: Any) -> Cluster:
        """The cluster of one Redis and one PostgreSQL database, its parts made from the URLs.

        The same as ``Cluster(redis_url, database, **options)``.

        Example:
            ```python
            cluster = Cluster.from_urls("redis://cache:6379/0", "postgresql://wagate@db/wagate")
            ```
        """
        return cls(redis_url, database, **options)

    # ------------------------------------------------------------------ facts
    @property
    def interval(self) -> float:
        """Seconds between two renewals (and looks for tenants to take)."""
        return self.lease_ttl / 4

    @property
    def takeover_bound(self) -> float:
        """Seconds within which a crashed process's tenants are held elsewhere again."""
        return self.lease_ttl + 2 * self.interval

    @property
    def presence_grace(self) -> float:
        """Seconds a member must be seen gone from Redis before its tenants are reported lost.

        Longer than a live process takes to subscribe again after a dropped Redis
        connection, so that a blip is not mistaken for a death.  It must also be
        overdue for a renewal by this much (its last one ``interval`` + this ago).
        """
        return min(3.0, self.lease_ttl / 2)

    @property
    def owned(self) -> dict[str, int]:
        """The tenants this process holds now, with their lease tokens."""
        return dict(self._owned) if self._valid() else {}

    @property
    def members(self) -> list[str]:
        """The live members as of the last renewal."""
        return list(self._members)

    def _valid(self) -> bool:
        return anyio.current_time() < self._deadline

    def _token_for(self, tenant: str) -> int | None:
        token = self._owned.get(tenant)
        if token is None or not self._valid():
            return None
        return token

    # ------------------------------------------------------------------ Ownership
    async def run(
        self,
        gateway: Gateway,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Join the cluster and take this process's share of the tenants, until :meth:`stop`.

        Raises:
            BackplaneError: Redis is unreachable or refuses the login.
            StoreError: PostgreSQL is unreachable or refuses.
        """
        if self._gateway is not None:
            raise RuntimeError("a Cluster serves one gateway, once")
        self._gateway = gateway
        try:
            await self._connect()
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self.backplane.read)
                tg.start_soon(self.backplane.flush_forever)
                tg.start_soon(self.router.listen, tg)
                with anyio.fail_after(self.connect_timeout):
                    await self.router.listen_as(self.member)
                self._deadline = await self._join()
                self._members = await self.leases.live_members()
                self._running = True
                log.info(
                    "joined cluster %r as %s (Redis %s, PostgreSQL %s, lease %.1f s)",
                    self.name,
                    self.member,
                    self.redis_url,
                    self.store.display_url,
                    self.lease_ttl,
                )
                task_status.started()
                self._keeper = anyio.CancelScope()
                tg.start_soon(self._keep, self._keeper)
                tg.start_soon(self._watch)
                await self._stop.wait()
                tg.cancel_scope.cancel()
        finally:
            self._running = False
            self._tg = None
            with anyio.CancelScope(shield=True):
                await self.leases.close()
                with anyio.move_on_after(1):
                    await self._client.aclose()
            self._done.set()

    async def _connect(self) -> None:
        try:
            with anyio.fail_after(self.connect_timeout):
                await self.backplane.check()
                await self.backplane.start_reading()
                states = await self.backplane.current_states()
        except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise redis_problem(self._redis_url, exc) from None
        for tenant, events in states.items():
            self.hub.restore_current(tenant, events)
        await self.leases.open()

    async def _join(self) -> float:
        return await self.leases.join(self.member)

    async def stop(self) -> None:
        """Close this process's sessions, give their tenants up, leave; safe twice."""
        if not self._running or self._stopping:
            if self._gateway is not None and self._stopping:
                await self._done.wait()
            return
        self._stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
        gateway = self._gateway
        assert gateway is not None
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for tenant in list(self._owned):
                    tg.start_soon(self._hand_over, tenant)
            await self.backplane.flushed(2.0)
            try:
                await self.leases.leave(self.member)
            except StoreError as exc:
                log.warning(
                    "could not leave the cluster cleanly (%s); it notices in %.0f s",
                    exc,
                    self.lease_ttl,
                )
            self._stop.set()
            await self._done.wait()

    async def claim(self, tenant: str) -> SessionStore:
        """Hold ``tenant`` here (see :meth:`wagate.Ownership.claim`)."""
        if self._stopping or tenant in self._leaving:
            raise NotOwner("this process is handing the tenant over", tenant=tenant)
        token = self._owned.get(tenant) if self._valid() else None
        if token is None:
            if not self._valid():
                raise NotOwner("this process's cluster membership has lapsed", tenant=tenant)
            token = await self.leases.claim(tenant, self.member)
            try:
                await self.backplane.raise_fence(tenant, token)
                await self.backplane.caught_up(1.0)
            except REDIS_DOWN as exc:
                log.warning("tenant %r: Redis unreachable while taking it (%s)", tenant, exc)
            self._owned[tenant] = token
            stored = await self.store.load(tenant)
            if stored is not None and stored.account is not None and self._tg is not None:
                self._tg.start_soon(self._resume, tenant)
            log.info("took tenant %r (lease token %d)", tenant, token)
        return self.store.fenced(tenant, self.leases.guard, (tenant, token))

    async def check(self) -> None:
        """Ping Redis (a readiness probe): raises when it does not answer."""
        await self.backplane.check()

    async def call(self, tenant: str, command: str, args: Mapping[str, Any]) -> Any:
        """Run ``command`` where ``tenant`` is held (see :meth:`wagate.Ownership.call`)."""
        validate_tenant(tenant)
        start = anyio.current_time()
        deadline = start + self.command_timeout
        attempt = 0
        while True:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise _timeout(tenant, command, self.command_timeout)
            try:
                with anyio.fail_after(remaining):
                    return await self._call_once(tenant, command, args, remaining)
            except NotOwner:
                pass  # it moved meanwhile: look again
            except TimeoutError:
                raise _timeout(tenant, command, self.command_timeout) from None
            attempt += 1
            await anyio.sleep(min(0.02 * 2**attempt, 0.5))

    async def _call_once(
        self, tenant: str, command: str, args: Mapping[str, Any], remaining: float
    ) -> Any:
        if self._token_for(tenant) is not None and tenant not in self._leaving:
            return await self._execute_here(tenant, command, args)
        holder, alive = await self.leases.holder(tenant)
        if holder is not None and alive:
            if holder == self.member:
                return await self._execute_here(tenant, command, args)
            if self._mutates(command):
                return await self.router.send(holder, tenant, command, args, remaining)
            # A read may be asked again elsewhere if the holder lost the tenant meanwhile
            # (paused, say); a command that changes something may not: it might have run.
            try:
                return await self.router.send(
                    holder, tenant, command, args, min(remaining, self.lease_ttl)
                )
            except OwnerTimeout:
                if await self.leases.holder(tenant) == (holder, True):
                    raise
                raise NotOwner("the tenant's holder changed", tenant=tenant) from None
        # Nobody (alive) holds it: the member it belongs to takes it.
        self._members = await self.leases.live_members()
        candidates = [m for m in self._members if m != holder] or [self.member]
        target = rendezvous(tenant, candidates)
        if target is not None and target != self.member:
            try:
                return await self.router.send(target, tenant, command, args, remaining)
            except NotOwner:
                raise
            except WagateError as exc:
                if exc.code != "no_owner":
                    raise
                # That member is gone too: take the tenant here.
        return await self._execute_here(tenant, command, args)

    def _mutates(self, command: str) -> bool:
        # What is not declared read-only may have run when its answer was lost.
        handler = None if self._gateway is None else self._gateway.commands.get(command)
        return not isinstance(handler, Command) or handler.mutates

    async def _execute_here(self, tenant: str, command: str, args: Mapping[str, Any]) -> Any:
        gateway = self._gateway
        if gateway is None or self._stopping:
            raise NotOwner("this process is leaving the cluster", tenant=tenant)
        validate_tenant(tenant)
        session = gateway.get(tenant)
        if session is not None and self._token_for(tenant) is None:
            # A session whose lease ran out (this process was paused, say) acts no more.
            self._owned.pop(tenant, None)
            if self._tg is not None:
                self._tg.start_soon(session.aclose)
            raise NotOwner("this process no longer holds the tenant", tenant=tenant)
        self._busy[tenant] = self._busy.get(tenant, 0) + 1
        try:
            return await gateway.execute(tenant, command, args)
        finally:
            if self._busy[tenant] == 1:
                del self._busy[tenant]
            else:
                self._busy[tenant] -= 1

    def __repr__(self) -> str:
        return f"<Cluster {self.name!r} member={self.member} redis={self.redis_url}>"


def _timeout(tenant: str, command: str, seconds: float) -> OwnerTimeout:
    return OwnerTimeout(
        f"no process answered {command!r} for the tenant within {seconds:.1f} s", tenant=tenant
    )
