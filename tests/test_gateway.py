# mypy: disable-error-code="comparison-overlap,unreachable"
"""The Gateway: tenants, isolation, restore, and the blocking facade."""

from __future__ import annotations

import anyio
import pytest

from wagate import (
    Backoff,
    Connected,
    Connecting,
    Disconnected,
    Event,
    Gateway,
    InvalidTenant,
    MemoryStore,
    MessageReceived,
    MessageSent,
    QrGenerated,
    SessionClosed,
    State,
    SyncGateway,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import link, wait_for

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.001, maximum=0.004)


class Phones:
    """One simulated phone per tenant, kept across gateways (like real phones)."""

    def __init__(self) -> None:
        self.phones: dict[str, SimulatedPhone] = {}

    def phone(self, tenant: str) -> SimulatedPhone:
        if tenant not in self.phones:
            number = f"+6281{len(self.phones):08d}"
            self.phones[tenant] = SimulatedPhone(number=number, name=tenant)
        return self.phones[tenant]

    def driver(self, tenant: str) -> SimulatedDriver:
        return SimulatedDriver(phone=self.phone(tenant))


async def test_session_get_or_create() -> None:
    """gateway.session() creates once and returns the same session after."""
    phones = Phones()
    async with Gateway(phones.driver) as gateway:
        a = await gateway.session("a")
        assert await gateway.session("a") is a
        assert gateway.get("a") is a and gateway.get("b") is None
        assert gateway.tenants == ["a"]


async def test_concurrent_session_calls_create_one() -> None:
    """Many concurrent session() calls for one tenant create a single session."""
    made: list[str] = []
    phones = Phones()

    def factory(tenant: str) -> SimulatedDriver:
        made.append(tenant)
        return phones.driver(tenant)

    async with Gateway(factory) as gateway:
        results = []

        async def get() -> None:
            results.append(await gateway.session("a"))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(get)
        assert made == ["a"] and len({id(s) for s in results}) == 1


@pytest.mark.parametrize("tenant", ["", "a/b", "x" * 129, "é", "a b"])
async def test_bad_tenant_ids(tenant: str) -> None:
    """The gateway refuses malformed tenant ids for sessions and subscriptions."""
    async with Gateway(Phones().driver) as gateway:
        with pytest.raises(InvalidTenant):
            await gateway.session(tenant)
        with pytest.raises(InvalidTenant):
            gateway.events(tenant)
        assert gateway.tenants == []


async def test_isolation_between_tenants() -> None:
    """A tenant's stream carries only its own events while another tenant is busy."""
    phones = Phones()
    async with Gateway(phones.driver) as gateway:
        a_events, b_events, all_events = gateway.events("a"), gateway.events("b"), gateway.events()
        a, b = await gateway.session("a"), await gateway.session("b")
        await link(a, phones.phone("a"))
        await link(b, phones.phone("b"))
        await a.send_text("+628111222333", "for a")
        phones.phone("b").receive_message("+628111222333", "to b")
        await wait_for(b_events, MessageReceived)
        await gateway.aclose()
        got_a = [e async for e in a_events]
        got_b = [e async for e in b_events]
        got_all = [e async for e in all_events]
    assert {e.tenant for e in got_a} == {"a"} and {e.tenant for e in got_b} == {"b"}
    assert any(isinstance(e, MessageSent) for e in got_a)
    assert not any(isinstance(e, MessageSent) for e in got_b)
    for tenant, got in (("a", got_a), ("b", got_b)):
        mine = [e.seq for e in got_all if e.tenant == tenant]
        assert mine == sorted(mine) and set(mine) >= {e.seq for e in got if e.tenant == tenant} - {
            0
        }


async def test_all_tenants_stream_starts_with_each_current_state() -> None:
    """A late all-tenants subscriber first gets every tenant's current state."""
    phones = Phones()
    async with Gateway(phones.driver) as gateway:
        a, b = await gateway.session("a"), await gateway.session("b")
        await link(a, phones.phone("a"))
        await b.connect()
        await wait_for(gateway.events("b"), QrGenerated)
        late = gateway.events()
        first = [await late.__anext__(), await late.__anext__()]
        assert {(e.tenant, type(e)) for e in first} == {("a", Connected), ("b", QrGenerated)}


async def test_gateway_callbacks_per_tenant_and_all() -> None:
    """Gateway callbacks get one tenant's events or every tenant's."""
    phones = Phones()
    only_a: list[Event] = []
    everyone: list[Event] = []
    async with Gateway(phones.driver) as gateway:
        gateway.subscribe(only_a.append, "a", sync_in_thread=False)
        gateway.subscribe(everyone.append, sync_in_thread=False)
        for tenant in ("a", "b"):
            await link(await gateway.session(tenant), phones.phone(tenant))
    assert {e.tenant for e in only_a} == {"a"}
    assert {e.tenant for e in everyone} == {"a", "b"}
    assert isinstance(only_a[-1], Disconnected)


async def test_restore_linked_tenants_without_qr() -> None:
    """A new gateway on the same store reconnects linked tenants with no QR; seqs continue."""
    phones = Phones()
    store = MemoryStore()
    async with Gateway(phones.driver, store=store) as gateway:
        events = gateway.events("a")
        await link(await gateway.session("a"), phones.phone("a"), events)
        await gateway.session("b")  # never linked: not restored
    first_run = [e async for e in events]
    last_seq = first_run[-1].seq
    async with Gateway(phones.driver, store=store, backoff=FAST) as gateway:
        assert gateway.tenants == ["a"]
        events = gateway.events("a")
        got = [await wait_for(events, Connecting), await wait_for(events, QrGenerated, Connected)]
        assert isinstance(got[1], Connected) and got[1].account.phone == phones.phone("a").number
        assert all(e.seq > last_seq for e in got)
        assert gateway.get("a").state is State.CONNECTED  # type: ignore[union-attr]


async def test_restore_after_phone_logout_needs_a_new_login() -> None:
    """A tenant unlinked on the phone while down resumes as logged_out, not connected."""
    phones = Phones()
    store = MemoryStore()
    async with Gateway(phones.driver, store=store) as gateway:
        await link(await gateway.session("a"), phones.phone("a"))
    phones.phone("a").logout()
    async with Gateway(phones.driver, store=store) as gateway:
        ended = await wait_for(gateway.events("a"), Disconnected)
        assert ended.reason == "logged_out" and not ended.will_retry
        assert gateway.get("a").account is None  # type: ignore[union-attr]
    assert (await store.load("a")).account is None  # type: ignore[union-attr]


async def test_closed_gateway_refuses() -> None:
    """After close, session() and events() raise SessionClosed."""
    gateway = Gateway(Phones().driver)
    async with gateway:
        pass
    with pytest.raises(SessionClosed):
        await gateway.session("a")
    with pytest.raises(SessionClosed):
        gateway.events()


def test_sync_gateway_facade() -> None:
    """The blocking facade links, sends and iterates events without await."""
    phones = Phones()
    with SyncGateway(phones.driver) as gateway:
        session = gateway.session("acme")
        events = session.events(timeout=5)
        session.connect()
        for event in events:
            if isinstance(event, QrGenerated):
                session.call(phones.phone("acme").scan, event.code)
            if isinstance(event, Connected):
                break
        sent = session.send_text("+628111222333", "hello")
        assert sent.success and session.status.state is State.CONNECTED
        received: list[Event] = []
        handle = session.subscribe(received.append)
        stream = gateway.events("acme", timeout=5)
        session.call(phones.phone("acme").receive_message, "+628111222333", "hi")
        got = next(e for e in stream if isinstance(e, MessageReceived))
        assert got.text == "hi"
        session.logout()
        handle.close()
        assert session.status.state is State.DISCONNECTED
    assert any(isinstance(e, Connected) for e in received)


def test_sync_session_standalone() -> None:
    """SyncSession.open runs one session in its own loop thread."""
    from wagate import SyncSession

    driver = SimulatedDriver()
    with SyncSession.open("solo", driver) as session:
        session.connect()
        qr = next(e for e in session.events(timeout=5) if isinstance(e, QrGenerated))
        session.call(driver.phone.scan, qr.code)
        assert next(e for e in session.events(timeout=5) if isinstance(e, Connected))
    assert session.session.closed


def test_sync_events_timeout_ends_iteration() -> None:
    """events(timeout=...) ends quietly when nothing arrives in time."""
    with SyncGateway(Phones().driver) as gateway:
        gateway.session("quiet")
        assert list(gateway.events("quiet", timeout=0.05)) == []
