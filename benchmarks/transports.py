"""Transport figures: Socket.IO (adapter vs bare python-socketio) and SSE, side by side.

Run: ``python benchmarks/transports.py [--clients 1000] [--rooms 100] [--events 20]``

One server process (this one: uvicorn on 127.0.0.1, OS ports, uvloop) hosts

- the wagate Socket.IO adapter over a Gateway's hub,
- a bare python-socketio ``AsyncServer`` whose clients join rooms directly,
- the wagate SSE endpoint over the same hub;

one client process (this script with ``--client``) holds the connections: raw
Engine.IO websockets and raw HTTP/1.0 SSE streams, so the clients cost as little
as possible.  Events are ``MessageReceived`` published on the hub (the adapter's
input); the bare server emits the very payloads ``to_wire`` makes for them,
pre-encoded.  Deliveries/s = message events received by all clients / time from
the first publish to the last receipt.  Rounds alternate adapter and bare so
that load from elsewhere on the machine hits both alike; the best round of each
is reported, with every round listed.

Latency: events published one at a time at a moderate pace; each client notes
``receipt time - event.at`` (the same clock); p50/p99 over every delivery.
"""

from __future__ import annotations

import os
import sys

# A script run from benchmarks/ has this folder first on sys.path, where a sibling
# named like a standard module (http.py) would shadow it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import jwt
import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from wagate import Gateway, Hub, MessageReceived, to_wire
from wagate._events import utcnow
from wagate.adapters.auth import JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents
from wagate.drivers.simulator import SimulatedDriver

SENDER = "628111222333@s.whatsapp.net"


# ---------------------------------------------------------------------------------
# Server side


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default)."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def serve(app: Any, ws: Any = "websockets-sansio") -> AsyncIterator[int]:
    """Run ``app`` on uvicorn at 127.0.0.1 on an OS port; yield the port.

    ``ws``: uvicorn's websocket protocol (a name, or a class).
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        ws=ws,
        ws_max_queue=100_000,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        try:
            yield sock.getsockname()[1]
        finally:
            server.should_exit = True


class Publisher:
    """Makes MessageReceived events for the benchmark's tenants, numbered per tenant."""

    def __init__(self, tenants: list[str]) -> None:
        self.tenants = tenants
        self.seq = dict.fromkeys(tenants, 0)
        self.counter = 0

    def event(self, tenant: str) -> MessageReceived:
        self.seq[tenant] += 1
        self.counter += 1
        now = utcnow()
        return MessageReceived(
            tenant=tenant,
            seq=self.seq[tenant],
            at=now,
            id=f"3EB0{self.counter:016X}",
            chat=SENDER,
            sender=SENDER,
            push_name="Bench",
            text=f"benchmark message {self.counter}",
            is_group=False,
            timestamp=now,
        )

    def burst(self, per_tenant: int) -> list[MessageReceived]:
        return [self.event(t) for _ in range(per_tenant) for t in self.tenants]


class ClientProcess:
    """A child process speaking JSON lines: ``config`` first on its stdin, reports back.

    ``command`` is this script's own client (``--client``) unless given (another
    script's, or a Node one), run in ``cwd``.
    """

    def __init__(
        self,
        config: dict[str, Any] | None,
        command: list[str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.config = config
        self.command = command or [sys.executable, __file__, "--client"]
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None

    async def __aenter__(self) -> ClientProcess:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - a child for the whole phase
            self.command,
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.config is not None:
            self.send(self.config)
        return self

    def send(self, message: dict[str, Any]) -> None:
        """One JSON line to the child's stdin."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    async def line(self) -> dict[str, Any]:
        """The child's next JSON line."""
        assert self.process is not None
        assert self.process.stdout is not None
        text = await anyio.to_thread.run_sync(self.process.stdout.readline)
        if not text:
            raise RuntimeError(f"the child process {self.command!r} ended early")
        result: dict[str, Any] = json.loads(text)
        return result

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        with contextlib.suppress(BrokenPipeError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        await anyio.to_thread.run_sync(self.process.wait)


def bare_server() -> Any:
    """A bare python-socketio server whose clients join the room their auth names."""
    bare = socketio.AsyncServer(async_mode="asgi", ping_interval=60, ping_timeout=60)

    @bare.on("connect")  # type: ignore[untyped-decorator]
    async def bare_connect(sid: str, environ: Any, data: Any) -> None:
        await bare.enter_room(sid, data["room"])

    return bare


def token(secret: str, tenant: str) -> str:
    return jwt.encode(
        {"sub": "bench", "tenant": tenant, "exp": int(time.time()) + 3600},
        secret,
        algorithm="HS256",
    )


async def publish_hub(hub: Hub, events: list[MessageReceived], batch: int = 200) -> None:
    for start in range(0, len(events), batch):
        for event in events[start : start + batch]:
            hub.publish(event)
        await anyio.lowlevel.checkpoint()


async def publish_bare(sio: Any, payloads: list[tuple[str, str, dict[str, Any]]]) -> None:
    for name, room, data in payloads:
        await sio.emit(name, data, room=room)


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "n/a"
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(ordered):,} deliveries)"


async def run_server(args: argparse.Namespace) -> None:
    secret = secrets.token_urlsafe(48)
    tenants = [f"bench{i:03d}" for i in range(args.rooms)]
    per_room = args.clients // args.rooms
    clients = per_room * args.rooms
    publisher = Publisher(tenants)
    hub = Hub(buffer=4096, all_buffer=1 << 17)
    gateway = Gateway(lambda tenant: SimulatedDriver(), hub=hub)
    auth = JWTAuthenticator(secret)
    adapter = SocketIOAdapter(gateway, auth, ping_interval=60, ping_timeout=60)
    bare = bare_server()
    sse = ServerSentEvents(gateway, auth)
    sse_app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])

    print(
        f"transports benchmark: {clients:,} clients in {args.rooms} tenant rooms, "
        f"{args.events} events per room per round; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    rounds: dict[str, list[Round]] = {"adapter": [], "bare": [], "sse": []}
    async with (
        gateway,
        adapter,
        serve(adapter.asgi_app()) as adapter_port,
        serve(socketio.ASGIApp(bare)) as bare_port,
        serve(sse_app) as sse_port,
    ):
        tokens = {t: token(secret, t) for t in tenants}
        specs: dict[str, list[dict[str, Any]]] = {
            "adapter": [{"auth": {"token": tokens[t]}} for t in tenants for _ in range(per_room)],
            "bare": [{"auth": {"room": "r:" + t}} for t in tenants for _ in range(per_room)],
            "sse": [{"token": tokens[t]} for t in tenants for _ in range(per_room)],
        }
        ports = {"adapter": adapter_port, "bare": bare_port, "sse": sse_port}

        async def burst(kind: str, subset: int | None = None) -> tuple[Round, float]:
            """One burst through ``kind``; also the server RSS added per open connection.

            ``subset``: only the first so many clients connect (a warm-up).
            """
            chosen = specs[kind][:subset]
            expected = len(chosen) * args.events
            config = {
                "kind": "sse" if kind == "sse" else "sio",
                "port": ports[kind],
                "clients": chosen,
                "expect": expected,
                "latency": False,
            }
            before = rss_bytes()
            async with ClientProcess(config) as proc:
                await proc.line()  # every connection open, in its room, welcomed
                per_connection = (rss_bytes() - before) / len(chosen)
                events = publisher.burst(args.events)
                payloads = [(m.name, "r:" + e.tenant, m.data) for e in events for m in to_wire(e)]
                cpu, start = time.process_time(), time.time()
                if kind == "bare":
                    await publish_bare(bare, payloads)
                else:
                    await publish_hub(hub, events)
                done = await proc.line()
                cpu = time.process_time() - cpu
            if done["received"] != expected:
                raise RuntimeError(f"{kind}: {done['received']} of {expected} delivered")
            result = Round(
                rate=expected / (done["last"] - start),
                server_cpu_us=cpu / expected * 1e6,
                client_cpu_us=done["cpu"] / expected * 1e6,
            )
            return result, per_connection

        # A warm-up (first-use costs: imports, caches), then SSE first, so that its
        # memory is measured on a heap that has not yet held 1,000 connections.
        kinds = set(args.only.split(","))
        for kind in sorted(kinds):
            await burst(kind, subset=per_room)
        rss_per_stream = 0.0
        if "sse" in kinds:
            first_sse, rss_per_stream = await burst("sse")
            rounds["sse"].append(first_sse)
        for round_ in range(args.rounds):
            for kind in ("adapter", "bare") if round_ % 2 == 0 else ("bare", "adapter"):
                if kind in kinds:
                    rounds[kind].append((await burst(kind))[0])
            if round_ > 0 and "sse" in kinds:
                rounds["sse"].append((await burst("sse"))[0])

        async def latency(kind: str) -> list[float]:
            count = args.latency_events
            config = {
                "kind": "sse" if kind == "sse" else "sio",
                "port": ports[kind],
                "clients": specs[kind],
                "expect": count * per_room,
                "latency": True,
            }
            async with ClientProcess(config) as proc:
                await proc.line()
                for i in range(count):
                    hub.publish(publisher.event(tenants[i % len(tenants)]))
                    await anyio.sleep(args.pace)
                done = await proc.line()
            latencies: list[float] = done["latencies"]
            return latencies

        sio_latency = await latency("adapter") if "adapter" in kinds else []
        sse_latency = await latency("sse") if "sse" in kinds else []

    def show(name: str, results: list[Round]) -> str:
        if not results:
            return f"  {name:<29} (not run)"
        best = max(r.rate for r in results)
        cpu = min(r.server_cpu_us for r in results)
        client = min(r.client_cpu_us for r in results)
        shown = ", ".join(f"{r.rate:,.0f}" for r in results)
        return f"  {name:<29} {best:>9,.0f}/s  {cpu:6.1f} us  {client:6.1f} us   (rounds: {shown})"

    def best_rate(kind: str) -> float:
        return max((r.rate for r in rounds[kind]), default=math.nan)

    def best_cpu(kind: str) -> float:
        return min((r.server_cpu_us for r in rounds[kind]), default=math.nan)

    print()
    print("Throughput: message events delivered to every client of a room, one burst per round")
    print(f"  {'':<29} {'best rate':>11}  {'server CPU':>9}  {'client CPU':>9}   per delivery")
    print(show("Socket.IO via wagate adapter", rounds["adapter"]))
    print(show("bare python-socketio", rounds["bare"]))
    print(show("SSE via wagate", rounds["sse"]))
    print(
        f"  adapter / bare python-socketio: {best_rate('adapter') / best_rate('bare'):.2f}x "
        f"by rate, {best_cpu('bare') / best_cpu('adapter'):.2f}x by server CPU   (goal >= 0.9x)"
    )
    print(
        f"  SSE / Socket.IO adapter:        {best_rate('sse') / best_rate('adapter'):.2f}x "
        f"by rate, {best_cpu('adapter') / best_cpu('sse'):.2f}x by server CPU"
    )
    print(
        f"  SSE events encoded: {sse.encoder.encoded:,} (once per event, for {clients:,} streams)"
    )
    print()
    print(
        f"Server RSS per open SSE stream: {rss_per_stream / 1024:.1f} KiB "
        f"(RSS growth for {clients:,} streams after a warm-up; server RSS now "
        f"{rss_bytes() / 2**20:.0f} MiB)"
    )
    print()
    print(
        f"Latency, event published -> client receipt, {clients:,} clients connected, "
        f"{args.latency_events} events at one per {args.pace * 1000:.0f} ms"
    )
    print(f"  Socket.IO adapter: {summary(sio_latency)}")
    print(f"  SSE:               {summary(sse_latency)}")


@attrs.frozen
class Round:
    rate: float
    """Deliveries per second, first publish to last receipt."""
    server_cpu_us: float
    """Server process CPU time per delivery."""
    client_cpu_us: float
    """Client process CPU time per delivery."""


# ---------------------------------------------------------------------------------
# Client side


class Tally:
    def __init__(self, expect: int, latency: bool) -> None:
        self.expect = expect
        self.received = 0
        self.last = 0.0
        self.latency = latency
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def got(self, payload: bytes | str | None) -> None:
        now = time.time()
        self.received += 1
        self.last = now
        if self.latency and payload is not None:
            data = json.loads(payload)  # SSE: the event; Socket.IO: [name, event, offset]
            at = (data[1] if isinstance(data, list) else data)["at"]
            sent = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
            self.latencies.append(now - sent)
        if self.received >= self.expect:
            self.done.set()


async def sio_client(
    port: int, auth: dict[str, Any], tally: Tally, ready: asyncio.Event, welcome: bool
) -> None:
    import websockets  # noqa: PLC0415 - client side only

    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        opening = await ws.recv()
        assert str(opening).startswith("0"), opening
        await ws.send("40" + json.dumps(auth))
        # Ready once in its room: at CONNECT for the bare server (it joins in the
        # connect handler), at the welcome snapshot for the adapter.
        awaited = '42["connection:status"' if welcome else "40"
        while True:
            first = str(await ws.recv())
            if first.startswith(awaited):
                break
            if first.startswith("44"):
                raise RuntimeError(f"refused: {first}")
        ready.set()
        prefix = '42["message:received",'
        async for message in ws:
            text = str(message)
            if text == "2":
                await ws.send("3")
            elif text.startswith(prefix):
                tally.got(text[2:] if tally.latency else None)


async def sse_client(port: int, token_: str, tally: Tally, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET /events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token_}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
        raise RuntimeError(f"unexpected answer: {head[:200]!r}")
    pattern = b"event: message:received\n"
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            if size == 0:
                return
            chunk = (await reader.readexactly(size + 2))[:-2]
            ready.set()  # the first chunk is the welcome snapshot
            if not tally.latency:
                for _ in range(chunk.count(pattern)):
                    tally.got(None)
                continue
            for frame in chunk.split(b"\n\n"):
                if frame.startswith(pattern):
                    tally.got(frame[frame.index(b"data: ") + 6 :])
    finally:
        writer.close()


async def run_client() -> None:
    config = json.loads(sys.stdin.readline())
    clients = config["clients"]
    tally = Tally(config["expect"], config["latency"])
    readies = [asyncio.Event() for _ in clients]
    limit = asyncio.Semaphore(64)

    async def one(index: int, spec: dict[str, Any]) -> None:
        async with limit:
            ready = asyncio.Event()
            if config["kind"] == "sio":
                task = asyncio.create_task(
                    sio_client(config["port"], spec["auth"], tally, ready, "token" in spec["auth"])
                )
            else:
                task = asyncio.create_task(sse_client(config["port"], spec["token"], tally, ready))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                print(f"client {index} failed: {task.exception()!r}", file=sys.stderr)
                waiter.cancel()
                return
        readies[index].set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    tasks = [asyncio.create_task(one(i, spec)) for i, spec in enumerate(clients)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
    print(json.dumps({"ready": len(clients)}), flush=True)
    cpu = time.process_time()
    try:
        await asyncio.wait_for(tally.done.wait(), 300)
    except TimeoutError:
        print(f"{config['kind']}: {tally.received} of {tally.expect}", file=sys.stderr)
        raise
    result: dict[str, Any] = {
        "received": tally.received,
        "last": tally.last,
        "cpu": time.process_time() - cpu,
    }
    if tally.latency:
        result["latencies"] = tally.latencies
    print(json.dumps(result), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--events", type=int, default=50, help="events per room per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--pace", type=float, default=0.005, help="seconds between events")
    parser.add_argument("--only", default="adapter,bare,sse", help="transports to measure")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import uvloop  # noqa: PLC0415

    if args.client:
        uvloop.run(run_client())
    else:
        anyio.run(run_server, args, backend="asyncio", backend_options={"use_uvloop": True})


if __name__ == "__main__":
    main()
