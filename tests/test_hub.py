"""The hub: fan-out, bounded buffers and overflow policies, replay, current state."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from wagate import (
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    Hub,
    MessageSent,
    Overflow,
    SessionClosed,
    SubscriberLagged,
)
from wagate._events import Account, utcnow

pytestmark = pytest.mark.anyio


def sent(tenant: str, seq: int) -> MessageSent:
    return MessageSent(
        tenant=tenant,
        seq=seq,
        at=utcnow(),
        id=f"m{seq}",
        to="1@s.whatsapp.net",
        text="x",
        success=True,
    )


def connected(tenant: str, seq: int) -> Connected:
    return Connected(
        tenant=tenant, seq=seq, at=utcnow(), account=Account(jid="1@s.whatsapp.net", phone="+1")
    )


def drain(subscription: object) -> list[Event]:
    from wagate import Subscription

    assert isinstance(subscription, Subscription)
    out = []
    while (event := subscription.receive_nowait()) is not None:
        out.append(event)
    return out


async def test_fan_out_to_many_in_order() -> None:
    """Every subscriber of a tenant gets every event, in publish order."""
    hub = Hub()
    subs = [hub.subscribe("a") for _ in range(50)]
    for seq in range(1, 101):
        hub.publish(sent("a", seq))
    for sub in subs:
        assert [e.seq for e in drain(sub)] == list(range(1, 101))


async def test_tenants_are_isolated() -> None:
    """A tenant subscriber never sees another tenant's events; the all-stream sees both."""
    hub = Hub()
    a, b, everyone = hub.subscribe("a"), hub.subscribe("b"), hub.subscribe(None)
    hub.publish(sent("a", 1))
    hub.publish(sent("b", 1))
    hub.publish(sent("a", 2))
    assert [(e.tenant, e.seq) for e in drain(a)] == [("a", 1), ("a", 2)]
    assert [(e.tenant, e.seq) for e in drain(b)] == [("b", 1)]
    assert [(e.tenant, e.seq) for e in drain(everyone)] == [("a", 1), ("b", 1), ("a", 2)]


async def test_current_state_first() -> None:
    """A new subscriber first gets the tenant's current state event, then live events."""
    hub = Hub()
    hub.publish(Connecting(tenant="a", seq=1, at=utcnow()))
    hub.publish(connected("a", 2))
    hub.publish(sent("a", 3))
    late = hub.subscribe("a")
    hub.publish(sent("a", 4))
    assert [e.seq for e in drain(late)] == [2, 4]
    everyone = hub.subscribe(None)
    assert [e.seq for e in drain(everyone)] == [2]


async def test_raise_policy() -> None:
    """A subscriber past its buffer gets SubscriberLagged with the count it missed."""
    hub = Hub(buffer=4)
    slow = hub.subscribe("a", overflow=Overflow.RAISE)
    fast = hub.subscribe("a")
    for seq in range(1, 9):  # 8 events: the log trims at 2x its capacity
        hub.publish(sent("a", seq))
        assert fast.receive_nowait() is not None
    for seq in range(9, 17):  # 8 more: another trim while the error is unread
        hub.publish(sent("a", seq))
        assert fast.receive_nowait() is not None
    with pytest.raises(SubscriberLagged) as info:
        drain(slow)
    assert info.value.missed == 12 and info.value.last_seq == 0 and info.value.tenant == "a"
    assert fast.backlog == 0


async def test_gap_policy_names_exactly_what_was_missed() -> None:
    """Under the GAP policy a lagging subscriber gets a Gap with the missed seqs, then goes on."""
    hub = Hub(buffer=4)
    slow = hub.subscribe("a", overflow=Overflow.GAP)
    for seq in range(1, 11):
        hub.publish(sent("a", seq))
    got = drain(slow)
    gap = got[0]
    assert isinstance(gap, Gap)
    assert (gap.first_seq, gap.last_seq, gap.missed) == (1, 4, 4)
    assert [e.seq for e in got[1:]] == list(range(5, 11))


async def test_gap_policy_on_the_all_stream_is_per_tenant() -> None:
    """A lagging all-tenants subscriber gets one Gap per tenant that lost events."""
    hub = Hub(all_buffer=4)
    slow = hub.subscribe(None, overflow=Overflow.GAP)
    for seq in range(1, 6):
        hub.publish(sent("a", seq))
        hub.publish(sent("b", seq))
    got = drain(slow)
    gaps = [e for e in got if isinstance(e, Gap)]
    assert {(g.tenant, g.first_seq, g.last_seq) for g in gaps} == {("a", 1, 2), ("b", 1, 2)}
    rest = [(e.tenant, e.seq) for e in got if not isinstance(e, Gap)]
    assert rest == [(t, s) for s in range(3, 6) for t in "ab"]


async def test_publish_never_blocks_on_a_stuck_subscriber() -> None:
    """Publishing 100,000 events with a subscriber that never reads completes, memory bounded."""
    hub = Hub(buffer=128)
    stuck = hub.subscribe("a")
    for seq in range(1, 100_001):
        hub.publish(sent("a", seq))
    assert len(hub._logs["a"].entries) < 2 * 128
    with pytest.raises(SubscriberLagged):
        stuck.receive_nowait()


async def test_waiting_subscriber_wakes() -> None:
    """A subscriber waiting in `async for` wakes when an event is published."""
    hub = Hub()
    sub = hub.subscribe("a")
    got: list[Event] = []

    async def reader() -> None:
        async for event in sub:
            got.append(event)
            if len(got) == 3:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        for seq in (1, 2, 3):
            hub.publish(sent("a", seq))
    assert [e.seq for e in got] == [1, 2, 3]


async def test_replay_after_seq() -> None:
    """replay() returns exactly the events after a seq."""
    hub = Hub()
    for seq in range(1, 11):
        hub.publish(sent("a", seq))
    assert [e.seq for e in hub.replay("a", 6)] == [7, 8, 9, 10]
    assert hub.replay("a", 10) == []
    assert hub.replay("a", 99) == []
    assert hub.replay("nobody", 0) == []


async def test_replay_too_old_starts_with_gap() -> None:
    """Asking for history the log no longer holds returns a Gap first, never a silent hole."""
    hub = Hub(buffer=4)
    for seq in range(1, 11):
        hub.publish(sent("a", seq))
    got = hub.replay("a", 0)
    gap = got[0]
    assert isinstance(gap, Gap) and gap.first_seq == 1 and gap.last_seq == got[1].seq - 1
    assert [e.seq for e in got[1:]] == list(range(got[1].seq, 11))


async def test_replay_respects_age() -> None:
    """Events older than replay_age are not replayed; a Gap says so."""
    hub = Hub(replay_age=timedelta(seconds=0))
    hub.publish(sent("a", 1))
    got = hub.replay("a", 0)
    assert len(got) == 1 and isinstance(got[0], Gap) and got[0].last_seq == 1


async def test_close_drains_then_ends() -> None:
    """After close(), a subscriber reads what was published, then ends; new ones are refused."""
    hub = Hub()
    sub = hub.subscribe("a")
    hub.publish(sent("a", 1))
    hub.publish(Disconnected(tenant="a", seq=2, at=utcnow(), reason=DisconnectReason.CLOSED))
    hub.close()
    assert [e.seq async for e in sub] == [1, 2]
    with pytest.raises(SessionClosed):
        hub.subscribe("a")
    with pytest.raises(SessionClosed):
        hub.publish(sent("a", 3))


async def test_closed_subscription_stops() -> None:
    """close() on a subscription ends iteration and unsubscribes."""
    hub = Hub()
    sub = hub.subscribe("a")
    hub.publish(sent("a", 1))
    sub.close()
    assert [e async for e in sub] == []
    assert hub.subscribers("a") == 0 and sub.closed


def test_bad_buffer_sizes() -> None:
    """A hub with a buffer below 1 is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        Hub(buffer=0)


async def test_cancelled_read_loses_nothing() -> None:
    """A read cancelled while the subscriber yields to others loses no event."""
    hub = Hub()
    sub = hub.subscribe("a")
    for seq in range(1, 201):
        hub.publish(sent("a", seq))
    got: list[int] = []
    while len(got) < 200:
        with anyio.CancelScope() as scope:
            scope.cancel()  # every await in this read is cancelled at once
            got.append((await sub.__anext__()).seq)
    assert got == list(range(1, 201))


# Seqs of a tenant across a crash: 1..3 in the run that died, then the next run's
# block (the dead run had reserved up to 1000).
ACROSS_A_CRASH = [1, 2, 3, 1001, 1002, 1003, 1004, 1005]


async def test_a_lagging_subscriber_counts_events_not_seqs_across_a_jump() -> None:
    """A Gap whose span holds a seq jump counts the events it lost, not the seqs."""
    hub = Hub(buffer=4)
    slow = hub.subscribe("a", overflow=Overflow.GAP)
    for seq in ACROSS_A_CRASH:
        hub.publish(sent("a", seq))
    gap, *rest = drain(slow)
    assert isinstance(gap, Gap)
    assert (gap.first_seq, gap.last_seq, gap.missed) == (1, 1001, 4)
    assert [e.seq for e in rest] == [1002, 1003, 1004, 1005]


async def test_a_replay_counts_only_the_trimmed_events_across_a_jump() -> None:
    """A resume from before what the log holds: missed is the trimmed events, exactly."""
    hub = Hub(buffer=4)
    hub.begin("a", 1)
    for seq in ACROSS_A_CRASH:
        hub.publish(sent("a", seq))
    gap, *kept = hub.replay("a", 2)
    assert isinstance(gap, Gap)
    assert (gap.first_seq, gap.last_seq, gap.missed) == (3, 1001, 2)  # seqs 3 and 1001
    assert [e.seq for e in kept] == [1002, 1003, 1004, 1005]
    # The log holds the seq asked for: the jump after it is no loss.
    hub = Hub(buffer=100)
    for seq in ACROSS_A_CRASH:
        hub.publish(sent("a", seq))
    assert [e.seq for e in hub.replay("a", 3)] == [1001, 1002, 1003, 1004, 1005]


async def test_a_resume_from_before_the_hubs_first_event_is_a_gap_of_unknown_size() -> None:
    """After a restart the hub cannot know what the old process published: missed is None."""
    hub = Hub()
    hub.begin("a", 1001)  # the session's first seq in this process
    assert hub.position("a") == 1000
    assert hub.replay("a", 1000) == []
    [gap] = hub.replay("a", 3)
    assert isinstance(gap, Gap)
    assert (gap.first_seq, gap.last_seq, gap.missed) == (4, 1000, None)
    hub.publish(sent("a", 1001))
    assert [e.seq for e in hub.replay("a", 1000)] == [1001]
    gap, event = hub.replay("a", 3)
    assert isinstance(gap, Gap) and gap.missed is None and event.seq == 1001
    resumed = hub.resume_nowait("a", 3)
    assert resumed is not None
    assert [type(e) for e in resumed[0]] == [Gap, MessageSent]
    assert hub.resume_nowait("a", 1002) is None  # from the future: start afresh
    assert Hub().position("nobody") == 0


@pytest.mark.parametrize("limit", [1, 3, 64])
async def test_receive_many_gives_what_receive_nowait_gives_in_the_same_order(limit: int) -> None:
    """Current state, live events, Gaps, a resume's floor, a finish: the same events either way."""
    hub = Hub(buffer=4)
    hub.publish(connected("a", 1))
    one, many = hub.subscribe("a", overflow=Overflow.GAP), hub.subscribe("a", overflow=Overflow.GAP)
    for seq in range(2, 12):  # past the buffer: both lag and get a Gap
        hub.publish(sent("a", seq))
    one.floor = many.floor = 9  # a resume replayed up to 9
    for seq in range(12, 15):
        hub.publish(sent("a", seq))
    one.finish()
    many.finish()
    hub.publish(sent("a", 15))  # after the finish: neither reads it

    def batches() -> list[Event]:
        out: list[Event] = []
        while events := many.receive_many(limit):
            assert len(events) <= limit
            out.extend(events)
        return out

    expected = drain(one)
    got = batches()
    assert [(type(e).__name__, e.seq) for e in got] == [(type(e).__name__, e.seq) for e in expected]
    assert [e.seq for e in expected if isinstance(e, MessageSent)] == [10, 11, 12, 13, 14]
    assert any(isinstance(e, Gap) for e in expected)
    assert many.receive_many(limit) == []


async def test_receive_many_raises_a_lag_after_what_was_buffered_before_it() -> None:
    """Under RAISE the events read before the lag come first, then SubscriberLagged."""
    hub = Hub(buffer=4)
    hub.publish(connected("a", 1))
    slow = hub.subscribe("a", overflow=Overflow.RAISE)
    for seq in range(2, 10):
        hub.publish(sent("a", seq))
    assert [e.seq for e in slow.receive_many(10)] == [1]  # the current state, held
    with pytest.raises(SubscriberLagged):
        slow.receive_many(10)


async def test_receive_many_on_a_closed_subscription_is_empty() -> None:
    """A closed subscription returns nothing, however much the log holds."""
    hub = Hub()
    sub = hub.subscribe("a")
    hub.publish(sent("a", 1))
    sub.close()
    assert sub.receive_many(10) == []
