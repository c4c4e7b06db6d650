"""ProcessDriver: from SIGKILL of the engine process to every session Connected again.

Run it::

    .venv/bin/python benchmarks/process_driver.py            # 100 sessions, 3 rounds each
    .venv/bin/python benchmarks/process_driver.py --sessions 20 --rounds 1

One :class:`wagate.Gateway` holds N simulated sessions whose drivers run in one
child process (``ProcessDriver.factory``).  Every session is linked (QR code
scanned by the simulated phone in the child), then the child is killed with
SIGKILL.  The clock starts at the kill and records when every session has
reported ``Disconnected(engine_crashed)`` and when every one is ``Connected``
again, through a new child, without a QR code.

The figure depends on the sessions' reconnect backoff: after a crash a session
waits ``Backoff.delay(1)`` (``initial`` ± jitter) before it tries again.  Each
round is run with the default backoff (1 s ± 20 %) and with a low one (50 ms),
and the longest wait drawn is printed next to the total, so the cost of the
machinery itself (new child, re-creating N drivers, N resumes over the pipe) is
the difference.  Nothing here asserts a timing (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import statistics
import time

import anyio

from wagate import Backoff, Connected, Disconnected, DisconnectReason, Gateway, QrGenerated
from wagate.drivers.process import EngineProcess, ProcessDriver
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone


def simulated(tenant: str) -> SimulatedDriver:
    """Build a tenant's simulated driver (runs in the child), one phone number per tenant."""
    number = "+62812" + tenant.removeprefix("t").zfill(7)
    return SimulatedDriver(phone=SimulatedPhone(number=number, name=tenant))


async def link_all(gateway: Gateway, tenants: list[str]) -> None:
    events = gateway.events()
    for tenant in tenants:
        await (await gateway.session(tenant)).connect()
    connected: set[str] = set()
    with anyio.fail_after(120):
        async for event in events:
            if isinstance(event, QrGenerated):
                session = gateway.get(event.tenant)
                assert session is not None
                await session.driver.call("phone.scan", event.code)  # type: ignore[attr-defined]
            elif isinstance(event, Connected):
                connected.add(event.tenant)
                if len(connected) == len(tenants):
                    break
    events.close()


async def crash_round(gateway: Gateway, process: EngineProcess, count: int) -> tuple[float, ...]:
    """Kill the child; return (s to all crashed, s to all connected, longest backoff drawn)."""
    events = gateway.events()
    crashed: dict[str, float] = {}
    back: set[str] = set()
    all_crashed = 0.0
    pid = process.pid
    assert pid is not None
    start = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    with anyio.fail_after(120):
        async for event in events:
            if isinstance(event, Disconnected) and event.reason is DisconnectReason.ENGINE_CRASHED:
                crashed[event.tenant] = event.retry_in or 0.0
                if len(crashed) == count:
                    all_crashed = time.perf_counter() - start
            elif isinstance(event, Connected) and event.tenant in crashed:
                back.add(event.tenant)
                if len(back) == count:
                    break
    total = time.perf_counter() - start
    events.close()
    assert process.pid not in (None, pid)
    return all_crashed, total, max(crashed.values())


async def main(sessions: int, rounds: int) -> None:
    tenants = [f"t{i}" for i in range(sessions)]
    print(f"ProcessDriver: {sessions} simulated sessions in one child process, killed with SIGKILL")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print()
    header = f"{'backoff':<26}{'round':>6}{'all crashed':>14}{'all Connected':>16}"
    print(f"{header}{'longest wait':>15}{'machinery':>12}")
    for label, backoff in (
        ("default (1 s ± 20 %)", Backoff()),
        ("low (50 ms ± 20 %)", Backoff(initial=0.05, maximum=1.0)),
    ):
        process = ProcessDriver.factory(simulated)
        async with Gateway(process, backoff=backoff) as gateway:
            began = time.perf_counter()
            await link_all(gateway, tenants)
            linked = time.perf_counter() - began
            totals = []
            for number in range(1, rounds + 1):
                crashed, total, wait = await crash_round(gateway, process, sessions)
                totals.append(total)
                print(
                    f"{label:<26}{number:>6}{crashed * 1000:>11.1f} ms{total * 1000:>13.1f} ms"
                    f"{wait * 1000:>12.1f} ms{(total - wait) * 1000:>9.1f} ms"
                )
            print(
                f"{label:<26}{'median':>6}{'':>14}{statistics.median(totals) * 1000:>13.1f} ms"
                f"   (linking all {sessions} first took {linked:.2f} s;"
                f" children started: {process.starts})"
            )
    print()
    print("machinery = all Connected - longest backoff wait drawn: new child, drivers, resumes")


if __name__ == "__main__":
    # The crash warnings wagate logs (one per kill) would interleave with the table.
    logging.getLogger("wagate").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    anyio.run(main, arguments.sessions, arguments.rounds)
