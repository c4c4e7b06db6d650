# mypy: disable-error-code="comparison-overlap,unreachable"
"""The blocking facade: every call of Gateway and Session, blocking, against the simulator."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from wagate import (
    Connected,
    Event,
    Gateway,
    MessageReceived,
    MessageSent,
    NotConnected,
    PairingCode,
    QrGenerated,
    Session,
    State,
    Status,
    SyncGateway,
    SyncSession,
)
from wagate._sync import facade_gaps
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

CONTACT = "+628111222333"


class Phones:
    """One simulated phone per tenant."""

    def __init__(self) -> None:
        self.phones: dict[str, SimulatedPhone] = {}

    def phone(self, tenant: str) -> SimulatedPhone:
        if tenant not in self.phones:
            number = f"+6281{len(self.phones):08d}"
            self.phones[tenant] = SimulatedPhone(number=number, name=tenant)
        return self.phones[tenant]

    def driver(self, tenant: str) -> SimulatedDriver:
        return SimulatedDriver(phone=self.phone(tenant))


def _next(events: Iterator[Event], kind: type[Event]) -> Event:
    return next(e for e in events if isinstance(e, kind))


def _link(gateway: SyncGateway, phones: Phones, tenant: str) -> None:
    events = gateway.events(tenant, timeout=5)
    gateway.command(tenant, "connect")
    qr = _next(events, QrGenerated)
    assert isinstance(qr, QrGenerated)
    gateway.session(tenant).call(phones.phone(tenant).scan, qr.code)
    _next(events, Connected)


# ------------------------------------------------------------------ completeness


def test_sync_gateway_has_every_public_call_of_gateway() -> None:
    """SyncGateway offers each public call of Gateway under its name; SyncSession of Session."""
    assert facade_gaps(Gateway, SyncGateway) == []
    assert facade_gaps(Session, SyncSession) == []


def test_a_call_gateway_gains_is_reported_missing_from_the_facade() -> None:
    """A coroutine method added to Gateway, and not to SyncGateway, is found missing."""

    class Bigger(Gateway):
        async def archive_chat(self, tenant: str, chat: str) -> None:
            """A call the facade does not have."""

        def pending(self) -> int:
            """A plain one it lacks too."""
            return 0

    assert facade_gaps(Bigger, SyncGateway) == ["archive_chat", "pending"]


def test_blocking_calls_keep_the_signature_of_the_async_ones() -> None:
    """Help and introspection show the async method's parameters (without self) and docs."""
    with SyncGateway(Phones().driver) as gateway:
        shown = inspect.signature(gateway.send_text)
        assert list(shown.parameters) == ["tenant", "to", "text"]
        assert "Gateway.send_text" in (gateway.send_text.__doc__ or "")
    assert "Gateway.send_text" in (SyncGateway.send_text.__doc__ or "")


# ------------------------------------------------------------------ every call, blocking


def test_every_gateway_call_works_blocking() -> None:
    """Status, send_text, restart, logout, request_pairing_code, command... all block and work."""
    phones = Phones()
    with SyncGateway(phones.driver) as gateway:
        assert gateway.tenants == []
        assert gateway.get("acme") is None
        status = gateway.status("acme")
        assert isinstance(status, Status) and status.state is State.DISCONNECTED
        assert gateway.tenants == ["acme"]
        assert isinstance(gateway.get("acme"), SyncSession)
        with pytest.raises(NotConnected):
            gateway.send_text("acme", CONTACT, "too early")

        events = gateway.events("acme", timeout=5)
        gateway.restart("acme")  # not connected yet: starts the login
        first = _next(events, QrGenerated)
        assert isinstance(first, QrGenerated)
        gateway.restart("acme")
        second = _next(events, QrGenerated)
        assert isinstance(second, QrGenerated) and second.code != first.code
        code = gateway.request_pairing_code("acme", "+62 810 000 0000")
        assert isinstance(code, PairingCode) and code.phone == "+628100000000"
        gateway.session("acme").call(phones.phone("acme").enter_pairing_code, code.code)
        _next(events, Connected)
        assert gateway.known_status("acme").state is State.CONNECTED

        sent = gateway.send_text("acme", CONTACT, "hello")
        assert isinstance(sent, MessageSent) and sent.success
        assert phones.phone("acme").sent[-1].text == "hello"
        assert gateway.execute("acme", "status", {}).state is State.CONNECTED
        assert gateway.command("acme", "status").state is State.CONNECTED

        received: list[Event] = []
        handle = gateway.subscribe(received.append, "acme")
        gateway.logout("acme")
        assert gateway.status("acme").state is State.DISCONNECTED
        handle.close()
    assert any(isinstance(e, Connected) for e in received)


def test_every_session_call_works_blocking() -> None:
    """A SyncSession connects, restarts, pairs, sends, logs out and closes, each call blocking."""
    phone = SimulatedPhone(number="+628123450000")
    with SyncSession.open("solo", SimulatedDriver(phone=phone)) as session:
        assert session.tenant == "solo" and session.state is State.DISCONNECTED
        assert session.account is None and not session.closed
        events = session.events(timeout=5)
        session.connect()
        first = _next(events, QrGenerated)
        session.restart()
        second = _next(events, QrGenerated)
        assert isinstance(first, QrGenerated) and isinstance(second, QrGenerated)
        assert second.code != first.code
        code = session.request_pairing_code("+628123450000")
        session.call(phone.enter_pairing_code, code.code)
        _next(events, Connected)
        assert session.status.state is State.CONNECTED
        assert session.account is not None and session.account.phone == "+628123450000"
        received: list[Event] = []
        handle = session.subscribe(received.append)
        assert session.send_text(CONTACT, "hi").success
        session.call(phone.receive_message, CONTACT, "back")
        assert _next(events, MessageReceived)
        session.logout()
        assert session.state is State.DISCONNECTED and session.account is None
        handle.close()
    assert session.closed
    assert any(isinstance(e, MessageSent) for e in received)


def test_session_close_and_wait_closed_block() -> None:
    """A gateway's SyncSession closes with close() and wait_closed() returns once it has."""
    with SyncGateway(Phones().driver) as gateway:
        session = gateway.session("acme")
        session.close()
        session.wait_closed()
        assert session.closed
