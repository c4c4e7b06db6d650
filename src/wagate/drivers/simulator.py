"""A deterministic, in-process simulation of WhatsApp, for tests and demos.

:class:`SimulatedDriver` behaves like the real engine as far as a host app can
observe: a QR login whose first code is valid 60 s and each next one 20 s, six
codes and then a ``qr_timeout``; a phone that rejects stale or foreign codes;
messages in and out; and every fault the real world has (network loss, logout
from the phone, another client taking over, a temporary ban, an engine crash).
:class:`SimulatedPhone` is the user's phone on the other side.

Time is yours to control: give the driver a :class:`SimulatedClock` and move it
with :meth:`SimulatedClock.advance`, or run it faster than life with ``speed``,
so a test never sleeps through a real 60-second timeout.

Example:
    ```python
    phone = SimulatedPhone(number="+628123456789", name="Budi")
    async with Session("acme", driver=SimulatedDriver(phone=phone)) as session:
        await session.connect()
        async for event in session.events():
            if isinstance(event, QrGenerated):
                phone.scan(event.code)
            elif isinstance(event, Connected):
                break
    ```

All methods of the phone, the driver and the clock must be called from the
event loop thread that runs the session (through the portal from other threads).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import os
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import attrs

from .._content import Content, Media, Text
from .._driver import ConnectionEnded, Driver, DriverSink, IncomingMessage, KnownMessage
from .._errors import DriverError, NotLinked, PairingFailed, ScanRejected
from .._events import (
    Account,
    ChatState,
    ChatStateChanged,
    DisconnectReason,
    MessageEdited,
    MessageReaction,
    MessageRevoked,
    MessageStatus,
    Presence,
    PresenceChanged,
    Receipt,
    utcnow,
)
from .._validate import normalize_phone, normalize_recipient
from ._simulated_groups import DriverGroups, PhoneGroups

__all__ = [
    "QR_TIMEOUTS",
    "Clock",
    "SentMessage",
    "SimulatedClock",
    "SimulatedDriver",
    "SimulatedDrivers",
    "SimulatedPhone",
    "SpeedClock",
]

QR_TIMEOUTS: tuple[float, ...] = (60.0, 20.0, 20.0, 20.0, 20.0, 20.0)
"""How long WhatsApp accepts each QR code of one login, in seconds."""


class Clock(Protocol):
    """The simulator's notion of time."""

    def now(self) -> float:
        """Seconds since the clock's start."""

    async def wait(self, event: anyio.Event, deadline: float) -> None:
        """Wait until ``event`` is set or :meth:`now` reaches ``deadline``."""

    def wall_seconds(self, seconds: float) -> float:
        """How many real seconds ``seconds`` of this clock's time take."""


class SpeedClock:
    """Real time, optionally faster: ``SpeedClock(100)`` makes a 60 s QR last 0.6 s."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = speed
        self._start = anyio.current_time() if _in_loop() else None

    def now(self) -> float:  # noqa: D102
        if self._start is None:
            self._start = anyio.current_time()
        return (anyio.current_time() - self._start) * self.speed

    async def wait(self, event: anyio.Event, deadline: float) -> None:  # noqa: D102
        with anyio.move_on_after(max(0.0, deadline - self.now()) / self.speed):
            await event.wait()

    def wall_seconds(self, seconds: float) -> float:  # noqa: D102
        return seconds / self.speed


def _in_loop() -> bool:
    try:
        anyio.current_time()
    except RuntimeError:
        return False
    return True


class SimulatedClock:
    """A clock that moves only when told to, for tests.

    Example:
        ```python
        clock = SimulatedClock()
        driver = SimulatedDriver(clock=clock)
        ...
        clock.advance(60)  # the first QR code expires, the next one arrives
        ```
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[list[Any]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        """Seconds advanced so far."""
        return self._now

    async def wait(self, event: anyio.Event, deadline: float) -> None:
        """Wait until ``event`` is set or :meth:`advance` moves the clock to ``deadline``."""
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        # A timer is a heap entry, not a task: thousands of pending QR codes cost a
        # few dozen bytes each.  An entry whose wait ended early is emptied in place.
        entry: list[Any] = [deadline, next(self._counter), event]
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            entry[2] = None

    def wall_seconds(self, seconds: float) -> float:
        """Simulated seconds are reported as they are."""
        return seconds

    def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose time has come."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            event = heapq.heappop(self._sleepers)[2]
            if event is not None:
                event.set()

    @property
    def sleepers(self) -> int:
        """How many waits are pending on this clock."""
        return sum(1 for entry in self._sleepers if entry[2] is not None)


@attrs.frozen(kw_only=True)
class SentMessage:
    """A message the account sent, as its recipient's phone got it."""

    id: str
    to: str
    text: str
    content: Content | None = None
    """What was sent (media as the bytes the recipient got)."""


RECEIPT_DELAY = 1.0
"""Simulated seconds after which a sent message is reported delivered."""


class SimulatedPhone(PhoneGroups):
    """The user's phone (and WhatsApp's servers) on the other side of a simulated driver.

    Args:
        number: The account's number, in international form.
        name: The account's display name.
    """

    def __init__(self, number: str = "+628123456789", name: str | None = "Simulated") -> None:
        self.number = normalize_phone(number)
        self.name = name
        self.jid = f"{self.number[1:]}@s.whatsapp.net"
        self.sent: list[SentMessage] = []
        """Every message the linked account sent, in order."""
        self._drivers: list[SimulatedDriver] = []
        self._send_failures: deque[str] = deque()
        self._revoked = False
        self._message_ids = itertools.count(1)
        self.media: dict[str, bytes] = {}
        """Media bytes WhatsApp holds, by the engine's reference."""
        self.reactions: list[tuple[str, str]] = []
        """Every ``(message id, emoji)`` the account reacted with."""
        self.edits: list[tuple[str, str]] = []
        """Every ``(message id, new text)`` the account edited."""
        self.revoked: list[str] = []
        """Every message id the account deleted for everyone."""
        self.read: list[str] = []
        """Every message id the account marked read."""
        self.presences: list[Presence] = []
        """Every presence the account set, in order."""
        self.chat_states: list[tuple[str, ChatState]] = []
        """Every ``(chat JID, state)`` the account showed: its "typing…"."""
        self.presence_subscriptions: set[str] = set()
        """The JIDs whose presence the account asked for."""
        self._init_groups()

    @property
    def account(self) -> Account:
        """The account this phone links."""
        return Account(jid=self.jid, phone=self.number, name=self.name)

    @property
    def linked(self) -> bool:
        """Whether a device (driver) is linked to this phone now."""
        return any(d._linked for d in self._drivers)

    def scan(self, code: str) -> None:
        """Scan a QR code shown by a driver of this phone, linking that device.

        Raises:
            ScanRejected: the code expired, was replaced by a newer one, was already
                used, or is not a login code of this phone's devices.
        """
        for driver in self._drivers:
            if driver._accept_code(code):
                self._revoked = False
                return
        for driver in self._drivers:
            if code in driver._issued:
                raise ScanRejected(
                    "this QR code is no longer valid: it expired or was replaced by a newer one"
                )
        raise ScanRejected("couldn't link device: this is not a WhatsApp login code for this phone")

    def enter_pairing_code(self, code: str) -> None:
        """Type a pairing code on the phone, linking the device that requested it.

        Raises:
            ScanRejected: no device of this phone is waiting for that code.
        """
        for driver in self._drivers:
            if driver._accept_pairing(code):
                self._revoked = False
                return
        raise ScanRejected("couldn't link device: the pairing code is wrong or expired")

    def receive_message(
        self,
        sender: str,
        text: str | None,
        *,
        group: str | None = None,
        push_name: str | None = None,
        kind: str = "text",
    ) -> str:
        """A contact writes to the account; every linked device gets the message.

        A device that is offline gets it when it reconnects, as with WhatsApp.

        Args:
            sender: The contact's number or JID.
            text: The text (``None`` for a non-text message of ``kind``).
            group: A group JID when the message is written in a group.
            push_name: The contact's display name.
            kind: ``"text"`` or another kind (``"image"``...).

        Returns:
            The message id.

        Raises:
            NotLinked: no device is linked to this phone.
        """
        sender_jid = normalize_recipient(sender)
        chat = normalize_recipient(group) if group is not None else sender_jid
        linked = [d for d in self._drivers if d._linked]
        if not linked:
            raise NotLinked("no device is linked to this phone; scan a QR code first")
        message = IncomingMessage(
            id=f"3EB0{next(self._message_ids):016X}",
            chat=chat,
            sender=sender_jid,
            push_name=push_name,
            text=text,
            is_group=group is not None,
            timestamp=utcnow(),
            kind=kind if text is None else "text",
        )
        for driver in linked:
            driver._deliver(message)
        return message.id

    def send(
        self,
        sender: str,
        content: Content,
        *,
        group: str | None = None,
        push_name: str | None = None,
        forwarded: bool = False,
    ) -> str:
        """A contact sends any kind of message; media given as bytes round-trips exactly.

        Returns:
            The message id.

        Raises:
            NotLinked: no device is linked to this phone.
        """
        linked = self._linked_drivers()
        sender_jid = normalize_recipient(sender)
        media_ref = None
        if content.has_media:
            data = content.media  # type: ignore[attr-defined]
            if not isinstance(data, bytes):
                raise TypeError("a simulated contact sends media as bytes")
            media_ref = f"sim-{next(self._message_ids)}".encode()
            self.media[media_ref.decode()] = data
            mime = content.mime_type or _sniffed(data)  # type: ignore[attr-defined]
            media = Media(
                id=media_ref.decode(),
                mime_type=mime,
                size=len(data),
                file_name=getattr(content, "file_name", None),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            content = attrs.evolve(content, media=media, mime_type=mime)  # type: ignore[call-arg]
        message = IncomingMessage(
            id=f"3EB0{next(self._message_ids):016X}",
            chat=normalize_recipient(group) if group is not None else sender_jid,
            sender=sender_jid,
            push_name=push_name,
            text=content.text,
            is_group=group is not None,
            timestamp=utcnow(),
            kind=content.kind,
            content=content,
            reply_to=content.reply_to,
            mentions=content.mentions,
            forwarded=forwarded,
            media_ref=media_ref,
        )
        for driver in linked:
            driver._deliver(message)
        return message.id

    def react(self, sender: str, message_id: str, emoji: str, *, chat: str | None = None) -> None:
        """A contact reacts to a message (``""`` takes the reaction back)."""
        jid = normalize_recipient(sender)
        self._update(MessageReaction, id=message_id, chat=chat or jid, sender=jid, emoji=emoji)

    def edit(self, sender: str, message_id: str, text: str, *, chat: str | None = None) -> None:
        """A contact edits a message they sent."""
        jid = normalize_recipient(sender)
        self._update(MessageEdited, id=message_id, chat=chat or jid, sender=jid, text=text)

    def revoke(self, sender: str, message_id: str, *, chat: str | None = None) -> None:
        """A contact deletes a message they sent, for everyone."""
        jid = normalize_recipient(sender)
        self._update(MessageRevoked, id=message_id, chat=chat or jid, sender=jid)

    def open_chat(self, contact: str) -> None:
        """The contact opens the chat: everything the account sent them is reported read."""
        jid = normalize_recipient(contact)
        ids = tuple(m.id for m in self.sent if m.to == jid)
        if ids:
            self._update(MessageStatus, ids=ids, chat=jid, recipient=jid, status=Receipt.READ)

    def type_in(
        self, sender: str, state: ChatState | str = ChatState.COMPOSING, *, chat: str | None = None
    ) -> None:
        """A contact starts (or with ``"paused"`` stops) typing or recording to the account."""
        jid = normalize_recipient(sender)
        value = ChatState(state)
        self._update(ChatStateChanged, chat=chat or jid, sender=jid, state=value)

    def show_presence(
        self,
        contact: str,
        presence: Presence | str,
        *,
        last_seen: datetime | None = None,
    ) -> None:
        """A contact goes online or offline; reported only if the account subscribed to it."""
        jid = normalize_recipient(contact)
        if jid in self.presence_subscriptions:
            value = Presence(presence)
            self._update(PresenceChanged, jid=jid, presence=value, last_seen=last_seen)

    def _linked_drivers(self) -> list[SimulatedDriver]:
        linked = [d for d in self._drivers if d._linked]
        if not linked:
            raise NotLinked("no device is linked to this phone; scan a QR code first")
        return linked

    def _update(self, kind: Any, **fields: Any) -> None:
        for driver in self._linked_drivers():
            driver._report(kind, fields)

    def fail_next_send(self, error: str = "server returned error 479", count: int = 1) -> None:
        """Make the next ``count`` sends fail with ``error``, as WhatsApp may."""
        self._send_failures.extend([error] * count)

    def logout(self) -> None:
        """Remove the linked device(s) from the phone (Settings -> Linked devices)."""
        self._revoked = True
        for driver in self._drivers:
            if driver._linked:
                driver._unlink()

    def __repr__(self) -> str:
        return f"<SimulatedPhone {self.number} linked={self.linked}>"


class SimulatedDriver(DriverGroups, Driver):
    """A :class:`~wagate.drivers.Driver` that simulates WhatsApp in process.

    Args:
        phone: The phone that scans this driver's codes (default: a new one).
        clock: A :class:`SimulatedClock` to control time by hand.
        speed: Without a clock, run time this many times faster than real.
        seed: Seeds the QR codes and ids, for reproducible runs.
        qr_timeouts: How long each QR code of a login is valid.
    """

    def __init__(
        self,
        phone: SimulatedPhone | None = None,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        seed: int | None = None,
        qr_timeouts: tuple[float, ...] = QR_TIMEOUTS,
    ) -> None:
        if not qr_timeouts or any(t <= 0 for t in qr_timeouts):
            raise ValueError("qr_timeouts must be one or more positive durations")
        self.phone = phone if phone is not None else SimulatedPhone()
        self.phone._drivers.append(self)
        self.clock: Clock = clock if clock is not None else SpeedClock(speed)
        self.qr_timeouts = qr_timeouts
        # Seeded runs repeat exactly; unseeded ones share the OS source instead of
        # carrying a 2.5 KB generator per driver.
        self._rng = random.Random(seed) if seed is not None else None  # noqa: S311
        self._online = True
        self._linked = False
        self._issued: set[str] = set()
        self._code: str | None = None
        self._code_deadline = 0.0
        self._pairing: str | None = None
        self._wake: anyio.Event | None = None
        self._ended: ConnectionEnded | None = None
        self._sink: DriverSink | None = None
        self._connected = False
        self._offline: list[IncomingMessage] = []
        self._offline_updates: list[tuple[Any, dict[str, Any]]] = []
        # Delivered receipts due, in the order they fall due (each send adds one
        # RECEIPT_DELAY after it, and the clock only moves forward).
        self._receipts: deque[tuple[float, tuple[str, ...], str]] = deque()
        self._closed = False
        self.connects = 0
        """How many connection attempts :meth:`run` has made."""

    # ------------------------------------------------------------------ the phone's side
    def scan_code(self, code: str) -> None:
        """The phone scans ``code``, a QR code this driver showed (:meth:`SimulatedPhone.scan`).

        The hook the simulator's commands (``POST /api/simulator/scan``) call.
        """
        self.phone.scan(code)

    def contact_writes(self, sender: str, text: str) -> str:
        """A contact writes to the linked account; the message's id.

        :meth:`SimulatedPhone.receive_message`, the hook the simulator's commands
        (``POST /api/simulator/receive``) call.
        """
        return self.phone.receive_message(sender, text)

    # ------------------------------------------------------------------ faults
    def drop_network(self) -> None:
        """Lose the network: the connection drops and new ones fail until restored."""
        self._online = False
        self._end(DisconnectReason.NETWORK, "websocket closed: network unreachable (simulated)")

    def restore_network(self) -> None:
        """Bring the network back; the next connection attempt succeeds."""
        self._online = True

    def replace_stream(self) -> None:
        """Another client opened this session: the connection ends as ``replaced``."""
        self._end(DisconnectReason.REPLACED, "stream replaced by another client (simulated)")

    def ban(self) -> None:
        """WhatsApp bans the account temporarily: the connection ends as ``banned``."""
        self._end(DisconnectReason.BANNED, "temporary ban (simulated)")

    def crash(self) -> None:
        """The engine dies: the connection ends as ``engine_crashed``."""
        self._end(DisconnectReason.ENGINE_CRASHED, "engine crashed (simulated)")

    def reject_version(self) -> None:
        """WhatsApp refuses this client version: the connection ends as ``outdated``."""
        self._end(DisconnectReason.OUTDATED, "client outdated (simulated)")

    # ------------------------------------------------------------------ state
    @property
    def connected(self) -> bool:
        """Whether a connection is up and linked."""
        return self._connected

    @property
    def pending_code(self) -> str | None:
        """The QR code being shown now, if any."""
        return self._code

    # ------------------------------------------------------------------ Driver
    async def run(self, sink: DriverSink, *, resume: Account | None) -> ConnectionEnded:  # noqa: D102
        await anyio.lowlevel.checkpoint()
        self.connects += 1
        if self._closed:
            return ConnectionEnded(reason=DisconnectReason.CLOSED)
        if not self._online:
            return ConnectionEnded(
                reason=DisconnectReason.NETWORK,
                detail="failed to dial whatsapp web websocket: network unreachable (simulated)",
            )
        self._ended = None
        self._sink = sink
        try:
            if resume is not None:
                if self.phone._revoked or resume.phone != self.phone.number:
                    self._linked = False
                    return ConnectionEnded(
                        reason=DisconnectReason.LOGGED_OUT,
                        detail="the device was removed from the phone (simulated)",
                    )
                self._linked = True
            else:
                ended = await self._qr_login(sink)
                if ended is not None:
                    return ended
            self._connected = True
            sink.connected(self.phone.account)
            offline, self._offline = self._offline, []
            for message in offline:
                sink.message(message)
            updates, self._offline_updates = self._offline_updates, []
            for kind, fields in updates:
                sink.update(kind, fields)
            return await self._until_ended()
        finally:
            self._connected = False
            self._code = None
            self._pairing = None
            self._sink = None

    async def _qr_login(self, sink: DriverSink) -> ConnectionEnded | None:
        for timeout in self.qr_timeouts:
            self._code = self._new_code()
            self._issued.add(self._code)
            self._code_deadline = self.clock.now() + timeout
            sink.qr(self._code, self.clock.wall_seconds(timeout))
            while (
                not self._linked and self._ended is None and self.clock.now() < self._code_deadline
            ):
                self._wake = anyio.Event()
                await self.clock.wait(self._wake, self._code_deadline)
            if self._ended is not None:
                return self._ended
            if self._linked:
                self._code = None
                return None
        self._code = None
        return ConnectionEnded(
            reason=DisconnectReason.QR_TIMEOUT, detail="no QR code was scanned in time"
        )

    async def _until_ended(self) -> ConnectionEnded:
        while True:
            ended = self._ended  # set by a fault, a logout or aclose, then _poke()
            if ended is not None:
                return ended
            self._deliver_receipts()
            if self._receipts:
                self._wake = anyio.Event()
                await self.clock.wait(self._wake, self._receipts[0][0])
            else:
                await self._wait()

    async def _wait(self) -> None:
        self._wake = anyio.Event()
        await self._wake.wait()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _end(self, reason: DisconnectReason, detail: str) -> None:
        if self._sink is not None and self._ended is None:
            self._ended = ConnectionEnded(reason=reason, detail=detail)
            self._poke()

    def _random_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n) if self._rng is not None else os.urandom(n)

    def _new_code(self) -> str:
        def b64(n: int) -> str:
            return base64.b64encode(self._random_bytes(n)).decode()

        ref = f"2@{b64(66)}"
        return ",".join((ref, b64(32), b64(32), b64(32)))

    def _accept_code(self, code: str) -> bool:
        if self._code is None or code != self._code:
            return False
        if self.clock.now() >= self._code_deadline:
            return False
        self._link()
        return True

    def _accept_pairing(self, code: str) -> bool:
        if self._pairing is None or code.replace("-", "").upper() != self._pairing.replace("-", ""):
            return False
        self._link()
        return True

    def _link(self) -> None:
        self._linked = True
        self._code = None
        self._pairing = None
        self._poke()

    def _unlink(self) -> None:
        self._linked = False
        self._end(DisconnectReason.LOGGED_OUT, "the device was removed from the phone (simulated)")

    def _deliver_receipts(self) -> None:
        now = self.clock.now()
        receipts = self._receipts
        due = []
        while receipts and receipts[0][0] <= now:
            due.append(receipts.popleft())
        for _, ids, chat in due:
            self._report(
                MessageStatus,
                {"ids": ids, "chat": chat, "recipient": chat, "status": Receipt.DELIVERED},
            )

    def _report(self, kind: Any, fields: dict[str, Any]) -> None:
        if self._connected and self._sink is not None:
            self._sink.update(kind, fields)
        else:
            self._offline_updates.append((kind, fields))

    def _deliver(self, message: IncomingMessage) -> None:
        if self._connected and self._sink is not None:
            self._sink.message(message)
        else:
            self._offline.append(message)

    async def send_text(self, jid: str, text: str) -> str:  # noqa: D102
        return await self.send(jid, Text(text), quoted=None)

    async def send(self, jid: str, content: Content, *, quoted: KnownMessage | None) -> str:  # noqa: D102
        await anyio.lowlevel.checkpoint()
        if not self._connected:
            raise DriverError("not connected to WhatsApp (simulated)")
        if self.phone._send_failures:
            raise DriverError(self.phone._send_failures.popleft())
        message_id = f"3EB0{self._random_bytes(8).hex().upper()}"
        self.phone.sent.append(
            SentMessage(id=message_id, to=jid, text=content.text or "", content=content)
        )
        self._receipts.append((self.clock.now() + RECEIPT_DELAY, (message_id,), jid))
        self._poke()
        return message_id

    async def react(self, message: KnownMessage, emoji: str) -> None:  # noqa: D102
        self._check_up()
        self.phone.reactions.append((message.id, emoji))

    async def edit(self, message: KnownMessage, text: str) -> None:  # noqa: D102
        self._check_up()
        self.phone.edits.append((message.id, text))

    async def revoke(self, message: KnownMessage) -> None:  # noqa: D102
        self._check_up()
        self.phone.revoked.append(message.id)

    async def mark_read(self, chat: str, messages: tuple[KnownMessage, ...]) -> None:  # noqa: D102
        self._check_up()
        self.phone.read.extend(m.id for m in messages)

    async def download(self, media: Media, ref: bytes | None) -> bytes:  # noqa: D102
        self._check_up()
        data = self.phone.media.get(ref.decode()) if ref is not None else None
        if data is None:
            raise DriverError("WhatsApp no longer holds this media (simulated)")
        return data

    async def set_presence(self, presence: Presence) -> None:  # noqa: D102
        self._check_up()
        self.phone.presences.append(presence)

    async def send_chat_state(self, jid: str, state: ChatState) -> None:  # noqa: D102
        self._check_up()
        self.phone.chat_states.append((jid, state))

    async def subscribe_presence(self, jid: str) -> None:  # noqa: D102
        self._check_up()
        self.phone.presence_subscriptions.add(jid)

    def _check_up(self) -> None:
        if not self._connected:
            raise DriverError("not connected to WhatsApp (simulated)")

    async def request_pairing_code(self, phone: str) -> str:  # noqa: D102
        await anyio.lowlevel.checkpoint()
        if self._code is None:
            raise PairingFailed("no login is in progress (simulated)")
        if phone != self.phone.number:
            raise PairingFailed(f"{phone} is not the number of this simulated phone")
        letters = "ABCDEFGHJKLMNPQRSTVWXYZ0123456789"
        raw = "".join(letters[b % len(letters)] for b in self._random_bytes(8))
        self._pairing = f"{raw[:4]}-{raw[4:]}"
        return self._pairing

    async def logout(self, account: Account) -> None:  # noqa: D102
        await anyio.lowlevel.checkpoint()
        self._linked = False
        self.phone._revoked = True
        self._end(DisconnectReason.LOGGED_OUT, "logged out by this application")

    async def aclose(self) -> None:  # noqa: D102
        self._closed = True
        self._end(DisconnectReason.CLOSED, "driver closed")
        if self in self.phone._drivers:
            self.phone._drivers.remove(self)


def _sniffed(data: bytes) -> str:
    from .._media import sniff  # noqa: PLC0415 - the simulator's one use

    return sniff(data) or "application/octet-stream"


class SimulatedDrivers:
    """A driver factory that makes a :class:`SimulatedDriver` for each tenant, and says so.

    A :class:`~wagate.Gateway` made with it is :attr:`~wagate.Gateway.simulated`:
    the REST API then serves the simulated-phone routes (``/api/simulator/*``) and
    the dashboard shows its "Simulated phone" panel, with no ``simulator=True``
    passed to each of them.

    Example:
        ```python
        gateway = Gateway(SimulatedDrivers())
        assert gateway.simulated
        ```

    Args:
        phone: Makes the simulated phone of a tenant (default: a new
            :class:`SimulatedPhone` for each driver).
        **options: Given to every :class:`SimulatedDriver` (``clock``, ``speed``,
            ``seed``, ``qr_timeouts``).
    """

    simulated = True
    """Says that the drivers are simulated (what :attr:`wagate.Gateway.simulated` reads)."""

    def __init__(
        self, phone: Callable[[str], SimulatedPhone] | None = None, **options: Any
    ) -> None:
        self._phone = phone
        self._options = options

    def __call__(self, tenant: str) -> SimulatedDriver:
        """A new simulated driver for ``tenant``."""
        phone = self._phone(tenant) if self._phone is not None else None
        return SimulatedDriver(phone, **self._options)
