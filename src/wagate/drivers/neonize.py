"""The real WhatsApp engine: whatsmeow (Go) through neonize, made safe to embed.

:class:`NeonizeDriver` implements :class:`~wagate.drivers.Driver` on neonize's
async client.  It reports what the engine says in wagate's terms (QR codes with
their real expiry, the linked account, why a connection ended, incoming
messages) and keeps every call that would end the Python process unreachable:
see :mod:`wagate.drivers._neonize_engine` and the "Real engine" docs page.

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

import logging
import os
import secrets
from urllib.parse import urlsplit

import anyio

from .._driver import ConnectionEnded, Driver, DriverSink
from .._errors import DriverError, InvalidInput, PairingFailed, StoreError
from .._events import Account, DisconnectReason
from .._validate import normalize_phone, normalize_recipient, validate_text
from ._neonize_attempt import FIRST_QR_SECONDS, SETTLE_SECONDS, Attempt, engine_errors, subscribe
from ._neonize_db import EngineDatabase
from ._neonize_engine import Engine, Slot, engine, probe_target
from ._neonize_translate import jid_fields

__all__ = ["NeonizeDriver"]

log = logging.getLogger("wagate.neonize")

_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


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


class NeonizeDriver(Driver):
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
        to = normalize_recipient(jid)
        text = validate_text(text)
        attempt = self._attempt
        if attempt is None or not attempt.live:
            raise DriverError("not connected to WhatsApp: connect and link an account first")
        nz = attempt.nz
        recipient = nz.proto.JID(**jid_fields(to))
        message = nz.e2e.Message(conversation=text)
        async with attempt.gate.read():
            if not attempt.live:
                raise DriverError("the connection to WhatsApp ended before the message was sent")
            with engine_errors(DriverError, "WhatsApp did not accept the message"):
                response = await attempt.client.send_message(recipient, message)
        return str(response.ID)

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
