"""A blocking facade for code without ``await``: scripts, notebooks, Flask.

One background thread runs an event loop (an anyio blocking portal); every
blocking call is sent to it.  These classes add no behaviour of their own: each
method calls the async one of the same name.

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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._errors import SessionClosed
from ._events import Event, MessageSent, PairingCode, Status
from ._gateway import DriverFactory, Gateway
from ._hub import Overflow, Subscription
from ._session import Callback, CallbackSubscription, Session

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._driver import Driver

__all__ = ["SyncGateway", "SyncSession", "SyncSubscription"]

T = TypeVar("T")

_END = object()


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
    :meth:`open`.
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
    def tenant(self) -> str:
        """The tenant id."""
        return self.session.tenant

    @property
    def status(self) -> Status:
        """The current status."""
        return self.session.status

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain or async function in the session's loop thread and return its result."""
        return self.portal.call(fn, *args)

    def connect(self) -> None:
        """Blocking :meth:`Session.connect`."""
        self.portal.call(self.session.connect)

    def restart(self) -> None:
        """Blocking :meth:`Session.restart`."""
        self.portal.call(self.session.restart)

    def logout(self) -> None:
        """Blocking :meth:`Session.logout`."""
        self.portal.call(self.session.logout)

    def send_text(self, to: str, text: str) -> MessageSent:
        """Blocking :meth:`Session.send_text`."""
        return self.portal.call(self.session.send_text, to, text)

    def request_pairing_code(self, phone: str) -> PairingCode:
        """Blocking :meth:`Session.request_pairing_code`."""
        return self.portal.call(self.session.request_pairing_code, phone)

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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

    Use it as a context manager (or call :meth:`start` and :meth:`close`).
    """

    def __init__(self, driver_factory: DriverFactory, **options: Any) -> None:
        self.gateway = Gateway(driver_factory, **options)
        """The async gateway underneath."""
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None

    @property
    def portal(self) -> BlockingPortal:
        """The portal whose thread runs the gateway."""
        if self._portal is None:
            raise RuntimeError("the gateway is not started")
        return self._portal

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
