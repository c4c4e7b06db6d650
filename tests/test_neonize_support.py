"""Helpers for the NeonizeDriver tests: a proxy that holds the engine's dial, engine entry points.

(No tests here; the name keeps it next to the tests that use it.)

Offline, the engine's dial fails in a millisecond, so nothing would ever be live
long enough to receive an event.  :class:`HoldingProxy` is an HTTP proxy on
127.0.0.1 that accepts the engine's ``CONNECT`` and then says nothing: the
engine's connection call stays open, its callbacks are registered, and the
tests call them exactly as the Go side does (:class:`EngineEntry`): the same
ctypes function pointers neonize handed to the engine, called from a thread
that is not the event loop's, with protobuf bytes built from neonize's own types.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from wagate import Backoff, Event, Session
from wagate.drivers._neonize_translate import jid_fields
from wagate.drivers.neonize import NeonizeDriver

E = TypeVar("E", bound=Event)

WAIT = 20.0
"""Seconds a test waits for something the engine or the session should do at once."""


def _proto() -> Any:
    from wagate.drivers._neonize_engine import load_neonize

    return load_neonize().proto


def jid(text: str) -> Any:
    """A neonize JID protobuf."""
    return _proto().JID(**jid_fields(text))


def empty_jid() -> Any:
    """The JID whatsmeow sends for "none" (every field set, as proto2 requires)."""
    return _proto().JID(User="", RawAgent=0, Device=0, Integrator=0, Server="", IsEmpty=True)


def message_source(
    chat: str, sender: str, *, group: bool, from_me: bool, sender_alt: str | None = None
) -> Any:
    """The ``MessageSource`` of an event: who wrote in which chat."""
    return _proto().MessageSource(
        Chat=jid(chat),
        Sender=jid(sender),
        IsFromMe=from_me,
        IsGroup=group,
        SenderAlt=jid(sender_alt) if sender_alt else empty_jid(),
        RecipientAlt=empty_jid(),
        BroadcastListOwner=empty_jid(),
    )


def message_event(
    content: Any,
    *,
    chat: str = "628111111111@s.whatsapp.net",
    sender: str = "628111111111@s.whatsapp.net",
    sender_alt: str | None = None,
    group: bool = False,
    from_me: bool = False,
    push_name: str = "Ani",
    timestamp_ms: int = 1_700_000_000_123,
    message_id: str = "3EB0C0FFEE",
) -> Any:
    """A neonize Message event, as whatsmeow encodes one."""
    p = _proto()
    source = message_source(chat, sender, group=group, from_me=from_me, sender_alt=sender_alt)
    info = p.MessageInfo(
        MessageSource=source,
        ID=message_id,
        ServerID=0,
        Type="text" if content.conversation else "media",
        Pushname=push_name,
        Timestamp=timestamp_ms,
        Category="",
        Multicast=False,
        MediaType="",
        Edit="",
    )
    return p.Message(
        Info=info,
        Message=content,
        IsEphemeral=False,
        IsViewOnce=False,
        IsViewOnceV2=False,
        IsViewOnceV2Extension=False,
        IsDocumentWithCaption=False,
        IsLottieSticker=False,
        IsEdit=False,
        UnavailableRequestID="",
        RetryCount=0,
    )


def receipt_event(
    ids: list[str],
    receipt: str,
    *,
    chat: str = "628111111111@s.whatsapp.net",
    sender: str = "628111111111@s.whatsapp.net",
    group: bool = False,
    from_me: bool = False,
) -> Any:
    """A neonize Receipt event (``receipt``: its ``ReceiptType`` name, e.g. ``"READ"``)."""
    p = _proto()
    source = message_source(chat, sender, group=group, from_me=from_me)
    return p.Receipt(
        MessageSource=source,
        MessageIDs=ids,
        Timestamp=1_700_000_000,
        Type=p.Receipt.ReceiptType.Value(receipt),
    )


def presence_event(who: str, *, unavailable: bool = False, last_seen: int = 0) -> Any:
    """A neonize PresenceEv (protobuf ``Presence``); ``last_seen`` in Unix seconds, 0 for none."""
    return _proto().Presence(From=jid(who), Unavailable=unavailable, LastSeen=last_seen)


def chat_presence_event(
    state: str,
    media: str = "TEXT",
    *,
    chat: str = "628111111111@s.whatsapp.net",
    sender: str = "628111111111@s.whatsapp.net",
    group: bool = False,
    from_me: bool = False,
) -> Any:
    """A neonize ChatPresenceEv; ``state`` COMPOSING or PAUSED, ``media`` TEXT or AUDIO."""
    p = _proto()
    source = message_source(chat, sender, group=group, from_me=from_me)
    return p.ChatPresence(
        MessageSource=source,
        State=p.ChatPresence.ChatPresence.Value(state),
        Media=p.ChatPresence.ChatPresenceMedia.Value(media),
    )


class HoldingProxy:
    """An HTTP proxy that accepts ``CONNECT`` and then holds the connection silently.

    ``dialed`` is set when the engine's dial arrives (a bare TCP probe is not a
    dial).  ``close()`` drops every held connection and stops listening, so the
    engine's dial fails at once and later probes are refused.
    """

    def __init__(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        self._listener = listener
        self.port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.dialed = anyio.Event()
        self.dials = 0
        self._dial = anyio.Event()
        self._scope = anyio.CancelScope()

    async def wait_dials(self, count: int) -> None:
        """Wait until ``count`` dials have arrived in all."""
        with anyio.fail_after(WAIT):
            while self.dials < count:
                await self._dial.wait()

    async def serve(self) -> None:
        """Accept connections until :meth:`close`."""
        with self._scope:
            async with self._listener:
                await self._listener.serve(self._handle)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            buffered = BufferedByteReceiveStream(stream)
            try:
                line = await buffered.receive_until(b"\r\n", 4096)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound, OSError):
                return
            if not line.startswith(b"CONNECT "):
                return
            self.dials += 1
            self.dialed.set()
            self._dial.set()
            self._dial = anyio.Event()
            await anyio.sleep_forever()

    def close(self) -> None:
        """Drop held dials and stop accepting (their scope only: not the caller's)."""
        self._scope.cancel()


@asynccontextmanager
async def holding_proxy() -> AsyncIterator[HoldingProxy]:
    """Run a :class:`HoldingProxy` on 127.0.0.1, on a port the OS picks."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with anyio.create_task_group() as tg:
        proxy = HoldingProxy(listener)
        tg.start_soon(proxy.serve)
        try:
            yield proxy
        finally:
            proxy.close()


class EngineEntry:
    """The engine's callbacks of a driver's live connection, called as the Go side calls them."""

    def __init__(self, driver: NeonizeDriver) -> None:
        attempt = driver._attempt
        assert attempt is not None, "the driver has no live connection"
        self.attempt = attempt
        self.client = attempt.client
        self.key: bytes = self.client.uuid
        qr_cb, login_cb, event_cb = self.client._connect_refs[:3]
        self._qr_cb = qr_cb
        self._login_cb = login_cb
        self._event_cb = event_cb
        from neonize.events import EVENT_TO_INT

        self._codes = EVENT_TO_INT

    def _c_string(self, value: bytes) -> tuple[Any, int]:
        buffer = ctypes.create_string_buffer(value)
        return buffer, ctypes.addressof(buffer)

    def qr_now(self, code: str) -> None:
        """Deliver a QR code (blocking; call from a worker thread)."""
        key = self._c_string(self.key)
        data = self._c_string(code.encode())
        self._qr_cb(key[1], data[1])

    def status_now(self, status: str) -> None:
        """Deliver a QR login status (blocking; may park the calling thread for good)."""
        key = self._c_string(self.key)
        data = self._c_string(status.encode())
        self._login_cb(key[1], data[1])

    def event_now(self, message: Any, code: int | None = None) -> None:
        """Deliver a protobuf event (blocking; call from a worker thread)."""
        payload = message.SerializeToString()
        buffer = ctypes.create_string_buffer(payload, len(payload))
        number = self._codes[type(message)] if code is None else code
        self._event_cb(self.key, ctypes.addressof(buffer), len(payload), number)

    async def qr(self, code: str) -> None:
        """Deliver a QR code from a thread that is not the loop's."""
        await anyio.to_thread.run_sync(self.qr_now, code)

    async def event(self, message: Any, code: int | None = None) -> None:
        """Deliver a protobuf event from a thread that is not the loop's."""
        await anyio.to_thread.run_sync(self.event_now, message, code)

    async def me(self, jid: str, push_name: str = "") -> None:
        """Deliver the device record (event code 0) that starts the engine's event stream."""
        from neonize.proto import Neonize_pb2 as p

        device = p.Device(
            JID=p.JID(**jid_fields(jid)),
            Platform="android",
            BussinessName="",
            PushName=push_name,
            Initialized=True,
        )
        await self.event(device, code=0)

    async def status(self, status: str) -> None:
        """Deliver a QR login status that lets the engine go on (``success``)."""
        await anyio.to_thread.run_sync(self.status_now, status)

    def status_parking(self, status: str) -> threading.Thread:
        """Deliver a login status that parks the engine thread: on a thread of its own."""
        thread = threading.Thread(target=self.status_now, args=(status,), daemon=True)
        thread.start()
        return thread


async def next_event(events: AsyncIterator[Event], cls: type[E], timeout: float = WAIT) -> E:
    """The next event of type ``cls`` (others are skipped), failing after ``timeout``."""
    with anyio.fail_after(timeout):
        async for event in events:
            if isinstance(event, cls):
                return event
    raise AssertionError(f"the stream ended before a {cls.__name__}")


class Live:
    """A session whose engine connection is live (its dial held by a proxy)."""

    def __init__(
        self,
        session: Session,
        driver: NeonizeDriver,
        proxy: HoldingProxy,
        entry: EngineEntry,
        events: AsyncIterator[Event],
    ) -> None:
        self.session = session
        self.driver = driver
        self.proxy = proxy
        self.entry = entry
        self.events = events

    async def connected(self, jid: str = "628123456789:7@s.whatsapp.net", name: str = "") -> None:
        """Bring the connection up as a resumed one: the device record, then ``Connected``."""
        from neonize.proto import Neonize_pb2 as p

        await self.entry.me(jid, name)
        await self.entry.event(p.Connected(status=True))

    async def ended(self) -> None:
        """Wait until the driver has decided the connection ends, then let the dial fail."""
        with anyio.fail_after(WAIT):
            await self.entry.attempt.ending.wait()
        self.proxy.close()


@asynccontextmanager
async def live_session(
    database: str | os.PathLike[str], *, tenant: str = "acme", **session_args: Any
) -> AsyncIterator[Live]:
    """A real Session on a NeonizeDriver whose engine connection is live until the block ends.

    Leaving the block drops the proxy first (so the engine's dial fails at once
    and its stop does not wait for whatsmeow's 60-second dial deadline), then
    closes the session.
    """
    session_args.setdefault("backoff", Backoff(initial=0.01, maximum=0.02))
    async with holding_proxy() as proxy:
        driver = NeonizeDriver(database=database, proxy=proxy.url)
        async with Session(tenant, driver=driver, **session_args) as session:
            events = session.events()
            try:
                await session.connect()
                with anyio.fail_after(WAIT):
                    await proxy.dialed.wait()
                yield Live(session, driver, proxy, EngineEntry(driver), events)
            finally:
                proxy.close()


def random_key_bytes(n: int) -> bytes:
    """Random bytes, for fake device keys."""
    return secrets.token_bytes(n)


def store_fake_device(database: str | os.PathLike[str], jid: str, push_name: str = "") -> None:
    """Write a device row as whatsmeow does after pairing (random keys), for resume tests.

    The engine database must exist with its tables (any engine connect creates them).
    """
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key,"
            " signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details,"
            " adv_account_sig, adv_account_sig_key, adv_device_sig, push_name)"
            " VALUES (?, 1234, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            (
                jid,
                random_key_bytes(32),
                random_key_bytes(32),
                random_key_bytes(32),
                random_key_bytes(64),
                random_key_bytes(32),
                b"\x0a\x00",
                random_key_bytes(64),
                random_key_bytes(32),
                random_key_bytes(64),
                push_name,
            ),
        )
