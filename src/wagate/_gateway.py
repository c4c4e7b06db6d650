"""Many tenants in one process: tenant id -> Session, restored on start, closed together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from ._driver import Driver
from ._errors import SessionClosed
from ._hub import Hub, Overflow, Subscription
from ._session import (
    Backoff,
    Callback,
    CallbackSubscription,
    Session,
    drain_callbacks,
    start_callback,
)
from ._store import MemoryStore, SessionStore
from ._validate import validate_tenant

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["DriverFactory", "Gateway"]

log = logging.getLogger("wagate")

DriverFactory = Callable[[str], Driver]
"""Makes the driver for a tenant: ``factory(tenant) -> Driver``."""


class Gateway:
    """Sessions for many tenants, sharing one hub and one store.

    ``async with gateway:`` opens the store and reconnects every tenant that was
    linked before (without a new QR code); leaving closes every session.

    Example:
        ```python
        async with Gateway(lambda tenant: SimulatedDriver()) as gateway:
            session = await gateway.session("acme")
            await session.connect()
            async for event in gateway.events():  # every tenant's events
                ...
        ```

    Args:
        driver_factory: Makes each tenant's driver.
        store: Where linked accounts are remembered (default: in memory).
        backoff: The reconnect policy of every session.
        hub: The hub to publish on (default: a new in-memory one).
        restore: Reconnect linked tenants on start.
    """

    def __init__(
        self,
        driver_factory: DriverFactory,
        *,
        store: SessionStore | None = None,
        backoff: Backoff | None = None,
        hub: Hub | None = None,
        restore: bool = True,
        close_timeout: float = 5.0,
    ) -> None:
        self.driver_factory = driver_factory
        self.store = store if store is not None else MemoryStore()
        self.backoff = backoff
        self.hub = hub if hub is not None else Hub()
        self.restore = restore
        self.close_timeout = close_timeout
        self._sessions: dict[str, Session] = {}
        self._starting: dict[str, anyio.Event] = {}
        self._callbacks: set[CallbackSubscription] = set()
        self._subscriptions: set[Subscription] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._closing = False
        self._closed = anyio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        if self._tg is not None or self._closing:
            raise RuntimeError("a Gateway can be entered once")
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.store)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        if self.restore:
            try:
                await self._restore()
            except BaseException:
                await self.__aexit__(None, None, None)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            with anyio.CancelScope(shield=True):
                await self.aclose()
        finally:
            assert self._stack is not None
            await self._stack.__aexit__(exc_type, exc, tb)

    async def _restore(self) -> None:
        rows = await self.store.load_all()
        linked = [row.tenant for row in rows if row.account is not None]
        for tenant in linked:
            session = await self.session(tenant)
            await session.connect()
        if linked:
            log.info("restored %d linked tenant(s)", len(linked))

    async def aclose(self) -> None:
        """Close every session (concurrently), then the hub's subscribers. Safe twice."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            async with anyio.create_task_group() as tg:
                for session in list(self._sessions.values()):
                    tg.start_soon(session.aclose)
            self.hub.close()
            await drain_callbacks(self._callbacks, self.close_timeout, None)
        finally:
            self._closed.set()

    def _check_open(self) -> anyio.abc.TaskGroup:
        if self._closing:
            raise SessionClosed("the gateway is closed")
        if self._tg is None:
            raise RuntimeError("the gateway is not started: use 'async with Gateway(...)'")
        return self._tg

    # ------------------------------------------------------------------ sessions
    async def session(self, tenant: str) -> Session:
        """Return ``tenant``'s session, creating (not connecting) it if needed.

        Raises:
            InvalidTenant: the tenant id is malformed.
            SessionClosed: the gateway is closed.
        """
        validate_tenant(tenant)
        tg = self._check_open()
        while True:
            existing = self._sessions.get(tenant)
            if existing is not None and not existing.closed:
                return existing
            pending = self._starting.get(tenant)
            if pending is None:
                break
            await pending.wait()
        started = self._starting[tenant] = anyio.Event()
        try:
            session = Session(
                tenant,
                self.driver_factory(tenant),
                store=self.store,
                backoff=self.backoff,
                hub=self.hub,
                close_timeout=self.close_timeout,
            )
            await tg.start(self._host, session)
            self._sessions[tenant] = session
            return session
        finally:
            del self._starting[tenant]
            started.set()

    async def _host(
        self,
        session: Session,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        async with session:
            task_status.started()
            await session.wait_closed()
        if self._sessions.get(session.tenant) is session:
            del self._sessions[session.tenant]

    def get(self, tenant: str) -> Session | None:
        """Return ``tenant``'s session if it exists, without creating it."""
        session = self._sessions.get(tenant)
        return session if session is not None and not session.closed else None

    @property
    def tenants(self) -> list[str]:
        """The tenants that have a session now, sorted."""
        return sorted(t for t, s in self._sessions.items() if not s.closed)

    # ------------------------------------------------------------------ subscribing
    def events(
        self, tenant: str | None = None, *, overflow: Overflow = Overflow.RAISE
    ) -> Subscription:
        """Iterate over one tenant's events, or every tenant's with ``None``.

        Each stream starts with the current state of its tenant(s).  A tenant
        subscription outlives the tenant's session: it sees the next session of
        that tenant too.
        """
        if tenant is not None:
            validate_tenant(tenant)
        self._check_open()
        return self.hub.subscribe(tenant, overflow=overflow)

    def subscribe(
        self,
        callback: Callback,
        tenant: str | None = None,
        *,
        overflow: Overflow = Overflow.GAP,
        sync_in_thread: bool = True,
    ) -> CallbackSubscription:
        """Call ``callback`` with one tenant's events, or every tenant's with ``None``.

        See :meth:`Session.subscribe` for how callbacks are run and isolated.
        """
        tg = self._check_open()
        return start_callback(
            tg,
            self.events(tenant, overflow=overflow),
            callback,
            self._callbacks,
            tenant,
            sync_in_thread=sync_in_thread,
        )
