"""wagate against a Node socket.io 4 server, measured by the same Node clients.

Run: ``python benchmarks/versus_node.py [--clients 100] [--rooms 1,10] [--events 5000]``

Needs ``node`` and ``npm`` (18 or newer).  The script installs a stock socket.io 4
server and socket.io-client 4 (pinned by ``benchmarks/node/package-lock.json``) into
a temporary directory with ``npm ci``, and then serves, on 127.0.0.1 at OS ports:

- **Node socket.io**: ``benchmarks/node/server.mjs``, stock socket.io 4, each
  client in the room its auth names;
- **wagate Socket.IO**: :class:`wagate.adapters.socketio.SocketIOAdapter` over a
  Gateway's hub (uvicorn, uvloop, this process), JWT-authenticated clients;
- **bare python-socketio**: an ``AsyncServer`` whose clients join rooms in their
  connect handler, emitting the very payloads the adapter emits;
- **wagate SSE**: :class:`wagate.adapters.sse.ServerSentEvents` over the same hub.

The clients are the same Node process for all four (``benchmarks/node/clients.mjs``):
``--clients`` stock socket.io-client sockets (websocket transport) or plain HTTP
SSE streams, spread over ``--rooms`` tenants (by default two runs: all clients in one
room, as the issue measured Node; then ten rooms of ten, where every event reaches
fewer sockets and the cost of each event counts for more).  Every server sends the same
``message:received`` payload (what :func:`wagate.to_wire` makes; each event with its
own seq, id, text and ``at``), ``--events`` per room per round, published in
batches of 200 per loop turn.  Deliveries/s = message events received by all clients
/ time from the first publish to the last receipt.  ``--rounds`` rounds, each
running the four servers in turn (the order rotates, so that load from elsewhere on
the machine hits all alike); the best round of each is reported, every round listed.

Latency: ``--latency-events`` events published one at a time, ``--pace`` apart,
round-robin over the rooms; each client notes receipt time - the event's ``at``
(the same wall clock); p50/p99 over every delivery.

Ratios printed: wagate SSE / Node, wagate Socket.IO / Node, wagate Socket.IO / bare
python-socketio.
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
import contextlib
import cProfile
import math
import pstats
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import anyio
import attrs
import socketio
from starlette.applications import Starlette
from starlette.routing import Route
from transports import (
    ClientProcess,
    Publisher,
    bare_server,
    publish_bare,
    publish_hub,
    serve,
    summary,
    token,
)

from wagate import Gateway, Hub, to_wire
from wagate.adapters.auth import JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents
from wagate.drivers.simulator import SimulatedDriver
from wagate.integrations.uvicorn import WebSocketProtocol

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.path.join(HERE, "node")
KINDS = ("node", "wagate-sio", "bare-sio", "wagate-sse")
LABELS = {
    "node": "Node socket.io 4",
    "wagate-sio": "wagate Socket.IO adapter",
    "bare-sio": "bare python-socketio",
    "wagate-sse": "wagate SSE",
}


@contextlib.contextmanager
def node_packages() -> Iterator[str]:
    """A temporary directory with the pinned Node packages and the benchmark's scripts."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("versus_node: needs node and npm (Debian: apt-get install nodejs npm)")
    with tempfile.TemporaryDirectory(prefix="wagate-bench-node-") as folder:
        for name in ("package.json", "package-lock.json", "server.mjs", "clients.mjs"):
            shutil.copy(os.path.join(NODE, name), folder)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield folder


def node_process(folder: str, script: str, first: dict[str, Any] | None = None) -> ClientProcess:
    """A Node script of ``folder`` as a JSON-lines child (``first``: its first line in)."""
    return ClientProcess(first, ["node", os.path.join(folder, script)], cwd=folder)


@attrs.frozen
class Round:
    rate: float
    """Deliveries per second, first publish to last receipt."""
    client_cpu_us: float
    """Client process CPU time per delivery."""
    server_cpu_us: float
    """This process's CPU time per delivery (NaN for Node's server, another process)."""


async def run(args: argparse.Namespace) -> None:
    """Every shape of ``--rooms``, with the Node packages installed once."""
    with node_packages() as folder:
        for index, rooms in enumerate(args.rooms):
            if index:
                print()
            await run_shape(argparse.Namespace(**{**vars(args), "rooms": rooms}), folder)


async def run_shape(args: argparse.Namespace, folder: str) -> None:
    secret = secrets.token_urlsafe(48)
    tenants = [f"bench{i:03d}" for i in range(args.rooms)]
    per_room = args.clients // args.rooms
    clients = per_room * args.rooms
    publisher = Publisher(tenants)
    template = next(iter(to_wire(publisher.event(tenants[0])))).data
    hub = Hub(
        buffer=max(4096, 2 * args.events), all_buffer=max(1 << 17, 2 * args.events * args.rooms)
    )
    gateway = Gateway(lambda tenant: SimulatedDriver(), hub=hub)
    auth = JWTAuthenticator(secret)
    adapter = SocketIOAdapter(gateway, auth, ping_interval=60, ping_timeout=60)
    bare = bare_server()
    sse = ServerSentEvents(gateway, auth)
    sse_app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
    tokens = {t: token(secret, t) for t in tenants}
    rooms = [t for t in tenants for _ in range(per_room)]
    specs: dict[str, list[dict[str, Any]]] = {
        "node": [{"auth": {"room": t}} for t in rooms],
        "wagate-sio": [{"auth": {"token": tokens[t]}} for t in rooms],
        "bare-sio": [{"auth": {"room": t}} for t in rooms],
        "wagate-sse": [{"token": tokens[t]} for t in rooms],
    }
    print(
        f"versus Node: {clients:,} Node clients in {args.rooms} rooms, {args.events:,} events "
        f"per room per round, {args.rounds} rounds; node {node_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    rounds: dict[str, list[Round]] = {kind: [] for kind in KINDS}
    latencies: dict[str, list[float]] = {}
    async with (
        gateway,
        adapter,
        serve(adapter.asgi_app(), ws=WebSocketProtocol) as adapter_port,
        serve(socketio.ASGIApp(bare)) as bare_port,
        serve(sse_app) as sse_port,
        node_process(folder, "server.mjs") as node_server,
    ):
        node_port = (await node_server.line())["port"]
        urls = {
            "node": f"http://127.0.0.1:{node_port}",
            "wagate-sio": f"http://127.0.0.1:{adapter_port}",
            "bare-sio": f"http://127.0.0.1:{bare_port}",
            "wagate-sse": f"http://127.0.0.1:{sse_port}/events",
        }

        async def publish(kind: str, paced: bool) -> None:
            if kind == "node":
                if paced:
                    command = {
                        "op": "paced",
                        "count": args.latency_events,
                        "pace": args.pace,
                    }
                else:
                    command = {"op": "burst", "events": args.events}
                node_server.send({**command, "rooms": tenants, "template": template})
                await node_server.line()
                return
            if paced:
                for i in range(args.latency_events):
                    event = publisher.event(tenants[i % len(tenants)])
                    if kind == "bare-sio":
                        for message in to_wire(event):
                            await bare.emit(message.name, message.data, room=event.tenant)
                    else:
                        hub.publish(event)
                    await anyio.sleep(args.pace)
                return
            events = publisher.burst(args.events)
            if kind == "bare-sio":
                payloads = [(m.name, e.tenant, m.data) for e in events for m in to_wire(e)]
                await publish_bare(bare, payloads)
            else:
                await publish_hub(hub, events)

        async def measure(kind: str, paced: bool = False) -> dict[str, Any]:
            expect = (args.latency_events * per_room) if paced else clients * args.events
            config = {
                "kind": "sse" if kind == "wagate-sse" else "sio",
                "url": urls[kind],
                "clients": specs[kind],
                "expect": expect,
                "latency": paced,
                "welcome": kind == "wagate-sio",
            }
            profile = cProfile.Profile() if args.profile == kind and not paced else None
            async with node_process(folder, "clients.mjs", config) as node_clients:
                await node_clients.line()  # every client connected and in its room
                cpu, start = time.process_time(), time.time()
                if profile is not None:
                    profile.enable()
                await publish(kind, paced)
                done = await node_clients.line()
                if profile is not None:
                    profile.disable()
                cpu = time.process_time() - cpu
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            if done["received"] != expect:
                raise RuntimeError(f"{kind}: {done['received']} of {expect} delivered")
            done["rate"] = expect / (done["last"] - start)
            done["cpu_us"] = done["cpu_ms"] * 1000 / expect
            done["server_us"] = math.nan if kind == "node" else cpu * 1e6 / expect
            return done

        kinds = [kind for kind in KINDS if kind in args.only.split(",")]
        for round_ in range(args.rounds):
            order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]
            for kind in order:
                done = await measure(kind)
                rounds[kind].append(Round(done["rate"], done["cpu_us"], done["server_us"]))
                print(f"  round {round_ + 1}: {LABELS[kind]:<26} {done['rate']:>11,.0f}/s")
        for kind in kinds:
            latencies[kind] = (await measure(kind, paced=True))["latencies"]

    def best(kind: str) -> float:
        return max((r.rate for r in rounds[kind]), default=math.nan)

    print()
    print(
        f"Throughput: message events delivered to {clients:,} Node clients, best of "
        f"{args.rounds} rounds; CPU per delivery of the server and the clients; every round"
    )
    for kind in kinds:
        shown = ", ".join(f"{r.rate:,.0f}" for r in rounds[kind])
        server = min(r.server_cpu_us for r in rounds[kind])
        client = min(r.client_cpu_us for r in rounds[kind])
        served = "   n/a  " if math.isnan(server) else f"{server:5.1f} us"
        print(
            f"  {LABELS[kind]:<26} {best(kind):>11,.0f}/s  {served}  {client:5.1f} us   ({shown})"
        )
    print()
    ratios = (
        ("wagate SSE / Node socket.io", "wagate-sse", "node", "target >= 3.5x"),
        ("wagate Socket.IO / Node socket.io", "wagate-sio", "node", "target >= 0.3x"),
        ("wagate Socket.IO / bare python-socketio", "wagate-sio", "bare-sio", "target >= 2x"),
    )
    for label, over, under, target in ratios:
        if not (rounds[over] and rounds[under]):
            continue
        ratio = best(over) / best(under)
        print(f"  {label:<40} {ratio:5.2f}x   ({target})")
    print()
    print(
        f"Latency, publish -> Node client receipt: {args.latency_events} events, one per "
        f"{args.pace * 1000:.0f} ms, round-robin over {args.rooms} rooms"
    )
    for kind in kinds:
        print(f"  {LABELS[kind]:<26} {summary(latencies[kind])}")


def node_version() -> str:
    found = subprocess.run(
        ["node", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=100, help="Node clients (100)")
    parser.add_argument(
        "--rooms",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 10],
        help="rooms (one tenant each) of each run, comma-separated (1,10: one room of every "
        "client, as the issue measured; then ten rooms of a tenth of them)",
    )
    parser.add_argument(
        "--events", type=int, default=5000, help="events per room per round (5,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument("--latency-events", type=int, default=500, help="paced events (500)")
    parser.add_argument("--pace", type=float, default=0.004, help="seconds between them")
    parser.add_argument(
        "--only", default=",".join(KINDS), help=f"servers to measure ({','.join(KINDS)})"
    )
    parser.add_argument(
        "--profile", choices=KINDS[1:], help="print a cProfile of this server's bursts"
    )
    args = parser.parse_args()
    anyio.run(run, args, backend="asyncio", backend_options={"use_uvloop": True})


if __name__ == "__main__":
    main()
