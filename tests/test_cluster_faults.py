"""A cluster when Redis or PostgreSQL fails: at start, mid-run, with a wrong password.

Failures mid-run are made with a TCP proxy in front of the real server (the
shared servers themselves are never stopped): cutting the proxy drops every
connection and refuses new ones, as a server that went down would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from test_cluster_support import (
    SENDER,
    WAGATE,
    Proxy,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
    cluster_of,
    free_port,
    link,
    member,
    next_event,
    server_port,
    wait_until,
    with_port,
)
from wagate import (
    Connected,
    Disconnected,
    Gap,
    MessageReceived,
    MessageSent,
    NoOwner,
    Overflow,
    QrGenerated,
    State,
    StoreError,
)
from wagate.cluster import BackplaneError, check_redis
from wagate.cluster._lease import rendezvous

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]

WRONG_PASSWORD = "not-the-password-4f1c"


def _wrong_password(redis_url: str) -> str:
    # A user that does not exist: Redis answers WRONGPASS as for a wrong password
    # (the default user of a server without a password accepts any).
    return with_port(redis_url, server_port(redis_url, 6379)).replace(
        "redis://", f"redis://wagate-nobody:{WRONG_PASSWORD}@", 1
    )


async def test_redis_down_at_start_is_a_clear_error(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """A member whose Redis does not answer fails to start, saying which Redis and why."""
    nowhere = with_port(redis_url, free_port())
    with pytest.raises(BackplaneError, match=r"cannot reach Redis at redis://127\.0\.0\.1:\d+"):
        async with member(nowhere, cluster_database, cluster_name):
            pass
    with pytest.raises(BackplaneError, match="cannot reach Redis"):
        await check_redis(nowhere, timeout=2)


async def test_a_wrong_redis_password_is_a_clear_error_without_the_password(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Redis refusing the login is reported as such, and the password is never shown."""
    wrong = _wrong_password(redis_url)
    with pytest.raises(BackplaneError, match="refused the login") as caught:
        async with member(wrong, cluster_database, cluster_name):
            pass
    assert WRONG_PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workers", "2"], "--workers 2 needs --redis"),
        (["--redis", "redis://127.0.0.1:1/0"], "needs a postgresql:// --database"),
        (["--cluster-name", "Bad-Name"], "cluster name"),
        (["--lease-ttl", "0"], "use 0.5 to 3600 seconds"),
    ],
)
def test_serve_refuses_cluster_options_that_cannot_work(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    """``wagate serve`` exits 2 with one line for cluster options that cannot work together."""
    result = subprocess.run(
        [WAGATE, "serve", "--simulator", "--port", "0", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_redis_down_or_a_wrong_password_exits_2(
    redis_url: str, cluster_database: str, tmp_path: Path
) -> None:
    """``wagate serve --redis`` checks Redis first: unreachable or refused is exit 2, one line."""
    for url, expected in (
        (with_port(redis_url, free_port()), "cannot reach Redis"),
        (_wrong_password(redis_url), "refused the login"),
    ):
        result = subprocess.run(
            [
                WAGATE,
                "serve",
                "--simulator",
                "--port",
                "0",
                "--data-dir",
                str(tmp_path),
                "--redis",
                url,
                "--database",
                cluster_database,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result
        assert expected in result.stderr
        assert WRONG_PASSWORD not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


async def test_redis_down_mid_run_owners_keep_serving_and_events_catch_up(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """While Redis is cut the owner serves its tenants; its events reach the others once back.

    Commands for tenants held elsewhere fail with ``NoOwner`` meanwhile; nothing is
    lost or reordered for the other member's subscribers.
    """
    async with Proxy(server_port(redis_url, 6379)) as proxy:
        via_proxy = with_port(redis_url, proxy.port)
        async with (
            member(via_proxy, cluster_database, cluster_name) as a,
            member(via_proxy, cluster_database, cluster_name) as b,
        ):
            await link(a, "acme")
            owner, other = (a, b) if "acme" in cluster_of(a).owned else (b, a)
            local = owner.hub.subscribe("acme", initial=False)
            remote = other.hub.subscribe("acme", initial=False, overflow=Overflow.GAP)
            proxy.cut()
            texts = [f"during outage {i}" for i in range(5)]
            for text in texts:
                await owner.command("acme", "simulator.receive", {"from": SENDER, "text": text})
            sent = await owner.send_text("acme", SENDER, "sent during outage")
            assert sent.success
            # The owner's own subscribers get everything at once.
            got = [await next_event(local, lambda e: isinstance(e, MessageReceived)) for _ in texts]
            assert [e.text for e in got if isinstance(e, MessageReceived)] == texts
            # Elsewhere, a command for the tenant is a typed error, not a hang.
            with pytest.raises(NoOwner, match="Redis is unreachable"):
                await other.send_text("acme", SENDER, "via the other member")
            assert cluster_of(owner).backplane.pending > 0
            await proxy.restore()
            # Once Redis is back, the other member's subscribers catch up, in order.
            caught_up = []
            with anyio.fail_after(30):
                async for event in remote:
                    caught_up.append(event)
                    if isinstance(event, MessageSent):
                        break
            received = [e.text for e in caught_up if isinstance(e, MessageReceived)]
            assert received == texts
            seqs = [e.seq for e in caught_up]
            assert seqs == sorted(seqs)
            assert cluster_of(owner).backplane.dropped == 0
            reply = await other.send_text("acme", SENDER, "after the outage")
            assert reply.success


async def test_postgres_down_mid_run_stops_sessions_and_resumes_them_when_back(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Without PostgreSQL no lease can be renewed: sessions stop, then resume without a QR."""
    async with Proxy(server_port(cluster_database, 5432)) as proxy:
        via_proxy = with_port(cluster_database, proxy.port)
        async with (
            member(redis_url, via_proxy, cluster_name, lease_ttl=2.0) as a,
            member(redis_url, via_proxy, cluster_name, lease_ttl=2.0) as b,
        ):
            await link(a, "acme")
            owner, other = (a, b) if "acme" in cluster_of(a).owned else (b, a)
            watch = other.hub.subscribe("acme", initial=False, overflow=Overflow.GAP)
            proxy.cut()
            # Reads that need the database fail with a typed error.
            with pytest.raises(StoreError):
                await other.status("acme")
            # Before its lease could run out, the owner stops the session (and says so).
            stopped = await next_event(watch, lambda e: isinstance(e, Disconnected), timeout=20)
            assert isinstance(stopped, Disconnected)
            assert stopped.reason.value == "closed"
            await wait_until(lambda: not cluster_of(owner).owned)
            await proxy.restore()
            # Back: the tenant is taken again (by either member) and resumes without a QR.
            back = await next_event(
                watch, lambda e: isinstance(e, (Connected, QrGenerated)), timeout=30
            )
            assert isinstance(back, Connected), back
            status = await other.status("acme")
            assert status.state is State.CONNECTED


async def test_events_beyond_the_outbox_reach_the_others_as_a_gap(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Events dropped while Redis was away too long reach the others as one Gap, then the rest."""
    async with Proxy(server_port(redis_url, 6379)) as proxy:
        via_proxy = with_port(redis_url, proxy.port)
        async with (
            member(via_proxy, cluster_database, cluster_name, outbox=3) as a,
            member(via_proxy, cluster_database, cluster_name, outbox=3) as b,
        ):
            await link(a, "acme")
            owner, other = (a, b) if "acme" in cluster_of(a).owned else (b, a)
            await wait_until(lambda: cluster_of(owner).backplane.pending == 0)
            remote = other.hub.subscribe("acme", initial=False, overflow=Overflow.GAP)
            proxy.cut()
            texts = [f"m{i}" for i in range(8)]
            for text in texts:
                await owner.command("acme", "simulator.receive", {"from": SENDER, "text": text})
            assert cluster_of(owner).backplane.dropped == 5
            await proxy.restore()
            seen = []
            with anyio.fail_after(30):
                async for event in remote:
                    seen.append(event)
                    if isinstance(event, MessageReceived) and event.text == texts[-1]:
                        break
            gap = seen[0]
            assert isinstance(gap, Gap), seen
            assert gap.missed == 5
            assert [e.text for e in seen[1:] if isinstance(e, MessageReceived)] == texts[5:]
            assert gap.last_seq < seen[1].seq


async def test_a_member_cut_off_from_redis_only_is_not_reported_lost(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """Silent on Redis but renewing in PostgreSQL is alive: no owner_lost, nothing refused.

    A false owner_lost would be numbered above the seqs the live owner still uses, and
    the shared log would then refuse the owner's events of the outage.
    """
    async with (
        Proxy(server_port(redis_url, 6379)) as proxy,
        member(with_port(redis_url, proxy.port), cluster_database, cluster_name) as cut,
        member(redis_url, cluster_database, cluster_name) as other,
    ):
        members = await cluster_of(cut).leases.live_members()
        owner = cluster_of(cut).member
        tenant = next(  # a tenant that belongs to the member to cut off
            t for t in (f"acme{i}" for i in range(200)) if rendezvous(t, members) == owner
        )
        await link(cut, tenant)
        assert tenant in cluster_of(cut).owned
        await wait_until(lambda: other.known_status(tenant).state is State.CONNECTED)
        remote = other.hub.subscribe(tenant, initial=False, overflow=Overflow.GAP)
        proxy.cut()
        texts = [f"while cut off {i}" for i in range(3)]
        for text in texts:
            await cut.command(tenant, "simulator.receive", {"from": SENDER, "text": text})
        watcher = cluster_of(other)
        # Longer than it takes to report a member that is really gone.
        await anyio.sleep(watcher.interval + 2 * watcher.presence_grace)
        assert other.known_status(tenant).state is State.CONNECTED
        await proxy.restore()
        caught_up = []
        with anyio.fail_after(30):
            async for event in remote:
                caught_up.append(event)
                if isinstance(event, MessageReceived) and event.text == texts[-1]:
                    break
    assert not [e for e in caught_up if isinstance(e, Disconnected)]
    assert [e.text for e in caught_up if isinstance(e, MessageReceived)] == texts
    assert not [e for e in caught_up if isinstance(e, Gap)]
