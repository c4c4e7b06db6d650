# mypy: disable-error-code="comparison-overlap,unreachable"
"""The Session: its state machine, commands, bad input, and replay on subscribe."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import AsyncIterator

import anyio
import pytest

from wagate import (
    AlreadyConnected,
    Backoff,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    InvalidPhoneNumber,
    InvalidRecipient,
    InvalidTenant,
    InvalidText,
    MessageReceived,
    MessageSent,
    NotConnected,
    NotLinked,
    PairingCode,
    QrGenerated,
    ScanRejected,
    Session,
    SessionClosed,
    SessionStateError,
    State,
)
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver, SimulatedPhone
from wagate.testing import collect, link, wait_for

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.001, maximum=0.004, jitter=0.1)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def phone() -> SimulatedPhone:
    return SimulatedPhone(number="+628123456789", name="Budi")


@pytest.fixture
def driver(phone: SimulatedPhone, clock: SimulatedClock) -> SimulatedDriver:
    return SimulatedDriver(phone=phone, clock=clock, seed=1)


@pytest.fixture
async def session(driver: SimulatedDriver) -> AsyncIterator[Session]:
    async with Session("acme", driver=driver, backoff=FAST, rng=random.Random(0)) as s:
        yield s


async def test_quickstart_flow(session: Session, phone: SimulatedPhone) -> None:
    """Connect, scan, send and receive produce the documented events in order."""
    events = session.events()
    assert session.state is State.DISCONNECTED
    await session.connect()
    assert isinstance(await wait_for(events, Connecting), Connecting)
    qr = await wait_for(events, QrGenerated)
    assert session.state is State.AWAITING_SCAN
    assert session.status.qr == qr
    phone.scan(qr.code)
    connected = await wait_for(events, Connected)
    assert connected.account.phone == "+628123456789"
    assert connected.account.name == "Budi"
    assert session.state is State.CONNECTED
    assert session.status.qr is None
    sent = await session.send_text("+628111222333", "hello")
    assert sent.success and sent.id and sent.to == "628111222333@s.whatsapp.net"
    assert await wait_for(events, MessageSent) == sent
    assert phone.sent[-1].text == "hello"
    phone.receive_message(sender="+628111222333", text="hi", push_name="Siti")
    received = await wait_for(events, MessageReceived)
    assert (received.text, received.push_name, received.is_group) == ("hi", "Siti", False)
    assert received.sender == received.chat == "628111222333@s.whatsapp.net"


async def test_seq_is_strictly_increasing_without_gaps(
    session: Session, phone: SimulatedPhone
) -> None:
    """An unlagged subscriber sees every seq of its tenant exactly once, in order."""
    events = session.events()
    await link(session, phone, events)
    for i in range(20):
        await session.send_text("+628111222333", f"m{i}")
    await session.aclose()
    seqs = [e.seq for e in [e async for e in events]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_all_seqs_seen_from_the_start(session: Session, phone: SimulatedPhone) -> None:
    """A subscriber made before connect sees seq 1, 2, 3... with no gap."""
    events = session.events()
    await link(session, phone, events)
    for i in range(5):
        await session.send_text("+628111222333", f"m{i}")
    await session.aclose()
    # Connecting, QrGenerated, Connected were read by link(); the rest follows.
    rest = [e async for e in events]
    assert [e.seq for e in rest] == list(range(4, 4 + len(rest)))
    assert isinstance(rest[-1], Disconnected)
    assert rest[-1].reason is DisconnectReason.CLOSED


async def test_late_subscriber_gets_pending_qr_first(session: Session) -> None:
    """A subscriber that arrives while a QR is pending gets that QR first."""
    watcher = session.events()
    await session.connect()
    qr = await wait_for(watcher, QrGenerated)
    late = session.events()
    first = await wait_for(late, Event)
    assert first == qr


async def test_late_subscriber_gets_connected_first(
    session: Session, phone: SimulatedPhone
) -> None:
    """A page that reloads after linking is told Connected at once, not a stale QR."""
    connected = await link(session, phone)
    late = session.events()
    assert await wait_for(late, Event) == connected


async def test_late_subscriber_gets_last_disconnected(
    session: Session, phone: SimulatedPhone, driver: SimulatedDriver
) -> None:
    """After a ban, a new subscriber first receives the Disconnected(banned)."""
    events = session.events()
    await link(session, phone, events)
    driver.ban()
    banned = await wait_for(events, Disconnected)
    assert banned.reason is DisconnectReason.BANNED and not banned.will_retry
    late = session.events()
    assert await wait_for(late, Event) == banned


async def test_pending_pairing_code_is_replayed(session: Session, phone: SimulatedPhone) -> None:
    """A late subscriber gets the pending QR and the pending pairing code."""
    events = session.events()
    await session.connect()
    qr = await wait_for(events, QrGenerated)
    code = await session.request_pairing_code("+62 812-3456-789")
    assert isinstance(code, PairingCode) and len(code.code) == 9
    late = session.events()
    assert await collect(late, 2) == [qr, code]
    phone.enter_pairing_code(code.code)
    assert (await wait_for(events, Connected)).account.phone == phone.number


async def test_a_pairing_code_outlives_the_qr_codes_of_its_login(
    session: Session, phone: SimulatedPhone, clock: SimulatedClock
) -> None:
    """A tab opened after the QR code rotated still gets the pending pairing code."""
    events = session.events()
    await session.connect()
    await wait_for(events, QrGenerated)
    code = await session.request_pairing_code(phone.number)
    clock.advance(60)  # the next QR code
    newer = await wait_for(events, QrGenerated)
    late = session.events()
    assert await collect(late, 2) == [newer, code]
    late.close()
    phone.enter_pairing_code(code.code)
    assert isinstance(await wait_for(events, Connected), Connected)


async def test_qr_rotation_then_timeout(session: Session, clock: SimulatedClock) -> None:
    """Six codes (60 s, then 20 s each), then Disconnected(qr_timeout) with no retry."""
    events = session.events()
    await session.connect()
    codes = []
    for expected in (60, 20, 20, 20, 20, 20):
        qr = await wait_for(events, QrGenerated)
        assert round((qr.expires_at - qr.at).total_seconds()) == expected
        codes.append(qr.code)
        clock.advance(expected)
    timeout = await wait_for(events, Disconnected)
    assert timeout.reason is DisconnectReason.QR_TIMEOUT
    assert not timeout.will_retry and timeout.retry_in is None
    assert len(set(codes)) == 6
    assert session.state is State.DISCONNECTED
    assert session.status.qr is None


async def test_stale_and_foreign_codes_are_rejected(
    session: Session, phone: SimulatedPhone, clock: SimulatedClock
) -> None:
    """The phone refuses a replaced code, an expired one and a code it never issued."""
    events = session.events()
    await session.connect()
    first = await wait_for(events, QrGenerated)
    clock.advance(60)
    second = await wait_for(events, QrGenerated)
    with pytest.raises(ScanRejected, match="no longer valid"):
        phone.scan(first.code)
    with pytest.raises(ScanRejected, match="not a WhatsApp login code"):
        phone.scan("2@garbage,xyz")
    other = SimulatedDriver(phone=SimulatedPhone(number="+14155550100"), clock=clock)
    async with Session("other", driver=other) as foreign:
        foreign_events = foreign.events()
        await foreign.connect()
        foreign_qr = await wait_for(foreign_events, QrGenerated)
        with pytest.raises(ScanRejected):
            phone.scan(foreign_qr.code)
    assert session.state is State.AWAITING_SCAN
    phone.scan(second.code)
    await wait_for(events, Connected)


async def test_scan_of_expired_code_rejected(
    session: Session, phone: SimulatedPhone, clock: SimulatedClock, driver: SimulatedDriver
) -> None:
    """A code scanned after its deadline (before rotation is processed) is refused."""
    events = session.events()
    await session.connect()
    qr = await wait_for(events, QrGenerated)
    clock.advance(60)  # the deadline has passed; rotation is scheduled, not yet run
    with pytest.raises(ScanRejected):
        phone.scan(qr.code)


async def test_restart_drops_pending_qr(session: Session, phone: SimulatedPhone) -> None:
    """restart() replaces the pending QR with a new login; the old code is refused."""
    events = session.events()
    await session.connect()
    old = await wait_for(events, QrGenerated)
    await session.restart()
    connecting = await wait_for(events, Connecting)
    assert connecting.attempt == 1
    new = await wait_for(events, QrGenerated)
    assert new.code != old.code
    with pytest.raises(ScanRejected):
        phone.scan(old.code)
    phone.scan(new.code)
    await wait_for(events, Connected)


async def test_restart_while_connected_refused(session: Session, phone: SimulatedPhone) -> None:
    """restart() on a linked, connected session raises AlreadyConnected."""
    await link(session, phone)
    with pytest.raises(AlreadyConnected) as info:
        await session.restart()
    assert info.value.tenant == "acme"
    assert session.state is State.CONNECTED


async def test_restart_when_idle_starts_login(session: Session) -> None:
    """restart() on a session that is not running starts a login."""
    events = session.events()
    await session.restart()
    await wait_for(events, QrGenerated)


async def test_connect_twice_is_harmless(session: Session) -> None:
    """A second connect() while connecting starts nothing new."""
    events = session.events()
    await session.connect()
    await session.connect()
    await wait_for(events, QrGenerated)
    assert session.driver.connects == 1  # type: ignore[attr-defined]


async def test_network_loss_reconnects_with_backoff(
    session: Session, phone: SimulatedPhone, driver: SimulatedDriver
) -> None:
    """A network drop retries with growing, capped delays, then resumes without a QR."""
    events = session.events()
    await link(session, phone, events)
    driver.drop_network()
    delays = []
    for _ in range(6):
        lost = await wait_for(events, Disconnected)
        assert lost.reason is DisconnectReason.NETWORK and lost.will_retry
        assert lost.retry_in is not None
        delays.append(lost.retry_in)
        assert isinstance(await wait_for(events, Connecting), Connecting)
    assert max(delays) <= FAST.maximum
    assert delays[-1] > delays[0]
    driver.restore_network()
    nxt = await wait_for(events, QrGenerated, Connected)
    assert isinstance(nxt, Connected), "a linked account resumes without a new QR"


async def test_engine_crash_retries(
    session: Session, phone: SimulatedPhone, driver: SimulatedDriver
) -> None:
    """An engine crash is retried and the account resumes."""
    events = session.events()
    await link(session, phone, events)
    driver.crash()
    crashed = await wait_for(events, Disconnected)
    assert crashed.reason is DisconnectReason.ENGINE_CRASHED and crashed.will_retry
    await wait_for(events, Connected)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("replace_stream", DisconnectReason.REPLACED),
        ("ban", DisconnectReason.BANNED),
        ("reject_version", DisconnectReason.OUTDATED),
    ],
)
async def test_terminal_faults_do_not_retry(
    session: Session,
    phone: SimulatedPhone,
    driver: SimulatedDriver,
    fault: str,
    reason: DisconnectReason,
) -> None:
    """Replaced, banned and outdated stop the session with no retry."""
    events = session.events()
    await link(session, phone, events)
    getattr(driver, fault)()
    ended = await wait_for(events, Disconnected)
    assert ended.reason is reason and not ended.will_retry and ended.retry_in is None
    assert session.state is State.DISCONNECTED
    assert session.account is not None, "the account stays linked"
    await session.aclose()
    assert [e async for e in events] == [], "a stopped session emits nothing more on close"


async def test_logout_from_phone(session: Session, phone: SimulatedPhone) -> None:
    """Logging out on the phone ends the session as logged_out and forgets the account."""
    events = session.events()
    await link(session, phone, events)
    phone.logout()
    ended = await wait_for(events, Disconnected)
    assert ended.reason is DisconnectReason.LOGGED_OUT and not ended.will_retry
    assert session.account is None
    with pytest.raises(NotLinked):
        await session.logout()


async def test_logout(session: Session, phone: SimulatedPhone) -> None:
    """logout() unlinks once: one Disconnected(logged_out), then a new QR login works."""
    events = session.events()
    await link(session, phone, events)
    await session.logout()
    ended = await wait_for(events, Disconnected)
    assert ended.reason is DisconnectReason.LOGGED_OUT
    assert session.account is None and session.state is State.DISCONNECTED
    assert not phone.linked
    await session.connect()
    qr = await wait_for(events, QrGenerated, Disconnected)
    assert isinstance(qr, QrGenerated)


async def test_logout_when_never_linked(session: Session) -> None:
    """logout() on a session that was never linked raises NotLinked."""
    with pytest.raises(NotLinked):
        await session.logout()
    await session.connect()
    await wait_for(session.events(), QrGenerated)
    with pytest.raises(NotLinked):
        await session.logout()


async def test_send_when_not_connected(session: Session) -> None:
    """send_text before linking raises NotConnected naming the state."""
    with pytest.raises(NotConnected, match="disconnected") as info:
        await session.send_text("+628111222333", "hello")
    assert info.value.tenant == "acme"
    assert info.value.code == "not_connected"


@pytest.mark.parametrize(
    "recipient",
    [
        "",
        "   ",
        "not a number",
        "+",
        "1" * 30,
        "+" + "9" * 30,
        "0812345678",
        "abc@s.whatsapp.net",
        "@s.whatsapp.net",
        "628123@",
        "628123@example.com",
        "12@g.us",
        628123456789,
        None,
    ],
)
async def test_bad_recipients(session: Session, phone: SimulatedPhone, recipient: object) -> None:
    """Malformed recipients raise InvalidRecipient, connected or not, and nothing is sent."""
    await link(session, phone)
    with pytest.raises(InvalidRecipient):
        await session.send_text(recipient, "hello")  # type: ignore[arg-type]
    assert phone.sent == []


@pytest.mark.parametrize(
    ("recipient", "jid"),
    [
        ("+628111222333", "628111222333@s.whatsapp.net"),
        ("628111222333", "628111222333@s.whatsapp.net"),
        ("+62 811-1222-333", "628111222333@s.whatsapp.net"),
        ("628111222333@s.whatsapp.net", "628111222333@s.whatsapp.net"),
        ("628111222333@c.us", "628111222333@s.whatsapp.net"),
        ("120363012345678901@g.us", "120363012345678901@g.us"),
        ("628123456789-1600000000@g.us", "628123456789-1600000000@g.us"),
    ],
)
async def test_good_recipients(
    session: Session, phone: SimulatedPhone, recipient: str, jid: str
) -> None:
    """Numbers and JIDs in the usual forms are normalised to a JID."""
    await link(session, phone)
    sent = await session.send_text(recipient, "hello")
    assert sent.to == jid and phone.sent[-1].to == jid


@pytest.mark.parametrize(
    "text", ["", " \n\t ", "x" * 65_537, "a\x00b", "bad \ud800 surrogate", 5, None]
)
async def test_bad_texts(session: Session, phone: SimulatedPhone, text: object) -> None:
    """Empty, blank, oversized, NUL-bearing, lone-surrogate or non-string text is refused."""
    await link(session, phone)
    with pytest.raises(InvalidText):
        await session.send_text("+628111222333", text)  # type: ignore[arg-type]
    assert phone.sent == []


async def test_longest_text_is_sent(session: Session, phone: SimulatedPhone) -> None:
    """A text of exactly 65,536 characters is accepted."""
    await link(session, phone)
    sent = await session.send_text("+628111222333", "x" * 65_536)
    assert sent.success


async def test_send_failure_is_reported_not_raised(session: Session, phone: SimulatedPhone) -> None:
    """A send WhatsApp refuses yields MessageSent(success=False, error=...) on the stream."""
    events = session.events()
    await link(session, phone, events)
    phone.fail_next_send("server returned error 479")
    failed = await session.send_text("+628111222333", "hello")
    assert not failed.success and failed.error == "server returned error 479" and failed.id is None
    assert await wait_for(events, MessageSent) == failed
    ok = await session.send_text("+628111222333", "again")
    assert ok.success


@pytest.mark.parametrize("tenant", ["", "a/b", "x" * 129, "café", "a b", "../etc", None, 5])
def test_bad_tenant_ids(driver: SimulatedDriver, tenant: object) -> None:
    """Tenant ids outside 1-128 chars of [A-Za-z0-9._-] raise InvalidTenant."""
    with pytest.raises(InvalidTenant):
        Session(tenant, driver=driver)  # type: ignore[arg-type]


def test_longest_tenant_id(driver: SimulatedDriver) -> None:
    """A 128-character tenant id is accepted."""
    assert Session("a" * 128, driver=driver).tenant == "a" * 128


@pytest.mark.parametrize("number", ["", "abc", "+", "0812345678", "+" + "1" * 16, "+999"])
async def test_bad_pairing_numbers(session: Session, number: str) -> None:
    """Pairing-code requests with malformed numbers raise InvalidPhoneNumber."""
    await session.connect()
    await wait_for(session.events(), QrGenerated)
    with pytest.raises(InvalidPhoneNumber):
        await session.request_pairing_code(number)


async def test_pairing_code_needs_a_login(session: Session, phone: SimulatedPhone) -> None:
    """A pairing code is refused before connect and once connected."""
    with pytest.raises(SessionStateError, match="awaiting_scan"):
        await session.request_pairing_code("+628123456789")
    await link(session, phone)
    with pytest.raises(AlreadyConnected):
        await session.request_pairing_code("+628123456789")


async def test_closed_session_refuses_everything(session: Session) -> None:
    """After aclose(), subscribing and commands raise SessionClosed; close is idempotent."""
    await session.aclose()
    await session.aclose()
    with pytest.raises(SessionClosed):
        session.events()
    with pytest.raises(SessionClosed):
        session.subscribe(lambda e: None)
    for call in (
        session.connect(),
        session.restart(),
        session.logout(),
        session.send_text("+628111222333", "x"),
    ):
        with pytest.raises(SessionClosed):
            await call


async def test_nothing_emitted_after_close(
    session: Session, phone: SimulatedPhone, driver: SimulatedDriver
) -> None:
    """After aclose() returns, the driver's late reports publish nothing."""
    watcher = session._hub.subscribe("acme")
    await link(session, phone)
    await session.aclose()
    before = [e async for e in _drain(watcher)]
    assert isinstance(before[-1], Disconnected) and before[-1].reason is DisconnectReason.CLOSED
    with pytest.raises(Exception):
        phone.receive_message("+628111222333", "late")
    assert [e async for e in _drain(watcher)] == []


async def _drain(subscription: object) -> AsyncIterator[Event]:
    from wagate import Subscription

    assert isinstance(subscription, Subscription)
    while (event := subscription.receive_nowait()) is not None:
        yield event


async def test_events_end_when_session_closes(session: Session, phone: SimulatedPhone) -> None:
    """An events() iterator ends after delivering everything up to the close."""
    events = session.events()
    await link(session, phone, events)
    await session.send_text("+628111222333", "last")
    await session.aclose()
    rest = [e async for e in events]
    assert [type(e) for e in rest] == [MessageSent, Disconnected]


async def test_callbacks_sync_and_async(session: Session, phone: SimulatedPhone) -> None:
    """Plain and async callbacks both receive the current state then live events."""
    got_sync: list[Event] = []
    got_async: list[Event] = []
    done = anyio.Event()

    def on_sync(event: Event) -> None:
        got_sync.append(event)

    async def on_async(event: Event) -> None:
        got_async.append(event)
        if isinstance(event, MessageReceived):
            done.set()

    session.subscribe(on_sync)
    session.subscribe(on_async)
    await link(session, phone)
    phone.receive_message("+628111222333", "hi")
    with anyio.fail_after(5):
        await done.wait()
    await session.aclose()
    assert [e.seq for e in got_sync] == [e.seq for e in got_async]
    assert isinstance(got_sync[-1], Disconnected)


async def test_callback_that_raises_is_isolated(
    session: Session, phone: SimulatedPhone, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises is logged with the tenant and keeps receiving."""
    seen: list[Event] = []
    done = anyio.Event()

    async def bad(event: Event) -> None:
        seen.append(event)
        if isinstance(event, MessageReceived):
            done.set()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="wagate"):
        session.subscribe(bad)
        await link(session, phone)
        phone.receive_message("+628111222333", "hi")
        with anyio.fail_after(5):
            await done.wait()
    assert session.state is State.CONNECTED
    assert any("'acme'" in r.getMessage() and r.exc_info for r in caplog.records)
    assert len(seen) >= 3


async def test_blocking_callback_does_not_block_others(
    session: Session, phone: SimulatedPhone
) -> None:
    """A sync callback that blocks holds up neither the session nor other subscribers."""
    release = threading.Event()
    blocked = threading.Event()

    def stuck(event: Event) -> None:
        blocked.set()
        release.wait(10)

    session.subscribe(stuck)
    session.close_timeout = 0.5
    events = session.events()
    await link(session, phone, events)
    for i in range(10):
        await session.send_text("+628111222333", f"m{i}")
    sent = [e async for e in _drain(events)]
    assert len([e for e in sent if isinstance(e, MessageSent)]) == 10
    assert await anyio.to_thread.run_sync(blocked.wait, 5)
    await session.aclose()  # bounded by close_timeout despite the stuck callback
    release.set()


async def test_subscription_handle_close(session: Session, phone: SimulatedPhone) -> None:
    """close() on a callback handle stops deliveries."""
    seen: list[Event] = []
    handle = session.subscribe(seen.append, sync_in_thread=False)
    await session.connect()
    await wait_for(session.events(), QrGenerated)
    handle.close()
    await handle.wait_closed()
    count = len(seen)
    await link(session, phone)
    assert len(seen) == count and handle.closed


async def test_async_for_break_unsubscribes(session: Session, phone: SimulatedPhone) -> None:
    """Breaking out of `async for` and dropping the iterator removes the subscriber."""
    await session.connect()
    async for event in session.events():
        if isinstance(event, QrGenerated):
            break
    import gc

    gc.collect()
    assert session._hub.subscribers("acme") == 0


async def test_connected_is_heard_only_after_the_link_is_stored(phone: SimulatedPhone) -> None:
    """When Connected reaches a subscriber, the store already holds the account."""
    from wagate import MemoryStore

    store = MemoryStore()
    async with Session("acme", driver=SimulatedDriver(phone=phone), store=store) as session:
        events = session.events()
        await session.connect()
        qr = await wait_for(events, QrGenerated)
        phone.scan(qr.code)
        phone.receive_message("+628111222333", "waiting offline")  # queued behind the link
        connected = await wait_for(events, Connected)
        stored = await store.load("acme")
        assert stored is not None and stored.account == connected.account
        received = await wait_for(events, MessageReceived)
        assert received.seq == connected.seq + 1


@pytest.mark.parametrize(
    ("backoff", "capped_after"),
    [
        (Backoff(initial=0.001, maximum=0.002), 2),
        (Backoff(), 1025),
        # 1.000001 ** 10**9 is about e**1000, past a float, yet 1e-300 times it is
        # about 1e134, well under the cap: the delay grows without overflowing.
        (Backoff(initial=1e-300, maximum=1e300, multiplier=1.000001), None),
        (Backoff(initial=5, maximum=1, jitter=0), 1),
        (Backoff(multiplier=1), None),
    ],
)
def test_backoff_after_an_outage_of_days_stays_at_its_cap(
    backoff: Backoff, capped_after: int | None
) -> None:
    """Thousands of failures (the n-th power of 2 overflows a float past 1,024) wait the cap."""
    rng = random.Random(7)
    for failures in (1, 2, 1025, 5000, 10**9):
        delay = backoff.delay(failures, rng)
        assert 0 <= delay <= backoff.maximum
        if capped_after is not None and failures >= capped_after:
            assert delay >= backoff.maximum * (1 - backoff.jitter)
    if capped_after is None:
        assert backoff.delay(10**9, rng) < backoff.maximum * (1 - backoff.jitter)
