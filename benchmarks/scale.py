"""Scale figures of issue 16: SSE resume of 2,000 streams at once, and QR latency under load.

Run: ``python benchmarks/scale.py [--tenants 1000] [--streams-per-tenant 2] [--only resume,qr]``

One server process (this one: uvicorn on 127.0.0.1, OS ports, uvloop) hosts a
wagate :class:`~wagate.Gateway` of simulated tenants (a
:class:`~wagate.drivers.simulator.SimulatedDriver` and :class:`SimulatedPhone`
each, the default :class:`~wagate.Hub`) behind the wagate SSE endpoint
(:class:`~wagate.adapters.sse.ServerSentEvents`) and, for part B, the Socket.IO
adapter (:class:`~wagate.adapters.socketio.SocketIOAdapter`).  Every stream is
authenticated for its tenant with a JWT (:class:`JWTAuthenticator`, HS256, a
secret made per run).  One client process (this script with ``--client``) holds
the streams: raw asyncio sockets speaking HTTP/1.1 (chunked ``text/event-stream``)
and raw Engine.IO websockets, so the clients cost as little as possible.  Both
processes share the machine: the figures include the client's cost, and whatever
else runs there.  Nothing is asserted about timings.

A. SSE resume at scale.  ``--tenants`` tenants, linked (connected), with
   ``--streams-per-tenant`` SSE streams each (2,000 by default).  Each tenant's
   events are messages its contact writes (``SimulatedPhone.receive_message``),
   so they go driver -> session -> hub as in production; a hub listener records
   every seq of every tenant, the truth the streams are checked against.

   - live: each tenant publishes ``--events`` (K) messages; *live time* is from
     the first publish to the last stream receiving its K-th event (best of
     ``--live-rounds`` bursts; every burst is checked exactly-once too).
   - resume: every stream closes its socket; once the server has closed all of
     them, each tenant publishes K more (missed) messages; then every stream
     reconnects at once with ``Last-Event-ID`` = the last id it received, while
     each tenant goes on publishing ``--during`` more, one round every
     ``--during-pace`` seconds.  Each stream's ids after the reconnect are
     compared with the hub's record: *expected* = the tenant's seqs after its
     Last-Event-ID, up to the last one published; *missing*, *duplicated*,
     *out of order* (an id not above the one before), *unexpected* (not a seq of
     the tenant after Last-Event-ID) and ``stream:gap`` frames are counted (each
     must be 0).  *Replay drain time* is from the client starting the reconnect
     to the last stream having received the last of its K missed events; the
     ratio is replay drain time / live time, for the same events to the same
     number of streams (the replay also pays for 2,000 TCP connects, HTTP
     requests and JWT checks, and shares the time with the events published
     during the reconnect).  The hub keeps ``Hub(buffer=...)`` = 1,024 events
     per tenant by default; the script refuses a K that would not fit.

B. QR latency under load.  Tenants wait for a scan (session connected, no
   scan); each has its own :class:`SimulatedClock`, which the script advances to
   expire the tenant's QR code, so the driver shows the next one (what WhatsApp
   does every 20 s).  Latency of one delivery = the client's receipt time of
   ``qr:generated`` - the event's ``at`` (``time.time()`` and UTC ``at``: the same
   clock in both processes); also shown from the moment the script expired the
   code (``due``), which includes the driver's and the session's turn.  Only
   codes made during the measurement are counted, not the snapshot's.

   - baseline: 1 tenant and 1 stream (SSE, then Socket.IO), a new code every
     ``--baseline-pace`` s, ``--baseline-samples`` codes; run before and after
     the loaded run, both pooled.
   - loaded: ``--tenants`` tenants waiting for a scan, ``--streams-per-tenant``
     streams each (one in ``--sio-every`` of them Socket.IO, the others SSE: by
     default one of each per tenant), every tenant getting a new code every
     ``--qr-period`` s (20 s, WhatsApp's pace), the tenants' phases spread evenly
     (1,000 tenants: 50 new codes/s), for ``--duration`` s.

   The figure of the issue: loaded p99 / baseline p99, per transport (goal <= 2).

At the end a table lists every figure with its ratio.
"""

from __future__ import annotations

import os
import sys

# A script run from benchmarks/ has this folder first on sys.path, where a sibling
# named like a standard module would shadow it; it goes to the end of the path (with
# ``python -P`` it is not there at all), for the siblings imported below.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)
sys.path.append(os.path.dirname(os.path.abspath(__file__)))

import argparse
import asyncio
import gc
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
from starlette.applications import Starlette
from starlette.routing import Route
from transports import ClientProcess, serve, token

from wagate import Event, Gateway, Hub, QrGenerated, State
from wagate.adapters.auth import JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents
from wagate.collector import QuietCollector
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver, SimulatedPhone

SENDER = "628111222333@s.whatsapp.net"
ROTATIONS = (60.0,) + (20.0,) * 100_000
"""QR validity of the benchmark's logins: WhatsApp's 60 s and 20 s, without the timeout."""
EXPIRE = 60.0
"""Advancing a tenant's clock this much expires whichever code it shows."""


# ---------------------------------------------------------------------------------
# Shared: server, client process, tokens, figures


def client_process(config: dict[str, Any]) -> ClientProcess:
    """This script's client process (``--client``), given ``config``."""
    return ClientProcess(config, [sys.executable, __file__, "--client"])


async def settle(done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll ``done`` until it holds (what is awaited is state of other tasks, not an event)."""
    deadline = anyio.current_time() + timeout
    while not done():
        if anyio.current_time() > deadline:
            raise TimeoutError("the benchmark's setup did not settle")
        await anyio.sleep(0.01)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@attrs.frozen
class Figure:
    """One line of the final table."""

    name: str
    value: str
    ratio: str = ""
    goal: str = ""


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def simulated_gateway(
    tenants: list[str], clocks: dict[str, SimulatedClock], hub: Hub
) -> tuple[Gateway, dict[str, SimulatedPhone]]:
    phones = {t: SimulatedPhone(number=f"+62812{i:08d}", name=None) for i, t in enumerate(tenants)}
    seeds = {t: i for i, t in enumerate(tenants)}

    def factory(tenant: str) -> SimulatedDriver:
        return SimulatedDriver(
            phone=phones[tenant], clock=clocks[tenant], seed=seeds[tenant], qr_timeouts=ROTATIONS
        )

    return Gateway(factory, hub=hub), phones


async def waiting_for_scan(gateway: Gateway, tenants: list[str]) -> None:
    """Create every tenant's session and connect it: each shows its first QR code."""
    sessions = [await gateway.session(t) for t in tenants]
    for session in sessions:
        await session.connect()
    await settle(lambda: all(s.state is State.AWAITING_SCAN for s in sessions))


# ---------------------------------------------------------------------------------
# A. SSE resume at scale


@attrs.frozen
class Check:
    """Exactly-once counts of a set of streams, against the hub's record."""

    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    gaps: int = 0

    @property
    def exact(self) -> bool:
        return not (
            self.missing or self.duplicated or self.out_of_order or self.unexpected or self.gaps
        )

    def __add__(self, other: Check) -> Check:
        return Check(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )

    def line(self) -> str:
        return (
            f"expected {self.expected:,}, received {self.received:,}, missing {self.missing}, "
            f"duplicated {self.duplicated}, out of order {self.out_of_order}, "
            f"unexpected {self.unexpected}, gaps {self.gaps}"
        )


def check_stream(truth: list[int], after: int, upto: int, ids: list[int], gaps: int) -> Check:
    """What one stream received (``ids``) against the tenant's seqs in ``(after, upto]``."""
    expected = [s for s in truth if after < s <= upto]
    wanted = set(expected)
    seen: set[int] = set()
    duplicated = out_of_order = unexpected = 0
    previous = after
    for seq in ids:
        if seq in seen:
            duplicated += 1
        seen.add(seq)
        if seq <= previous:
            out_of_order += 1
        previous = max(previous, seq)
        if seq not in wanted:
            unexpected += 1
    return Check(
        expected=len(expected),
        received=len(ids),
        missing=len(wanted - seen),
        duplicated=duplicated,
        out_of_order=out_of_order,
        unexpected=unexpected,
        gaps=gaps,
    )


async def publish_messages(phones: Sequence[SimulatedPhone], per_tenant: int, text: str) -> None:
    """Each phone's contact writes ``per_tenant`` messages, tenants interleaved."""
    count = 0
    for n in range(per_tenant):
        for phone in phones:
            phone.receive_message(SENDER, f"{text} {n}")
            count += 1
            if count % 200 == 0:
                await anyio.lowlevel.checkpoint()


async def bench_resume(args: argparse.Namespace, secret: str) -> list[Figure]:
    n_tenants: int = args.tenants
    per_tenant: int = args.streams_per_tenant
    k: int = args.events
    hub = Hub()
    kept = hub._buffer  # the replay log's size per tenant
    if 2 * k + args.during + 8 > kept:
        raise SystemExit(f"--events {k} and --during {args.during} do not fit the log of {kept}")
    tenants = [f"resume{i:04d}" for i in range(n_tenants)]
    clocks = dict.fromkeys(tenants, SimulatedClock())  # never advanced
    gateway, phone_of = simulated_gateway(tenants, clocks, hub)
    phones = [phone_of[t] for t in tenants]
    auth = JWTAuthenticator(secret)
    sse = ServerSentEvents(gateway, auth)
    app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
    truth: dict[str, list[int]] = {t: [] for t in tenants}

    def record(event: Event) -> None:
        truth[event.tenant].append(event.seq)

    streams = [i for i in range(n_tenants) for _ in range(per_tenant)]
    total = len(streams)
    print(
        f"\n== A. SSE resume: {n_tenants:,} tenants, {total:,} SSE streams, K = {k} events "
        f"per tenant (replay log {kept:,} per tenant); {load()}",
        flush=True,
    )
    async with gateway, serve(app) as port:
        started = time.perf_counter()
        await waiting_for_scan(gateway, tenants)
        sessions = [gateway.get(t) for t in tenants]
        for session, phone in zip(sessions, phones, strict=True):
            assert session is not None
            qr = session.status.qr
            assert qr is not None
            phone.scan(qr.code)
        await settle(lambda: all(s is not None and s.state is State.CONNECTED for s in sessions))
        print(
            f"  {n_tenants:,} tenants linked in {time.perf_counter() - started:.1f} s", flush=True
        )
        _, stop = hub.listen(record)
        config = {
            "mode": "resume",
            "port": port,
            "streams": [[i, token(secret, tenants[i])] for i in streams],
        }
        async with client_process(config) as client:
            ready = await client.line()
            print(f"  {total:,} streams open in {ready['seconds']:.1f} s", flush=True)

            def upto() -> dict[str, int]:
                return {str(i): (truth[t][-1] if truth[t] else 0) for i, t in enumerate(tenants)}

            live_times: list[float] = []
            live_check = Check()
            for round_ in range(args.live_rounds):
                client.send({"cmd": "live"})
                await client.line()
                start = time.time()
                await publish_messages(phones, k, f"live {round_}")
                client.send({"cmd": "upto", "upto": upto()})
                done = await client.line()
                live_times.append(done["last"] - start)
                for i, after, ids, gaps in done["streams"]:
                    t = tenants[i]
                    live_check += check_stream(truth[t], after, truth[t][-1], ids, gaps)
                print(
                    f"  live burst {round_ + 1}: {k * total:,} deliveries in "
                    f"{live_times[-1]:.2f} s ({k * total / live_times[-1]:,.0f}/s)",
                    flush=True,
                )
            client.send({"cmd": "drop"})
            dropped = await client.line()
            last_ids: list[int] = dropped["last_ids"]
            await settle(lambda: sse.open_streams == 0, 60)
            await publish_messages(phones, k, "missed")
            missed_upto = upto()
            encoded = sse.encoder.encoded
            client.send({"cmd": "reconnect", "missed": missed_upto})
            during_sent = 0
            for n in range(args.during):
                await anyio.sleep(args.during_pace)
                for phone in phones:
                    phone.receive_message(SENDER, f"during {n}")
                    during_sent += 1
                    if during_sent % 200 == 0:
                        await anyio.lowlevel.checkpoint()
            client.send({"cmd": "upto", "upto": upto()})
            resumed = await client.line()
            encoded = sse.encoder.encoded - encoded
        stop()
    resume_check = Check()
    for (i, after, ids, gaps), last_id in zip(resumed["streams"], last_ids, strict=True):
        t = tenants[i]
        if after != last_id:
            raise RuntimeError(f"stream of {t} resumed after {after}, not its last id {last_id}")
        resume_check += check_stream(truth[t], after, truth[t][-1], ids, gaps)
    drain = resumed["drained"] - resumed["reconnect"]
    live = min(live_times)
    published = n_tenants * (k + args.during)
    print(f"  live, every burst: {live_check.line()}")
    print(f"  resume:            {resume_check.line()}")
    print(
        f"  reconnect: all {total:,} streams answered in "
        f"{resumed['answered'] - resumed['reconnect']:.2f} s; "
        f"replays of {k} missed events each drained in {drain:.2f} s; every event published "
        f"during the reconnect ({args.during} per tenant) received "
        f"{resumed['last'] - resumed['reconnect']:.2f} s after it began"
    )
    print(
        f"  SSE encodings during the resume: {encoded:,} for {published:,} events "
        f"({encoded / published:.2f} per event; {per_tenant} streams per tenant)"
    )
    exact = "exact" if live_check.exact and resume_check.exact else "NOT EXACT"
    return [
        Figure(
            "A  resume: missing / duplicated / out of order",
            f"{resume_check.missing} / {resume_check.duplicated} / {resume_check.out_of_order}",
            f"{resume_check.received:,} of {resume_check.expected:,} ({exact})",
            "0 / 0 / 0",
        ),
        Figure(
            "A  resume: unexpected ids / stream:gap frames",
            f"{resume_check.unexpected} / {resume_check.gaps}",
            "",
            "0 / 0",
        ),
        Figure(
            f"A  live: {k} events x {total:,} streams",
            f"{live:.2f} s",
            f"{k * total / live:,.0f} deliveries/s",
        ),
        Figure(
            f"A  replay drain: {k} missed x {total:,} streams",
            f"{drain:.2f} s",
            f"{drain / live:.2f}x live",
        ),
    ]


# ---------------------------------------------------------------------------------
# B. QR latency


@attrs.frozen
class QrRun:
    sse: list[tuple[float, float]]
    """(from ``at``, from due) latencies of SSE deliveries, seconds."""
    sio: list[tuple[float, float]]
    codes: int
    seconds: float
    late: list[tuple[float, float, str]]
    """(seconds into the run, latency from at, kind) of the slowest deliveries."""
    gc_pauses: list[tuple[float, int, float]]
    """(seconds into the run, generation, pause seconds) of the server's collections."""


async def qr_run(  # noqa: PLR0917 - one call per run, every argument named there
    secret: str,
    n_tenants: int,
    kinds: list[str],
    period: float,
    rotations: int | None,
    duration: float | None,
) -> QrRun:
    """Tenants waiting for a scan, streams of ``kinds`` per tenant; rotate codes; latencies."""
    gc.collect()  # the previous run's garbage is not this run's pause
    tenants = [f"qr{i:04d}" for i in range(n_tenants)]
    clocks = {t: SimulatedClock() for t in tenants}
    hub = Hub()
    gateway, _ = simulated_gateway(tenants, clocks, hub)
    auth = JWTAuthenticator(secret)
    sse = ServerSentEvents(gateway, auth)
    sse_app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
    adapter = SocketIOAdapter(gateway, auth, ping_interval=60, ping_timeout=60)
    due: dict[str, float] = {}
    made: dict[tuple[int, int], tuple[float, float]] = {}
    index = {t: i for i, t in enumerate(tenants)}
    measuring = [False]

    def record(event: Event) -> None:
        if measuring[0] and isinstance(event, QrGenerated) and event.tenant in due:
            made[index[event.tenant], event.seq] = (event.at.timestamp(), due.pop(event.tenant))

    async with (
        gateway,
        adapter,
        serve(sse_app) as sse_port,
        serve(adapter.asgi_app()) as sio_port,
    ):
        await waiting_for_scan(gateway, tenants)
        _, stop = hub.listen(record)
        streams = [[i, kind, token(secret, t)] for i, t in enumerate(tenants) for kind in kinds]
        config = {"mode": "qr", "sse_port": sse_port, "sio_port": sio_port, "streams": streams}
        pauses: list[tuple[float, int, float]] = []
        collecting = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collecting[0] = time.perf_counter()
            elif measuring[0]:
                pause = time.perf_counter() - collecting[0]
                pauses.append((time.time() - begin_wall, info["generation"], pause))

        async with client_process(config) as client:
            await client.line()  # every stream has its snapshot
            measuring[0] = True
            begin = anyio.current_time()
            begin_wall = time.time()
            gc.callbacks.append(on_gc)
            step = period / n_tenants
            j = 0
            while True:
                at = begin + j * step
                if duration is not None and at - begin >= duration:
                    break
                if rotations is not None and j >= rotations:
                    break
                now = anyio.current_time()
                if at > now:
                    await anyio.sleep(at - now)
                t = tenants[j % n_tenants]
                due[t] = time.time()
                clocks[t].advance(EXPIRE)
                j += 1
            seconds = anyio.current_time() - begin
            await anyio.sleep(1.0)  # the last codes reach the page
            measuring[0] = False
            gc.callbacks.remove(on_gc)
            client.send({"cmd": "report"})
            report = await client.line()
        stop()
    gc.collect()
    by_kind: dict[str, list[tuple[float, float]]] = {"sse": [], "sio": []}
    late: list[tuple[float, float, str]] = []
    for i, kind, seq, received in report["qr"]:
        origin = made.get((i, seq))
        if origin is not None:
            by_kind[kind].append((received - origin[0], received - origin[1]))
            late.append((origin[0] - begin_wall, received - origin[0], kind))
    late.sort(key=lambda x: -x[1])
    return QrRun(
        sse=by_kind["sse"],
        sio=by_kind["sio"],
        codes=len(made),
        seconds=seconds,
        late=late[: max(10, len(late) // 50)],
        gc_pauses=pauses,
    )


def stats(samples: list[tuple[float, float]], which: int) -> tuple[float, float]:
    values = [s[which] for s in samples]
    return percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000


def describe(name: str, samples: list[tuple[float, float]]) -> str:
    if not samples:
        return f"  {name:<34} (none)"
    a50, a99 = stats(samples, 0)
    d50, d99 = stats(samples, 1)
    return (
        f"  {name:<34} from at: p50 {a50:6.2f} ms, p99 {a99:6.2f} ms;  from due: p50 "
        f"{d50:6.2f} ms, p99 {d99:6.2f} ms  ({len(samples):,} deliveries)"
    )


async def bench_qr(args: argparse.Namespace, secret: str) -> list[Figure]:
    n_tenants: int = args.tenants
    per_tenant: int = args.streams_per_tenant
    kinds = [
        "sio" if args.sio_every and (s + 1) % args.sio_every == 0 else "sse"
        for s in range(per_tenant)
    ]
    print(
        f"\n== B. QR latency: baseline 1 tenant, 1 stream; loaded {n_tenants:,} tenants waiting "
        f"for a scan, {n_tenants * per_tenant:,} streams ({kinds.count('sse') * n_tenants:,} SSE, "
        f"{kinds.count('sio') * n_tenants:,} Socket.IO), a new code per tenant every "
        f"{args.qr_period:g} s ({n_tenants / args.qr_period:,.0f}/s); {load()}",
        flush=True,
    )
    base: dict[str, list[tuple[float, float]]] = {"sse": [], "sio": []}
    used = sorted(set(kinds))

    async def baseline(label: str) -> None:
        for kind in used:
            run = await qr_run(
                secret, 1, [kind], args.baseline_pace, args.baseline_samples, duration=None
            )
            samples = run.sse if kind == "sse" else run.sio
            base[kind].extend(samples)
            print(describe(f"baseline {label}, {kind.upper()}", samples), flush=True)

    await baseline("before")
    loaded = await qr_run(
        secret, n_tenants, kinds, args.qr_period, rotations=None, duration=args.duration
    )
    print(
        f"  loaded: {loaded.codes:,} codes in {loaded.seconds:.1f} s "
        f"({loaded.codes / loaded.seconds:,.0f}/s); {load()}"
    )
    print(describe("loaded, SSE", loaded.sse))
    print(describe("loaded, Socket.IO", loaded.sio), flush=True)
    slow = ", ".join(
        f"{at:.1f} s {kind} {lat * 1000:.0f} ms" for at, lat, kind in sorted(loaded.late)
    )
    print(f"  slowest 2% (made at, transport, latency): {slow}")
    long_gc = [p for p in loaded.gc_pauses if p[2] > 0.005]
    print(
        f"  server GC during the loaded run: {len(loaded.gc_pauses)} collections, "
        f"longest {max((p[2] for p in loaded.gc_pauses), default=0) * 1000:.1f} ms; over 5 ms: "
        + ", ".join(f"{at:.1f} s gen{g} {d * 1000:.0f} ms" for at, g, d in long_gc)
    )
    await baseline("after")
    figures: list[Figure] = []
    for kind, samples in (("sse", loaded.sse), ("sio", loaded.sio)):
        if kind not in used:
            continue
        name = "SSE" if kind == "sse" else "Socket.IO"
        b50, b99 = stats(base[kind], 0)
        l50, l99 = stats(samples, 0)
        expected = loaded.codes * kinds.count(kind)
        figures.append(Figure(f"B  QR {name}, baseline p50 / p99", f"{b50:.2f} / {b99:.2f} ms"))
        figures.append(
            Figure(
                f"B  QR {name}, loaded p50 / p99",
                f"{l50:.2f} / {l99:.2f} ms",
                f"p99 {l99 / b99:.2f}x baseline",
                "<= 2x",
            )
        )
        if len(samples) != expected:
            figures.append(
                Figure(f"B  QR {name}, deliveries", f"{len(samples):,} of {expected:,}", "", "all")
            )
    return figures


# ---------------------------------------------------------------------------------
# Client side


class Stream:
    """One raw client stream: SSE over HTTP/1.1, or Socket.IO over an Engine.IO websocket."""

    def __init__(self, index: int, tenant: int, kind: str, token_: str) -> None:
        self.index = index
        self.tenant = tenant
        self.kind = kind
        self.token = token_
        self.last_id = 0
        """The id of the last frame with one (the snapshot's, or an event's)."""
        self.after = 0
        """The id this connection started after (the snapshot's, or Last-Event-ID)."""
        self.ids: list[int] = []
        self.gaps = 0
        self.last_time = 0.0
        self.qr: list[tuple[int, float]] = []
        self.ready = asyncio.Event()
        self.progress: Callable[[Stream], None] = lambda stream: None
        self.writer: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        self.ids = []
        self.gaps = 0
        self.ready = asyncio.Event()

    async def sse(self, port: int, resume: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        self.writer = writer
        resume_header = f"Last-Event-ID: {self.last_id}\r\n" if resume else ""
        writer.write(
            f"GET /events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {self.token}\r\n"
            f"{resume_header}\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
            raise RuntimeError(f"unexpected answer: {head[:200]!r}")
        first = not resume
        if resume:
            self.after = self.last_id
            self.ready.set()  # answered; a replay may be empty
        try:
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                if size == 0:
                    return
                chunk = (await reader.readexactly(size + 2))[:-2]
                now = time.time()
                for frame in chunk.split(b"\n\n"):
                    self.frame(frame, first, now)
                if first:
                    first = False
                    self.after = self.last_id
                    self.ready.set()
                self.progress(self)
        finally:
            writer.close()

    def frame(self, frame: bytes, snapshot: bool, now: float) -> None:
        if not frame.startswith(b"event: "):
            return  # a heartbeat, or the empty tail
        name_end = frame.index(b"\n")
        name = frame[7:name_end]
        id_at = frame.find(b"\nid: ")
        if name == b"stream:gap":
            self.gaps += 1
        if id_at < 0:
            return
        seq = int(frame[id_at + 5 : frame.index(b"\n", id_at + 5)])
        self.last_id = seq
        if snapshot:
            return
        self.ids.append(seq)
        self.last_time = now
        if name == b"qr:generated":
            self.qr.append((seq, now))

    async def sio(self, port: int) -> None:
        import websockets  # noqa: PLC0415 - client side only

        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(url, max_size=None, compression=None, open_timeout=120) as ws:
            opening = await ws.recv()
            assert str(opening).startswith("0"), opening
            await ws.send("40" + json.dumps({"token": self.token}))
            while True:
                first = str(await ws.recv())
                if first.startswith('42["connection:status"'):
                    break
                if first.startswith("44"):
                    raise RuntimeError(f"refused: {first}")
            self.ready.set()
            prefix = '42["qr:generated",'
            async for message in ws:
                text = str(message)
                if text == "2":
                    await ws.send("3")
                elif text.startswith(prefix):
                    now = time.time()
                    payload = json.loads(text[2:])
                    self.qr.append((payload[1]["seq"], now))

    def close(self) -> None:
        if self.writer is not None:
            transport = self.writer.transport
            transport.abort()


async def commands() -> AsyncIterator[dict[str, Any]]:
    while True:
        text = await asyncio.to_thread(sys.stdin.readline)
        if not text:
            return
        message: dict[str, Any] = json.loads(text)
        yield message


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def open_all(
    streams: list[Stream], start: Callable[[Stream], Any]
) -> list[asyncio.Task[Any]]:
    """Start every stream at once; wait until each is answered (or report failures)."""
    tasks = [asyncio.create_task(start(s)) for s in streams]
    waiters = [asyncio.create_task(s.ready.wait()) for s in streams]
    pending = {*tasks, *waiters}
    deadline = time.monotonic() + 300
    while not all(s.ready.is_set() for s in streams):
        failed = [t for t in tasks if t.done()]
        if failed:
            raise RuntimeError(f"{len(failed)} streams ended: {failed[0].exception()!r}")
        if time.monotonic() > deadline:
            raise TimeoutError("streams did not open in time")
        _, pending = await asyncio.wait(pending, timeout=1, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    return tasks


async def client_resume(config: dict[str, Any], inbox: AsyncIterator[dict[str, Any]]) -> None:
    port = config["port"]
    streams = [Stream(n, i, "sse", tok) for n, (i, tok) in enumerate(config["streams"])]
    began = time.time()
    tasks = await open_all(streams, lambda s: s.sse(port, resume=False))
    say({"seconds": time.time() - began})
    # Set by "reconnect": the id each stream must reach to have its missed events.
    missed: dict[str, int] = {}
    outstanding: set[int] = set()
    times = {"reconnect": 0.0, "answered": 0.0, "drained": 0.0, "last": 0.0}
    waiting: set[int] = set()
    upto: dict[str, int] = {}
    done = asyncio.Event()

    def progress(stream: Stream) -> None:
        now = time.time()
        if stream.index in outstanding and stream.last_id >= missed[str(stream.tenant)]:
            outstanding.discard(stream.index)
            times["drained"] = now
        if stream.index in waiting and stream.last_id >= upto[str(stream.tenant)]:
            waiting.discard(stream.index)
            times["last"] = now
        if upto and not waiting and not outstanding:
            done.set()

    for s in streams:
        s.progress = progress
    async for command in inbox:
        cmd = command["cmd"]
        if cmd == "live":
            upto = {}
            for s in streams:
                s.ids = []
                s.gaps = 0
                s.after = s.last_id
            say({"ok": True})
        elif cmd == "upto":
            upto = command["upto"]
            done = asyncio.Event()
            waiting = {s.index for s in streams if s.last_id < upto[str(s.tenant)]}
            for s in streams:
                progress(s)
            await asyncio.wait_for(done.wait(), 300)
            times["last"] = max(s.last_time for s in streams)
            report = [[s.tenant, s.after, s.ids, s.gaps] for s in streams]
            say({**times, "streams": report})
        elif cmd == "drop":
            for s in streams:
                s.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            say({"last_ids": [s.last_id for s in streams]})
        elif cmd == "reconnect":
            upto = {}
            missed = command["missed"]
            outstanding = {s.index for s in streams if s.last_id < missed[str(s.tenant)]}
            for s in streams:
                s.reset()
            times["reconnect"] = time.time()
            tasks = await open_all(streams, lambda s: s.sse(port, resume=True))
            times["answered"] = time.time()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def client_qr(config: dict[str, Any], inbox: AsyncIterator[dict[str, Any]]) -> None:
    streams = [Stream(n, i, kind, tok) for n, (i, kind, tok) in enumerate(config["streams"])]

    def start(s: Stream) -> Any:
        if s.kind == "sse":
            return s.sse(config["sse_port"], resume=False)
        return s.sio(config["sio_port"])

    tasks = await open_all(streams, start)
    say({"ready": len(streams)})
    async for command in inbox:
        if command["cmd"] == "report":
            say({"qr": [[s.tenant, s.kind, seq, at] for s in streams for seq, at in s.qr]})
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_client() -> None:
    inbox = commands()
    config = await anext(inbox)
    if config["mode"] == "resume":
        await client_resume(config, inbox)
    else:
        await client_qr(config, inbox)


# ---------------------------------------------------------------------------------


async def run_server(args: argparse.Namespace) -> None:
    secret = secrets.token_urlsafe(48)
    parts = set(args.only.split(","))
    print(
        f"scale benchmark: {args.tenants:,} tenants, {args.streams_per_tenant} streams each; "
        f"{os.cpu_count()} CPUs, {load()}",
        flush=True,
    )
    if not args.plain_gc:  # what `wagate serve` does
        QuietCollector().install()
    collector = "plain" if args.plain_gc else "wagate.collector.QuietCollector"
    print(f"  garbage collection: {collector}")
    figures: list[Figure] = []
    if "resume" in parts:
        figures += await bench_resume(args, secret)
    if "qr" in parts:
        figures += await bench_qr(args, secret)
    print("\nSummary")
    print(f"  {'figure':<48} {'value':>16}   {'ratio / detail':<30} goal")
    for f in figures:
        print(f"  {f.name:<48} {f.value:>16}   {f.ratio:<30} {f.goal}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--streams-per-tenant", type=int, default=2)
    parser.add_argument("--only", default="resume,qr", help="parts to run: resume, qr")
    parser.add_argument("--events", type=int, default=20, help="A: K, events per tenant")
    parser.add_argument("--live-rounds", type=int, default=2, help="A: live bursts")
    parser.add_argument(
        "--during", type=int, default=5, help="A: events per tenant during the reconnect"
    )
    parser.add_argument(
        "--during-pace", type=float, default=0.2, help="A: seconds between those rounds"
    )
    parser.add_argument("--qr-period", type=float, default=20.0, help="B: seconds per code")
    parser.add_argument("--duration", type=float, default=30.0, help="B: loaded seconds")
    parser.add_argument("--sio-every", type=int, default=2, help="B: 1 in N streams Socket.IO")
    parser.add_argument("--baseline-pace", type=float, default=0.04, help="B: baseline s/code")
    parser.add_argument("--baseline-samples", type=int, default=200, help="B: codes per baseline")
    parser.add_argument(
        "--plain-gc",
        action="store_true",
        help="run the server without the QuietCollector `wagate serve` installs",
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import uvloop  # noqa: PLC0415

    if args.client:
        uvloop.run(run_client())
    else:
        anyio.run(run_server, args, backend="asyncio", backend_options={"use_uvloop": True})


if __name__ == "__main__":
    main()
