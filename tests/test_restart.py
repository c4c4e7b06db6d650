"""Sessions survive a restart of the process: real child processes, one store.

A first process links tenants with QR codes and exits; a second one, on the same store,
resumes them to Connected with no QR code and is then killed (SIGKILL, nothing flushed);
a third resumes again.  Each process's seqs are strictly above every seq of the one
before: a seq is never reused, even after a process that died without warning.
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
            print(json.dumps(history), flush=True)
            if mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)

History = dict[str, list[tuple[str, int]]]


async def _run(location: str, mode: str) -> tuple[History, int]:
    result = await anyio.run_process(
        [sys.executable, "-c", CHILD, location, mode, json.dumps(TENANTS)], check=False
    )
    assert result.stdout, result.stderr.decode()
    raw = json.loads(result.stdout.decode())
    history = {tenant: [(kind, seq) for kind, seq in events] for tenant, events in raw.items()}
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
