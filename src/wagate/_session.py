"""One tenant's WhatsApp session: the state machine, the reconnect policy, the send API.

The session is the only place that decides state.  Its driver reports what the
engine says (QR codes, connected, messages, why a connection ended); the session
turns that into numbered :class:`~wagate.Event` objects on its hub and reconnects
after network losses with capped exponential backoff.
"""

from __future__ import annotations

import contextlib
import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.abc
import attrs

from ._backoff import Backoff
from ._callback_group import Callback, CallbackGroup, CallbackSubscription
from ._contacts import Contacts
from ._driver import Driver, KnownMessage
from ._errors import (
    AlreadyConnected,
    DriverError,
    NotLinked,
    SessionClosed,
    SessionStateError,
)
from ._events import (
    Account,
    Connected,
    Disconnected,
    DisconnectReason,
    Event,
    MessageSent,
    PairingCode,
    QrGenerated,
    State,
    Status,
    expires_after,
    utcnow,
)
from ._groups import Groups
from ._hub import Hub, Overflow, Subscription
from ._lifecycle import ClosingStack
from ._linkstate import LinkStateWriter
from ._media import MediaLimits, UrlPolicy
from ._mediastore import MEMORY_MEDIA, MediaStore, StoredMedia
from ._messaging import Messaging
from ._pacing import Pacer, Pacing
from ._reconnect import Reconnecting
from ._seqs import SeqCounter
from ._store import MemoryStore, SessionStore
from ._telemetry import TELEMETRY
from ._validate import normalize_phone, normalize_recipient, validate_tenant, validate_text

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Backoff", "Callback", "CallbackSubscription", "Session"]

log = logging.getLogger("wagate")


E = TypeVar("E", bound=Event)


class Session(Messaging, Groups, Contacts, Reconnecting, ClosingStack):
    """One tenant's WhatsApp session.

    Use it as an async context manager; it owns its background work.

    Example:
        ```python
        async with Session("acme", driver=SimulatedDriver()) as session:
            await session.connect()
            async for event in session.events():
                ...
        ```

    Args:
        tenant: The tenant id, 1-128 characters of ``[A-Za-z0-9._-]``.
        driver: The WhatsApp engine for this session.
        store: Where the linked account and seq high-water mark are kept
            (default: in memory, forgotten on exit).
        backoff: The reconnect policy after network losses.
        hub: The hub to publish on (a :class:`~wagate.Gateway` passes its own).
        close_timeout: Seconds that :meth:`aclose` lets callbacks drain.
        seq_block: How many seqs are reserved in the store at a time.
        rng: The random numbers of the reconnect jitter (default: a new generator).
        on_closed: Called with the session once it has closed (a
            :class:`~wagate.Gateway` forgets its session this way).
        media_store: Where media is kept (default: in memory, shared by the
            process's sessions; :class:`~wagate.FileMediaStore` keeps it on disk).
        media_limits: The size limit of each media kind (default: WhatsApp's).
        url_policy: How media URLs are fetched (default: 15 s, public addresses only).
        pacing: How fast this tenant may send (default: unpaced; see :class:`~wagate.Pacing`).
    """

    # Slots: a gateway holds thousands of sessions; a dict each would cost ~1.5 KB.
    __slots__ = (
        "__weakref__",
        "_account",
        "_callbacks",
        "_closing",
        "_done",
        "_done_waiter",
        "_held",
        "_hub",
        "_known",
        "_link_state",
        "_on_closed",
        "_own_hub",
        "_own_store",
        "_pairing",
        "_pending_media",
        "_seqs",
        "_stack",
        "_status",
        "_store",
        "_subscriptions",
        "_tg",
        "backoff",
        "close_timeout",
        "driver",
        "media_limits",
        "media_store",
        "tenant",
        "url_policy",
    )

    def __init__(
        self,
        tenant: str,
        driver: Driver,
        *,
        store: SessionStore | None = None,
        backoff: Backoff | None = None,
        hub: Hub | None = None,
        close_timeout: float = 5.0,
        seq_block: int = 1000,
        rng: random.Random | None = None,
        on_closed: Callable[[Session], None] | None = None,
        media_store: MediaStore | None = None,
        media_limits: MediaLimits | None = None,
        url_policy: UrlPolicy | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.tenant = validate_tenant(tenant)
        self.media_store: MediaStore = media_store if media_store is not None else MEMORY_MEDIA
        """Where media bytes and descriptors are kept (default: shared, in memory)."""
        self.media_limits = media_limits or MediaLimits()
        """The size limit of each media kind."""
        self.url_policy = url_policy or UrlPolicy()
        """How media URLs are fetched (timeout, private addresses)."""
        self.pacer = Pacer(pacing) if pacing is not None else None
        """Paces this tenant's sends (``None``: unpaced)."""
        self._known: OrderedDict[str, KnownMessage] = OrderedDict()
        self._pending_media: dict[str, StoredMedia] = {}
        self.driver = driver
        self.backoff = backoff or Backoff()
        self.close_timeout = close_timeout
        self._own_hub = hub is None
        self._hub = hub if hub is not None else Hub()
        self._own_store = store is None
        self._store = store if store is not None else MemoryStore()
        self._rng = rng  # made on the first reconnect: most sessions never need one
        self._seqs = SeqCounter(self.tenant, self._store, self._hub, block=seq_block)
        self._link_state = LinkStateWriter(self.tenant, self._store, self._current_link)
        self._account: Account | None = None
        self._status = Status(tenant=self.tenant, state=State.DISCONNECTED)
        self._tg: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._supervisor: anyio.CancelScope | None = None
        self._supervisor_waiter: anyio.Event | None = None
        self._attempt: anyio.CancelScope | None = None
        self._restart_requested = False
        self._pairing: PairingCode | None = None
        self._subscriptions: weakref.WeakSet[Subscription] | None = None
        self._callbacks = CallbackGroup()
        self._closing = False
        self._done = False
        self._done_waiter: anyio.Event | None = None
        self._on_closed = on_closed
        self._held: list[Event] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        if self._tg is not None or self._closing:
            raise RuntimeError("a Session can be entered once")
        stack = contextlib.AsyncExitStack()
        if self._own_store:
            await stack.enter_async_context(self._store)
        tg = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        try:
            await self.start_in(tg)
        except BaseException:
            tg.cancel_scope.cancel()
            await stack.aclose()
            raise
        return self

    async def start_in(self, task_group: anyio.abc.TaskGroup) -> None:
        """Load the stored state and run the session's background work in ``task_group``.

        The alternative to ``async with session:`` for an owner of many sessions:
        a :class:`~wagate.Gateway` starts each in its own task group this way, so
        that an idle tenant costs no task of its own.  Whoever calls it closes the
        session (:meth:`aclose`) before the task group ends, and opens the store.

        Raises:
            RuntimeError: the session was started before.
        """
        if self._tg is not None or self._closing:
            raise RuntimeError("a Session can be started once")
        await self._load()
        self._tg = task_group

    async def _load(self) -> None:
        stored = await self._store.load(self.tenant)
        if stored is not None:
            self._account = stored.account
            if stored.account is not None:
                self._status = attrs.evolve(self._status, account=stored.account)
        await self._seqs.start(stored.seq if stored is not None else 0)

    async def aclose(self) -> None:
        """Close the connection, deliver what is buffered, and stop.

        Emits ``Disconnected(closed)`` if the session was connected or trying to
        be; nothing is emitted after this returns.  Safe to call twice.
        """
        if self._closing:
            await self.wait_closed()
            return
        self._closing = True
        try:
            was_active = self._supervisor is not None
            await self._stop_supervisor()
            await self._link_state.flush()
            self._release_held()
            if was_active or self._status.state is not State.DISCONNECTED:
                self._set_disconnected(DisconnectReason.CLOSED, will_retry=False)
            await self._link_state.flush()
            await self._seqs.release()
            with contextlib.suppress(Exception):
                await self.driver.aclose()
            for subscription in list(self._subscriptions or ()):
                subscription.finish()
            await self._callbacks.drain(self.close_timeout, self.tenant)
            if self._own_hub:
                self._hub.close()
        finally:
            self._done = True
            if self._done_waiter is not None:
                self._done_waiter.set()
            if self._on_closed is not None:
                self._on_closed(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closing

    async def wait_closed(self) -> None:
        """Wait until the session is closed."""
        if not self._done:
            if self._done_waiter is None:
                self._done_waiter = anyio.Event()
            await self._done_waiter.wait()

    def _check_open(self) -> anyio.abc.TaskGroup:
        if self._closing:
            raise SessionClosed("the session is closed", tenant=self.tenant)
        if self._tg is None:
            raise RuntimeError(
                "the session is not started: use 'async with Session(...)' or get it from a Gateway"
            )
        return self._tg

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> Status:
        """The session's current status."""
        return self._status

    @property
    def state(self) -> State:
        """The session's current state."""
        return self._status.state

    @property
    def account(self) -> Account | None:
        """The linked account, if any."""
        return self._account

    # ------------------------------------------------------------------ commands
    async def connect(self) -> None:
        """Start connecting: resume the linked account, or begin a QR login.

        Returns at once; progress arrives as events.  Does nothing if the session
        is already connecting or connected.
        """
        tg = self._check_open()
        if self._supervisor is None:
            self._supervisor = anyio.CancelScope()
            tg.start_soon(self._supervise, self._supervisor)

    async def restart(self) -> None:
        """Drop the pending QR code and start a new login at once.

        Raises:
            AlreadyConnected: the session is connected; log out first.
        """
        self._check_open()
        if self._status.state is State.CONNECTED:
            raise AlreadyConnected(
                "the session is connected; log out before starting a new login",
                tenant=self.tenant,
            )
        if self._supervisor is None:
            await self.connect()
            return
        self._restart_requested = True
        if self._attempt is not None:
            self._attempt.cancel()

    async def logout(self) -> None:
        """Unlink the account, from WhatsApp too when connected, and forget it.

        Raises:
            NotLinked: the session has never been linked (or is already logged out).
        """
        self._check_open()
        account = self._account
        if account is None:
            raise NotLinked("there is no linked account to log out", tenant=self.tenant)
        try:
            await self.driver.logout(account)
        except DriverError as exc:
            log.warning(
                "tenant %r: WhatsApp was not told of the logout (%s); "
                "the device was forgotten here, remove it on the phone too",
                self.tenant,
                exc.message,
            )
        await self._stop_supervisor()
        already = (
            self._status.state is State.DISCONNECTED
            and self._status.reason is DisconnectReason.LOGGED_OUT
            and self._account is None
        )
        self._forget_account()
        if not already:
            self._set_disconnected(DisconnectReason.LOGGED_OUT, will_retry=False)

    async def send_text(self, to: str, text: str) -> MessageSent:
        """Send a text message and return its :class:`~wagate.MessageSent`.

        Args:
            to: An international phone number (``+628123456789``) or a JID
                (``628123456789@s.whatsapp.net``, ``1203...@g.us``).
            text: 1 to 65,536 characters, not only white space.

        Returns:
            The ``MessageSent`` event (also published): ``success`` tells whether
            WhatsApp accepted it, ``error`` why not.

        Raises:
            InvalidRecipient: ``to`` is not a number or JID.
            InvalidText: ``text`` is empty, blank, too long or not valid Unicode.
            NotConnected: the session is not connected.
        """
        self._check_open()
        jid = normalize_recipient(to)
        text = validate_text(text)
        self._check_connected("send")
        started = await self._take_turn()
        try:
            message_id = await self.driver.send_text(jid, text)
        except DriverError as exc:
            return self._emit(
                MessageSent, id=None, to=jid, text=text, success=False, error=exc.message
            )
        finally:
            self._sent_in(started, "text")
        return self._emit(MessageSent, id=message_id, to=jid, text=text, success=True)

    async def request_pairing_code(self, phone: str) -> PairingCode:
        """Ask for a code to type on the phone (Linked devices -> Link with phone number).

        Works during a QR login (``awaiting_scan``), as with WhatsApp itself.

        Raises:
            InvalidPhoneNumber: ``phone`` is not an international number.
            AlreadyConnected: the session is already linked and connected.
            SessionStateError: no login is in progress; call :meth:`connect` first.
        """
        self._check_open()
        number = normalize_phone(phone)
        if self._status.state is State.CONNECTED:
            raise AlreadyConnected("the session is already linked", tenant=self.tenant)
        if self._status.state is not State.AWAITING_SCAN:
            raise SessionStateError(
                "a pairing code can be requested only while a login is waiting "
                f"(state awaiting_scan); the session is {self._status.state.value}",
                tenant=self.tenant,
            )
        code = await self.driver.request_pairing_code(number)
        self._pairing = self._emit(PairingCode, code=code, phone=number)
        return self._pairing

    # ------------------------------------------------------------------ subscribing
    def events(self, *, overflow: Overflow = Overflow.RAISE) -> Subscription:
        """Iterate over this session's events, starting with its current state.

        Example:
            ```python
            async for event in session.events():
                print(event)
            ```

        Args:
            overflow: What happens if the consumer falls behind the buffer.

        Raises:
            SessionClosed: the session is closed.
        """
        self._check_open()
        subscription = self._hub.subscribe(self.tenant, overflow=overflow)
        if self._subscriptions is None:
            self._subscriptions = weakref.WeakSet()
        self._subscriptions.add(subscription)
        return subscription

    def subscribe(
        self,
        callback: Callback,
        *,
        overflow: Overflow = Overflow.GAP,
        sync_in_thread: bool = True,
    ) -> CallbackSubscription:
        """Call ``callback`` with every event, starting with the current state.

        The callback may be a plain or an ``async`` function; plain ones run in a
        worker thread (set ``sync_in_thread=False`` for quick ones that must run in
        the event loop).  A callback that raises is logged and keeps receiving; a
        slow one never holds up the session or other subscribers.

        Returns:
            A handle whose ``close()`` unsubscribes.

        Raises:
            SessionClosed: the session is closed.
        """
        tg = self._check_open()
        return self._callbacks.start(
            tg, self.events(overflow=overflow), callback, self.tenant, sync_in_thread=sync_in_thread
        )

    # ------------------------------------------------------------------ internals
    def _running(self) -> anyio.abc.TaskGroup | None:
        """The task group for background work, or ``None`` when not (or no longer) running."""
        return self._tg if not self._done else None

    def _emit(self, cls: type[E], **fields: Any) -> E:
        seq = self._seqs.take(self._running())
        event = cls(tenant=self.tenant, seq=seq, at=utcnow(), **fields)
        if self._held is not None:
            self._held.append(event)
        else:
            self._publish(event)
        return event

    def _publish(self, event: Event) -> None:
        self._hub.publish(event)
        TELEMETRY.event(event)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        for event in held or ():
            self._publish(event)

    def _set_state(
        self,
        state: State,
        *,
        qr: QrGenerated | None = None,
        reason: DisconnectReason | None = None,
        will_retry: bool = False,
        retry_in: float | None = None,
    ) -> None:
        self._status = Status(
            tenant=self.tenant,
            state=state,
            account=self._account,
            qr=qr,
            reason=reason,
            will_retry=will_retry,
            retry_in=retry_in,
        )

    def _set_disconnected(
        self,
        reason: DisconnectReason,
        *,
        will_retry: bool,
        retry_in: float | None = None,
        detail: str | None = None,
    ) -> None:
        self._pairing = None
        self._set_state(
            State.DISCONNECTED,
            reason=reason,
            will_retry=will_retry,
            retry_in=retry_in,
        )
        self._emit(
            Disconnected, reason=reason, will_retry=will_retry, retry_in=retry_in, detail=detail
        )
        self._link_state.schedule(self._running())

    def _on_qr(self, code: str, valid_for: float) -> None:
        # A pairing code stays good while its login waits: a new QR code does not end it.
        at = utcnow()
        event = self._emit(QrGenerated, code=code, expires_at=expires_after(at, valid_for))
        self._set_state(State.AWAITING_SCAN, qr=event)

    def _on_connected(self, account: Account) -> None:
        self._account = account
        self._pairing = None
        self._set_state(State.CONNECTED)
        if self._tg is None or self._done:  # pragma: no cover - not running
            self._emit(Connected, account=account)
            return
        # Nobody hears of the link before the store knows it: a process killed right
        # after `Connected` still resumes the account on restart.  Events that come
        # meanwhile (offline messages) wait behind it, in seq order.
        if self._held is None:
            self._held = []
        self._emit(Connected, account=account)
        self._link_state.mark_dirty()
        self._tg.start_soon(self._save_then_release)

    async def _save_then_release(self) -> None:
        try:
            await self._link_state.flush()
        finally:
            self._release_held()

    def _forget_account(self) -> None:
        self._account = None
        self._status = attrs.evolve(self._status, account=None)
        self._link_state.schedule(self._running())

    def _current_link(self) -> tuple[Account | None, State]:
        """What the store keeps of the session: its account and state, as they are now."""
        return self._account, self._status.state

    def __repr__(self) -> str:
        return f"<Session tenant={self.tenant!r} state={self._status.state.value}>"
