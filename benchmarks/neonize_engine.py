"""Figures for the real engine (NeonizeDriver on neonize 0.5.2), measured offline.

Run everything::

    .venv/bin/python benchmarks/neonize_engine.py

or one part, smaller::

    .venv/bin/python benchmarks/neonize_engine.py --only outage --attempts 300
    .venv/bin/python benchmarks/neonize_engine.py --only memory --clients 50

Every probe runs in a fresh child process (the engine's state is process-global),
and each figure is printed next to its baseline from the same run.  Nothing here
asserts anything; the tests hold the bounds.

1. outage: 1,000 failed connection attempts, offline, through a Session with the
   backoff capped low (1-4 ms), against the same number of bare neonize
   ``connect()`` + ``stop()`` calls on one client.  Open file descriptors and RSS
   before (after 10 attempts, warm) and after; how many engine connects were made.
2. memory: RSS (and Python heap, by tracemalloc) per neonize client object
   created; per NeonizeDriver after one real, failed engine connect; per
   NeonizeDriver session waiting out an outage in a Gateway; against per
   simulated session (connected) in a Gateway.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

COMMON = r"""
import gc, json, os, sys, time, tracemalloc

def fds():
    return len(os.listdir("/proc/self/fd"))

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

def snapshot():
    gc.collect()
    return {"fds": fds(), "rss": rss(), "heap": tracemalloc.get_traced_memory()[0]}

def cpu():
    return time.process_time()
"""

OUTAGE_SESSION = (
    COMMON
    + r"""
import anyio
from wagate import Backoff, Disconnected, Session
from wagate.drivers._neonize_engine import engine
from wagate.drivers.neonize import NeonizeDriver

N = int(sys.argv[1])

async def main():
    driver = NeonizeDriver(database="engine.db")
    backoff = Backoff(initial=0.001, maximum=0.004, multiplier=2, jitter=0.1)
    out = {}
    async with Session("acme", driver=driver, backoff=backoff) as session:
        await session.connect()
        seen = 0
        async for event in session.events():
            if isinstance(event, Disconnected):
                seen += 1
                if seen == 10:
                    out["before"] = snapshot()
                    wall, cpu0 = time.monotonic(), cpu()
                if seen == N:
                    break
        out["wall"] = time.monotonic() - wall
        out["cpu"] = cpu() - cpu0
        out["after"] = snapshot()
        out["engine_connects"] = engine().starts
    print(json.dumps(out))

anyio.run(main, backend="asyncio")
"""
)

OUTAGE_RAW = (
    COMMON
    + r"""
import asyncio
from wagate.drivers._neonize_engine import load_neonize

N = int(sys.argv[1])

async def main():
    nz = load_neonize()
    client = nz.client_class(os.path.abspath("engine.db"), uuid="raw", new_device=True)
    out = {}
    wall = cpu0 = 0.0
    for n in range(N):
        if n == 10:
            out["before"] = snapshot()
            wall, cpu0 = time.monotonic(), cpu()
        task = await client.connect()
        try:
            await task
        except nz.error:
            pass
        await client.stop()
        await asyncio.sleep(0.001)
    out["wall"] = time.monotonic() - wall
    out["cpu"] = cpu() - cpu0
    out["after"] = snapshot()
    out["engine_connects"] = N
    print(json.dumps(out))

asyncio.run(main())
"""
)

MEMORY = (
    COMMON
    + r"""
import anyio
from wagate import Backoff, Connected, Disconnected, Gateway, QrGenerated
from wagate.drivers._neonize_engine import WHATSAPP_ENDPOINT, engine, load_neonize
from wagate.drivers.neonize import NeonizeDriver
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

MODE, N = sys.argv[1], int(sys.argv[2])

class Sink:
    def qr(self, code, valid_for): pass
    def connected(self, account): pass
    def message(self, message): pass

async def main():
    keep = []
    if MODE.startswith("neonize"):
        load_neonize()  # the library itself is not part of the per-client figure
        warm = NeonizeDriver(database="engine.db")
        await warm.run(Sink(), resume=None)  # loads the engine, creates its tables
        keep.append(warm)
    tracemalloc.start()
    before = snapshot()
    if MODE == "neonize-client":
        nz = load_neonize()
        props = nz.device_props(os="wagate")
        for n in range(N):
            keep.append(nz.client_class(os.path.abspath("engine.db"), uuid=f"c{n}",
                                        props=props, new_device=True))
    elif MODE == "neonize-failed-connect":
        for n in range(N):
            driver = NeonizeDriver(database="engine.db")
            engine().dial_result(WHATSAPP_ENDPOINT, ok=True)  # a real engine connect each
            await driver.run(Sink(), resume=None)
            keep.append(driver)
    elif MODE in ("neonize-session", "simulated-session"):
        if MODE == "simulated-session":
            factory = lambda tenant: SimulatedDriver(phone=SimulatedPhone(), seed=1)
        else:
            factory = lambda tenant: NeonizeDriver(database="engine.db")
        gateway = Gateway(factory, backoff=Backoff(initial=30, maximum=60))
        await gateway.__aenter__()
        keep.append(gateway)
        for n in range(N):
            session = await gateway.session(f"t{n}")
            events = session.events()
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    session.driver.phone.scan(event.code)
                elif isinstance(event, (Connected, Disconnected)):
                    break
            events.close()
    after = snapshot()
    print(json.dumps({"before": before, "after": after, "n": N,
                      "connects": engine().starts if MODE.startswith("neonize") else 0}))

anyio.run(main, backend="asyncio")
"""
)


def child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (in a scratch directory) and return its JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:8.2f} MiB"


def kib(n: float) -> str:
    return f"{n / 1024:8.1f} KiB"


def outage(attempts: int) -> None:
    print(f"\n== outage: {attempts} failed connects, offline ==")
    rows = [
        ("NeonizeDriver in a Session (backoff 1-4 ms)", child(OUTAGE_SESSION, str(attempts))),
        ("bare neonize connect()+stop(), one client", child(OUTAGE_RAW, str(attempts))),
    ]
    print(
        f"{'':46} {'engine connects':>15} {'fds before':>10} {'fds after':>9}"
        f" {'RSS before':>12} {'RSS after':>12} {'CPU s':>6} {'wall s':>7}"
    )
    for name, data in rows:
        before, after = data["before"], data["after"]
        print(
            f"{name:46} {data['engine_connects']:>15} {before['fds']:>10} {after['fds']:>9}"
            f" {mib(before['rss']):>12} {mib(after['rss']):>12}"
            f" {data['cpu']:>6.2f} {data['wall']:>7.2f}"
        )
    session, raw = rows[0][1], rows[1][1]
    print(
        f"file descriptors gained over the measured attempts: driver "
        f"{session['after']['fds'] - session['before']['fds']}, bare neonize "
        f"{raw['after']['fds'] - raw['before']['fds']}; RSS gained: driver "
        f"{mib(session['after']['rss'] - session['before']['rss']).strip()}, bare neonize "
        f"{mib(raw['after']['rss'] - raw['before']['rss']).strip()}"
    )


def memory(clients: int) -> None:
    print(f"\n== memory per client or session ({clients} each, fresh process per row) ==")
    modes = [
        ("neonize client object, created", "neonize-client"),
        ("NeonizeDriver after one real failed connect", "neonize-failed-connect"),
        ("NeonizeDriver session waiting out an outage", "neonize-session"),
        ("simulated session, connected (baseline)", "simulated-session"),
    ]
    results = {}
    print(f"{'':46} {'RSS / each':>14} {'Python heap / each':>19} {'fds / each':>10}")
    for name, mode in modes:
        data = child(MEMORY, mode, str(clients))
        n = data["n"]
        before, after = data["before"], data["after"]
        per_rss = (after["rss"] - before["rss"]) / n
        per_heap = (after["heap"] - before["heap"]) / n
        per_fd = (after["fds"] - before["fds"]) / n
        results[mode] = per_rss
        print(f"{name:46} {kib(per_rss):>14} {kib(per_heap):>19} {per_fd:>10.2f}")
    base = results["simulated-session"] or 1.0
    ratios = ", ".join(f"{mode} {results[mode] / base:.2f}x" for _, mode in modes[:-1])
    print(f"RSS per item against a simulated session: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["outage", "memory"])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {time.strftime('%F')}")
    if args.only in (None, "outage"):
        outage(args.attempts)
    if args.only in (None, "memory"):
        memory(args.clients)


if __name__ == "__main__":
    main()
