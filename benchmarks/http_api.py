"""HTTP throughput of wagate's REST routes against a bare FastAPI route, in one run.

Run::

    .venv/bin/python benchmarks/http_api.py            # 20 slices of 0.5 s per route
    .venv/bin/python benchmarks/http_api.py --slices 40 --connections 32

One child process serves one FastAPI app on uvicorn (one worker, uvicorn's
defaults: httptools and uvloop when installed; no access log):
``wagate.integrations.fastapi.create_app`` in
simulator mode, with its tenant linked, plus two routes that do no work
(``GET /bare`` and ``POST /bare`` answering ``{}``).  So both sides share the
server, its settings and the client.  The client is a small asyncio HTTP/1.1
keep-alive client (pre-encoded requests, ``--connections`` connections in
parallel) that counts 200 answers for a fixed time.  Each wagate route and its
bare twin are measured in short alternating slices, so that load from elsewhere
on the machine falls on both alike; the ratio is of their totals, and the spread
of the per-slice ratios shows how steady the machine was.

- ``POST /api/send`` (a JWT checked, the body parsed and validated, the message
  handed to the simulated WhatsApp, the ``message:sent`` event published) against
  ``POST /bare`` with the same body;
- ``GET /status`` (a JWT checked, the status encoded) against ``GET /bare``;
- each of them again against a bare route doing the same work by hand
  (``POST /bare/send``, ``GET /bare/status``: the same authenticator, the same
  session call, the same payload, as plain FastAPI routes): the cost of wagate's
  REST layer alone.

Nothing here asserts a timing; benchmarks are not tests.
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's ``http`` package; run as a script,
# its folder comes first on sys.path and would hide it from everything imported below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402
import attrs  # noqa: E402
import fastapi  # noqa: E402
import fastapi.responses  # noqa: E402
import jwt  # noqa: E402
import uvicorn  # noqa: E402

import wagate  # noqa: E402
from wagate import Connected, Gateway, QrGenerated, status_payload, to_wire  # noqa: E402
from wagate.adapters.auth import JWTAuthenticator  # noqa: E402
from wagate.drivers.simulator import SimulatedDriver  # noqa: E402
from wagate.integrations._serving import listening_socket  # noqa: E402
from wagate.integrations.fastapi import create_app  # noqa: E402

TENANT = "bench"
CONTACT = "+628111222333"


# ---------------------------------------------------------------------------------
# The server (child process)


def serve(secret: str, port_file: str) -> None:
    """Serve the app until stdin closes; write the port to ``port_file`` when ready."""
    drivers: dict[str, SimulatedDriver] = {}

    def factory(tenant: str) -> SimulatedDriver:
        drivers[tenant] = SimulatedDriver()
        return drivers[tenant]

    gateway = Gateway(factory)
    authenticator = JWTAuthenticator(secret)

    def bare_routes(app: fastapi.FastAPI) -> None:
        @app.get("/bare")
        async def get_bare() -> dict[str, Any]:
            return {}

        @app.post("/bare")
        async def post_bare() -> dict[str, Any]:
            return {}

        # The same work by hand: the token checked by the same authenticator, the same
        # session call, the same payload, with none of wagate's REST layer around it.
        def tenant_of(request: fastapi.Request) -> str:
            _, _, token = request.headers.get("authorization", "").partition(" ")
            return next(iter(authenticator.authenticate(token).tenants))

        @app.get("/bare/status")
        async def get_bare_status(request: fastapi.Request) -> fastapi.Response:
            session = await gateway.session(tenant_of(request))
            return fastapi.responses.JSONResponse(status_payload(session.status))

        @app.post("/bare/send")
        async def post_bare_send(request: fastapi.Request) -> fastapi.Response:
            session = await gateway.session(tenant_of(request))
            body = json.loads(await request.body())
            sent = await session.send_text(body["to"], body["text"])
            return fastapi.responses.JSONResponse(to_wire(sent)[0].data)

    app = create_app(
        gateway,
        JWTAuthenticator(secret),
        simulator=True,
        socketio=False,
        dashboard=False,
        extra_routes=bare_routes,
    )
    sock = listening_socket("127.0.0.1", 0, backlog=4096)
    # uvicorn's defaults, as `wagate serve` runs: httptools and uvloop when installed.
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
                await anyio.sleep(0.01)
            session = await gateway.session(TENANT)
            events = session.events()
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    drivers[TENANT].phone.scan(event.code)
                elif isinstance(event, Connected):
                    break
            events.close()
            await anyio.Path(port_file).write_text(str(sock.getsockname()[1]))
            await anyio.to_thread.run_sync(sys.stdin.read)  # until the parent closes it
            server.should_exit = True

    try:
        import uvloop  # noqa: F401, PLC0415 - what uvicorn's loop="auto" picks
    except ImportError:
        anyio.run(main)
    else:
        anyio.run(main, backend_options={"use_uvloop": True})


# ---------------------------------------------------------------------------------
# The client


def request_bytes(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
    ]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def one_connection(
    port: int, request: bytes, expected: bytes, deadline: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counts[0 if head.startswith(expected) else 1] += 1
    finally:
        writer.close()


async def measure(port: int, request: bytes, seconds: float, connections: int) -> int:
    """How many requests were answered 200 in ``seconds``; any other answer is fatal."""
    counts = [0, 0]
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            one_connection(port, request, b"HTTP/1.1 200", deadline, counts)
            for _ in range(connections)
        )
    )
    if counts[1]:
        raise SystemExit(f"{counts[1]} answers were not 200 OK; the benchmark is invalid")
    return counts[0]


@attrs.frozen
class Pair:
    """One wagate route against the bare route, measured in alternating slices."""

    name: str
    bare: str
    counts: list[int]
    bare_counts: list[int]
    slice_seconds: float

    @property
    def rate(self) -> float:
        return sum(self.counts) / (len(self.counts) * self.slice_seconds)

    @property
    def bare_rate(self) -> float:
        return sum(self.bare_counts) / (len(self.bare_counts) * self.slice_seconds)

    @property
    def slice_ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.counts, self.bare_counts, strict=True)]


async def measure_pair(
    port: int,
    requests: dict[str, bytes],
    name: str,
    bare: str,
    args: argparse.Namespace,
) -> Pair:
    """Alternate short slices of the two routes, so both see the same machine load."""
    pair = Pair(name, bare, [], [], args.slice)
    for index in range(args.slices):
        # Swap which goes first each time: neither always follows the other.
        order = [(name, pair.counts), (bare, pair.bare_counts)]
        for route, counts in order if index % 2 == 0 else reversed(order):
            counts.append(await measure(port, requests[route], args.slice, args.connections))
    return pair


def mint(secret: str) -> str:
    now = int(time.time())
    claims = {"sub": "bench", "tenant": TENANT, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slice", type=float, default=0.5, help="seconds per slice")
    parser.add_argument("--slices", type=int, default=20, help="slices per route")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(os.environ["BENCH_SECRET"], args.serve)
        return

    secret = secrets.token_urlsafe(48)
    token = mint(secret)
    send_body = json.dumps({"to": CONTACT, "text": "benchmark message"}).encode()
    routes = {
        "POST /api/send": request_bytes("POST", "/api/send", token, send_body),
        "POST /bare": request_bytes("POST", "/bare", token, send_body),
        "GET /status": request_bytes("GET", "/status", token),
        "GET /bare": request_bytes("GET", "/bare", token),
        "POST /bare/send": request_bytes("POST", "/bare/send", token, send_body),
        "GET /bare/status": request_bytes("GET", "/bare/status", token),
    }
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file)],
            stdin=subprocess.PIPE,
            env={**os.environ, "BENCH_SECRET": secret},
        )
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
            http = "httptools" if importlib.util.find_spec("httptools") else "h11"
            print(
                f"wagate {wagate.__version__}, fastapi {fastapi.__version__}, "
                f"uvicorn {uvicorn.__version__} ({http}, {loop}), "
                f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            print(
                "server: one uvicorn worker in a child process, one app (wagate + bare routes);"
                f"\nclient: {args.connections} keep-alive connections; each route measured in "
                f"{args.slices} slices of {args.slice:g} s, alternating with its bare route"
            )
            for request in routes.values():  # warm up every route
                asyncio.run(measure(port, request, 0.5, args.connections))
            pairs = [
                asyncio.run(measure_pair(port, routes, name, bare, args))
                for name, bare in (
                    ("POST /api/send", "POST /bare"),
                    ("POST /api/send", "POST /bare/send"),
                    ("GET /status", "GET /bare"),
                    ("GET /status", "GET /bare/status"),
                )
            ]
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
    print()
    print(
        f"{'route':<16}{'requests/s':>11}  {'bare route':<17}{'requests/s':>11}"
        f"{'ratio':>8}   per-slice ratio (min / median / max)"
    )
    for pair in pairs:
        ratios = pair.slice_ratios
        print(
            f"{pair.name:<16}{pair.rate:>11,.0f}  {pair.bare:<17}{pair.bare_rate:>11,.0f}"
            f"{pair.rate / pair.bare_rate:>7.2f}x   "
            f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
