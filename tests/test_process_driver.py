"""ProcessDriver: drivers in a real child process, crashes of that process, and recovery.

The child is killed for real (SIGKILL, ``os._exit``, ``abort``, a real Go panic inside
neonize); the sessions it hosted must report ``engine_crashed``, reconnect through a new
child without a QR code, and lose no event on the way.  The simulated phone lives in the
child and is operated with ``ProcessDriver.call``.
"""

from __future__ import annotations

import functools
import os
import resource
import signal
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from wagate import (
    Backoff,
    Connected,
    Connecting,
    ContactInfo,
    Disconnected,
    DisconnectReason,
    DriverError,
    Event,
    Gateway,
    Group,
    GroupJoined,
    InvalidInput,
    InviteNotFound,
    MessageReceived,
    NotInGroup,
    NumberCheck,
    PairingCode,
    ParticipantError,
    QrGenerated,
    ScanRejected,
    Session,
    SQLiteStore,
    State,
    Subscription,
)
from wagate.drivers.process import EngineProcess, ProcessDriver
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import wait_for

pytestmark = pytest.mark.anyio

WAIT = 30.0  # generous: a child process starts in well under a second, CI machines are slow
FAST = Backoff(initial=0.05, maximum=0.5)
CONTACT = "+628111222333"


# ------------------------------------------------------------------ factories (run in the child)


class FragileDriver(SimulatedDriver):
    """A simulated driver whose process can be made to die in the ways real engines do."""

    def die(self, how: str, where: str = "") -> None:
        """End this process: ``exit`` (os._exit), ``abort``, or ``go_panic`` (neonize)."""
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from abort/panic
        if how == "exit":
            os._exit(3)
        if how == "abort":
            os.abort()
        if how == "go_panic":
            from neonize.client import NewClient

            # get_me() before connect() dereferences a nil pointer in Go: SIGSEGV, abort.
            NewClient(str(Path(where) / "panic.db")).get_me()
        raise ValueError(f"unknown way to die: {how!r}")

    async def hang(self) -> None:
        """Never answer, like an engine stuck in a call."""
        await anyio.sleep_forever()


def fragile(tenant: str) -> FragileDriver:
    """Build a tenant's simulated driver, with a phone number of its own."""
    number = "+62811" + str(zlib.crc32(tenant.encode()) % 10**7).zfill(7)  # same in every child
    return FragileDriver(phone=SimulatedPhone(number=number, name=tenant))


def broken_factory(tenant: str) -> SimulatedDriver:
    """Fail the way a misconfigured factory does."""
    raise RuntimeError(f"no engine configured for {tenant}")


def not_a_driver(tenant: str) -> Any:
    """Return something that is not a Driver."""
    return {"tenant": tenant}


# ------------------------------------------------------------------ helpers


async def link(session: Session, events: Subscription) -> Connected:
    """Connect ``session`` and scan its QR code with the phone in the child."""
    await session.connect()
    qr = await wait_for(events, QrGenerated, timeout=WAIT)
    await session.driver.call("phone.scan", qr.code)  # type: ignore[attr-defined]
    return await wait_for(events, Connected, timeout=WAIT)


async def read_until(events: Subscription, kind: type[Event]) -> list[Event]:
    """Read every event up to and including the first of ``kind``."""
    seen: list[Event] = []
    with anyio.fail_after(WAIT):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind):
                return seen
    raise LookupError("the stream ended")


def kill(pid: int | None) -> None:
    """SIGKILL the child, for real."""
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """Run a gateway whose drivers live in one shared child process."""
    async with Gateway(ProcessDriver.factory(fragile), backoff=FAST) as opened:
        yield opened


def engine(gateway: Gateway) -> EngineProcess:
    """The child process behind the gateway's drivers."""
    assert isinstance(gateway.driver_factory, EngineProcess)
    return gateway.driver_factory


def test_the_former_name_of_the_engine_process_still_works_and_warns() -> None:
    """``DriverProcess`` is the deprecated name of ``EngineProcess``: same class, a warning."""
    import wagate.drivers.process as process

    with pytest.warns(DeprecationWarning, match="EngineProcess"):
        former = process.DriverProcess
    assert former is EngineProcess


# ------------------------------------------------------------------ crashes


async def test_sigkill_of_a_connected_session_resumes_with_no_event_lost(gateway: Gateway) -> None:
    """SIGKILL the child: engine_crashed, then Connected again, with seqs back to back."""
    session = await gateway.session("acme")
    events = session.events()
    connected = await link(session, events)
    first_pid = engine(gateway).pid

    kill(first_pid)
    after = await read_until(events, Connected)

    assert [type(e) for e in after] == [Disconnected, Connecting, Connected]
    assert [e.seq for e in after] == list(range(connected.seq + 1, connected.seq + 4))
    crash = after[0]
    assert isinstance(crash, Disconnected)
    assert crash.reason is DisconnectReason.ENGINE_CRASHED
    assert crash.will_retry
    assert crash.detail is not None
    assert "SIGKILL" in crash.detail
    resumed = after[-1]
    assert isinstance(resumed, Connected)
    assert resumed.account == connected.account
    assert engine(gateway).pid not in (None, first_pid)
    assert engine(gateway).starts == 2

    # The new child serves the session fully: messages in, messages out.
    message_id = await session.driver.call("phone.receive_message", CONTACT, "after the crash")  # type: ignore[attr-defined]
    received = events.receive_nowait()  # already here when call() returned
    assert isinstance(received, MessageReceived)
    assert (received.id, received.text, received.seq) == (
        message_id,
        "after the crash",
        resumed.seq + 1,
    )
    sent = await session.send_text(CONTACT, "still here")
    assert sent.success
    sent_by_phone = await session.driver.call("phone.sent")  # type: ignore[attr-defined]
    assert [m.text for m in sent_by_phone] == ["still here"]


@pytest.mark.parametrize("how", ["exit", "abort", "go_panic"])
async def test_every_way_of_dying_is_an_engine_crash(
    gateway: Gateway, how: str, tmp_path: Path
) -> None:
    """os._exit, abort and a real Go panic in neonize end as engine_crashed, then resume."""
    session = await gateway.session("acme")
    events = session.events()
    connected = await link(session, events)
    with pytest.raises(DriverError, match="engine process"):
        await session.driver.call("die", how, str(tmp_path))  # type: ignore[attr-defined]
    after = await read_until(events, Connected)
    assert [type(e) for e in after] == [Disconnected, Connecting, Connected]
    assert [e.seq for e in after] == list(range(connected.seq + 1, connected.seq + 4))
    crash = after[0]
    assert isinstance(crash, Disconnected)
    assert crash.reason is DisconnectReason.ENGINE_CRASHED
    expected = {"exit": "exited with code 3", "abort": "SIGABRT", "go_panic": "SIGABRT"}[how]
    assert crash.detail is not None
    assert expected in crash.detail


async def test_one_child_hosts_many_sessions_and_all_resume(gateway: Gateway) -> None:
    """Five sessions share one child; killing it makes all five reconnect through one new child."""
    tenants = [f"t{i}" for i in range(5)]
    streams = {}
    for tenant in tenants:
        session = await gateway.session(tenant)
        streams[tenant] = session.events()
        await link(session, streams[tenant])
    pid = engine(gateway).pid
    assert engine(gateway).drivers == 5

    kill(pid)
    for tenant in tenants:
        after = await read_until(streams[tenant], Connected)
        assert [type(e) for e in after] == [Disconnected, Connecting, Connected]
    assert engine(gateway).starts == 2
    assert all(s.state is State.CONNECTED for s in map(gateway.get, tenants) if s is not None)


async def test_a_crash_during_the_qr_login_starts_a_new_login(gateway: Gateway) -> None:
    """A child killed while a QR code waits: engine_crashed, then a fresh QR from the new child."""
    session = await gateway.session("acme")
    events = session.events()
    await session.connect()
    first = await wait_for(events, QrGenerated, timeout=WAIT)
    kill(engine(gateway).pid)
    after = await read_until(events, QrGenerated)
    assert [type(e) for e in after] == [Disconnected, Connecting, QrGenerated]
    fresh = after[-1]
    assert isinstance(fresh, QrGenerated)
    assert fresh.code != first.code
    with pytest.raises(ScanRejected):  # the old code died with its child
        await session.driver.call("phone.scan", first.code)  # type: ignore[attr-defined]
    await session.driver.call("phone.scan", fresh.code)  # type: ignore[attr-defined]
    await wait_for(events, Connected, timeout=WAIT)


# ------------------------------------------------------------------ the driver interface


async def test_restart_cancels_the_login_in_the_child(gateway: Gateway) -> None:
    """restart() ends the child's QR login and starts another: a new code, the old one refused."""
    session = await gateway.session("acme")
    events = session.events()
    await session.connect()
    first = await wait_for(events, QrGenerated, timeout=WAIT)
    await session.restart()
    second = await wait_for(events, QrGenerated, timeout=WAIT)
    assert second.code != first.code
    with pytest.raises(ScanRejected):
        await session.driver.call("phone.scan", first.code)  # type: ignore[attr-defined]
    await session.driver.call("phone.scan", second.code)  # type: ignore[attr-defined]
    await wait_for(events, Connected, timeout=WAIT)


async def test_pairing_code_crosses_the_pipe(gateway: Gateway) -> None:
    """A pairing code requested in the host comes from the child and links when typed."""
    session = await gateway.session("acme")
    events = session.events()
    await session.connect()
    await wait_for(events, QrGenerated, timeout=WAIT)
    number = await session.driver.call("phone.number")  # type: ignore[attr-defined]
    pairing = await session.request_pairing_code(number)
    assert isinstance(pairing, PairingCode)
    await session.driver.call("phone.enter_pairing_code", pairing.code)  # type: ignore[attr-defined]
    await wait_for(events, Connected, timeout=WAIT)


async def test_logout_and_send_failures_cross_the_pipe(gateway: Gateway) -> None:
    """A failed send comes back as MessageSent(success=False); logout unlinks through the child."""
    session = await gateway.session("acme")
    events = session.events()
    await link(session, events)
    await session.driver.call("phone.fail_next_send", "server returned error 479")  # type: ignore[attr-defined]
    failed = await session.send_text(CONTACT, "hello")
    assert not failed.success
    assert failed.error == "server returned error 479"
    await session.logout()
    ended = await wait_for(events, Disconnected, timeout=WAIT)
    assert ended.reason is DisconnectReason.LOGGED_OUT
    assert session.account is None
    assert await session.driver.call("phone.linked") is False  # type: ignore[attr-defined]


async def test_group_and_contact_calls_cross_the_pipe(gateway: Gateway) -> None:
    """Group and contact calls run on the driver in the child, results and errors typed."""
    session = await gateway.session("acme")
    events = session.events()
    await link(session, events)
    made = await session.create_group("Team", [CONTACT])
    assert isinstance(made, Group) and made.is_admin
    joined = await wait_for(events, GroupJoined, timeout=WAIT)
    assert joined.jid == made.jid
    results = await session.add_participants(made.jid, [CONTACT, "+628111222444"])
    assert [(r.ok, r.error) for r in results] == [
        (False, ParticipantError.ALREADY_IN_GROUP),
        (True, None),
    ]
    await session.set_group_subject(made.jid, "Team A")
    assert (await session.group(made.jid)).subject == "Team A"
    link_ = await session.group_invite_link(made.jid, reset=True)
    assert link_.startswith("https://chat.whatsapp.com/")
    checked = await session.check_numbers([CONTACT])
    assert isinstance(checked[0], NumberCheck) and checked[0].on_whatsapp
    assert isinstance(await session.contact(CONTACT), ContactInfo)
    await session.block(CONTACT)
    await session.leave_group(made.jid)
    with pytest.raises(NotInGroup):
        await session.set_group_subject(made.jid, "gone")
    with pytest.raises(InviteNotFound):
        await session.join_group("ABCDEFGHIJKLMNOPQRSTUV")


async def test_errors_come_back_as_the_same_wagate_errors(gateway: Gateway) -> None:
    """An error raised in the child arrives as the same wagate class, or as DriverError."""
    session = await gateway.session("acme")
    driver = session.driver
    assert isinstance(driver, ProcessDriver)
    with pytest.raises(ScanRejected, match="not a WhatsApp login code"):
        await driver.call("phone.scan", "garbage")
    with pytest.raises(DriverError, match="AttributeError"):
        await driver.call("phone.no_such_thing")
    with pytest.raises(DriverError, match="ValueError: unknown way to die"):
        await driver.call("die", "gently")


@pytest.mark.parametrize(
    "path", ["", "_private", "phone._drivers", "phone.__class__", "a..b", "1x"]
)
async def test_call_refuses_private_or_malformed_paths(gateway: Gateway, path: str) -> None:
    """call() accepts only dotted public attribute names; nothing is sent for others."""
    session = await gateway.session("acme")
    driver = session.driver
    assert isinstance(driver, ProcessDriver)
    with pytest.raises(InvalidInput, match="dotted path"):
        await driver.call(path)


async def test_call_refuses_arguments_that_cannot_cross(gateway: Gateway) -> None:
    """An argument that cannot be pickled is refused with InvalidInput."""
    session = await gateway.session("acme")
    driver = session.driver
    assert isinstance(driver, ProcessDriver)
    with pytest.raises(InvalidInput, match="picklable"):
        await driver.call("phone.scan", lambda: None)


# ------------------------------------------------------------------ factories and lifecycle


def test_factories_the_child_cannot_import_are_refused() -> None:
    """A lambda, a nested function or a non-callable is refused when wrapped, not in the child."""

    def nested(tenant: str) -> SimulatedDriver:
        return SimulatedDriver()

    for bad in (lambda tenant: SimulatedDriver(), nested):
        with pytest.raises(InvalidInput, match="importable"):
            ProcessDriver.factory(bad)
    with pytest.raises(InvalidInput, match="callable"):
        ProcessDriver.factory("wagate.drivers.simulator:SimulatedDriver")  # type: ignore[arg-type]
    ProcessDriver.factory(functools.partial(fragile))  # a partial of an importable function is fine


def test_a_malformed_tenant_is_refused() -> None:
    """The factory validates the tenant id like every public entry point."""
    with pytest.raises(InvalidInput):
        ProcessDriver.factory(fragile)("no spaces please")


@pytest.mark.parametrize(
    ("factory", "words"),
    [(broken_factory, "no engine configured"), (not_a_driver, "not a Driver")],
)
async def test_a_failing_factory_is_an_engine_crash_not_a_host_crash(
    factory: Any, words: str
) -> None:
    """A factory that fails in the child gives engine_crashed with its words; the host lives."""
    async with Gateway(ProcessDriver.factory(factory), backoff=FAST) as gateway:
        session = await gateway.session("acme")
        events = session.events()
        await session.connect()
        crash = await wait_for(events, Disconnected, timeout=WAIT)
        assert crash.reason is DisconnectReason.ENGINE_CRASHED
        assert crash.will_retry
        assert crash.detail is not None
        assert words in crash.detail


async def test_a_command_the_child_never_answers_times_out() -> None:
    """A call the child never answers fails with DriverError at call_timeout; the session lives."""
    async with Gateway(ProcessDriver.factory(fragile, call_timeout=0.5), backoff=FAST) as gateway:
        session = await gateway.session("acme")
        events = session.events()
        await link(session, events)
        with pytest.raises(DriverError, match="did not answer"):
            await session.driver.call("hang")  # type: ignore[attr-defined]
        assert session.state is State.CONNECTED
        assert (await session.send_text(CONTACT, "still fine")).success


async def test_a_restarted_host_resumes_through_a_new_child(tmp_path: Path) -> None:
    """A gateway restarted on the same store resumes its tenant in a new child, with no QR."""
    store = tmp_path / "sessions.db"
    async with Gateway(
        ProcessDriver.factory(fragile), store=SQLiteStore(store), backoff=FAST
    ) as gateway:
        session = await gateway.session("acme")
        linked = await link(session, session.events())
    async with Gateway(
        ProcessDriver.factory(fragile), store=SQLiteStore(store), backoff=FAST
    ) as gateway:
        restored = gateway.get("acme")
        assert restored is not None
        resumed = await wait_for(restored.events(), Connected, timeout=WAIT)
        assert resumed.account == linked.account
        assert not any(isinstance(e, QrGenerated) for e in gateway.hub.replay("acme", 0))


async def test_closing_the_gateway_stops_the_child() -> None:
    """When the gateway closes, its child process exits and no driver is left."""
    process = ProcessDriver.factory(fragile)
    async with Gateway(process, backoff=FAST) as gateway:
        session = await gateway.session("acme")
        events = session.events()
        await link(session, events)
        pid = process.pid
        assert pid is not None
    assert process.pid is None
    assert process.drivers == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_standalone_process_driver_serves_one_session() -> None:
    """ProcessDriver(factory, tenant) gives one Session its own child, stopped with it."""
    driver = ProcessDriver(fragile, "solo")
    async with Session("solo", driver=driver, backoff=FAST) as session:
        events = session.events()
        await link(session, events)
        pid = driver.process.pid
        assert pid is not None
        assert pid != os.getpid()
    assert driver.process.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
