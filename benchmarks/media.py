"""Media through the REST API against the engine call and Starlette's FileResponse, in one run.

Run::

    .venv/bin/python benchmarks/media.py                        # 50 sends of each way, 10 downloads
    .venv/bin/python benchmarks/media.py --sends 10 --downloads 3
    .venv/bin/python benchmarks/media.py --profile server.prof  # and a cProfile of the server

One child process serves ``wagate.integrations.fastapi.create_app`` (simulator
mode, one uvicorn worker, uvicorn's defaults: httptools and uvloop when
installed; no access log) over a ``Gateway`` whose media store is a
``FileMediaStore`` in a temporary directory (as ``wagate serve`` keeps media),
plus a few routes of the benchmark's own (``/bench/...``).  The tenant is linked
over HTTP (``POST /api/qr/generate``, then ``POST /api/simulator/scan``).  The
client is httpx with one keep-alive connection, in this process.

1. Sending a ~1 MiB PNG of random noise (it does not compress), each way once
   per round, the order rotating so that machine load falls on all alike:

   (a) the engine's call, timed in the server process on its event loop:
       ``await driver.send(jid, Image(bytes, mime_type=...), quoted=None)`` on the
       tenant's ``SimulatedDriver``, which is what ``Session.send`` hands the
       engine.  The simulator does no upload: this is a few microseconds of
       Python, where neonize uploads the bytes to WhatsApp's servers;
   (b) ``await session.send(to, Image(bytes))`` in the same process: (a) plus
       wagate's own work (sniffing, limits, SHA-256, storing the file);
   (c) ``POST /api/messages`` with the image as base64 in JSON;
   (d) ``POST /api/messages`` as ``multipart/form-data`` (fields ``to``,
       ``type``, a file part ``file``);
   (e) for reference, ``POST /bench/body``: the same JSON body read whole and
       answered ``{}``, the HTTP cost alone.

   The REST times are the client's (request written, answer read); the
   bodies are encoded once, before timing.

2. Downloading a 50 MiB document the simulated phone sent (kept in the store's
   file after a first download), each way once per round, alternating:

   (a) a bare Starlette route on the same server returning
       ``FileResponse(path)`` of the store's very file (no authentication);
   (b) ``GET /api/media/{id}`` with the tenant's token;
   (c) a control: a bare route answering ``Response(path.read_bytes())``, the
       whole file in memory, to show that the RSS measure sees what it should.

   Each is read whole with ``httpx`` streaming (``iter_bytes``, discarded).  The
   server's peak RSS growth during each download is its ``VmHWM`` (reset before
   the download through ``/proc/<pid>/clear_refs``; where that is refused, the
   highest ``VmRSS`` sampled every 5 ms) minus its ``VmRSS`` just before.

Nothing here asserts a timing; benchmarks are not tests.
"""

from __future__ import annotations

import os
import sys

# A script run from benchmarks/ has this folder first on sys.path, where a sibling
# named like a standard module (http.py) would shadow it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import base64
import contextlib
import cProfile
import importlib.util
import io
import json
import platform
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import fastapi
import httpx
import jwt
import starlette
import uvicorn
from fastapi import Request
from PIL import Image as PILImage
from starlette.responses import FileResponse, Response

import wagate
from wagate import (
    Document,
    FileMediaStore,
    Gateway,
    Image,
    Media,
    MediaLimits,
    MessageReceived,
)
from wagate.adapters.auth import JWTAuthenticator
from wagate.drivers.simulator import SimulatedDriver
from wagate.integrations._serving import listening_socket
from wagate.integrations.fastapi import create_app

TENANT = "bench"
CONTACT = "+628111222333"
JID = "628111222333@s.whatsapp.net"
MIB = 1024 * 1024
BIG_SIZE = 50 * MIB
IMAGE_SIDE = 591  # 591 x 591 RGB of noise: a PNG of a little over 1 MiB


# ---------------------------------------------------------------------------------
# The server (child process)


def bench_routes(
    gateway: Gateway, drivers: dict[str, SimulatedDriver], work: Path
) -> Callable[[fastapi.FastAPI], None]:
    """The benchmark's own routes: in-process timings, a bare body reader, FileResponse."""
    image = (work / "image.png").read_bytes()
    big: dict[str, Path] = {}

    def add(app: fastapi.FastAPI) -> None:
        @app.post("/bench/in-process")
        async def in_process() -> dict[str, float]:
            """Time the engine's call (a) and ``session.send`` (b) once each."""
            session = await gateway.session(TENANT)
            driver = drivers[TENANT]
            driver.phone.sent.clear()  # it keeps every message sent, bytes and all
            engine_content = Image(image, mime_type="image/png")
            start = time.perf_counter()
            await driver.send(JID, engine_content, quoted=None)
            engine = time.perf_counter() - start
            session_content = Image(image)
            start = time.perf_counter()
            await session.send(CONTACT, session_content)
            return {"engine": engine, "session": time.perf_counter() - start}

        @app.post("/bench/body")
        async def read_body(request: Request) -> dict[str, Any]:
            await request.body()
            return {}

        @app.post("/bench/big")
        async def receive_big() -> dict[str, str]:
            """The phone sends the big document; download it once into the store's file."""
            session = await gateway.session(TENANT)
            phone = drivers[TENANT].phone
            events = session.events()
            data = await anyio.Path(work / "big.bin").read_bytes()
            message_id = phone.send(CONTACT, Document(data, file_name="big.bin"))
            del data
            media_id = ""
            async for event in events:
                if isinstance(event, MessageReceived) and event.id == message_id:
                    assert isinstance(event.content, Document)
                    assert isinstance(event.content.media, Media)
                    media_id = event.content.media.id
                    break
            events.close()
            await session.download(media_id)
            phone.media.clear()  # the simulated WhatsApp's copy: not the server's to keep
            path = gateway.media_store.file(TENANT, media_id)
            assert path is not None
            big["path"] = path
            return {"id": media_id}

        @app.get("/bench/file")
        async def file_response() -> Response:
            return FileResponse(big["path"])

        @app.get("/bench/whole")
        async def whole_file() -> Response:
            return Response(await anyio.Path(big["path"]).read_bytes())

    return add


def serve(secret: str, work: Path, profile: str | None) -> None:
    """Serve the app until stdin closes; write the port to ``work/port`` when ready."""
    drivers: dict[str, SimulatedDriver] = {}

    def factory(tenant: str) -> SimulatedDriver:
        drivers[tenant] = SimulatedDriver()
        return drivers[tenant]

    gateway = Gateway(
        factory,
        media_store=FileMediaStore(work / "media"),
        media_limits=MediaLimits().but(document=64 * MIB),
    )
    app = create_app(
        gateway,
        JWTAuthenticator(secret),
        simulator=True,
        socketio=False,
        dashboard=False,
        extra_routes=bench_routes(gateway, drivers, work),
    )
    sock = listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
                await anyio.sleep(0.01)
            await anyio.Path(work / "port").write_text(str(sock.getsockname()[1]))
            await anyio.to_thread.run_sync(sys.stdin.read)  # until the parent closes it
            server.should_exit = True

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    try:
        if importlib.util.find_spec("uvloop"):  # what uvicorn's loop="auto" picks
            anyio.run(main, backend_options={"use_uvloop": True})
        else:
            anyio.run(main)
    finally:
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)


# ---------------------------------------------------------------------------------
# The client


def noise_png(side: int) -> bytes:
    out = io.BytesIO()
    PILImage.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def write_big(path: Path) -> None:
    with path.open("wb") as file:
        for _ in range(BIG_SIZE // MIB):
            file.write(os.urandom(MIB))


def multipart(image: bytes) -> tuple[bytes, str]:
    boundary = f"wagate-bench-{secrets.token_hex(8)}"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("to", CONTACT), ("type", "image"))
    )
    file_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="noise.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    body = (head + file_head).encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def timed_post(client: httpx.Client, path: str, body: bytes, content_type: str) -> float:
    start = time.perf_counter()
    answer = client.post(path, content=body, headers={"Content-Type": content_type})
    elapsed = time.perf_counter() - start
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return elapsed


def send_rounds(client: httpx.Client, image: bytes, rounds: int) -> dict[str, list[float]]:
    """One send of each kind per round, in a rotating order."""
    payload = {"type": "image", "media": {"data": base64.b64encode(image).decode()}}
    json_body = json.dumps({"to": CONTACT, "content": payload}).encode()
    form_body, form_type = multipart(image)
    times: dict[str, list[float]] = {key: [] for key in "abcde"}

    def in_process() -> None:
        answer = client.post("/bench/in-process")
        answer.raise_for_status()
        timings = answer.json()
        times["a"].append(timings["engine"])
        times["b"].append(timings["session"])

    steps: list[Callable[[], None]] = [
        in_process,
        lambda: times["c"].append(
            timed_post(client, "/api/messages", json_body, "application/json")
        ),
        lambda: times["d"].append(timed_post(client, "/api/messages", form_body, form_type)),
        lambda: times["e"].append(timed_post(client, "/bench/body", json_body, "application/json")),
    ]
    for _ in range(3):  # warm up every path
        for step in steps:
            step()
    times = {key: [] for key in times}
    for index in range(rounds):
        shift = index % len(steps)
        for step in steps[shift:] + steps[:shift]:
            step()
    return times


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


@contextlib.contextmanager
def peak_growth(pid: int, result: list[float]) -> Iterator[None]:
    """Append the server's peak RSS growth (MiB) over the block to ``result``."""
    before = status_kib(pid, "VmRSS")
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to VmRSS
        reset = True
    except OSError:
        reset = False
    highest = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            highest[0] = max(highest[0], status_kib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        peak = max(highest[0], status_kib(pid, "VmHWM") if reset else 0)
        result.append((peak - before) / 1024)


def download(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    size = 0
    with client.stream("GET", path) as answer:
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}")
        for chunk in answer.iter_bytes():
            size += len(chunk)
    elapsed = time.perf_counter() - start
    if size != BIG_SIZE:
        raise SystemExit(f"{path} gave {size:,} bytes, not {BIG_SIZE:,}")
    return BIG_SIZE / MIB / elapsed


def download_rounds(
    client: httpx.Client, pid: int, media_id: str, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """MiB/s and peak RSS growth of each way, the order rotating each round."""
    paths = {"a": "/bench/file", "b": f"/api/media/{media_id}", "c": "/bench/whole"}
    speeds: dict[str, list[float]] = {key: [] for key in paths}
    growth: dict[str, list[float]] = {key: [] for key in paths}
    for path in paths.values():  # warm up
        download(client, path)
    keys = list(paths)
    for index in range(rounds):
        shift = index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            with peak_growth(pid, growth[key]):
                speeds[key].append(download(client, paths[key]))
    return speeds, growth


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def mint(secret: str) -> str:
    now = int(time.time())
    claims = {"sub": "bench", "tenant": TENANT, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


def link(client: httpx.Client) -> None:
    generated = client.post("/api/qr/generate")
    scanned = client.post("/api/simulator/scan")
    if generated.status_code != 202 or scanned.status_code != 200:
        raise SystemExit(f"linking failed: {generated.text} {scanned.text}")


def report_sends(times: dict[str, list[float]], image_size: int) -> None:
    names = {
        "a": "(a) engine: driver.send(jid, Image)",
        "b": "(b) session.send(to, Image)",
        "c": "(c) REST POST /api/messages, JSON",
        "d": "(d) REST POST /api/messages, form",
        "e": "(e) bare POST, same JSON body read",
    }
    base = statistics.median(times["a"])
    bare = statistics.median(times["e"])
    rounds = len(times["a"])
    print(f"\n1. sending a {image_size:,}-byte PNG of noise, {rounds} rounds (time per send)")
    print(f"{'':<38}{'median':>11}{'p90':>11}{'/ (a)':>9}{'/ (e)':>8}{'- (a)':>11}")
    for key, name in names.items():
        median = statistics.median(times[key])
        print(
            f"{name:<38}{median * 1e3:>8.3f} ms{p90(times[key]) * 1e3:>8.3f} ms"
            f"{median / base:>8,.0f}x{median / bare:>7.2f}x{(median - base) * 1e3:>8.2f} ms"
        )
    print(
        "    (a) and (b) are timed in the server process on its event loop, (c)-(e) by the\n"
        "    client (request written, answer read). (a) is the simulator's engine call: no\n"
        "    upload and no network, a few microseconds, so '/ (a)' is large by construction;\n"
        "    with neonize (a) includes uploading the bytes to WhatsApp, and '- (a)' is what\n"
        "    wagate and REST add to it. (e) is the HTTP transfer of the same body alone."
    )


def report_downloads(
    speeds: dict[str, list[float]], growth: dict[str, list[float]], rss_mib: float
) -> None:
    names = {
        "a": "(a) Starlette FileResponse",
        "b": "(b) GET /api/media/{id}",
        "c": "(c) control: Response(bytes)",
    }
    base = statistics.median(speeds["a"])
    rounds = len(speeds["a"])
    print(f"\n2. downloading a {BIG_SIZE:,}-byte document, {rounds} rounds (httpx streaming)")
    print(f"{'':<30}{'median':>12}{'min':>12}{'/ (a)':>8}{'peak RSS growth (max)':>24}")
    for key, name in names.items():
        median = statistics.median(speeds[key])
        print(
            f"{name:<30}{median:>7,.0f} MB/s{min(speeds[key]):>7,.0f} MB/s"
            f"{median / base:>7.2f}x{max(growth[key]):>20.1f} MiB"
        )
    print(
        f"    MB is MiB. RSS is the server process's ({rss_mib:,.0f} MiB before the downloads):\n"
        "    its peak during each download minus its RSS just before, the largest of the rounds."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=50, help="rounds of sends")
    parser.add_argument("--downloads", type=int, default=10, help="rounds of downloads")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the server")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(os.environ["BENCH_SECRET"], Path(args.serve), args.profile)
        return

    secret = secrets.token_urlsafe(48)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = noise_png(IMAGE_SIDE)
        (work / "image.png").write_bytes(image)
        write_big(work / "big.bin")
        command = [sys.executable, __file__, "--serve", tmp]
        if args.profile:
            command += ["--profile", os.path.abspath(args.profile)]
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, env={**os.environ, "BENCH_SECRET": secret}
        )
        try:
            deadline = time.monotonic() + 60
            port_file = work / "port"
            while not port_file.exists() or not port_file.read_text():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.05)
            base_url = f"http://127.0.0.1:{port_file.read_text()}"
            headers = {"Authorization": f"Bearer {mint(secret)}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
                link(client)
                loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
                http = "httptools" if importlib.util.find_spec("httptools") else "h11"
                print(
                    f"wagate {wagate.__version__}, fastapi {fastapi.__version__}, "
                    f"starlette {starlette.__version__}, uvicorn {uvicorn.__version__} "
                    f"({http}, {loop}), httpx {httpx.__version__}, "
                    f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
                print(
                    "server: one uvicorn worker in a child process, FileMediaStore in a "
                    "temporary directory;\nclient: httpx, one keep-alive connection"
                )
                times = send_rounds(client, image, args.sends)
                answer = client.post("/bench/big", timeout=300)
                answer.raise_for_status()
                (work / "big.bin").unlink()
                rss_mib = status_kib(child.pid, "VmRSS") / 1024
                speeds, growth = download_rounds(
                    client, child.pid, answer.json()["id"], args.downloads
                )
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
    report_sends(times, len(image))
    report_downloads(speeds, growth, rss_mib)


if __name__ == "__main__":
    main()
