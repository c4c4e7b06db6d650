"""Callbacks end to end: a Gateway of simulated sessions, sync and async subscribers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import anyio
import anyio.to_thread
import pytest

from wagate import (
    Connected,
    Connecting,
    Event,
    Gap,
    Gateway,
    Hub,
    MessageReceived,
    MessageSent,
    Overflow,
    QrGenerated,
    Session,
    SyncGateway,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0

PHONES = {
    "acme": "+628123456789",
    "globex": "+628123456790",
    "initech": "+628123456791",
}


class Recorder:
    """Collects what a callback got, from any thread, and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        # Waiting happens in a thread of its own limiter, so callbacks that block
        # every worker thread of the default limiter cannot starve the test.
        self._limiter = anyio.CapacityLimiter(4)

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    async def acall(self, event: Event) -> None:
        self(event)

    def of(self, kind: type[Event]) -> list[Event]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, predicate: Callable[[list[Event]], bool]) -> None:
        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: predicate(self.events), timeout=TIMEOUT)

        ok = await anyio.to_thread.run_sync(wait, limiter=self._limiter)
        assert ok, f"timed out; got {self.events!r}"

    async def wait_texts(self, *texts: str) -> None:
        await self.wait_for(lambda events: set(texts) <= set(_texts(events)))


def _texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, MessageReceived) and e.text is not None]


def _phones() -> dict[str, SimulatedPhone]:
    return {tenant: SimulatedPhone(number=number, name=tenant) for tenant, number in PHONES.items()}


def _factory(phones: dict[str, SimulatedPhone]) -> Callable[[str], SimulatedDriver]:
    return lambda tenant: SimulatedDriver(phone=phones[tenant], seed=7)


async def link(gateway: Gateway, tenant: str, phone: SimulatedPhone) -> Session:
    """Connect ``tenant`` and scan its QR code with ``phone``, as a person would."""
    session = await gateway.session(tenant)
    with anyio.fail_after(TIMEOUT):
        async with gateway.events(tenant) as events:
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    phone.scan(event.code)
                elif isinstance(event, Connected):
                    break
    return session


def _seqs(events: list[Event], tenant: str) -> list[int]:
    return [e.seq for e in events if e.tenant == tenant]


def _assert_in_seq_order(events: list[Event]) -> None:
    for tenant in {e.tenant for e in events}:
        seqs = _seqs(events, tenant)
        assert seqs == sorted(seqs), f"{tenant}: {seqs}"
        assert len(seqs) == len(set(seqs)), f"{tenant}: duplicate seqs {seqs}"


@pytest.fixture
def phones() -> dict[str, SimulatedPhone]:
    """One simulated phone per tenant."""
    return _phones()


# ---------------------------------------------------------------------------------
# Delivery and order


@pytest.mark.parametrize("kind", ["sync", "sync-in-loop", "async"])
async def test_session_callback_sees_the_whole_login_and_messages_in_seq_order(
    phones: dict[str, SimulatedPhone], kind: str
) -> None:
    """A session callback (sync in a thread or the loop, or async) gets every event in seq order."""
    recorder = Recorder()
    async with Gateway(_factory(phones)) as gateway:
        session = await gateway.session("acme")
        if kind == "async":
            session.subscribe(recorder.acall)
        else:
            session.subscribe(recorder, sync_in_thread=kind == "sync")
        await link(gateway, "acme", phones["acme"])
        sent = await session.send_text("+628111222333", "hello")
        phones["acme"].receive_message("+628111222333", "hi back", push_name="Siti")
        await recorder.wait_texts("hi back")
    kinds = [type(e) for e in recorder.events]
    assert kinds[:3] == [Connecting, QrGenerated, Connected]
    assert MessageSent in kinds
    assert recorder.of(MessageSent) == [sent]
    _assert_in_seq_order(recorder.events)
    assert _seqs(recorder.events, "acme") == list(range(1, len(recorder.events) + 1))


@pytest.mark.parametrize("sync_in_thread", [True, False])
async def test_a_plain_callable_returning_an_awaitable_is_awaited(
    phones: dict[str, SimulatedPhone], sync_in_thread: bool
) -> None:
    """A lambda (or partial) that returns a coroutine has that coroutine awaited, in order."""
    recorder = Recorder()
    async with Gateway(_factory(phones)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        returns_coroutine = lambda event: recorder.acall(event)  # noqa: E731, PLW0108
        session.subscribe(returns_coroutine, sync_in_thread=sync_in_thread)
        for i in range(3):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        await recorder.wait_texts("m2")
    assert _texts(recorder.events) == ["m0", "m1", "m2"]
    _assert_in_seq_order(recorder.events)


async def test_late_callback_first_gets_the_current_state(
    phones: dict[str, SimulatedPhone],
) -> None:
    """A callback subscribed after the login first receives the Connected event that is current."""
    recorder = Recorder()
    async with Gateway(_factory(phones)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        session.subscribe(recorder.acall)
        await recorder.wait_for(lambda events: len(events) >= 1)
        phones["acme"].receive_message("+628111222333", "after")
        await recorder.wait_texts("after")
    first = recorder.events[0]
    assert isinstance(first, Connected)
    assert first.account == phones["acme"].account
    _assert_in_seq_order(recorder.events)


async def test_tenant_callbacks_see_only_their_tenant_and_the_all_tenant_one_sees_all(
    phones: dict[str, SimulatedPhone],
) -> None:
    """Gateway.subscribe(cb, tenant) gets one tenant's events; tenant=None gets every tenant's."""
    everyone, acme, globex = Recorder(), Recorder(), Recorder()
    async with Gateway(_factory(phones)) as gateway:
        gateway.subscribe(everyone)
        gateway.subscribe(acme.acall, "acme")
        gateway.subscribe(globex, "globex", sync_in_thread=False)
        await link(gateway, "acme", phones["acme"])
        await link(gateway, "globex", phones["globex"])
        for i in range(5):
            phones["acme"].receive_message("+628111222333", f"a{i}")
            phones["globex"].receive_message("+628111222333", f"g{i}")
        await everyone.wait_texts(*(f"a{i}" for i in range(5)), *(f"g{i}" for i in range(5)))
        await acme.wait_texts("a4")
        await globex.wait_texts("g4")
    assert {e.tenant for e in acme.events} == {"acme"}
    assert {e.tenant for e in globex.events} == {"globex"}
    assert {e.tenant for e in everyone.events} == {"acme", "globex"}
    assert _texts(acme.events) == [f"a{i}" for i in range(5)]
    assert _texts(globex.events) == [f"g{i}" for i in range(5)]
    for recorder in (everyone, acme, globex):
        _assert_in_seq_order(recorder.events)
    # The all-tenant callback saw, per tenant, exactly what that tenant's callback saw.
    assert [e for e in everyone.events if e.tenant == "acme"] == acme.events
    assert [e for e in everyone.events if e.tenant == "globex"] == globex.events


async def test_tenant_callback_outlives_a_session_and_sees_the_next_one(
    phones: dict[str, SimulatedPhone],
) -> None:
    """A gateway callback for a tenant keeps receiving after its session closes and reopens."""
    recorder = Recorder()
    async with Gateway(_factory(phones)) as gateway:
        gateway.subscribe(recorder.acall, "acme")
        session = await link(gateway, "acme", phones["acme"])
        await session.aclose()
        await link(gateway, "acme", phones["acme"])
        phones["acme"].receive_message("+628111222333", "second life")
        await recorder.wait_texts("second life")
    assert len(recorder.of(Connected)) == 2
    _assert_in_seq_order(recorder.events)


# ---------------------------------------------------------------------------------
# Isolation of failures


@pytest.mark.parametrize("is_async", [False, True])
async def test_raising_callback_is_logged_with_its_tenant_and_keeps_receiving(
    phones: dict[str, SimulatedPhone], caplog: pytest.LogCaptureFixture, is_async: bool
) -> None:
    """A callback that raises is logged with the tenant and seq, and still gets the next events."""
    seen = Recorder()
    other = Recorder()

    def explode(event: Event) -> None:
        seen(event)
        if isinstance(event, MessageReceived):
            raise RuntimeError(f"boom on {event.text}")  # noqa: TRY004

    async def aexplode(event: Event) -> None:
        explode(event)

    caplog.set_level(logging.ERROR, logger="wagate")
    async with Gateway(_factory(phones)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        session.subscribe(aexplode if is_async else explode)
        gateway.subscribe(other.acall, "acme")
        for text in ("one", "two", "three"):
            phones["acme"].receive_message("+628111222333", text)
        await seen.wait_texts("one", "two", "three")
        await other.wait_texts("one", "two", "three")
        # The session is unharmed: it still sends.
        sent = await session.send_text("+628111222333", "still here")
        assert sent.success
    failures = [r for r in caplog.records if "callback" in r.getMessage() and r.exc_info]
    assert len(failures) == 3
    for record in failures:
        assert "'acme'" in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
    assert _texts(other.events) == ["one", "two", "three"]


async def test_blocking_sync_callback_holds_up_neither_the_session_nor_other_subscribers(
    phones: dict[str, SimulatedPhone],
) -> None:
    """A sync callback stuck in a worker thread delays only itself, then catches up in order."""
    release = threading.Event()
    stuck = Recorder()
    entered = threading.Event()
    quick = Recorder()

    def blocking(event: Event) -> None:
        entered.set()
        release.wait(TIMEOUT)
        stuck(event)

    try:
        async with Gateway(_factory(phones), close_timeout=TIMEOUT) as gateway:
            session = await link(gateway, "acme", phones["acme"])
            session.subscribe(blocking)
            gateway.subscribe(quick, "acme")
            await anyio.to_thread.run_sync(entered.wait, TIMEOUT)
            for i in range(20):
                phones["acme"].receive_message("+628111222333", f"m{i}")
            sent = await session.send_text("+628111222333", "while blocked")
            assert sent.success
            await quick.wait_texts(*(f"m{i}" for i in range(20)))
            assert stuck.events == []
            release.set()
            await stuck.wait_texts("m19")
    finally:
        release.set()
    assert _texts(stuck.events) == [f"m{i}" for i in range(20)]
    _assert_in_seq_order(stuck.events)


async def test_blocking_async_callback_holds_up_neither_the_session_nor_other_subscribers(
    phones: dict[str, SimulatedPhone],
) -> None:
    """An async callback awaiting forever delays only itself; it catches up in order when freed."""
    release = anyio.Event()
    stuck = Recorder()
    quick = Recorder()

    async def waiting(event: Event) -> None:
        await release.wait()
        stuck(event)

    async with Gateway(_factory(phones)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        session.subscribe(waiting)
        session.subscribe(quick.acall)
        for i in range(10):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        await quick.wait_texts("m9")
        assert stuck.events == []
        release.set()
        await stuck.wait_texts("m9")
    assert _texts(stuck.events) == [f"m{i}" for i in range(10)]


async def test_many_blocked_sync_callbacks_do_not_starve_another_sync_callback(
    phones: dict[str, SimulatedPhone],
) -> None:
    """More blocked sync callbacks than the default thread limiter holds leave others running."""
    release = threading.Event()
    entered = threading.Semaphore(0)
    tokens = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
    quick = Recorder()

    def blocking(event: Event) -> None:
        entered.release()
        release.wait(60)

    try:
        async with Gateway(_factory(phones), close_timeout=0.1) as gateway:
            await link(gateway, "acme", phones["acme"])
            for _ in range(tokens + 5):
                gateway.subscribe(blocking, "acme")

            def enough_entered() -> bool:
                # As many as the default limiter has tokens: were they all drawn
                # from it, no other sync callback could run now.
                return all(entered.acquire(timeout=TIMEOUT) for _ in range(tokens))

            assert await anyio.to_thread.run_sync(enough_entered, limiter=anyio.CapacityLimiter(1))
            gateway.subscribe(quick, "acme")
            phones["acme"].receive_message("+628111222333", "get through")
            await quick.wait_texts("get through")
    finally:
        release.set()


async def test_closing_with_a_stuck_callback_returns_and_says_what_was_undelivered(
    phones: dict[str, SimulatedPhone], caplog: pytest.LogCaptureFixture
) -> None:
    """Closing a session whose callback is stuck returns after close_timeout and logs it."""
    release = threading.Event()
    entered = threading.Event()

    def blocking(event: Event) -> None:
        entered.set()
        release.wait(TIMEOUT)

    caplog.set_level(logging.WARNING, logger="wagate")
    phone = phones["acme"]
    try:
        with anyio.fail_after(TIMEOUT):
            async with Session("acme", SimulatedDriver(phone=phone), close_timeout=0.2) as session:
                events = session.events()
                await session.connect()
                async for event in events:
                    if isinstance(event, QrGenerated):
                        phone.scan(event.code)
                    elif isinstance(event, Connected):
                        break
                session.subscribe(blocking)
                await anyio.to_thread.run_sync(entered.wait, TIMEOUT)
                phone.receive_message("+628111222333", "never read")
    finally:
        release.set()
    messages = [r.getMessage() for r in caplog.records]
    assert any("did not finish" in m and "'acme'" in m for m in messages)


async def test_closing_a_gateway_with_a_forever_awaiting_callback_returns(
    phones: dict[str, SimulatedPhone], caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway whose async callback never returns still closes after close_timeout, saying so."""
    never = anyio.Event()
    entered = anyio.Event()

    async def forever(event: Event) -> None:
        entered.set()
        await never.wait()

    caplog.set_level(logging.WARNING, logger="wagate")
    with anyio.fail_after(TIMEOUT):
        async with Gateway(_factory(phones), close_timeout=0.2) as gateway:
            await link(gateway, "acme", phones["acme"])
            gateway.subscribe(forever)
            await entered.wait()
    assert any("did not finish" in r.getMessage() for r in caplog.records)


async def test_closed_handle_stops_delivery(phones: dict[str, SimulatedPhone]) -> None:
    """After handle.close() a callback gets nothing more, while other callbacks go on."""
    stopped, going = Recorder(), Recorder()
    async with Gateway(_factory(phones)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        handle = session.subscribe(stopped.acall)
        session.subscribe(going.acall)
        phones["acme"].receive_message("+628111222333", "before")
        await stopped.wait_texts("before")
        handle.close()
        await handle.wait_closed()
        assert handle.closed
        phones["acme"].receive_message("+628111222333", "after")
        await going.wait_texts("after")
    assert _texts(stopped.events) == ["before"]


# ---------------------------------------------------------------------------------
# Falling behind


async def test_lagging_callback_gets_a_gap_naming_exactly_what_it_missed(
    phones: dict[str, SimulatedPhone],
) -> None:
    """A callback behind a small buffer gets a Gap naming the missed seqs, then the rest."""
    release = anyio.Event()
    recorder = Recorder()

    async def slow(event: Event) -> None:
        await release.wait()
        recorder(event)

    async with Gateway(_factory(phones), hub=Hub(buffer=4, all_buffer=4)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        session.subscribe(slow, overflow=Overflow.GAP)
        for i in range(30):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        release.set()
        await recorder.wait_texts("m29")
    gaps = [e for e in recorder.events if isinstance(e, Gap)]
    assert gaps
    delivered = {e.seq for e in recorder.events if not isinstance(e, Gap)}
    missed = {s for g in gaps for s in range(g.first_seq, g.last_seq + 1)}
    assert not delivered & missed
    last = max(delivered)
    assert delivered | missed == set(range(min(delivered), last + 1))
    _assert_in_seq_order([e for e in recorder.events if not isinstance(e, Gap)])


async def test_lagging_callback_with_raise_policy_is_unsubscribed_and_says_so(
    phones: dict[str, SimulatedPhone], caplog: pytest.LogCaptureFixture
) -> None:
    """With Overflow.RAISE a lagging callback is unsubscribed and logged; handle.error says why."""
    release = anyio.Event()

    async def slow(event: Event) -> None:
        await release.wait()

    caplog.set_level(logging.ERROR, logger="wagate")
    async with Gateway(_factory(phones), hub=Hub(buffer=4, all_buffer=4)) as gateway:
        session = await link(gateway, "acme", phones["acme"])
        handle = session.subscribe(slow, overflow=Overflow.RAISE)
        for i in range(30):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        release.set()
        with anyio.fail_after(TIMEOUT):
            await handle.wait_closed()
        assert handle.error is not None
        assert handle.error.missed > 0
        assert handle.error.tenant == "acme"
    assert any("lagged" in r.getMessage() and "'acme'" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------
# Without await


def test_sync_gateway_callbacks_run_in_worker_threads() -> None:
    """SyncGateway.subscribe runs a plain callback off the loop thread, every event in order."""
    phones = _phones()
    phone = phones["acme"]
    got: list[Event] = []
    threads: set[int] = set()
    done = threading.Event()

    def callback(event: Event) -> None:
        got.append(event)
        threads.add(threading.get_ident())
        if isinstance(event, MessageReceived):
            done.set()

    with SyncGateway(_factory(phones)) as gateway:
        loop_thread = gateway.portal.call(threading.get_ident)
        session = gateway.session("acme")
        gateway.subscribe(callback, "acme")
        session.connect()
        for event in session.events(timeout=TIMEOUT):
            if isinstance(event, QrGenerated):
                gateway.portal.call(phone.scan, event.code)
            elif isinstance(event, Connected):
                break
        gateway.portal.call(lambda: phone.receive_message("+628111222333", "sync hi"))
        assert done.wait(TIMEOUT)
    assert loop_thread not in threads
    assert _texts(got) == ["sync hi"]
    _assert_in_seq_order(got)
