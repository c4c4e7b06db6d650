"""A blocking facade for code without ``await``: scripts, notebooks, Flask.

One background thread runs an event loop (an anyio blocking portal); every
blocking call is sent to it.  These classes add no behaviour of their own: each
method calls the async one of the same name.  A coroutine method becomes a
blocking one by one line, ``send_text = Blocking(Gateway.send_text)``, which keeps
its signature for mypy and for ``help()``; :func:`facade_gaps` (run by the tests)
finds a public call of :class:`~wagate.Gateway` or :class:`~wagate.Session` that
the facade lacks.

Example:
    ```python
    with SyncGateway(lambda tenant: SimulatedDriver()) as gateway:
        session = gateway.session("acme")
        session.connect()
        for event in session.events(timeout=5):
            print(event)
    ```
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._commands import Command
from ._errors import SessionClosed
from ._events import Account, Event, State, Status
from ._gateway import DriverFactory, Gateway
from ._hub import Overflow, Subscription
from ._session import Callback, CallbackSubscription, Session

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._driver import Driver

__all__ = ["Blocking", "SyncGateway", "SyncSession", "SyncSubscription", "facade_gaps"]

T = TypeVar("T")
A = TypeVar("A")
A_co = TypeVar("A_co", covariant=True)
P = ParamSpec("P")
R = TypeVar("R")

_END = object()

_RENAMED = {"aclose": "close"}
"""Async calls whose blocking twin has another name (``with`` closes it too)."""

_LOOP_ONLY = frozenset({"start_in"})
"""Calls that take the event loop's own objects (a task group): no blocking twin."""


class _Facade(Protocol[A_co]):
    """A blocking class: a portal, and the async object whose calls it runs."""

    @property
    def portal(self) -> BlockingPortal: ...

    @property
    def _target(self) -> A_co: ...


class Blocking(Generic[A, P, R]):
    """A blocking method made of the coroutine method ``method`` of the object underneath.

    On a facade class, ``send_text = Blocking(Gateway.send_text)`` gives
    ``sync.send_text(tenant, to, text) -> MessageSent``: the same parameters and
    result (for mypy too), run in the facade's loop thread through its portal.

    Args:
        method: The coroutine function, taken from the async class.
    """

    def __init__(self, method: Callable[Concatenate[A, P], Awaitable[R]]) -> None:
        self.method = method
        """The coroutine function it runs."""
        qualname = getattr(method, "__qualname__", repr(method))
        self.__doc__ = f"Blocking :meth:`~wagate.{qualname}`, run in the loop thread."
        own = inspect.signature(method)
        self.__signature__ = own.replace(parameters=list(own.parameters.values())[1:])

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.method.__name__:
            raise TypeError(f"{owner.__name__}.{name} must be named {self.method.__name__}")

    @overload
    def __get__(self, facade: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, facade: _Facade[A], owner: type | None = None) -> Callable[P, R]: ...

    def __get__(
        self, facade: _Facade[A] | None, owner: type | None = None
    ) -> Self | Callable[P, R]:
        if facade is None:
            return self
        method = self.method

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            target = facade._target

            async def run() -> R:
                return await method(target, *args, **kwargs)

            return facade.portal.call(run)

        functools.update_wrapper(call, method)
        del call.__wrapped__  # type: ignore[attr-defined]  # show the signature without self
        call.__signature__ = self.__signature__  # type: ignore[attr-defined]
        call.__doc__ = self.__doc__
        return call


def _public_calls(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_")
        and name not in _LOOP_ONLY
        and (callable(member) or isinstance(member, property))
    }


def facade_gaps(async_cls: type, sync_cls: type) -> list[str]:
    """The public calls of ``async_cls`` that its blocking twin ``sync_cls`` lacks, sorted.

    A coroutine method counts as present when the twin has a :class:`Blocking` of
    it, or a method of its own of the same name (one that wraps its result, as
    :meth:`SyncGateway.session` does); ``aclose`` is the twin's ``close``.  A plain
    method or property counts as present when the twin has the name.
    """
    missing = []
    for async_name, member in _public_calls(async_cls).items():
        name = _RENAMED.get(async_name, async_name)
        mine = inspect.getattr_static(sync_cls, name, None)
        if mine is None or (isinstance(mine, Blocking) and mine.method is not member):
            missing.append(name)  # a Blocking of another class's method of that name
    return sorted(missing)


class SyncSubscription:
    """The handle a blocking ``subscribe`` returns; :meth:`close` is safe from any thread."""

    def __init__(self, handle: CallbackSubscription, portal: BlockingPortal) -> None:
        self.handle = handle
        self._portal = portal

    @property
    def closed(self) -> bool:
        """Whether the callback no longer receives events."""
        return self.handle.closed

    def close(self) -> None:
        """Stop delivering events to the callback."""
        with contextlib.suppress(RuntimeError):  # the loop thread is already gone
            self._portal.call(self.handle.close)


class SyncSession:
    """The blocking twin of a :class:`~wagate.Session`, driven through a portal.

    Get one from :meth:`SyncGateway.session`, or make a standalone one with
    :meth:`open`.  Every public call of :class:`~wagate.Session` is here under
    the same name, with the same parameters and result, blocking until it is
    done (``aclose`` is :meth:`close`).
    """

    def __init__(self, session: Session, portal: BlockingPortal) -> None:
        self.session = session
        """The async session underneath."""
        self.portal = portal
        """The portal whose thread runs the session (call driver or phone methods through it)."""
        self._owner: contextlib.ExitStack | None = None

    @classmethod
    def open(cls, tenant: str, driver: Driver, **options: Any) -> SyncSession:
        """Start a standalone session in its own loop thread; close it with :meth:`close`."""
        stack = contextlib.ExitStack()
        portal = stack.enter_context(start_blocking_portal())
        try:
            session = stack.enter_context(
                portal.wrap_async_context_manager(Session(tenant, driver, **options))
            )
        except BaseException:
            stack.close()
            raise
        sync = cls(session, portal)
        sync._owner = stack
        return sync

    @property
    def _target(self) -> Session:
        return self.session

    @property
    def tenant(self) -> str:
        """The tenant id."""
        return self.session.tenant

    @property
    def status(self) -> Status:
        """The current status."""
        return self.session.status

    @property
    def state(self) -> State:
        """The current state (``status.state``)."""
        return self.session.state

    @property
    def account(self) -> Account | None:
        """The linked account, if any."""
        return self.session.account

    @property
    def closed(self) -> bool:
        """Whether the session is closed."""
        return self.session.closed

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain or async function in the session's loop thread and return its result."""
        return self.portal.call(fn, *args)

    connect = Blocking(Session.connect)
    restart = Blocking(Session.restart)
    logout = Blocking(Session.logout)
    send_text = Blocking(Session.send_text)
    request_pairing_code = Blocking(Session.request_pairing_code)
    wait_closed = Blocking(Session.wait_closed)
    send = Blocking(Session.send)
    react = Blocking(Session.react)
    edit = Blocking(Session.edit)
    revoke = Blocking(Session.revoke)
    mark_read = Blocking(Session.mark_read)
    download = Blocking(Session.download)
    media_info = Blocking(Session.media_info)
    set_presence = Blocking(Session.set_presence)
    send_chat_state = Blocking(Session.send_chat_state)
    subscribe_presence = Blocking(Session.subscribe_presence)
    groups = Blocking(Session.groups)
    group = Blocking(Session.group)
    create_group = Blocking(Session.create_group)
    leave_group = Blocking(Session.leave_group)
    set_group_subject = Blocking(Session.set_group_subject)
    set_group_description = Blocking(Session.set_group_description)
    add_participants = Blocking(Session.add_participants)
    remove_participants = Blocking(Session.remove_participants)
    promote_participants = Blocking(Session.promote_participants)
    demote_participants = Blocking(Session.demote_participants)
    group_invite_link = Blocking(Session.group_invite_link)
    join_group = Blocking(Session.join_group)
    check_numbers = Blocking(Session.check_numbers)
    contact = Blocking(Session.contact)
    profile_picture = Blocking(Session.profile_picture)
    block = Blocking(Session.block)
    unblock = Blocking(Session.unblock)

    def subscribe(self, callback: Callback, **options: Any) -> SyncSubscription:
        """:meth:`Session.subscribe`; plain callbacks run in worker threads."""
        handle = self.portal.call(lambda: self.session.subscribe(callback, **options))
        return SyncSubscription(handle, self.portal)

    def events(
        self, *, timeout: float | None = None, overflow: Overflow = Overflow.RAISE
    ) -> Iterator[Event]:
        """Iterate over events, blocking.

        ``timeout`` ends the iteration after that many seconds without an event.
        """
        subscription = self.portal.call(lambda: self.session.events(overflow=overflow))
        return _iterate(self.portal, subscription, timeout)

    def close(self) -> None:
        """Close the session (and its loop thread, if :meth:`open` made it)."""
        if self._owner is not None:
            owner, self._owner = self._owner, None
            owner.close()
        else:
            self.portal.call(self.session.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _iterate(
    portal: BlockingPortal, subscription: Subscription, timeout: float | None
) -> Iterator[Event]:
    async def next_event() -> object:
        with anyio.move_on_after(timeout):
            try:
                return await subscription.__anext__()
            except StopAsyncIteration:
                return _END
        return _END

    try:
        while True:
            try:
                item = portal.call(next_event)
            except SessionClosed:
                return
            if item is _END:
                return
            assert isinstance(item, Event)
            yield item
    finally:
        with contextlib.suppress(RuntimeError):
            portal.call(subscription.close)


class SyncGateway:
    """The blocking twin of a :class:`~wagate.Gateway`, with its own loop thread.

    Use it as a context manager (or call :meth:`start` and :meth:`close`).  Every
    public call of :class:`~wagate.Gateway` is here under the same name, with the
    same parameters and result, blocking until it is done (``aclose`` is
    :meth:`close`); :meth:`session` and :meth:`get` give a :class:`SyncSession`.

    Example:
        ```python
        with SyncGateway(driver_factory) as gateway:
            gateway.restart("acme")  # start a login; the QR code comes as an event
            print(gateway.status("acme").state)
            gateway.send_text("acme", "+628123456789", "hello")
        ```
    """

    def __init__(self, driver_factory: DriverFactory, **options: Any) -> None:
        self.gateway = Gateway(driver_factory, **options)
        """The async gateway underneath."""
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None

    @property
    def started(self) -> bool:
        """:attr:`Gateway.started`."""
        return self.gateway.started

    @property
    def local_sessions(self) -> tuple[Session, ...]:
        """:attr:`Gateway.local_sessions` (call their methods through :meth:`session`)."""
        return self.gateway.local_sessions

    @property
    def portal(self) -> BlockingPortal:
        """The portal whose thread runs the gateway."""
        if self._portal is None:
            raise RuntimeError("the gateway is not started")
        return self._portal

    @property
    def _target(self) -> Gateway:
        return self.gateway

    def start(self) -> Self:
        """Start the loop thread and the gateway (restoring linked tenants)."""
        if self._stack is not None:
            return self
        stack = contextlib.ExitStack()
        try:
            self._portal = stack.enter_context(start_blocking_portal())
            stack.enter_context(self._portal.wrap_async_context_manager(self.gateway))
        except BaseException:
            stack.close()
            self._portal = None
            raise
        self._stack = stack
        return self

    def session(self, tenant: str) -> SyncSession:
        """Blocking :meth:`Gateway.session`."""
        return SyncSession(self.portal.call(self.gateway.session, tenant), self.portal)

    def get(self, tenant: str) -> SyncSession | None:
        """:meth:`Gateway.get`: ``tenant``'s session if it exists, without creating it."""
        session = self.portal.call(self.gateway.get, tenant)
        return None if session is None else SyncSession(session, self.portal)

    @property
    def tenants(self) -> list[str]:
        """:attr:`Gateway.tenants`: the tenants that have a session now, sorted."""
        return self.portal.call(lambda: self.gateway.tenants)

    @property
    def simulated(self) -> bool:
        """:attr:`Gateway.simulated`: whether the drivers are simulated ones."""
        return self.gateway.simulated  # fixed when the gateway is made: no portal needed

    def known_status(self, tenant: str) -> Status:
        """:meth:`Gateway.known_status`: ``tenant``'s status as this process knows it."""
        return self.portal.call(self.gateway.known_status, tenant)

    command = Blocking(Gateway.command)
    execute = Blocking(Gateway.execute)
    status = Blocking(Gateway.status)
    connect = Blocking(Gateway.connect)
    send_text = Blocking(Gateway.send_text)
    restart = Blocking(Gateway.restart)
    logout = Blocking(Gateway.logout)
    request_pairing_code = Blocking(Gateway.request_pairing_code)
    send = Blocking(Gateway.send)
    react = Blocking(Gateway.react)
    edit = Blocking(Gateway.edit)
    revoke = Blocking(Gateway.revoke)
    mark_read = Blocking(Gateway.mark_read)
    download = Blocking(Gateway.download)
    set_presence = Blocking(Gateway.set_presence)
    send_chat_state = Blocking(Gateway.send_chat_state)
    subscribe_presence = Blocking(Gateway.subscribe_presence)
    groups = Blocking(Gateway.groups)
    group = Blocking(Gateway.group)
    readiness = Blocking(Gateway.readiness)
    create_group = Blocking(Gateway.create_group)
    leave_group = Blocking(Gateway.leave_group)
    set_group_subject = Blocking(Gateway.set_group_subject)
    set_group_description = Blocking(Gateway.set_group_description)
    add_participants = Blocking(Gateway.add_participants)
    remove_participants = Blocking(Gateway.remove_participants)
    promote_participants = Blocking(Gateway.promote_participants)
    demote_participants = Blocking(Gateway.demote_participants)
    group_invite_link = Blocking(Gateway.group_invite_link)
    join_group = Blocking(Gateway.join_group)
    check_numbers = Blocking(Gateway.check_numbers)
    contact = Blocking(Gateway.contact)
    profile_picture = Blocking(Gateway.profile_picture)
    block = Blocking(Gateway.block)
    unblock = Blocking(Gateway.unblock)
    wait_started = Blocking(Gateway.wait_started)

    def run(self, command: Command[P, R], tenant: str, *args: P.args, **kwargs: P.kwargs) -> R:
        """Blocking :meth:`Gateway.run`: a declared command, arguments checked, result typed."""

        async def run() -> R:
            return await self.gateway.run(command, tenant, *args, **kwargs)

        return self.portal.call(run)

    def events(
        self,
        tenant: str | None = None,
        *,
        timeout: float | None = None,
        overflow: Overflow = Overflow.RAISE,
    ) -> Iterator[Event]:
        """Blocking :meth:`Gateway.events`."""
        subscription = self.portal.call(lambda: self.gateway.events(tenant, overflow=overflow))
        return _iterate(self.portal, subscription, timeout)

    def subscribe(
        self, callback: Callback, tenant: str | None = None, **options: Any
    ) -> SyncSubscription:
        """:meth:`Gateway.subscribe`; plain callbacks run in worker threads."""
        handle = self.portal.call(lambda: self.gateway.subscribe(callback, tenant, **options))
        return SyncSubscription(handle, self.portal)

    def close(self) -> None:
        """Close every session and stop the loop thread."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        self._portal = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
