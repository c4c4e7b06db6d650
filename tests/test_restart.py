"""Sessions survive a restart of the process: real child processes, one store.

A first process links tenants with QR codes and exits; a second one, on the same store,
resumes them to Connected with no QR code and is then killed (SIGKILL, nothing flushed);
a third resumes again.  Each process's seqs are strictly above every seq of the one
before: a seq is never reused, even after a process that died without warning.  After
a clean exit the numbering goes on by one; after the kill it skips the dead process's
reserved block, and a client resuming across the kill is not told of events that were
never published.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

pytestmark = pytest.mark.anyio

TENANTS = {"acme": "+628111000001", "beta": "+628111000002", "gamma": "+628111000003"}

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import anyio
    from wagate import Connected, Gap, Gateway, MessageReceived, QrGenerated
    from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
    from wagate.stores import store_for
    from wagate.testing import wait_for

    TENANTS = json.loads(sys.argv[3])

    def make_driver(tenant):
        return SimulatedDriver(phone=SimulatedPhone(number=TENANTS[tenant]))

    async def main(location, mode):
        history = {}
        async with Gateway(make_driver, store=store_for(location)) as gateway:
            for tenant in TENANTS:
                if mode == "link":
                    session = await gateway.session(tenant)
                    events = session.events()
                    await session.connect()
                    qr = await wait_for(events, QrGenerated, timeout=30)
                    session.driver.phone.scan(qr.code)
                else:
                    session = gateway.get(tenant)  # restored on entering the gateway
                    events = session.events()
                await wait_for(events, Connected, timeout=30)
                session.driver.phone.receive_message("+628999000111", f"hello {mode}")
                await wait_for(events, MessageReceived, timeout=30)
                history[tenant] = [
                    [type(e).__name__, e.seq]
                    for e in gateway.hub.replay(tenant, 0)
                    if not isinstance(e, Gap)  # seqs below this process's first one
                ]
            if mode == "die":
                print(json.dumps({"history": history, "stored": None}), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        async with store_for(location) as store:
            stored = {tenant: (await store.load(tenant)).seq for tenant in TENANTS}
        print(json.dumps({"history": history, "stored": stored}), flush=True)

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)

History = dict[str, list[tuple[str, int]]]

# The seq high-water mark each tenant's store row holds after a clean exit.
STORED: dict[str, dict[str, int]] = {}


async def _run(location: str, mode: str) -> tuple[History, int]:
    result = await anyio.run_process(
        [sys.executable, "-c", CHILD, location, mode, json.dumps(TENANTS)], check=False
    )
    assert result.stdout, result.stderr.decode()
    raw = json.loads(result.stdout.decode())
    history = {
        tenant: [(kind, seq) for kind, seq in events] for tenant, events in raw["history"].items()
    }
    if raw["stored"] is not None:
        STORED[mode] = raw["stored"]
    return history, result.returncode


@pytest.fixture
def postgres_location(new_postgres_database: Callable[[str], str]) -> str:
    """A throwaway PostgreSQL database for one test (dropped at the end of the run)."""
    return new_postgres_database("wagate_restart")


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return where the store lives: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "sessions.db")
    url: str = request.getfixturevalue("postgres_location")
    return url


def _seqs(history: History) -> dict[str, list[int]]:
    return {tenant: [seq for _, seq in events] for tenant, events in history.items()}


async def test_linked_tenants_resume_without_qr_and_seqs_are_never_reused(location: str) -> None:
    """Linked tenants resume in new processes with no QR; seqs keep rising past a SIGKILL."""
    with anyio.fail_after(100):
        first, code = await _run(location, "link")
        assert code == 0
        second, code = await _run(location, "die")
        assert code == -signal.SIGKILL
        third, code = await _run(location, "resume")
        assert code == 0

    assert sorted(first) == sorted(second) == sorted(third) == sorted(TENANTS)
    for tenant in TENANTS:
        kinds = [kind for kind, _ in first[tenant]]
        assert "QrGenerated" in kinds
        assert kinds.index("QrGenerated") < kinds.index("Connected")
        for later in (second, third):
            kinds = [kind for kind, _ in later[tenant]]
            assert "QrGenerated" not in kinds
            assert kinds[:2] == ["Connecting", "Connected"]
            assert "MessageReceived" in kinds

    seqs = [_seqs(run) for run in (first, second, third)]
    for tenant in TENANTS:
        for run in seqs:
            assert run[tenant] == sorted(set(run[tenant]))  # strictly increasing within a run
        assert min(seqs[1][tenant]) > max(seqs[0][tenant])
        assert min(seqs[2][tenant]) > max(seqs[1][tenant])  # the killed run's block is skipped
        # The clean exit gave back its unused seqs (its last events, the closing
        # Disconnected, came after the history was taken): the next run goes on by one.
        assert max(seqs[0][tenant]) < STORED["link"][tenant] <= max(seqs[0][tenant]) + 3
        assert min(seqs[1][tenant]) == STORED["link"][tenant] + 1
        # The killed run could not: the third run starts past its reserved block.
        assert min(seqs[2][tenant]) > max(seqs[1][tenant]) + 100


async def test_a_resume_across_a_crash_reports_no_invented_missed_events(tmp_path: Path) -> None:
    """Last-Event-ID from before a SIGKILL: a gap of unknown size, not 900 fake misses."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.routing import Route

    from test_isolation_support import authenticator, serve, token
    from test_sse import read_frames, take
    from wagate import Gap, Gateway
    from wagate.adapters.sse import ServerSentEvents
    from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
    from wagate.stores import store_for

    location = str(tmp_path / "sessions.db")
    with anyio.fail_after(100):
        _, code = await _run(location, "link")
        assert code == 0
        died, code = await _run(location, "die")
        assert code == -signal.SIGKILL
    last_seen = max(seq for _, seq in died["acme"])  # what a page had seen before the kill

    def make_driver(tenant: str) -> SimulatedDriver:
        return SimulatedDriver(phone=SimulatedPhone(number=TENANTS[tenant]))

    async with Gateway(make_driver, store=store_for(location)) as gateway:
        sse = ServerSentEvents(gateway, authenticator())
        app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
        first_seq = None
        with anyio.fail_after(30):
            while first_seq is None:  # the restored session's first event of this run
                events = gateway.hub.replay("acme", 0)
                first_seq = next((e.seq for e in events if not isinstance(e, Gap)), None)
                await anyio.sleep(0.01)
        assert first_seq > last_seen + 100  # the dead run's reserved block was skipped
        async with (
            serve(app) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            client.stream(
                "GET",
                "/events",
                headers={
                    "Authorization": f"Bearer {token('acme')}",
                    "Last-Event-ID": str(last_seen),
                },
            ) as response,
        ):
            frames = read_frames(response)
            gap, status = await take(frames, 2)
    assert gap.event == "stream:gap"
    assert (gap.data["from"], gap.data["to"]) == (last_seen + 1, first_seq - 1)
    assert gap.data["missed"] is None  # not first_seq - last_seen - 1 events that never were
    assert status.event == "connection:status"
