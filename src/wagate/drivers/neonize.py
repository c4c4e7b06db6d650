"""The real WhatsApp engine: whatsmeow (Go) through neonize, made safe to embed.

:class:`NeonizeDriver` implements :class:`~wagate.drivers.Driver` on neonize's
async client.  It reports what the engine says in wagate's terms (QR codes with
their real expiry, the linked account, why a connection ended, incoming
messages, receipts, presence, group changes) and keeps every call that would
end the Python process unreachable: see :mod:`wagate.drivers._neonize_engine`
and the "Real engine" docs page.  The group and contact calls are in
:mod:`wagate.drivers._neonize_calls`.

Example:
    ```python
    from wagate import Gateway, SQLiteStore
    from wagate.drivers.neonize import NeonizeDriver

    gateway = Gateway(
        lambda tenant: NeonizeDriver(database="./wagate-data/whatsapp.db"),
        store=SQLiteStore("./wagate-data/sessions.db"),
    )
    ```

Importing this module is cheap: neonize itself (about a second, and a native
library) is loaded when a driver first connects.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._content import Content, Media, Text
from .._driver import ConnectionEnded, Driver, DriverSink, KnownMessage
from .._errors import DriverError, InvalidInput, PairingFailed, StoreError
from .._events import Account, ChatState, DisconnectReason, Presence
from .._validate import normalize_phone, normalize_recipient, validate_text
from ._neonize_attempt import FIRST_QR_SECONDS, SETTLE_SECONDS, Attempt, engine_errors, subscribe
from ._neonize_calls import GroupAndContactCalls
from ._neonize_content import (
    edit_message,
    outgoing_message,
    reaction_message,
    read_batches,
    revoke_message,
    upload_type,
)
from ._neonize_db import EngineDatabase
from ._neonize_engine import Engine, Slot, engine, probe_target
from ._neonize_translate import chat_presence_names, jid_fields

__all__ = ["NeonizeDriver"]

log = logging.getLogger("wagate.neonize")

_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _login_key() -> str:
    return f"wagate-{secrets.token_hex(8)}"


def _check_proxy(proxy: object) -> str | None:
    if proxy is None:
        return None
    if not isinstance(proxy, str):
        raise InvalidInput(f"proxy must be a URL string, got {type(proxy).__name__}")
    parts = urlsplit(proxy)
    if parts.scheme not in _PROXY_SCHEMES or not parts.hostname:
        raise InvalidInput(
            f"proxy {proxy!r} is not a proxy URL: use http://host:port or socks5://host:port"
        )
    return proxy


class NeonizeDriver(GroupAndContactCalls, Driver):
    """A WhatsApp connection through the real engine (whatsmeow, via neonize).

    One driver serves one session (one tenant); many drivers share one engine
    database, which keeps every linked device's keys.  The session store keeps
    which tenant is which account; a session resumes its account (no QR code)
    when the engine database still holds the device, and starts a new QR login
    (with a warning) when it does not.

    Args:
        database: The engine database: a SQLite file path (default
            ``./wagate-data/whatsapp.db``, directory created 0700, file 0600) or a
            ``postgresql://`` URL (needs the ``postgres`` extra).
        device_name: How the device is listed on the phone (Linked devices).
        proxy: An ``http://`` or ``socks5://`` proxy for the engine's connections.

    Raises:
        InvalidInput: an argument is malformed.
        StoreError: the SQLite file cannot be used: missing or read-only
            directory, not a SQLite database, damaged.  The file is never
            deleted or overwritten.
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | None = None,
        *,
        device_name: str = "wagate",
        proxy: str | None = None,
    ) -> None:
        if not isinstance(device_name, str) or not 1 <= len(device_name.strip()) <= 50:
            raise InvalidInput("device_name must be 1-50 characters")
        self.proxy = _check_proxy(proxy)
        self.device_name = device_name.strip()
        self.database = EngineDatabase.from_argument(database)
        self._login_key = _login_key()
        self._attempt: Attempt | None = None
        self._slots: list[Slot] = []
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether a connection is up and an account linked."""
        return self._attempt is not None and self._attempt.live

    @property
    def account(self) -> Account | None:
        """The account of the live connection, if any."""
        attempt = self._attempt
        return attempt.account if attempt is not None and attempt.live else None

    # ------------------------------------------------------------------ Driver
    async def run(self, sink: DriverSink, *, resume: Account | None) -> ConnectionEnded:
        """Connect once and keep the connection until it ends; return why it ended.

        Resumes ``resume`` when the engine database holds its device, otherwise
        starts a QR login.  Engine failures come back as a ``ConnectionEnded``
        (``network`` for a failed dial or an unusable database, with the engine's
        words in ``detail``).
        """
        if self._closed:
            return ConnectionEnded(reason=DisconnectReason.CLOSED, detail="the driver is closed")
        if self._attempt is not None:
            raise RuntimeError("NeonizeDriver.run() is already running")
        eng = engine()
        nz = await eng.bind()
        target = probe_target(self.proxy)
        if eng.needs_probe(target):
            # While the network is down this is all an attempt costs.
            problem = await eng.probe(target)
            if problem is not None:
                return ConnectionEnded(
                    reason=DisconnectReason.NETWORK,
                    detail=f"{problem}; the engine dials again once it is reachable",
                )
            eng.dial_result(target, ok=True)
        try:
            await self.database.check()
            device = await self.database.find_device(resume.jid) if resume is not None else None
        except StoreError as exc:
            log.warning("the WhatsApp engine database is not usable: %s", exc.message)
            return ConnectionEnded(reason=DisconnectReason.NETWORK, detail=exc.message)
        if resume is not None and device is None:
            log.warning(
                "account %s is not stored in the engine database %s (removed, or another "
                "database): starting a new QR login instead of resuming it",
                resume.jid,
                self.database.shown,
            )
        problem = eng.fd_problem()
        if problem is not None:
            log.error("%s", problem)
            return ConnectionEnded(reason=DisconnectReason.NETWORK, detail=problem)
        slot = await self._slot(eng, device)
        if isinstance(slot, ConnectionEnded):
            return slot
        jid = nz.proto.JID(**jid_fields(device)) if device is not None else None
        props = nz.device_props(
            os=self.device_name, platformType=nz.device_props.PlatformType.Value("DESKTOP")
        )
        client = eng.make_client(slot, self.database.name, jid, props)
        subscribe(client, nz)
        attempt = Attempt(eng, nz, slot, client, sink, target, resume)
        self._attempt = attempt
        try:
            proxy = nz.proxy_settings(proxy_address=self.proxy) if self.proxy else None
            await attempt.start(proxy)
            return await attempt.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await attempt.finish()
            self._attempt = None

    async def _slot(self, eng: Engine, device: str | None) -> Slot | ConnectionEnded:
        key = jid_fields(device)["User"] if device is not None else self._login_key
        try:
            slot = eng.claim(key, self, device)
        except DriverError as exc:
            return ConnectionEnded(reason=DisconnectReason.REPLACED, detail=exc.message)
        if slot.busy and (slot.abandoned or not await slot.settle(SETTLE_SECONDS)):
            if device is not None:
                return ConnectionEnded(
                    reason=DisconnectReason.NETWORK,
                    detail="the previous engine connection of this account is still closing",
                )
            # A new login on a fresh key: the old call keeps its client object.
            eng.release(slot, self)
            self._login_key = _login_key()
            slot = eng.claim(self._login_key, self, None)
        for other in self._slots:
            if other is not slot:
                eng.release(other, self)
        self._slots = [slot]
        return slot

    async def send_text(self, jid: str, text: str) -> str:
        """Send a text message; return WhatsApp's message id.

        Raises:
            InvalidRecipient: ``jid`` is not a phone number or JID.
            InvalidText: ``text`` cannot be sent.
            DriverError: not connected, or WhatsApp refused the message.
        """
        return await self.send(jid, Text(validate_text(text)), quoted=None)

    async def send(self, jid: str, content: Content, *, quoted: KnownMessage | None) -> str:
        """Send a message of any kind; return WhatsApp's message id.

        Media (bytes, its ``mime_type`` set) is uploaded to WhatsApp first; a
        reply quotes ``quoted`` (its id, sender and text); mentions are JIDs.
        No preview is made for an image, a video or a document (the recipient's
        phone shows a placeholder until it downloads the media).

        Raises:
            InvalidRecipient: ``jid`` or a mention is not a phone number or JID.
            DriverError: not connected, the upload failed, or WhatsApp refused it.
        """
        to = normalize_recipient(jid)
        attempt = self._live_attempt()
        nz = attempt.nz
        upload = None
        if content.has_media:
            data = content.media  # type: ignore[attr-defined]
            if not isinstance(data, bytes):
                raise DriverError(f"a {content.kind}'s media reaches the engine as bytes")
            media_type = nz.media_type[upload_type(content)]
            upload = await self._call(
                attempt, "WhatsApp did not take the media", attempt.client.upload, data, media_type
            )
        message = outgoing_message(nz.e2e, content, upload=upload, quoted=quoted)
        return await self._send(attempt, to, message)

    async def react(self, message: KnownMessage, emoji: str) -> None:
        """React to ``message`` with ``emoji`` (``""`` takes the reaction back).

        Raises:
            DriverError: not connected, or WhatsApp refused the reaction.
        """
        attempt = self._live_attempt()
        reaction = reaction_message(attempt.nz.e2e, message, emoji, _now_ms())
        await self._send(attempt, message.chat, reaction)

    async def edit(self, message: KnownMessage, text: str) -> None:
        """Change the text of a message this account sent.

        Raises:
            DriverError: not connected, or WhatsApp refused the edit.
        """
        attempt = self._live_attempt()
        edit = edit_message(attempt.nz.e2e, message, validate_text(text), _now_ms())
        await self._send(attempt, message.chat, edit)

    async def revoke(self, message: KnownMessage) -> None:
        """Delete ``message`` for everyone.

        Raises:
            DriverError: not connected, or WhatsApp refused the revoke.
        """
        attempt = self._live_attempt()
        await self._send(attempt, message.chat, revoke_message(attempt.nz.e2e, message))

    async def mark_read(self, chat: str, messages: tuple[KnownMessage, ...]) -> None:
        """Send read receipts (blue ticks) for ``messages`` of ``chat``.

        In a group one receipt goes to each sender.

        Raises:
            DriverError: not connected, or WhatsApp refused a receipt.
        """
        attempt = self._live_attempt()
        nz = attempt.nz
        chat_jid = nz.proto.JID(**jid_fields(normalize_recipient(chat)))
        for sender, ids in read_batches(chat, messages).items():
            await self._call(
                attempt,
                "WhatsApp did not take the read receipt",
                functools.partial(
                    attempt.client.mark_read,
                    *ids,
                    chat=chat_jid,
                    sender=nz.proto.JID(**jid_fields(sender)),
                    receipt=nz.receipt_type.READ,
                ),
            )

    async def set_presence(self, presence: Presence) -> None:
        """Show the account as online (available) or offline (unavailable) to its contacts.

        Raises:
            DriverError: not connected, or WhatsApp refused the presence.
        """
        attempt = self._live_attempt()
        value = attempt.nz.presence[Presence(presence).name]
        await self._call(
            attempt, "WhatsApp did not take the presence", attempt.client.send_presence, value
        )

    async def send_chat_state(self, jid: str, state: ChatState) -> None:
        """Show "typing…" (composing), "recording audio…" or nothing (paused) in a chat.

        Raises:
            InvalidRecipient: ``jid`` is not a phone number or JID.
            DriverError: not connected, or WhatsApp refused the chat state.
        """
        to = normalize_recipient(jid)
        attempt = self._live_attempt()
        nz = attempt.nz
        presence, media = chat_presence_names(state)
        await self._call(
            attempt,
            "WhatsApp did not take the chat state",
            attempt.client.send_chat_presence,
            nz.proto.JID(**jid_fields(to)),
            nz.chat_presence[presence],
            nz.chat_presence_media[media],
        )

    async def subscribe_presence(self, jid: str) -> None:
        """Ask WhatsApp for ``jid``'s online/offline updates (``PresenceChanged`` events).

        WhatsApp sends them while the account shows as available.

        Raises:
            InvalidRecipient: ``jid`` is not a phone number or JID.
            DriverError: not connected, or WhatsApp refused the subscription.
        """
        to = normalize_recipient(jid)
        attempt = self._live_attempt()
        await self._call(
            attempt,
            "WhatsApp did not take the presence subscription",
            attempt.client.subscribe_presence,
            attempt.nz.proto.JID(**jid_fields(to)),
        )

    async def download(self, media: Media, ref: bytes | None) -> bytes:
        """The bytes of received media, fetched from WhatsApp and decrypted by the engine.

        ``ref`` is the ``media_ref`` of the message the media came with.

        Raises:
            DriverError: not connected, no usable ``ref``, or WhatsApp no longer
                holds the media.
        """
        attempt = self._live_attempt()
        if not ref:
            raise DriverError(f"media {media.id} has no engine reference to download it with")
        try:
            message = attempt.nz.e2e.Message.FromString(ref)
        except Exception as exc:  # protobuf's DecodeError, and whatever upb raises
            raise DriverError(f"media {media.id} has a damaged engine reference") from exc
        data = await self._call(
            attempt, "WhatsApp did not give the media", attempt.client.download_any, message
        )
        return bytes(data)

    def _live_attempt(self) -> Attempt:
        attempt = self._attempt
        if attempt is None or not attempt.live:
            raise DriverError("not connected to WhatsApp: connect and link an account first")
        return attempt

    async def _send(self, attempt: Attempt, chat: str, message: Any) -> str:
        recipient = attempt.nz.proto.JID(**jid_fields(chat))
        response = await self._call(
            attempt,
            "WhatsApp did not accept the message",
            attempt.client.send_message,
            recipient,
            message,
        )
        return str(response.ID)

    async def _call(
        self, attempt: Attempt, action: str, call: Callable[..., Awaitable[Any]], *args: Any
    ) -> Any:
        """One engine call of a live connection: inside the gate, its errors translated."""
        async with attempt.gate.read():
            if not attempt.live:
                raise DriverError(f"the connection to WhatsApp ended first ({action})")
            with engine_errors(DriverError, action):
                return await call(*args)

    async def request_pairing_code(self, phone: str) -> str:
        """Ask WhatsApp for a pairing code for ``phone`` while a QR login is shown.

        Raises:
            InvalidPhoneNumber: ``phone`` is not an international number.
            PairingFailed: no QR login is in progress, or WhatsApp gave no code.
        """
        number = normalize_phone(phone)
        attempt = self._attempt
        if attempt is None or attempt.ended is not None or attempt.account is not None:
            raise PairingFailed(
                "no QR login is in progress: connect first, and ask while a QR code is shown"
            )
        if not attempt.qr_seen.is_set():
            # whatsmeow pairs by phone only on a connection that is showing codes.
            with anyio.move_on_after(FIRST_QR_SECONDS):
                await attempt.qr_seen.wait()
            if not attempt.qr_seen.is_set():
                raise PairingFailed("the login has not reached WhatsApp yet; try again shortly")
        async with attempt.gate.read():
            if attempt.ended is not None or attempt.stopping:
                raise PairingFailed("the login ended before a pairing code could be requested")
            with engine_errors(PairingFailed, "WhatsApp did not give a pairing code"):
                code = await attempt.client.PairPhone(number[1:], True)
        return str(code)

    async def logout(self, account: Account) -> None:
        """Unlink ``account``: tell WhatsApp when connected, then forget its keys here.

        Raises:
            DriverError: WhatsApp was not told (the keys are forgotten anyway).
        """
        error: DriverError | None = None
        attempt = self._attempt
        if attempt is not None:
            if attempt.live:
                try:
                    async with attempt.gate.read():
                        with engine_errors(DriverError, "the engine's logout failed"):
                            await attempt.client.logout()
                except DriverError as exc:
                    error = exc
            attempt.end(DisconnectReason.LOGGED_OUT, "logged out by this application")
            with anyio.move_on_after(SETTLE_SECONDS * 3):
                await attempt.finished.wait()
        try:
            device = await self.database.find_device(account.jid)
            if device is not None:
                await self.database.delete_device(device)
        except StoreError as exc:
            error = error or DriverError(f"the device's keys could not be removed: {exc.message}")
        if error is not None:
            raise error

    async def aclose(self) -> None:
        """End the connection, if any, and let the engine forget this driver's clients."""
        self._closed = True
        attempt = self._attempt
        if attempt is not None:
            attempt.end(DisconnectReason.CLOSED, "the driver was closed")
            with anyio.move_on_after(SETTLE_SECONDS * 3):
                await attempt.finished.wait()
        eng = engine()
        for slot in self._slots:
            eng.release(slot, self)
        self._slots = []

    def __repr__(self) -> str:
        state = "connected" if self.connected else "idle"
        return f"<NeonizeDriver {self.database.shown} {state}>"
