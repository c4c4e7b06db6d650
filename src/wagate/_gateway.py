"""Many tenants in one process: tenant id -> Session, restored on start, closed together.

With an :class:`Ownership` (a cluster, see :mod:`wagate.cluster`) several gateway
processes act as one: each runs the sessions of the tenants it holds, and the
tenant commands (:meth:`Gateway.send_text`, :meth:`Gateway.status`...) reach the
process that holds the tenant, wherever they are called.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.abc

from ._callback_group import Callback, CallbackGroup, CallbackSubscription
from ._commands import (
    ADD_PARTICIPANTS,
    BLOCK,
    CHECK_NUMBERS,
    COMMANDS,
    CONNECT,
    CONTACT,
    CREATE_GROUP,
    DEMOTE_PARTICIPANTS,
    DOWNLOAD,
    EDIT,
    GROUP,
    GROUP_INVITE_LINK,
    GROUPS,
    JOIN_GROUP,
    LEAVE_GROUP,
    LOGOUT,
    MARK_READ,
    PROFILE_PICTURE,
    PROMOTE_PARTICIPANTS,
    REACT,
    REMOVE_PARTICIPANTS,
    REQUEST_PAIRING_CODE,
    RESTART,
    REVOKE,
    SEND,
    SEND_CHAT_STATE,
    SEND_TEXT,
    SET_GROUP_DESCRIPTION,
    SET_GROUP_SUBJECT,
    SET_PRESENCE,
    STATUS,
    SUBSCRIBE_PRESENCE,
    UNBLOCK,
    Command,
)
from ._driver import Driver
from ._errors import InvalidInput, SessionClosed
from ._events import (
    State,
    Status,
)
from ._health import CHECK_TIMEOUT, Readiness, readiness
from ._hub import Hub, Overflow, Subscription
from ._lifecycle import ClosingStack
from ._media import MediaLimits, UrlPolicy
from ._mediastore import MEMORY_MEDIA, MediaStore
from ._pacing import Pacing
from ._session import Backoff, Session
from ._store import MemoryStore, SessionStore
from ._validate import validate_tenant
from ._wire import status_of as _status_from

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CommandHandler", "DriverFactory", "Gateway", "Ownership", "tenant_command"]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("wagate")

DriverFactory = Callable[[str], Driver]
"""Makes the driver for a tenant: ``factory(tenant) -> Driver``."""

CommandHandler = Callable[[Session, Mapping[str, Any]], Awaitable[Any]]
"""Runs a named command on a tenant's session: ``await handler(session, args)``.

In a cluster the arguments and the result cross processes: give JSON values, and
return ``None``, a JSON object, an :class:`~wagate.Event` or a :class:`~wagate.Status`.
"""


_COMMANDS: dict[str, CommandHandler] = {command.name: command for command in COMMANDS}


def tenant_command(command: Command[P, R]) -> Callable[Concatenate[Gateway, str, P], Awaitable[R]]:
    """The :class:`Gateway` method of a command: ``gateway.name(tenant, *args) -> result``.

    In the class body, ``send_text = tenant_command(SEND_TEXT)`` gives
    ``await gateway.send_text(tenant, to, text) -> MessageSent`` (for mypy too),
    which runs :meth:`Gateway.run`.
    """

    async def method(gateway: Gateway, tenant: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await gateway.run(command, tenant, *args, **kwargs)

    method.__name__ = command.name
    method.__qualname__ = f"Gateway.{command.name}"
    method.__doc__ = f"{command.summary}\n\nOn ``tenant``'s session, in whichever process runs it"
    twin = inspect.getattr_static(Session, command.name, None)
    if twin is not None:
        role = "attr" if isinstance(twin, property) else "meth"
        method.__doc__ += f" (see :{role}:`Session.{command.name}`)"
    method.__doc__ += "."
    gateway = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    tenant = inspect.Parameter("tenant", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str")
    own = command.signature
    method.__signature__ = own.replace(  # type: ignore[attr-defined]
        parameters=[gateway, tenant, *own.parameters.values()]
    )
    return method


class Ownership(abc.ABC):
    """Which process runs which tenant: the seam a cluster plugs into (:mod:`wagate.cluster`).

    A gateway given one runs it in its task group (:meth:`run`) for as long as the
    gateway is open, publishes on its :attr:`hub` (whose backplane carries the
    events to every process), keeps sessions in its :attr:`store`, runs a tenant's
    session only after :meth:`claim` and sends tenant commands through :meth:`call`.
    """

    hub: Hub
    """The hub every session of the gateway publishes on (with the cluster's backplane)."""
    store: SessionStore
    """The store the gateway opens; sessions write through :meth:`claim`'s views of it."""

    @abc.abstractmethod
    async def run(
        self,
        gateway: Gateway,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Join, report started, and keep this process's share of the tenants until stopped."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close this process's sessions and hand their tenants over; then leave."""

    @abc.abstractmethod
    async def claim(self, tenant: str) -> SessionStore:
        """Hold ``tenant`` in this process; return the store its session must write through.

        Raises:
            NotOwner: another live process holds the tenant.
        """

    async def check(self) -> None:  # noqa: B027 - nothing to check by default
        """Raise if what the ownership relies on (a cluster's Redis) does not answer."""

    @abc.abstractmethod
    async def call(self, tenant: str, command: str, args: Mapping[str, Any]) -> Any:
        """Run ``command`` on ``tenant``'s session in whichever process holds it.

        Raises:
            NoOwner: no process can be reached for the tenant now.
            OwnerTimeout: the owner did not answer in time.
        """


class Gateway(ClosingStack):
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
        cluster: Share the tenants with other processes (a
            :class:`wagate.cluster.Cluster`); its store and hub are used, and it
            decides which tenants this process restores.
        media_store: Where the sessions keep media (default: in memory, bounded;
            the CLI keeps it in files under its data directory).  In a cluster,
            give every process the same store (a shared directory) so that any
            of them can serve ``GET /api/media/{id}`` from it.
        media_limits: The size limit of each media kind (default: WhatsApp's).
        url_policy: How media URLs are fetched (default: 15 s, public addresses only).
        pacing: How fast each tenant may send (default: unpaced; see :class:`~wagate.Pacing`).
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
        cluster: Ownership | None = None,
        media_store: MediaStore | None = None,
        media_limits: MediaLimits | None = None,
        url_policy: UrlPolicy | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        if cluster is not None:
            if store is not None or hub is not None:
                raise InvalidInput(
                    "a gateway in a cluster uses the cluster's store and hub: "
                    "pass cluster= without store= or hub="
                )
            store, hub = cluster.store, cluster.hub
        self.cluster = cluster
        self.commands: dict[str, CommandHandler] = dict(_COMMANDS)
        """The commands :meth:`command` runs, by name; add your own (the same in every process)."""
        self.driver_factory = driver_factory
        self.store = store if store is not None else MemoryStore()
        self.backoff = backoff
        self.hub = hub if hub is not None else Hub()
        self.restore = restore
        self.close_timeout = close_timeout
        self.media_store: MediaStore = media_store if media_store is not None else MEMORY_MEDIA
        """Where every session keeps its tenant's media (the REST API streams from it)."""
        self.media_limits = media_limits
        self.url_policy = url_policy
        self.pacing = pacing
        """How fast each tenant may send (``None``: as fast as the host asks)."""
        self._sessions: dict[str, Session] = {}
        self._starting: dict[str, anyio.Event] = {}
        self._callbacks = CallbackGroup()
        self._tg: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._closing = False
        self._closed = anyio.Event()

    @property
    def simulated(self) -> bool:
        """Whether the gateway's drivers are simulated ones, as its driver factory says.

        A factory says so with a ``simulated`` attribute that is ``True``, as
        :class:`~wagate.drivers.simulator.SimulatedDrivers` has.  The REST API and
        the dashboard read it to offer the simulated-phone routes and panel.
        """
        return getattr(self.driver_factory, "simulated", False) is True

    @property
    def local_sessions(self) -> tuple[Session, ...]:
        """The sessions this process runs now (in a cluster, its share of the tenants)."""
        return tuple(self._sessions.values())

    @property
    def started(self) -> bool:
        """Whether the gateway is entered (its tenants restored) and not closing."""
        return self._stack is not None and not self._closing

    async def readiness(self, *, timeout: float = CHECK_TIMEOUT) -> Readiness:
        """Whether the gateway can serve: started, its store and its cluster's Redis answering.

        What ``GET /readyz`` answers.  Each check runs within ``timeout`` seconds.
        """
        return await readiness(self, timeout=timeout)

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
        if self.restore or self.cluster is not None:
            try:
                if self.cluster is not None:
                    await self._tg.start(self.cluster.run, self)
                else:
                    await self._restore()
            except BaseException:
                await self.__aexit__(None, None, None)
                raise
        return self

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
            if self.cluster is not None:
                await self.cluster.stop()
            async with anyio.create_task_group() as tg:
                for session in list(self._sessions.values()):
                    tg.start_soon(session.aclose)
            self.hub.close()
            await self._callbacks.drain(self.close_timeout, None)
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
            store = self.store if self.cluster is None else await self.cluster.claim(tenant)
            session = Session(
                tenant,
                self.driver_factory(tenant),
                store=store,
                backoff=self.backoff,
                hub=self.hub,
                close_timeout=self.close_timeout,
                on_closed=self._forget,
                media_store=self.media_store,
                media_limits=self.media_limits,
                url_policy=self.url_policy,
                pacing=self.pacing,
            )
            # The session runs in the gateway's task group: an idle tenant costs no
            # task of its own.
            await session.start_in(tg)
            self._sessions[tenant] = session
            return session
        finally:
            del self._starting[tenant]
            started.set()

    async def wait_started(self, tenant: str) -> None:
        """Wait until a session of ``tenant`` that is being created now has started.

        Returns at once when none is.  A cluster that gives a tenant up waits so,
        lest a session created meanwhile run after its lease is gone.
        """
        starting = self._starting.get(tenant)
        if starting is not None:
            await starting.wait()

    def _forget(self, session: Session) -> None:
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

    def known_status(self, tenant: str) -> Status:
        """``tenant``'s status as this process knows it, at once.

        Its session's status when this process runs it; in a cluster, else, the
        state its owner last published; else ``disconnected``.
        """
        session = self.get(tenant)
        if session is not None:
            return session.status
        if self.cluster is not None:
            return _status_from(tenant, self.hub.current(tenant))
        return Status(tenant=tenant, state=State.DISCONNECTED)

    # ------------------------------------------------------------------ commands
    async def command(self, tenant: str, name: str, args: Mapping[str, Any] | None = None) -> Any:
        """Run the command ``name`` on ``tenant``'s session, wherever the session runs.

        Without a cluster the session is this process's (created if needed); in a
        cluster the command goes to the process that holds the tenant and its
        result (or error) comes back.

        Raises:
            InvalidInput: no command of that name.
            NoOwner: (cluster) no process can be reached for the tenant now.
            OwnerTimeout: (cluster) the owner did not answer in time.
        """
        validate_tenant(tenant)
        self._check_open()
        if name not in self.commands:
            raise InvalidInput(f"there is no command {name!r}", tenant=tenant)
        arguments = dict(args or {})
        if self.cluster is not None:
            return await self.cluster.call(tenant, name, arguments)
        return await self.execute(tenant, name, arguments)

    async def execute(self, tenant: str, name: str, args: Mapping[str, Any]) -> Any:
        """Run a command on this process's session of ``tenant`` (what the owner runs).

        Raises:
            InvalidInput: no command of that name.
            NotOwner: (cluster) another process holds the tenant.
        """
        handler = self.commands.get(name)
        if handler is None:
            raise InvalidInput(f"there is no command {name!r}", tenant=tenant)
        session = await self.session(tenant)
        return await handler(session, args)

    async def run(
        self, command: Command[P, R], tenant: str, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run a declared command on ``tenant``, with its arguments checked and its result typed.

        What each tenant method (:meth:`send_text`, :meth:`status`...) does: check the
        arguments here (before they travel), :meth:`command` by name, and check that the
        result is of the command's type.

        Raises:
            TypeError: the arguments do not fit the command, or the handler
                registered under its name returned another type.
        """
        # Only a cluster carries arguments as JSON; here they stay values (no media in base64).
        local = self.cluster is None
        arguments = command.values(*args, **kwargs) if local else command.arguments(*args, **kwargs)
        return command.check_result(await self.command(tenant, command.name, arguments))

    status = tenant_command(STATUS)
    connect = tenant_command(CONNECT)
    send_text = tenant_command(SEND_TEXT)
    restart = tenant_command(RESTART)
    logout = tenant_command(LOGOUT)
    request_pairing_code = tenant_command(REQUEST_PAIRING_CODE)
    send = tenant_command(SEND)
    react = tenant_command(REACT)
    edit = tenant_command(EDIT)
    revoke = tenant_command(REVOKE)
    mark_read = tenant_command(MARK_READ)
    download = tenant_command(DOWNLOAD)
    set_presence = tenant_command(SET_PRESENCE)
    send_chat_state = tenant_command(SEND_CHAT_STATE)
    subscribe_presence = tenant_command(SUBSCRIBE_PRESENCE)
    groups = tenant_command(GROUPS)
    group = tenant_command(GROUP)
    create_group = tenant_command(CREATE_GROUP)
    leave_group = tenant_command(LEAVE_GROUP)
    set_group_subject = tenant_command(SET_GROUP_SUBJECT)
    set_group_description = tenant_command(SET_GROUP_DESCRIPTION)
    add_participants = tenant_command(ADD_PARTICIPANTS)
    remove_participants = tenant_command(REMOVE_PARTICIPANTS)
    promote_participants = tenant_command(PROMOTE_PARTICIPANTS)
    demote_participants = tenant_command(DEMOTE_PARTICIPANTS)
    group_invite_link = tenant_command(GROUP_INVITE_LINK)
    join_group = tenant_command(JOIN_GROUP)
    check_numbers = tenant_command(CHECK_NUMBERS)
    contact = tenant_command(CONTACT)
    profile_picture = tenant_command(PROFILE_PICTURE)
    block = tenant_command(BLOCK)
    unblock = tenant_command(UNBLOCK)

    # ------------------------------------------------------------------ subscribing
    def events(
        self,
        tenant: str | None = None,
        *,
        overflow: Overflow = Overflow.RAISE,
        local: bool = False,
    ) -> Subscription:
        """Iterate over one tenant's events, or every tenant's with ``None``.

        Each stream starts with the current state of its tenant(s).  A tenant
        subscription outlives the tenant's session: it sees the next session of
        that tenant too.  In a cluster it carries the events of every process;
        ``local=True`` keeps only those of this process's own sessions (what must
        be done once per event cluster-wide, such as posting a webhook).
        """
        if tenant is not None:
            validate_tenant(tenant)
        self._check_open()
        hub = self.hub.local if local else self.hub
        return hub.subscribe(tenant, overflow=overflow)

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
        return self._callbacks.start(
            tg,
            self.events(tenant, overflow=overflow),
            callback,
            tenant,
            sync_in_thread=sync_in_thread,
        )
