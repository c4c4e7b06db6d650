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

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._driver import ConnectionEnded, Driver, DriverSink, IncomingMessage
from .._errors import DriverError, InvalidInput, PairingFailed, StoreError, WagateError
from .._events import Account, DisconnectReason
from .._validate import normalize_phone, normalize_recipient, validate_text
from ._neonize_db import EngineDatabase
from ._neonize_engine import Engine, Neonize, Slot, engine, probe_target
from ._neonize_translate import account_from, ending_for, incoming_message, jid_fields

__all__ = ["NeonizeDriver"]

log = logging.getLogger("wagate.neonize")

FIRST_QR_SECONDS = 60.0
"""How long WhatsApp accepts the first QR code of a login."""
NEXT_QR_SECONDS = 20.0
"""How long WhatsApp accepts each following code."""
QR_GRACE_SECONDS = 15.0
"""After a code expires with no word from the engine, the login counts as timed out."""
CONNECT_HOLD_SECONDS = 15.0
"""The longest a connect keeps other engine calls waiting (its start-up writes take ms)."""
ENGINE_HOLD_WAIT_SECONDS = 120.0
"""How long the engine's thread waits for the gate after a QR login succeeded."""
SETTLE_SECONDS = 10.0
"""How long closing waits for the engine's connection call to return."""

_SUBSCRIBED = (
    "PairStatus",
    "Connected",
    "KeepAliveTimeout",
    "LoggedOut",
    "StreamReplaced",
    "TemporaryBan",
    "ConnectFailure",
    "ClientOutdated",
    "StreamError",
    "Disconnected",
    "Message",
)
_PAIR_SUCCESS = 2
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _words(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def _engine_errors(error: type[DriverError], action: str) -> Iterator[None]:
    """Translate what the engine raises into a wagate error, at the boundary.

    Whatever neonize raises (``NeonizeError`` and its many subclasses, or a
    ``RuntimeError`` from its bindings) leaves as ``error``; the original stays
    reachable as ``__cause__`` for debugging.
    """
    try:
        yield
    except WagateError:
        raise
    except Exception as exc:
        raise error(f"{action}: {_words(exc)}") from exc


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
        self._attempt: _Attempt | None = None
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
        _subscribe(client, nz)
        attempt = _Attempt(eng, nz, slot, client, sink, target, resume)
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
            with _engine_errors(DriverError, "WhatsApp did not accept the message"):
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
            with _engine_errors(PairingFailed, "WhatsApp did not give a pairing code"):
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
                        with _engine_errors(DriverError, "the engine's logout failed"):
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


# ---------------------------------------------------------------------------- handlers
# Registered once per client object; neonize runs them on its global loop (the
# running one, see Engine.bind) and drops whatever they raise, so they catch all.


def _subscribe(client: Any, nz: Neonize) -> None:
    if getattr(client, "wagate_subscribed", False):
        return
    client.event.qr(_on_qr)
    for name in _SUBSCRIBED:
        client.event(getattr(nz.proto, name))(_on_event)
    client.wagate_subscribed = True


def _deliver(client: Any, method: str, arg: Any) -> None:
    attempt = getattr(client, "wagate_listener", None)
    if not isinstance(attempt, _Attempt):
        return
    try:
        if asyncio.get_running_loop() is attempt.loop:
            getattr(attempt, method)(arg)
        else:  # pragma: no cover - the engine is bound to one loop at a time
            attempt.loop.call_soon_threadsafe(getattr(attempt, method), arg)
    except Exception:
        log.exception("wagate could not handle a WhatsApp engine event")


async def _on_qr(client: Any, data: bytes) -> None:
    _deliver(client, "on_qr", data.decode(errors="replace"))


async def _on_event(client: Any, message: Any) -> None:
    _deliver(client, "on_event", message)


# ---------------------------------------------------------------------------- attempt


class _Discard:
    """Where a finished attempt reports: nowhere (the session has moved on)."""

    def qr(self, code: str, valid_for: float) -> None:
        """Drop a late QR code."""

    def connected(self, account: Account) -> None:
        """Drop a late "connected"."""

    def message(self, message: IncomingMessage) -> None:
        """Drop a message that arrived after the connection ended."""
        log.warning("a message (%s) arrived after its connection ended; dropped", message.id)


_DISCARD = _Discard()


class _Attempt:
    """One connection attempt: one engine connection call, from start to stop.

    The loop-thread methods (``on_*``, ``end``, ``wait``...) translate what the
    engine reports; the ``go_*`` methods run on the engine's own thread and keep
    it from touching its maps while another call changes them, or from reaching
    code that would end the process after a stop.
    """

    def __init__(  # noqa: PLR0917 - private, one call site
        self,
        eng: Engine,
        nz: Neonize,
        slot: Slot,
        client: Any,
        sink: DriverSink,
        target: tuple[str, int],
        resume: Account | None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.engine = eng
        self.gate = eng.gate
        self.nz = nz
        self.slot = slot
        self.client = client
        self.sink = sink
        self.target = target
        self.resume = resume
        self.ended: ConnectionEnded | None = None
        self.ending = anyio.Event()
        """Set once the connection is decided to end (``ended`` holds why)."""
        self.account: Account | None = None
        self.qr_codes = 0
        self.qr_seen = anyio.Event()
        self.finished = anyio.Event()
        self.stopping = False
        """Set before the engine is told to stop; read by the engine's thread."""
        self.engine_returned = threading.Event()
        self.task: asyncio.Task[Any] | None = None
        self._engine_error: BaseException | None = None
        self._wake = anyio.Event()
        self._qr_deadline: float | None = None
        self._cap: asyncio.TimerHandle | None = None
        self._connect_token = object()
        self._engine_token = object()
        self._stop_token = object()
        self._holding_connect = False

    @property
    def live(self) -> bool:
        """Connected, linked, and not ending."""
        return self.account is not None and self.ended is None and not self.stopping

    # ------------------------------------------------------------------ lifecycle
    async def start(self, proxy: Any) -> None:
        # Starting a client writes the engine's maps: exclusive until the engine
        # shows a sign of life (it has written them by then), returns, or the cap.
        await self.gate.acquire_write(self._connect_token)
        self._holding_connect = True
        try:
            self._cap = self.loop.call_later(CONNECT_HOLD_SECONDS, self._release_connect)
            self.engine.ensure_executor(self.loop)
            self.client.me = None
            self.client.wagate_listener = self
            with _engine_errors(DriverError, "the WhatsApp engine could not start a connection"):
                task = await self.client.connect(proxy)
        except BaseException:
            self._release_connect()
            raise
        self.task = task
        self.engine.track(self.slot, task)
        task.add_done_callback(self._engine_call_ended)

    async def wait(self) -> ConnectionEnded:
        task = self.task
        assert task is not None
        while True:
            self._wake = anyio.Event()
            if self.ended is not None:
                return self.ended
            if task.done():
                return self._ended_by_engine()
            timeout = math.inf
            if self._qr_deadline is not None and self.account is None:
                timeout = self._qr_deadline - self.loop.time()
                if timeout <= 0:
                    self.end(DisconnectReason.QR_TIMEOUT, "no QR code was scanned in time")
                    continue
            with anyio.move_on_after(timeout):
                await self._wake.wait()

    async def finish(self) -> None:
        """Stop the engine's client (always: it also drops the engine's map entries)."""
        self.stopping = True
        if self._cap is not None:
            self._cap.cancel()
        task = self.task
        try:
            if task is not None:
                in_qr_login = self.account is None and self.qr_codes > 0
                try:
                    async with self.gate.write(self._stop_token):
                        await self.client.stop()
                except Exception:
                    log.exception("the WhatsApp engine failed to stop a client")
                if in_qr_login and not task.done():
                    # The engine's call cannot return after a QR login that did not
                    # link (see go_login_status): leave it, parked, with its object.
                    self.slot.abandoned = True
                elif not await self.slot.settle(SETTLE_SECONDS):
                    log.warning(
                        "the WhatsApp engine's connection call did not return within %.0f s "
                        "of its stop; it is left running",
                        SETTLE_SECONDS,
                    )
        finally:
            self._release_connect()
            self.gate.release_write(self._engine_token)
            # A parked engine call keeps this object for good: let go of the session.
            self.sink = _DISCARD
            self.resume = None
            self.finished.set()

    def end(self, reason: DisconnectReason, detail: str) -> None:
        """The connection ends (the first reason given wins)."""
        if self.ended is None:
            self.ended = ConnectionEnded(reason=reason, detail=detail)
            self.ending.set()
            self._wake.set()

    def _ended_by_engine(self) -> ConnectionEnded:
        error = self._engine_error
        if error is None:
            return ConnectionEnded(
                reason=DisconnectReason.NETWORK, detail="the WhatsApp engine ended the connection"
            )
        words = _words(error)
        if "dial" in words and self.account is None and self.qr_codes == 0:
            self.engine.dial_result(self.target, ok=False)
        return ConnectionEnded(reason=DisconnectReason.NETWORK, detail=words)

    def _engine_call_ended(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            self._engine_error = task.exception()
        self.engine_returned.set()
        if getattr(self.client, "wagate_listener", None) is self:
            self.client.wagate_listener = None
        self._release_connect()
        self.gate.release_write(self._engine_token)
        self._wake.set()

    def _release_connect(self) -> None:
        if self._holding_connect:
            self._holding_connect = False
            self.gate.release_write(self._connect_token)

    def _sign_of_life(self) -> None:
        self._release_connect()
        self.engine.dial_result(self.target, ok=True)

    # ------------------------------------------------------------------ loop thread
    def on_qr(self, code: str) -> None:
        self._sign_of_life()
        if self.ended is not None or self.account is not None or self.stopping:
            return
        self.qr_codes += 1
        valid = FIRST_QR_SECONDS if self.qr_codes == 1 else NEXT_QR_SECONDS
        self._qr_deadline = self.loop.time() + valid + QR_GRACE_SECONDS
        self.sink.qr(code, valid)
        self.qr_seen.set()
        self._wake.set()

    def on_event(self, event: Any) -> None:
        self._sign_of_life()
        kind = event.DESCRIPTOR.name
        if kind == "Message":
            message = incoming_message(event)
            if message is not None:
                self.sink.message(message)
            return
        if self.ended is not None or self.stopping:
            return
        if kind == "PairStatus":
            if event.Status == _PAIR_SUCCESS:
                self._linked(account_from(self.client.me, event))
            else:
                self.end(
                    DisconnectReason.NETWORK,
                    f"pairing failed: {event.Error or 'WhatsApp gave no reason'}",
                )
            return
        if kind == "Connected":
            self._linked(account_from(self.client.me))
            return
        ending = ending_for(event)
        if ending is not None:
            self.end(ending.reason, ending.detail or ending.reason.value)

    def _linked(self, account: Account | None) -> None:
        if self.account is not None:
            return
        if account is None:
            account = self.resume
        if account is None:
            self.end(DisconnectReason.NETWORK, "the engine connected without naming the account")
            return
        self.account = account
        self._qr_deadline = None
        self.sink.connected(account)
        self._wake.set()

    def on_login_status(self, status: str) -> None:
        self._sign_of_life()
        if status == "success":
            return  # PairStatus and Connected follow
        if status == "err-scanned-without-multidevice":
            log.warning("the phone scanned the QR code but cannot link devices; update WhatsApp")
        elif status == "timeout":
            self.end(DisconnectReason.QR_TIMEOUT, "no QR code was scanned in time")
        elif status == "err-client-outdated":
            self.end(DisconnectReason.OUTDATED, "WhatsApp refused this client version")
        else:
            self.end(DisconnectReason.NETWORK, f"the QR login failed ({status or 'error'})")

    def _call_soon(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ engine thread
    def go_login_status(self, status: str) -> None:
        """The QR login ended (on the engine's thread, which reads its maps next).

        After ``success`` the engine waits for the device id (set by the pairing)
        and starts its event stream: it may proceed, holding the gate until its
        device record arrives (``go_me``).  After any other end, or once a stop
        has begun, going on would wait forever for a device id, or read a
        client the stop removed (a nil dereference: the process dies).  So the
        thread stays here for good; it is a daemon thread of its own.
        """
        self._call_soon(self.on_login_status, status)
        if status == "err-scanned-without-multidevice":
            return  # not an end: the engine shows the next code
        if status == "success" and not self.stopping:
            held = self._hold_for_engine()
            if not self._stop_begun():  # checked again while holding the gate
                return  # on to the event stream (holding the gate, when held)
            if held:
                self._call_soon(self.gate.release_write, self._engine_token)
            log.warning(
                "a phone linked this device while its login was being stopped; the device "
                "is stored in the engine database but unused: remove it on the phone"
            )
        self._call_soon(self._parked)
        # Only the engine's own thread can be here while its call runs, so this
        # waits for good; a call that did return means this is not that thread.
        self.engine_returned.wait()

    def _hold_for_engine(self) -> bool:
        async def hold() -> None:
            self._release_connect()
            await self.gate.acquire_write(self._engine_token)

        try:
            future = asyncio.run_coroutine_threadsafe(hold(), self.loop)
        except RuntimeError:
            return False
        try:
            future.result(ENGINE_HOLD_WAIT_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.warning(
                "the WhatsApp engine waited %.0f s for other engine calls; it goes on anyway",
                ENGINE_HOLD_WAIT_SECONDS,
            )
        except (concurrent.futures.CancelledError, RuntimeError):
            return False
        return True

    def _stop_begun(self) -> bool:
        return self.stopping

    def _parked(self) -> None:
        self.slot.abandoned = True

    def go_me(self) -> None:
        """The engine sent its device record: its start-up reads are done."""
        self._call_soon(self.gate.release_write, self._engine_token)
        self._call_soon(self._sign_of_life)
