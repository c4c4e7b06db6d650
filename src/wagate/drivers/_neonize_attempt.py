"""One connection attempt of a :class:`~wagate.drivers.neonize.NeonizeDriver`.

An :class:`Attempt` is one engine connection call, from start to stop: it turns
what the engine reports (QR codes, pairing, connected, messages, why it ended)
into the driver sink's calls, and keeps the engine's own thread from touching its
maps while another call changes them.  The handlers neonize calls are here too,
with the timings of a login.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import anyio

from .._driver import ConnectionEnded, DriverSink, IncomingMessage
from .._errors import DriverError, WagateError
from .._events import Account, DisconnectReason, Event
from ._neonize_engine import Engine, Neonize, Slot
from ._neonize_groups import Own, group_updates, joined_updates, own_ids
from ._neonize_translate import (
    account_from,
    chat_state_update,
    ending_for,
    incoming_message,
    message_update,
    presence_update,
    receipt_update,
)

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
    "Receipt",
    "Presence",
    "ChatPresence",
    "JoinedGroup",  # neonize's JoinedGroupEv
    "GroupInfoEvent",  # neonize's GroupInfoEv
)
_PAIR_SUCCESS = 2
_UPDATES = {
    "Receipt": receipt_update,
    "Presence": presence_update,  # neonize's PresenceEv
    "ChatPresence": chat_state_update,  # neonize's ChatPresenceEv
}
"""The engine events that are a sink update, by protobuf name, and their translation."""
_GROUP_UPDATES = {
    "JoinedGroup": joined_updates,
    "GroupInfoEvent": group_updates,
}
"""The group events, by protobuf name: sink updates that depend on who the account is."""


def _words(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def engine_errors(error: type[DriverError], action: str) -> Iterator[None]:
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


# ---------------------------------------------------------------------------- handlers
# Registered once per client object; neonize runs them on its global loop (the
# running one, see Engine.bind) and drops whatever they raise, so they catch all.


def subscribe(client: Any, nz: Neonize) -> None:
    if getattr(client, "wagate_subscribed", False):
        return
    client.event.qr(_on_qr)
    for name in _SUBSCRIBED:
        client.event(getattr(nz.proto, name))(_on_event)
    client.wagate_subscribed = True


def _deliver(client: Any, method: str, arg: Any) -> None:
    attempt = getattr(client, "wagate_listener", None)
    if not isinstance(attempt, Attempt):
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

    def update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        """Drop a receipt or reaction that arrived after the connection ended."""
        log.warning("a %s arrived after its connection ended; dropped", kind.__name__)


_DISCARD = _Discard()


class Attempt:
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

    @property
    def own(self) -> Own:
        """The account's user JIDs (its number's, and its hidden id once the engine says it)."""
        return own_ids(self.account.jid if self.account else None, self.client.me)

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
            with engine_errors(DriverError, "the WhatsApp engine could not start a connection"):
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
            self._on_message(event)
            return
        if kind in _UPDATES:
            update = _UPDATES[kind](event)
            if update is not None:
                self.sink.update(*update)
            return
        if kind in _GROUP_UPDATES:
            for group_update in _GROUP_UPDATES[kind](event, self.own):
                self.sink.update(*group_update)
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

    def _on_message(self, event: Any) -> None:
        update = message_update(event)
        if update is not None:
            self.sink.update(*update)
            return
        message = incoming_message(event)
        if message is not None:
            self.sink.message(message)

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
