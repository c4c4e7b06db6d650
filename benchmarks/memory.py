"""Memory and start-up at scale: bytes per idle linked tenant, per open connection; restore time.

Run every part with the issue's sizes (about 4 minutes on 2 CPUs)::

    .venv/bin/python benchmarks/memory.py

or a part of them, smaller (``--help`` lists every option)::

    .venv/bin/python benchmarks/memory.py --only connections --connections 500 5000

Every probe runs in a fresh child process of this script, so that nothing measured
before (another probe's heap, its tracing) blurs its figures.  "RSS" is the resident
set size from ``/proc/self/status`` read by the measured process itself, after
``malloc_trim(0)`` hands glibc's free heap back to the OS (free memory held since
before the baseline would otherwise absorb part of the growth, and small counts
would look cheaper than large ones).  KiB = 1,024 bytes.  "Traced" is what
tracemalloc counts (Python's allocations only, without the allocator's overhead).
Nothing here asserts anything: the figures are measurements (the machine may be
shared, and then they are noisy).

1. tenants: N idle simulated tenants (a ``SimulatedDriver`` each, one
   ``SimulatedClock`` never advanced) in one :class:`wagate.Gateway`, created,
   connected and linked by a QR scan: what ``benchmarks/core.py``'s memory part
   measures, at each of ``--tenants`` (1,000 and 10,000).  Per tenant = (memory
   with N linked tenants - memory of the empty Gateway) / N, once as RSS and once
   traced (separate processes); the ratio of the largest count's figure to the
   smallest's says whether the cost is flat (1.0).  Where the bytes go: a run on
   ``--site-tenants`` tenants with 25-frame tracebacks charges each allocation to
   the innermost wagate source line on its stack (with everything anyio and asyncio
   allocate for that line), and lists the biggest sites per tenant.
2. connections: a server process (uvicorn on 127.0.0.1, an OS port, uvloop) with a
   Gateway of ``--rooms`` connected simulated tenants, restored from a store that
   holds them as linked, and one transport: SSE
   (:class:`wagate.adapters.sse.ServerSentEvents`) or Socket.IO
   (:class:`wagate.adapters.socketio.SocketIOAdapter` over python-socketio, the
   websocket transport).  The clients are another process
   (``benchmarks/transports.py --client``: raw HTTP SSE streams and raw Engine.IO
   websockets on asyncio sockets), spread evenly over the tenants.  The server
   first serves one client per tenant and lets them go (a warm-up: imports, caches),
   then reads its RSS, lets the client process open every connection and waits
   until each has its welcome snapshot, and reads its RSS again: per connection =
   the RSS growth / connections, at each of ``--connections`` (1,000 and 10,000),
   each in a fresh server.  Each tenant then receives one message, which every
   client must get (the connections are live).  Both processes raise their
   RLIMIT_NOFILE soft limit to the hard limit (the client inherits the server's).
   Where the bytes go: a server with tracemalloc (25 frames) holding
   ``--site-connections``; each allocation is charged to the innermost line on its
   stack that is not the standard library's or anyio's (so a task, a queue or a lock
   is charged to the uvicorn, engineio, websockets or wagate line that made it), and
   the traced bytes are summed per package (per module for wagate).
3. start-up: a SQLite session store (:class:`wagate.SQLiteStore`, what ``wagate
   serve`` uses) holding N linked tenants (written with the store's own ``save``,
   as a session does when it links), then a Gateway over a fresh store object on
   that file with one SimulatedDriver per tenant whose phone still holds the link,
   so each tenant resumes without a QR code, as ``wagate serve`` restores them.
   Timed from entering the Gateway (the store opens, every linked tenant is loaded,
   its seqs reserved and its session connected) until every tenant's ``Connected``
   event has been published on the hub; "restored" is when ``async with`` returned.
   Linearity = (time at the largest N / time at the smallest) / (largest N /
   smallest N): 1.0 is linear, below is better.  Closing the Gateway is timed too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import linecache
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

# Siblings of this script (a script run from benchmarks/ has this folder on sys.path
# first; transports pops it when imported, so core comes first).  With ``python -P``
# the folder is not on the path: it is added at the end.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import core
import transports
from starlette.applications import Starlette
from starlette.routing import Route

import wagate
from wagate import Connected, Gateway, Hub, MemoryStore, Overflow, SessionStore, SQLiteStore, State
from wagate.adapters.auth import JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents
from wagate.drivers.simulator import SimulatedDrivers, SimulatedPhone

KIB = 1024
SENDER = "628111222333"


def kib(value: float) -> str:
    return f"{value / KIB:,.1f} KiB"


def mib(value: float) -> str:
    return f"{value / KIB / KIB:,.1f} MiB"


def run_child(*arguments: str) -> dict[str, Any]:
    """Run this script as a child with ``arguments``; its last stdout line, parsed."""
    command = [sys.executable, __file__, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        print(done.stdout + done.stderr)
        raise RuntimeError(f"the child {' '.join(arguments)} failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ratio_line(what: str, figures: dict[int, float]) -> str:
    """``what`` at the largest count over the smallest: 1.0 is flat."""
    low, high = min(figures), max(figures)
    return (
        f"{what} per unit at {high:,} / at {low:,}: {figures[high] / figures[low]:.2f} (1.0 = flat)"
    )


def show_sites(sites: dict[str, Any], count: int, unit: str) -> None:
    parts = ", ".join(
        f"{name} {size / count:+,.0f} B"
        for name, size in sorted(sites["parts"].items(), key=lambda item: -abs(item[1]))
    )
    print(f"  by part, per {unit}: {parts}")
    for site, size, blocks in sites["sites"]:
        print(f"    {size / count:>+8,.0f} B {blocks / count:>+5.1f} blocks  {site}")


# ---------------------------------------------------------------------------------
# 1. idle linked tenants: core.py's probe, at several counts


def bench_tenants(args: argparse.Namespace) -> list[str]:
    core.heading("1. idle linked tenants in one Gateway")
    counts: list[int] = args.tenants
    rss: dict[int, float] = {}
    traced: dict[int, float] = {}
    print(f"  {'tenants':>8} {'RSS growth':>12} {'RSS/tenant':>12} {'traced/tenant':>14}  (s)")
    for count in counts:
        started = time.perf_counter()
        grown = run_child("--child-tenants", "rss", str(count))["stages"]["connected"]
        measured = run_child("--child-tenants", "tracemalloc", str(count))["stages"]["connected"]
        rss[count], traced[count] = grown / count, measured / count
        print(
            f"  {count:>8,} {mib(grown):>12} {kib(rss[count]):>12} {kib(traced[count]):>14}"
            f"  ({time.perf_counter() - started:.0f})",
            flush=True,
        )
    lines = [
        "tenants: RSS per idle linked tenant "
        + ", ".join(f"{kib(rss[c])} at {c:,}" for c in counts)
        + f"; traced {', '.join(kib(traced[c]) for c in counts)}",
        "  " + ratio_line("RSS", rss) + "; " + ratio_line("traced", traced).split(": ", 1)[1],
    ]
    print("\n" + "\n".join(lines))

    sites = args.site_tenants
    started = time.perf_counter()
    found = run_child("--child-tenants", "sites", str(sites), "--top", str(args.top))
    print(
        f"\n  where a linked tenant's bytes go ({sites:,} tenants, tracemalloc 25 frames, "
        f"{time.perf_counter() - started:.0f} s;\n  site = innermost wagate line with all it "
        "allocates; blocks = allocations):"
    )
    show_sites(found["sites"]["linked"], sites, "tenant")
    return lines


def tenants_child(probe: str, count: int, top: int) -> dict[str, Any]:
    result: dict[str, Any] = anyio.run(core.memory_child, count, probe, top)
    return result


# ---------------------------------------------------------------------------------
# shared by parts 2 and 3: tenants that a store holds as linked


def raise_fd_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to its hard limit; the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def tenant_names(count: int) -> list[str]:
    return [f"tenant-{i:05d}" for i in range(count)]


async def link_in_store(store: SessionStore, names: Sequence[str]) -> dict[str, SimulatedPhone]:
    """Save each tenant as linked to its own phone, as a session does when it links.

    The phones (which hold the link on their side) are returned for the drivers.
    """
    phones = {name: SimulatedPhone(number=f"+62812{i:08d}") for i, name in enumerate(names)}
    async with store:
        for name, phone in phones.items():
            await store.save(name, account=phone.account, state=State.CONNECTED)
    return phones


@contextlib.asynccontextmanager
async def restored(
    store: SessionStore, phones: dict[str, SimulatedPhone]
) -> AsyncIterator[tuple[Gateway, float, float]]:
    """Enter a Gateway that restores ``phones``' tenants from ``store``; wait for each.

    Yields the gateway, the seconds until ``async with`` returned and until every
    tenant's ``Connected`` had been published.
    """
    hub = Hub(all_buffer=4 * len(phones) + 1024)
    subscription = hub.subscribe(None, overflow=Overflow.RAISE)
    everyone = anyio.Event()
    remaining = set(phones)

    async def watch() -> None:
        async for event in subscription:
            if isinstance(event, Connected):
                remaining.discard(event.tenant)
                if not remaining:
                    everyone.set()

    drivers = SimulatedDrivers(phone=phones.__getitem__)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        started = time.perf_counter()
        async with Gateway(drivers, store=store, hub=hub) as gateway:
            entered = time.perf_counter() - started
            await everyone.wait()
            connected = time.perf_counter() - started
            subscription.close()
            yield gateway, entered, connected


# ---------------------------------------------------------------------------------
# 2. open connections: a server child per transport and count


def package(filename: str) -> str:
    """What an allocation site's file belongs to: a wagate module, else its package."""
    short = core.short_path(filename)
    if short.startswith("wagate/"):
        return "wagate " + short.split("/", 2)[1].removesuffix(".py")
    if short.startswith("python3"):
        return "stdlib"
    if short.startswith(("<", "/")):
        return "other"  # <frozen ...>, <unknown>, a file outside the environment
    return short.split("/", 1)[0].removesuffix(".py")


GENERIC = ("stdlib", "anyio", "other")
"""Machinery that allocates on behalf of whoever calls it (tasks, locks, queues)."""


def connection_site(frames: Sequence[tracemalloc.Frame]) -> tuple[str, int]:
    """Where a connection's allocation is charged: the innermost frame of a library.

    Frames of generic machinery (the standard library, anyio) are skipped outwards,
    so that a queue or a task is charged to the library line that made it (uvicorn,
    engineio, websockets, a wagate module).  Innermost frame first.
    """
    for frame in frames:
        if package(frame.filename) not in GENERIC:
            return frame.filename, frame.lineno
    return frames[0].filename, frames[0].lineno


def client_specs(kind: str, secret: str, names: Sequence[str], count: int) -> list[dict[str, Any]]:
    """``count`` clients spread evenly over the tenants, as transports' client wants them."""
    tokens = {name: transports.token(secret, name) for name in names}
    chosen = [tokens[names[i % len(names)]] for i in range(count)]
    return [{"token": t} if kind == "sse" else {"auth": {"token": t}} for t in chosen]


async def server_child(kind: str, count: int, rooms: int, trace: bool, top: int) -> dict[str, Any]:
    """Serve ``kind`` and measure what ``count`` open connections add to this process."""
    limit = raise_fd_limit()
    secret = secrets.token_urlsafe(32)
    names = tenant_names(rooms)
    store = MemoryStore()
    phones = await link_in_store(store, names)
    auth = JWTAuthenticator(secret)
    async with contextlib.AsyncExitStack() as stack:
        gateway, _, _ = await stack.enter_async_context(restored(store, phones))
        if kind == "sse":
            sse = ServerSentEvents(gateway, auth)
            app: Any = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
        else:
            adapter = SocketIOAdapter(gateway, auth, ping_interval=60, ping_timeout=60)
            await stack.enter_async_context(adapter)
            app = adapter.asgi_app()
        port = await stack.enter_async_context(transports.serve(app))
        specs = client_specs(kind, secret, names, count)

        async def hold(clients: list[dict[str, Any]], measure: bool) -> dict[str, Any]:
            """Open ``clients``, measure, send each tenant a message, let them go."""
            config = {
                "kind": "sse" if kind == "sse" else "sio",
                "port": port,
                "clients": clients,
                "expect": len(clients),
                "latency": False,
            }
            figures: dict[str, Any] = {}
            gc.collect()
            before = tracemalloc.take_snapshot() if measure and trace else None
            baseline = core.rss_bytes()
            async with transports.ClientProcess(config) as proc:
                await proc.line()  # every connection open and welcomed
                await anyio.sleep(0.5)  # the last welcomes' writes complete
                gc.collect()
                figures["rss"] = core.rss_bytes() - baseline
                if before is not None:
                    snapshot = tracemalloc.take_snapshot()
                    figures["traced"] = sum(
                        stat.size_diff for stat in snapshot.compare_to(before, "filename")
                    )
                    ranked, parts = core.top_sites(snapshot, before, top, package, connection_site)
                    figures["sites"] = {
                        "sites": [(core.describe(f, n), s, c) for f, n, s, c in ranked],
                        "parts": parts,
                    }
                    del snapshot, before
                for name in names:
                    phones[name].receive_message(SENDER, "hello")
                done = await proc.line()
            if done["received"] != len(clients):
                raise RuntimeError(f"{kind}: {done['received']} of {len(clients)} delivered")
            return figures

        await hold(specs[:rooms], measure=False)  # the warm-up
        if trace:
            for module in list(sys.modules.values()):  # read the source before tracing
                filename = getattr(module, "__file__", None) or ""
                if filename.endswith(".py"):
                    linecache.getlines(filename)
            tracemalloc.start(25)
        figures = await hold(specs, measure=True)
        tracemalloc.stop()
    return {"kind": kind, "connections": count, "fd_limit": limit, **figures}


def bench_connections(args: argparse.Namespace) -> list[str]:
    core.heading("2. open SSE / Socket.IO connections to one server")
    counts: list[int] = args.connections
    rooms: int = args.rooms
    print(
        f"  server: uvicorn + uvloop, a Gateway of {rooms} connected simulated tenants; clients "
        "in another process;\n  per connection = server RSS growth / connections "
        "(after a warm-up of one client per tenant)"
    )
    print(f"  {'transport':<10} {'connections':>11} {'RSS growth':>12} {'RSS/connection':>15}  (s)")
    lines: list[str] = []
    labels = {"sse": "SSE", "sio": "Socket.IO"}
    for kind in args.transports:
        per: dict[int, float] = {}
        for count in counts:
            started = time.perf_counter()
            result = run_child("--child-server", kind, str(count), "--rooms", str(rooms))
            per[count] = result["rss"] / count
            print(
                f"  {labels[kind]:<10} {count:>11,} {mib(result['rss']):>12} "
                f"{kib(per[count]):>15}  ({time.perf_counter() - started:.0f})",
                flush=True,
            )
        lines.append(
            f"connections: {labels[kind]} server RSS per open connection "
            + ", ".join(f"{kib(per[c])} at {c:,}" for c in counts)
        )
        lines.append("  " + ratio_line(f"{labels[kind]} RSS", per))
    print("\n" + "\n".join(lines))

    sites = args.site_connections
    for kind in args.transports:
        started = time.perf_counter()
        result = run_child(
            "--child-server", kind, str(sites), "--rooms", str(rooms), "--trace", "--top",
            str(args.top),
        )  # fmt: skip
        print(
            f"\n  where a {labels[kind]} connection's bytes go in the server ({sites:,} "
            f"connections, tracemalloc 25 frames, {time.perf_counter() - started:.0f} s):\n"
            f"  traced {kib(result['traced'] / sites)} per connection, RSS (inflated by the "
            f"tracing) {kib(result['rss'] / sites)};\n  site = the innermost line of a "
            "library (uvicorn, engineio, websockets, wagate...), past stdlib's and anyio's:"
        )
        show_sites(result["sites"], sites, "connection")
    return lines


# ---------------------------------------------------------------------------------
# 3. start-up with linked tenants restored


async def startup_child(count: int) -> dict[str, Any]:
    """Fill a SQLite store with ``count`` linked tenants, then time their restore."""
    names = tenant_names(count)
    with tempfile.TemporaryDirectory(prefix="wagate-bench-") as directory:
        path = Path(directory) / "sessions.db"
        phones = await link_in_store(SQLiteStore(path), names)
        gc.collect()
        async with restored(SQLiteStore(path), phones) as (gateway, entered, connected):
            if len(gateway.local_sessions) != count:
                raise RuntimeError(f"{len(gateway.local_sessions)} of {count} sessions restored")
            closing = time.perf_counter()
        closed = time.perf_counter() - closing
    return {"tenants": count, "entered": entered, "connected": connected, "closed": closed}


def bench_startup(args: argparse.Namespace) -> list[str]:
    core.heading("3. start-up with linked tenants restored from a SQLite store")
    counts: list[int] = args.startup
    print(
        f"  {'tenants':>8} {'restored':>9} {'all connected':>14} {'per tenant':>11} "
        f"{'closing':>8}  (s, wall)"
    )
    seconds: dict[int, float] = {}
    for count in counts:
        result = run_child("--child-startup", str(count))
        seconds[count] = result["connected"]
        print(
            f"  {count:>8,} {result['entered']:>9.2f} {result['connected']:>14.2f} "
            f"{result['connected'] / count * 1e3:>8.2f} ms {result['closed']:>8.2f}",
            flush=True,
        )
    low, high = min(counts), max(counts)
    linearity = seconds[high] / seconds[low] / (high / low)
    line = (
        f"start-up: every linked tenant connected in {seconds[low]:.2f} s at {low:,}, "
        f"{seconds[high]:.2f} s at {high:,}; (t{high:,}/t{low:,})/{high / low:g} = "
        f"{linearity:.2f} ({'linear or better' if linearity <= 1.0 else 'superlinear'}"
        " if <= 1.0)"
    )
    print("\n" + line)
    return [line]


# ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parts = ("tenants", "connections", "startup")
    parser.add_argument(
        "--only", nargs="+", choices=parts, default=list(parts), help="run only these parts"
    )
    parser.add_argument("--top", type=int, default=12, help="allocation sites shown (12)")
    tenants = parser.add_argument_group("1. tenants")
    tenants.add_argument(
        "--tenants", type=int, nargs="+", default=[1_000, 10_000], help="counts (1000 10000)"
    )
    tenants.add_argument(
        "--site-tenants", type=int, default=500, help="tenants of the (slow) sites run (500)"
    )
    connections = parser.add_argument_group("2. connections")
    connections.add_argument(
        "--connections", type=int, nargs="+", default=[1_000, 10_000], help="counts (1000 10000)"
    )
    connections.add_argument(
        "--transports", nargs="+", choices=("sse", "sio"), default=["sse", "sio"],
        help="sse and/or sio (Socket.IO)",
    )  # fmt: skip
    connections.add_argument(
        "--rooms", type=int, default=100, help="connected tenants of the server (100)"
    )
    connections.add_argument(
        "--site-connections",
        type=int,
        default=300,
        help="connections of the (slow, traced) sites run (300; at 1,000 the traced "
        "server is too slow for the websocket clients' keepalive)",
    )
    startup = parser.add_argument_group("3. start-up")
    startup.add_argument(
        "--startup", type=int, nargs="+", default=[1_000, 10_000], help="counts (1000 10000)"
    )
    parser.add_argument("--child-tenants", nargs=2, metavar=("PROBE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--child-server", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-startup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("tenants", "connections", "startup"):
        values: list[int] = getattr(args, name)
        if len(values) < 2 or min(values) < 1:
            parser.error(f"--{name} takes two or more counts, each at least 1")
    for name in ("site_tenants", "site_connections", "rooms", "top"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] | None = None
    if args.child_tenants is not None:
        probe, count = args.child_tenants
        result = tenants_child(probe, int(count), args.top)
    elif args.child_server is not None:
        kind, count = args.child_server
        result = anyio.run(
            server_child,
            kind,
            int(count),
            args.rooms,
            args.trace,
            args.top,
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    elif args.child_startup is not None:
        result = anyio.run(startup_child, args.child_startup)
    if result is not None:
        print(json.dumps(result))
        return 0

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    print(
        f"wagate {wagate.__version__} memory and start-up | Python "
        f"{platform.python_version()} | {os.cpu_count()} CPUs | load average "
        f"{os.getloadavg()[0]:.1f} | RLIMIT_NOFILE hard limit {hard:,}"
    )
    started = time.perf_counter()
    lines: list[str] = []
    if "tenants" in args.only:
        lines += bench_tenants(args)
    if "connections" in args.only:
        lines += bench_connections(args)
    if "startup" in args.only:
        lines += bench_startup(args)
    core.heading(f"summary ({time.perf_counter() - started:.0f} s)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
