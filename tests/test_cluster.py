"""Cluster members in one process, on the real Redis and PostgreSQL: events, commands, leases.

Each member is a whole Gateway with a :class:`wagate.cluster.Cluster`; they share
nothing in memory, only Redis and PostgreSQL, as processes on several machines
would.  (Several real processes, ``kill -9`` and ``SIGSTOP`` are in
``test_cluster_processes.py``; Redis and PostgreSQL failures in
``test_cluster_faults.py``.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from test_cluster_support import (
    SENDER,
    Tables,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
    cluster_of,
    link,
    member,
    next_event,
    redis_log,
    simulated,
    wait_until,
)
from test_isolation_support import authenticator
from test_webhooks import SECRET as WEBHOOK_SECRET
from test_webhooks import Receiver
from wagate import (
    Account,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    Gateway,
    Hub,
    InvalidInput,
    LeaseLost,
    MessageReceived,
    MessageSent,
    NotOwner,
    Overflow,
    Pacing,
    PairingCode,
    QrGenerated,
    RateLimited,
    State,
)
from wagate.adapters.auth import Principal
from wagate.adapters.callbacks import WebhookDispatcher, WebhookEndpoint
from wagate.adapters.sse import ServerSentEvents
from wagate.cluster import Cluster, ClusterParts
from wagate.cluster._backplane import RedisBackplane
from wagate.cluster._lease import rendezvous
from wagate.cluster._wire import decode_event, encode_event

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(90)]


AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
ACCOUNT = Account(jid="628123456789@s.whatsapp.net", phone="+628123456789", name="Budi")
SAMPLE_EVENTS: list[Event] = [
    Connecting(tenant="acme", seq=1, at=AT, attempt=2),
    QrGenerated(tenant="acme", seq=2, at=AT, code="2@abc,def,ghi", expires_at=AT + timedelta(60)),
    PairingCode(tenant="acme", seq=3, at=AT, code="ABCD-EFGH", phone="+628123456789"),
    Connected(tenant="acme", seq=4, at=AT, account=ACCOUNT),
    Connected(tenant="acme", seq=5, at=AT, account=Account(jid="1@s.whatsapp.net", phone="+1")),
    MessageReceived(
        tenant="acme",
        seq=6,
        at=AT,
        id="3EB0AA",
        chat="628111222333@s.whatsapp.net",
        sender="628111222333@s.whatsapp.net",
        push_name=None,
        text="h\u00e9llo \U0001f44b\nsecond line",
        is_group=False,
        timestamp=AT - timedelta(seconds=3),
    ),
    MessageReceived(
        tenant="acme",
        seq=7,
        at=AT,
        id="3EB0AB",
        chat="120363000000000000@g.us",
        sender="628111222333@s.whatsapp.net",
        push_name="Ani",
        text=None,
        is_group=True,
        timestamp=AT,
        kind="image",
    ),
    MessageSent(
        tenant="acme", seq=8, at=AT, id="3EB0AC", to="6281@s.whatsapp.net", text="ok", success=True
    ),
    MessageSent(
        tenant="acme",
        seq=9,
        at=AT,
        id=None,
        to="6281@s.whatsapp.net",
        text="no",
        success=False,
        error="server returned error 479",
    ),
    Disconnected(
        tenant="acme", seq=10, at=AT, reason=DisconnectReason.NETWORK, will_retry=True, retry_in=1.5
    ),
    Disconnected(tenant="acme", seq=11, at=AT, reason=DisconnectReason.LOGGED_OUT, detail="x"),
    Gap(tenant="acme", seq=20, at=AT, first_seq=12, last_seq=20),
]


def owner_and_other(tenant: str, *gateways: Gateway) -> tuple[Gateway, Gateway]:
    """The member holding ``tenant`` and another one."""
    owners = [g for g in gateways if tenant in cluster_of(g).owned]
    assert len(owners) == 1, [cluster_of(g).owned for g in gateways]
    others = [g for g in gateways if g is not owners[0]]
    return owners[0], others[0]


async def test_events_of_the_owner_reach_every_member_and_commands_reach_the_owner(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """A non-owner's callbacks and hub get the owner's events in order; its commands run there."""
    async with (
        member(redis_url, cluster_database, cluster_name) as a,
        member(redis_url, cluster_database, cluster_name) as b,
    ):
        await link(a, "acme")
        owner, other = owner_and_other("acme", a, b)
        seen: list[Event] = []
        other.subscribe(seen.append, "acme", sync_in_thread=False)
        events = other.events("acme")
        await other.command("acme", "simulator.receive", {"from": SENDER, "text": "one"})
        sent = await other.send_text("acme", SENDER, "two")
        assert isinstance(sent, MessageSent)
        assert sent.success
        received = await next_event(events, lambda e: isinstance(e, MessageSent))
        assert received.seq == sent.seq
        await wait_until(lambda: any(isinstance(e, MessageSent) for e in seen))
        seqs = [e.seq for e in seen]
        assert seqs == sorted(seqs)
        assert [type(e).__name__ for e in seen][-2:] == ["MessageReceived", "MessageSent"]
        # Reads from the non-owner: the owner's own status, and what the non-owner knows.
        status = await other.status("acme")
        assert status.state is State.CONNECTED
        assert status.account is not None
        assert other.known_status("acme").state is State.CONNECTED
        assert other.get("acme") is None  # no session runs here
        assert owner.get("acme") is not None


async def test_the_owner_paces_a_tenant_whichever_member_the_sends_come_through(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Sends through two members share the owner's pacer: past it, RateLimited crosses back."""
    pacing = Pacing(per_minute=1, burst=2, daily_cap=None, max_wait=1)
    async with (
        member(redis_url, cluster_database, cluster_name, pacing=pacing) as a,
        member(redis_url, cluster_database, cluster_name, pacing=pacing) as b,
    ):
        await link(a, "acme")
        owner, other = owner_and_other("acme", a, b)
        assert (await owner.send_text("acme", SENDER, "one")).success
        assert (await other.send_text("acme", SENDER, "two")).success
        with pytest.raises(RateLimited) as refused:
            await other.send_text("acme", SENDER, "three")
        assert refused.value.retry_after > 0
        with pytest.raises(RateLimited):
            await owner.send_text("acme", SENDER, "four")


async def test_a_member_that_starts_late_knows_the_state_and_resumes_from_the_shared_log(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """A new member's hub has each tenant's current state and replays any seq from Redis."""
    async with member(redis_url, cluster_database, cluster_name) as a:
        await link(a, "acme")
        for text in ("one", "two", "three"):
            await a.command("acme", "simulator.receive", {"from": SENDER, "text": text})
        history = [e for e in a.hub.replay("acme", 0) if not isinstance(e, Gap)]
        await wait_until(lambda: len(redis_log(redis_url, cluster_name, "acme")) >= len(history))
        async with member(redis_url, cluster_database, cluster_name) as late:
            assert late.known_status("acme").state is State.CONNECTED
            # It has seen none of the tenant's events, yet a snapshot it sends is current
            # as of the newest seq in the shared log (the SSE snapshot's id).
            assert late.hub.last_seq("acme") is None
            assert await late.hub.aposition("acme") == history[-1].seq
            stream = await ServerSentEvents(late, authenticator()).aopen(
                Principal(subject="t", tenants=frozenset({"acme"})), "acme", None
            )
            snapshot = await stream.next_chunk(heartbeat=False)
            stream.close()
            assert snapshot is not None and f"id: {history[-1].seq}\n".encode() in snapshot
            after = history[1].seq
            resumed = await late.hub.resume("acme", after)
            assert resumed is not None
            replayed, live = resumed
            assert replayed == [e for e in history if e.seq > after]
            await late.command("acme", "simulator.receive", {"from": SENDER, "text": "four"})
            event = await next_event(live, lambda e: isinstance(e, MessageReceived))
            assert isinstance(event, MessageReceived)
            assert event.text == "four"
            assert event.seq > replayed[-1].seq
            # A resume from beyond the newest seq starts afresh.
            assert await late.hub.resume("acme", 10**12) is None


async def test_webhooks_are_posted_once_by_the_owner(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """With a dispatcher of the same endpoint in every member, each event is posted once."""
    receiver = Receiver().start()
    endpoint = WebhookEndpoint(url=receiver.url("/hook"), secret=WEBHOOK_SECRET)
    try:
        async with (
            member(redis_url, cluster_database, cluster_name) as a,
            member(redis_url, cluster_database, cluster_name) as b,
            WebhookDispatcher(a, [endpoint]),
            WebhookDispatcher(b, [endpoint]),
        ):
            await link(b, "acme")
            for text in ("one", "two"):
                await a.command("acme", "simulator.receive", {"from": SENDER, "text": text})
            owner, _other = owner_and_other("acme", a, b)
            events = owner.hub.local.subscribe("acme", initial=False)
            await owner.command("acme", "simulator.receive", {"from": SENDER, "text": "last"})
            last = await next_event(events, lambda e: isinstance(e, MessageReceived))
            await receiver.wait_for(lambda: any(r.seq == last.seq for r in receiver.requests))
            posted = [(r.envelope["tenant"], r.seq) for r in receiver.requests]
            assert len(posted) == len(set(posted)), posted
            texts = [
                r.envelope["data"]["text"]
                for r in receiver.requests
                if r.envelope["event"] == "message:received"
            ]
            assert texts == ["one", "two", "last"]
    finally:
        receiver.stop()


async def test_a_member_leaving_hands_its_tenants_over_without_a_new_qr(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """When the owner leaves, another member resumes its linked tenant: Connected, no QR."""
    tenants = ["acme", "globex", "initech", "umbrella", "hooli", "stark"]
    async with member(redis_url, cluster_database, cluster_name) as stays:
        async with member(redis_url, cluster_database, cluster_name) as leaves:
            for tenant in tenants:
                await link(stays, tenant)
            members = [cluster_of(stays).member, cluster_of(leaves).member]
            moved = sorted(t for t in tenants if rendezvous(t, members) == members[1])
            assert moved, "rendezvous gave the leaving member nothing: add tenants"
            await wait_until(lambda: sorted(cluster_of(leaves).owned) == moved, timeout=20)
            await wait_until(lambda: all(_connected_here(leaves, t) for t in moved), timeout=20)
            watch = {tenant: stays.hub.subscribe(tenant, initial=False) for tenant in moved}
        for tenant in moved:
            # The leaving member's last word, then the new holder's resume.
            await next_event(
                watch[tenant],
                lambda e: isinstance(e, Disconnected) and e.reason is DisconnectReason.CLOSED,
            )
            event = await next_event(
                watch[tenant], lambda e: isinstance(e, (Connected, QrGenerated))
            )
            assert isinstance(event, Connected), event
            assert tenant in cluster_of(stays).owned
        assert Tables(cluster_database, cluster_name).check_no_overlap() >= 4


async def test_a_member_that_joins_gets_its_share_of_the_tenants(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Tenants are spread again when a member joins; the moved ones resume without a QR."""
    tenants = [f"tenant-{i}" for i in range(8)]
    async with member(redis_url, cluster_database, cluster_name) as first:
        for tenant in tenants:
            await link(first, tenant)
        assert sorted(cluster_of(first).owned) == tenants
        before = {tenant: first.hub.last_seq(tenant) or 0 for tenant in tenants}
        async with member(redis_url, cluster_database, cluster_name) as second:
            members = [cluster_of(first).member, cluster_of(second).member]
            expected = sorted(t for t in tenants if rendezvous(t, members) == members[1])
            assert expected, "rendezvous gave the new member nothing: add tenants"
            await wait_until(lambda: sorted(cluster_of(second).owned) == expected, timeout=20)

            def resumed(tenant: str) -> bool:
                later = first.hub.replay(tenant, before[tenant])
                assert not any(isinstance(e, QrGenerated) for e in later), later
                return any(isinstance(e, Connected) for e in later)

            await wait_until(lambda: all(resumed(t) for t in expected), timeout=20)
            for tenant in expected:
                assert second.get(tenant) is not None
                assert (await first.status(tenant)).state is State.CONNECTED


async def test_two_clusters_on_one_redis_stay_apart(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Clusters of different names share a Redis and a database without seeing each other."""
    other_name = cluster_name + "_b"
    try:
        async with (
            member(redis_url, cluster_database, cluster_name) as mine,
            member(redis_url, cluster_database, other_name) as theirs,
        ):
            await link(mine, "acme")
            await link(theirs, "acme")
            their_events = theirs.events("acme", overflow=Overflow.GAP)
            my_events = mine.events("acme", overflow=Overflow.GAP)
            await mine.command("acme", "simulator.receive", {"from": SENDER, "text": "mine"})
            await theirs.command("acme", "simulator.receive", {"from": SENDER, "text": "theirs"})
            got = await next_event(their_events, lambda e: isinstance(e, MessageReceived))
            assert isinstance(got, MessageReceived)
            assert got.text == "theirs"
            got = await next_event(my_events, lambda e: isinstance(e, MessageReceived))
            assert isinstance(got, MessageReceived)
            assert got.text == "mine"
            assert "acme" in cluster_of(mine).owned
            assert "acme" in cluster_of(theirs).owned
    finally:
        import redis as sync_redis

        client = sync_redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{other_name}:*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_a_stale_lease_can_neither_write_nor_publish(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """After a takeover the old token's writes raise LeaseLost and Redis refuses its events."""
    async with member(redis_url, cluster_database, cluster_name, lease_ttl=2.0) as gateway:
        cluster = cluster_of(gateway)
        leases, store = cluster.leases, cluster.store
        old, new = f"{cluster.member}-old", f"{cluster.member}-new"
        # `old` is a member of its own: present on Redis as a live process is, so that
        # its tenant is not reported owner_lost (that notice is tested elsewhere).
        presence = cluster.backplane.client.pubsub()
        await presence.subscribe(cluster.router.channel(old))
        await leases.join(old)
        await store.save("acme", account=None, state=State.DISCONNECTED)
        first = await leases.claim("acme", old)
        stale = store.fenced("acme", leases.guard, ("acme", first))
        await stale.reserve_seq("acme", 100)
        with pytest.raises(NotOwner):
            await leases.claim("acme", cluster.member)

        # `old` stops renewing: once it has expired, `new` takes the tenant.
        async def old_expired() -> bool:
            return old not in await leases.live_members()

        await wait_until(old_expired, timeout=10)
        await leases.join(new)
        second = await leases.claim("acme", new)
        assert second == first + 1
        assert await leases.renew(old) is None  # evicted: a late renewal cannot revive it
        with pytest.raises(LeaseLost):
            await stale.reserve_seq("acme", 5000)
        with pytest.raises(LeaseLost):
            await stale.save("acme", account=None, state=State.CONNECTED)
        stored = await store.load("acme")
        assert stored is not None
        assert stored.seq == 100
        assert stored.state is State.DISCONNECTED
        fresh = store.fenced("acme", leases.guard, ("acme", second))
        await fresh.reserve_seq("acme", 200)
        # Redis refuses an event published with the old token once the new one published.
        backplanes = [
            RedisBackplane(
                cluster.backplane.client,
                prefix=f"{cluster_name}:",
                token_for=_always(token),
                member=lambda: "test",
                log_length=100,
                stream_length=1000,
                replay_age=timedelta(minutes=5),
                outbox=100,
            )
            for token in (second, first)
        ]
        async with anyio.create_task_group() as tg:
            for backplane in backplanes:
                backplane.hub = Hub()
                tg.start_soon(backplane.flush_forever)
            assert backplanes[0].publish(_received(201, "new owner"))
            assert await backplanes[0].flushed(5)
            assert backplanes[1].publish(_received(202, "stale owner"))
            assert await backplanes[1].flushed(5)
            tg.cancel_scope.cancel()
        assert backplanes[0].published == 1
        assert backplanes[1].refused == 1
        await presence.aclose()
        log = redis_log(redis_url, cluster_name, "acme")
        assert [(seq, token) for seq, token, _, _ in log] == [(201, second)]
        assert Tables(cluster_database, cluster_name).check_no_overlap() == 2


def _connected_here(gateway: Gateway, tenant: str) -> bool:
    session = gateway.get(tenant)
    return session is not None and session.status.connected


def _always(token: int) -> Callable[[str], int]:
    return lambda tenant: token


def _received(seq: int, text: str) -> MessageReceived:
    return MessageReceived(
        tenant="acme",
        seq=seq,
        at=datetime.now(timezone.utc),
        id=f"3EB0{seq:06d}",
        chat="628111222333@s.whatsapp.net",
        sender="628111222333@s.whatsapp.net",
        push_name=None,
        text=text,
        is_group=False,
        timestamp=AT,
    )


def test_the_wire_round_trip_of_every_event_is_exact() -> None:
    """Each kind of event comes back from the cluster encoding equal to what went in."""
    for event in SAMPLE_EVENTS:
        name, data = encode_event(event)
        assert decode_event(name, data) == event
        if isinstance(event, QrGenerated):
            assert "qrCode" not in data  # the image is rendered where it is shown only


def test_rendezvous_spreads_tenants_and_moves_only_the_new_members_share() -> None:
    """Rendezvous hashing gives every member tenants and moves few when one joins."""
    tenants = [f"t{i}" for i in range(300)]
    three = ["a", "b", "c"]
    placed = {t: rendezvous(t, three) for t in tenants}
    counts = {m: sum(1 for p in placed.values() if p == m) for m in three}
    assert all(count > 50 for count in counts.values()), counts
    four = [*three, "d"]
    moved = [t for t in tenants if rendezvous(t, four) != placed[t]]
    assert all(rendezvous(t, four) == "d" for t in moved)
    assert 30 < len(moved) < 120


def test_cluster_options_are_checked(redis_url: str, postgres_url: str) -> None:
    """A bad cluster name, URL or number, and store= beside cluster=, are refused at once."""
    with pytest.raises(InvalidInput, match="cluster name"):
        Cluster(redis_url, postgres_url, name="Bad-Name")
    with pytest.raises(InvalidInput, match="Redis URL"):
        Cluster("http://127.0.0.1:6379", postgres_url)
    with pytest.raises(InvalidInput, match="lease_ttl"):
        Cluster(redis_url, postgres_url, lease_ttl=0)
    with pytest.raises(InvalidInput, match="postgresql"):
        Cluster(redis_url, "sqlite:///x.db")
    cluster = Cluster(redis_url, postgres_url)
    with pytest.raises(InvalidInput, match="cluster"):
        Gateway(lambda tenant: None, cluster=cluster, hub=Hub())  # type: ignore[arg-type,return-value]


async def test_a_cluster_assembled_from_its_parts_holds_tenants(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Cluster(parts=...) runs on the parts it is given; URLs and parts together are refused."""
    parts = ClusterParts.from_urls(redis_url, cluster_database, name=cluster_name, lease_ttl=2)
    cluster = Cluster(parts=parts, name=cluster_name, connect_timeout=3.0)
    assert (cluster.store, cluster.leases, cluster.router) == (
        parts.store,
        parts.leases,
        parts.router,
    )
    assert cluster.lease_ttl == 2.0
    assert cluster.hub.backplane is parts.backplane
    async with Gateway(simulated, cluster=cluster) as gateway:
        await gateway.session("acme")
        assert set(cluster.owned) == {"acme"}
        assert (await gateway.status("acme")).tenant == "acme"
    with pytest.raises(InvalidInput, match="not both"):
        Cluster(redis_url, cluster_database, parts=parts)
    assert isinstance(Cluster.from_urls(redis_url, cluster_database, name=cluster_name), Cluster)


async def test_disconnects_reach_other_members_as_the_owner_saw_them(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """A logout on the owner is seen by a non-owner's subscribers, and its status says so."""
    async with (
        member(redis_url, cluster_database, cluster_name) as a,
        member(redis_url, cluster_database, cluster_name) as b,
    ):
        await link(a, "acme")
        _, other = owner_and_other("acme", a, b)
        events = other.events("acme", overflow=Overflow.GAP)
        await other.logout("acme")
        gone = await next_event(events, lambda e: isinstance(e, Disconnected))
        assert isinstance(gone, Disconnected)
        assert gone.reason.value == "logged_out"
        assert other.known_status("acme").state is State.DISCONNECTED
        assert not isinstance(other.hub.current("acme")[0], (Connected, Connecting))


async def test_a_gap_in_the_trimmed_redis_log_counts_events_not_skipped_seqs(
    redis_url: str, cluster_name: str
) -> None:
    """An owner died after seq 3, the next started at 1001: a resume from 1 misses 2 + trimmed."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    backplane = RedisBackplane(
        client,
        prefix=f"{cluster_name}:",
        token_for=_always(1),
        member=lambda: "test",
        log_length=10,
        stream_length=1000,
        replay_age=timedelta(minutes=5),
        outbox=1000,
    )
    # Redis trims `MAXLEN ~` a whole node (100 entries) at a time: enough to trim past
    # the jump.  The dead run published 1..3; the new owner 1001..1300.
    seqs = [1, 2, 3, *range(1001, 1301)]
    try:
        async with anyio.create_task_group() as tg:
            backplane.hub = Hub()
            tg.start_soon(backplane.flush_forever)
            for seq in seqs:
                assert backplane.publish(_received(seq, f"m{seq}"))
            assert await backplane.flushed(10)
            tg.cancel_scope.cancel()
        replayed = await backplane.history("acme", 1)
        assert replayed is not None
        gap, *kept = replayed
        assert isinstance(gap, Gap)
        assert gap.first_seq == 2
        assert [e.seq for e in kept] == list(range(gap.last_seq + 1, 1301))
        trimmed = [seq for seq in seqs if 1 < seq <= gap.last_seq]
        assert gap.last_seq > 1001  # the trim went past the jump
        assert gap.missed == len(trimmed)  # 2, 3, and the new owner's trimmed events
        # A gap that starts after the jump counts every seq: all were events.
        replayed = await backplane.history("acme", 1001)
        assert replayed is not None
        assert isinstance(replayed[0], Gap)
        assert replayed[0].missed == replayed[0].last_seq - 1001
    finally:
        await client.aclose()


def _backplane(client: object, cluster_name: str, member: str, **options: int) -> RedisBackplane:
    settings = {"log_length": 10_000, "stream_length": 1000, "outbox": 10_000, **options}
    return RedisBackplane(
        client,  # type: ignore[arg-type]
        prefix=f"{cluster_name}:",
        token_for=_always(1),
        member=lambda: member,
        replay_age=timedelta(minutes=5),
        **settings,
    )


def _record_seq(seqs: list[int], event: Event) -> None:
    seqs.append(event.seq)


async def _stream_events(client: Any, cluster_name: str) -> list[int]:
    """How many events each entry of the cluster's events stream holds."""
    entries: Any = await client.xrange(f"{cluster_name}:events")
    return [(len(fields[b"e"].split(b"\n")) - 1) // 2 for _, fields in entries]


async def test_a_batch_is_one_stream_entry_its_writer_skips_and_every_other_reader_decodes(
    redis_url: str, cluster_name: str
) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    writer, reader = (_backplane(client, cluster_name, m) for m in ("writer", "reader"))
    got: dict[str, list[int]] = {"writer": [], "reader": []}
    try:
        async with anyio.create_task_group() as tg:
            for name, backplane in (("writer", writer), ("reader", reader)):
                backplane.hub = Hub(backplane=backplane)
                backplane.hub.listen(functools.partial(_record_seq, got[name]))
                await backplane.start_reading()
                tg.start_soon(backplane.read)
            tg.start_soon(writer.flush_forever)
            for seq in range(1, 301):  # queued in one go: written in one call
                assert writer.publish(_received(seq, f"m{seq}"))
            assert await writer.flushed(10)
            # An event of a tenant the writer does not hold (publish_for) reaches it too.
            assert await writer.publish_for(_received(301, "for the gone owner"), 1)
            await wait_until(lambda: len(got["reader"]) == 301 and got["writer"], timeout=10)
            tg.cancel_scope.cancel()
        assert await _stream_events(client, cluster_name) == [300, 1]
        assert got["reader"] == list(range(1, 302))
        assert got["writer"] == [301]  # its own batch was skipped unread
        assert (writer.received, reader.received) == (1, 301)
        assert [seq for seq, *_ in redis_log(redis_url, cluster_name, "acme")] == got["reader"]
    finally:
        await client.aclose()


async def test_a_malformed_stream_entry_is_skipped_and_the_reader_goes_on(
    redis_url: str, cluster_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    writer, reader = (_backplane(client, cluster_name, m) for m in ("writer", "reader"))
    seen: list[int] = []
    stream = f"{cluster_name}:events"
    try:
        async with anyio.create_task_group() as tg:
            reader.hub = Hub(backplane=reader)
            reader.hub.listen(lambda e: seen.append(e.seq))
            await reader.start_reading()
            tg.start_soon(reader.read)
            tg.start_soon(writer.flush_forever)
            for bad in (
                {"x": "no e field"},
                {"e": "no events at all"},
                {"e": "w\nmessage:received"},  # a name without its data
                {"e": "w\nno:such-event\n{}\nmessage:received\n{not json"},
            ):
                await client.xadd(stream, bad)  # type: ignore[arg-type]
            assert writer.publish(_received(1, "after the bad ones"))
            assert await writer.flushed(10)
            await wait_until(lambda: seen, timeout=10)
            tg.cancel_scope.cancel()
        assert seen == [1]
        skipped = [r.getMessage() for r in caplog.records if "was skipped" in r.getMessage()]
        assert len(skipped) == 5  # three entries, and the two events of the fourth
    finally:
        await client.aclose()


@pytest.mark.parametrize("batch", [1, 7, 512], ids=lambda n: f"batches of {n}")
async def test_the_stream_keeps_about_stream_length_events_whatever_the_batches(
    redis_url: str, cluster_name: str, batch: int
) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    writer = _backplane(client, cluster_name, "writer", stream_length=500)
    try:
        async with anyio.create_task_group() as tg:
            writer.hub = Hub()
            tg.start_soon(writer.flush_forever)
            for low in range(1, 6001, batch):
                for seq in range(low, min(low + batch, 6001)):
                    assert writer.publish(_received(seq, f"m{seq}"))
                assert await writer.flushed(10)
            tg.cancel_scope.cancel()
        kept = await _stream_events(client, cluster_name)
        assert all(n == batch for n in kept[:-1])
        # `MAXLEN ~` trims whole nodes of entries: at least 500, at most a node more.
        assert 500 <= sum(kept) <= 500 + 100 * batch + 512
    finally:
        await client.aclose()
