"""A hypothesis state machine drives a simulated session at random against its invariants."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wagate import (
    AlreadyConnected,
    Backoff,
    Connected,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    NotConnected,
    NotLinked,
    QrGenerated,
    ScanRejected,
    Session,
    SessionClosed,
    SessionStateError,
    State,
    Subscription,
)
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver, SimulatedPhone

pytestmark = pytest.mark.timeout(300)


async def settle() -> None:
    """Let every task run until all are waiting (the simulator never busy-loops)."""
    for _ in range(3):
        await anyio.wait_all_tasks_blocked()
        await anyio.lowlevel.checkpoint()


class SessionMachine(RuleBasedStateMachine):
    """Random connect / scan / stale scan / restart / logout / drop / send / subscribe steps."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = contextlib.ExitStack()
        self.portal = self.stack.enter_context(anyio.from_thread.start_blocking_portal())
        self.clock = SimulatedClock()
        self.phone = SimulatedPhone(number="+628123456789", name="Budi")
        self.driver = SimulatedDriver(phone=self.phone, clock=self.clock, seed=7)
        self.session = self.stack.enter_context(
            self.portal.wrap_async_context_manager(
                Session(
                    "prop",
                    driver=self.driver,
                    backoff=Backoff(initial=5, maximum=5, jitter=0),  # waits: ended by restore()
                    rng=random.Random(1),
                )
            )
        )
        self.recorder: Subscription = self.call(self.session.events)
        self.subscribers: list[tuple[Subscription, list[Event]]] = []
        self.seen: list[Event] = []
        self.valid_scans = 0
        self.linked_ever = False
        self.closed = False
        self.online = True

    def call(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            result = fn(*args)
            if hasattr(result, "__await__"):
                result = await result
            await settle()
            return result

        return self.portal.call(run)

    def pump(self) -> None:
        def read(sub: Subscription, into: list[Event]) -> None:
            while (event := sub.receive_nowait()) is not None:
                into.append(event)

        self.portal.call(read, self.recorder, self.seen)
        for sub, got in self.subscribers:
            self.portal.call(read, sub, got)

    def teardown(self) -> None:
        self.stack.close()

    @initialize()
    def start(self) -> None:
        self.pump()

    # ----------------------------------------------------------------- rules
    @precondition(lambda self: not self.closed)
    @rule()
    def connect(self) -> None:
        self.call(self.session.connect)

    @precondition(lambda self: not self.closed)
    @rule()
    def scan_pending(self) -> None:
        code = self.driver.pending_code
        if code is None:
            return
        self.call(self.phone.scan, code)
        self.valid_scans += 1
        self.linked_ever = True
        assert self.session.state is State.CONNECTED

    @precondition(lambda self: not self.closed)
    @rule(index=st.integers(min_value=0, max_value=20))
    def scan_stale(self, index: int) -> None:
        codes = [e.code for e in self.seen if isinstance(e, QrGenerated)]
        stale = [c for c in codes if c != self.driver.pending_code]
        if not stale:
            return
        with pytest.raises(ScanRejected):
            self.call(self.phone.scan, stale[index % len(stale)])

    @precondition(lambda self: not self.closed)
    @rule()
    def scan_garbage(self) -> None:
        with pytest.raises(ScanRejected):
            self.call(self.phone.scan, "2@not-a-real-code")

    @precondition(lambda self: not self.closed)
    @rule()
    def restart(self) -> None:
        if self.session.state is State.CONNECTED:
            with pytest.raises(AlreadyConnected):
                self.call(self.session.restart)
        else:
            self.call(self.session.restart)

    @precondition(lambda self: not self.closed)
    @rule()
    def logout(self) -> None:
        if self.session.account is None:
            with pytest.raises(NotLinked):
                self.call(self.session.logout)
        else:
            self.call(self.session.logout)
            assert self.session.state is State.DISCONNECTED and self.session.account is None

    @precondition(lambda self: not self.closed)
    @rule()
    def logout_from_phone(self) -> None:
        self.call(self.phone.logout)

    @precondition(lambda self: not self.closed)
    @rule()
    def drop_network(self) -> None:
        self.online = False
        self.call(self.driver.drop_network)

    @precondition(lambda self: not self.closed)
    @rule()
    def restore_network(self) -> None:
        self.online = True
        self.call(self.driver.restore_network)

    @precondition(lambda self: not self.closed)
    @rule(seconds=st.sampled_from([1, 20, 60]))
    def advance_clock(self, seconds: int) -> None:
        self.call(self.clock.advance, seconds)

    @precondition(lambda self: not self.closed)
    @rule(text=st.text(min_size=1, max_size=20).filter(lambda t: t.strip() and "\x00" not in t))
    def send(self, text: str) -> None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return
        if self.session.state is State.CONNECTED:
            sent = self.call(self.session.send_text, "+628111222333", text)
            assert sent.success and self.phone.sent[-1].text == text
        else:
            with pytest.raises(NotConnected):
                self.call(self.session.send_text, "+628111222333", text)

    @precondition(lambda self: not self.closed)
    @rule()
    def pairing_outside_login(self) -> None:
        if self.session.state is not State.AWAITING_SCAN:
            with pytest.raises(SessionStateError):
                self.call(self.session.request_pairing_code, "+628123456789")

    @precondition(lambda self: not self.closed and len(self.subscribers) < 5)
    @rule()
    def subscribe(self) -> None:
        sub = self.call(self.session.events)
        self.subscribers.append((sub, []))

    @precondition(lambda self: bool(self.subscribers))
    @rule(index=st.integers(min_value=0, max_value=4))
    def unsubscribe(self, index: int) -> None:
        sub, got = self.subscribers.pop(index % len(self.subscribers))
        self.portal.call(sub.close)
        self.check_subscriber(got)

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self) -> None:
        self.call(self.session.aclose)
        self.closed = True
        self.pump()
        count = len(self.seen)
        for attempt in (self.session.connect, self.session.events):
            with pytest.raises(SessionClosed):
                self.call(attempt)
        # The driver's late reports publish nothing after close.
        with contextlib.suppress(Exception):
            self.call(self.driver.crash)
        self.pump()
        assert len(self.seen) == count, "nothing is emitted after aclose()"

    @precondition(lambda self: self.closed)
    @rule()
    def commands_after_close(self) -> None:
        for command, args in (
            (self.session.send_text, ("+628111222333", "x")),
            (self.session.restart, ()),
            (self.session.logout, ()),
        ):
            with pytest.raises(SessionClosed):
                self.call(command, *args)

    # ----------------------------------------------------------------- invariants
    @invariant()
    def one_state_consistent_with_events(self) -> None:
        self.pump()
        state = self.session.state
        assert isinstance(state, State)
        status = self.session.status
        assert (status.qr is not None) == (state is State.AWAITING_SCAN)
        assert (status.reason is not None) == (state is State.DISCONNECTED and bool(self.seen))
        if state is State.CONNECTED:
            assert self.session.account is not None

    @invariant()
    def connected_only_after_a_valid_scan(self) -> None:
        if any(isinstance(e, Connected) for e in self.seen):
            assert self.linked_ever

    @invariant()
    def recorder_sees_every_seq(self) -> None:
        seqs = [e.seq for e in self.seen if not isinstance(e, Gap)]
        assert seqs == list(range(1, len(seqs) + 1))

    @invariant()
    def subscribers_see_live_seqs_without_gaps(self) -> None:
        for _, got in self.subscribers:
            self.check_subscriber(got)

    def check_subscriber(self, got: list[Event]) -> None:
        assert not any(isinstance(e, Gap) for e in got)
        live = got[1:] if got and got[0].seq < self._first_live(got) else got
        seqs = [e.seq for e in live]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True

    def _first_live(self, got: list[Event]) -> int:
        # The first event may be the replayed current state; live events follow it
        # without a gap, starting right after the last event published before.
        return got[1].seq if len(got) > 1 else got[0].seq + 1

    @invariant()
    def state_matches_last_state_event(self) -> None:
        state_events = [
            e for e in self.seen if isinstance(e, (QrGenerated, Connected, Disconnected))
        ]
        if not state_events or self.session.state is State.CONNECTING:
            return
        last = state_events[-1]
        expected = {
            QrGenerated: State.AWAITING_SCAN,
            Connected: State.CONNECTED,
            Disconnected: State.DISCONNECTED,
        }[type(last)]
        assert self.session.state is expected
        if isinstance(last, Disconnected) and last.reason in (
            DisconnectReason.BANNED,
            DisconnectReason.REPLACED,
            DisconnectReason.QR_TIMEOUT,
            DisconnectReason.LOGGED_OUT,
        ):
            assert not last.will_retry


SessionMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_session_state_machine = SessionMachine.TestCase
