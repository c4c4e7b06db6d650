"""The reconnect loop of a :class:`~wagate.Session`, and the sink its driver reports into.

One connection attempt after another: run the driver, turn how it ended into a
``Disconnected``, wait the backoff's delay, try again, until the reason is not
retryable or the loop is stopped.  A mixin of :class:`~wagate.Session`, which
holds the state it reads and changes.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._driver import ConnectionEnded, IncomingMessage
from ._events import Connecting, DisconnectReason, State

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._backoff import Backoff
    from ._driver import Driver
    from ._events import Account, Event, QrGenerated, Status

log = logging.getLogger("wagate")

E = TypeVar("E", bound="Event")


class AttemptSink:
    """What the running driver reports into; disarmed when its connection attempt ends."""

    __slots__ = ("_session", "armed")

    def __init__(self, session: Reconnecting) -> None:
        self._session = session
        self.armed = True

    def qr(self, code: str, valid_for: float) -> None:
        if not self.armed:
            log.warning("driver reported a QR code after its connection ended; ignored")
            return
        self._session._on_qr(code, valid_for)

    def connected(self, account: Account) -> None:
        if not self.armed:
            log.warning("driver reported 'connected' after its connection ended; ignored")
            return
        self._session._on_connected(account)

    def message(self, message: IncomingMessage) -> None:
        # A message WhatsApp delivered is never dropped, even one that races the end
        # of its connection.
        self._session._on_message(message)

    def update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        # Receipts, reactions, edits: never dropped either.
        self._session._on_update(kind, fields)


class Reconnecting:
    """The supervise loop of a session (its attributes are set by ``Session.__init__``)."""

    __slots__ = ("_attempt", "_restart_requested", "_rng", "_supervisor", "_supervisor_waiter")

    tenant: str
    driver: Driver
    backoff: Backoff
    _account: Account | None
    _status: Status
    _attempt: anyio.CancelScope | None
    _restart_requested: bool
    _rng: random.Random | None
    _supervisor: anyio.CancelScope | None
    _supervisor_waiter: anyio.Event | None

    if TYPE_CHECKING:

        def _emit(self, cls: type[E], **fields: Any) -> E: ...
        def _set_state(
            self,
            state: State,
            *,
            qr: QrGenerated | None = None,
            reason: DisconnectReason | None = None,
            will_retry: bool = False,
            retry_in: float | None = None,
        ) -> None: ...
        def _set_disconnected(
            self,
            reason: DisconnectReason,
            *,
            will_retry: bool,
            retry_in: float | None = None,
            detail: str | None = None,
        ) -> None: ...
        def _forget_account(self) -> None: ...
        def _on_qr(self, code: str, valid_for: float) -> None: ...
        def _on_connected(self, account: Account) -> None: ...
        def _on_message(self, message: IncomingMessage) -> None: ...
        def _on_update(self, kind: type[Event], fields: Mapping[str, Any]) -> None: ...

    async def _stop_supervisor(self) -> None:
        scope = self._supervisor
        if scope is not None:
            scope.cancel()
            if self._supervisor is scope:
                if self._supervisor_waiter is None:
                    self._supervisor_waiter = anyio.Event()
                await self._supervisor_waiter.wait()

    def _jitter(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random()  # noqa: S311 - jitter, not security
        return self._rng

    async def _supervise(self, scope: anyio.CancelScope) -> None:
        failures = 0
        attempt = 0
        try:
            with scope:
                while True:
                    attempt += 1
                    self._restart_requested = False
                    self._set_state(State.CONNECTING)
                    self._emit(Connecting, attempt=attempt)
                    sink = AttemptSink(self)
                    connected = False
                    with anyio.CancelScope() as attempt_scope:
                        self._attempt = attempt_scope
                        try:
                            ended = await self.driver.run(sink, resume=self._account)
                        except Exception as exc:
                            log.exception("tenant %r: the driver failed", self.tenant)
                            ended = ConnectionEnded(
                                reason=DisconnectReason.ENGINE_CRASHED,
                                detail=f"{type(exc).__name__}: {exc}",
                            )
                        finally:
                            sink.armed = False
                            connected = self._status.state is State.CONNECTED
                    self._attempt = None
                    if attempt_scope.cancelled_caught:
                        # Only restart() cancels an attempt: a fresh login at once.
                        failures = 0
                        attempt = 0
                        continue
                    reason = ended.reason
                    if reason is DisconnectReason.LOGGED_OUT:
                        self._forget_account()
                    failures = 1 if connected else failures + 1
                    if connected:
                        attempt = 0
                    retry = reason.retryable
                    delay = self.backoff.delay(failures, self._jitter()) if retry else None
                    self._set_disconnected(
                        reason, will_retry=retry, retry_in=delay, detail=ended.detail
                    )
                    if delay is None:
                        break
                    with anyio.CancelScope() as wait_scope:
                        self._attempt = wait_scope
                        await anyio.sleep(delay)
                    self._attempt = None
                    if wait_scope.cancelled_caught and self._restart_requested:
                        failures = 0
                        attempt = 0
        finally:
            self._attempt = None
            self._supervisor = None
            waiter, self._supervisor_waiter = self._supervisor_waiter, None
            if waiter is not None:
                waiter.set()
