"""Two server processes on one Redis: an event of a session held by A reaches a client of B."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis.asyncio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from test_isolation_support import SECRET, token
from test_socketio import Client, texts_of

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

# One server process: a gateway, the Socket.IO adapter on python-socketio's Redis
# manager, uvicorn on an OS port.  It prints {"port"} when ready and obeys JSON lines
# on stdin: {"op": "message", "tenant", "text"} makes a contact write to a tenant.
SERVER = r"""
import json, os, socket, sys

import anyio, anyio.to_thread, socketio, uvicorn

from wagate import Connected, Gateway, QrGenerated
from wagate.adapters.auth import JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone


async def main(redis_url, channel, tenants):
    phones = {t: SimulatedPhone(number=f"+62812300{i:04d}", name=t) for i, t in enumerate(tenants)}
    gateway = Gateway(lambda tenant: SimulatedDriver(phone=phones[tenant]))
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    adapter = SocketIOAdapter(
        gateway, JWTAuthenticator(os.environ["WAGATE_TEST_SECRET"]), client_manager=manager
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        adapter.asgi_app(),
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    async with gateway, adapter, anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        for tenant in tenants:
            session = await gateway.session(tenant)
            events = session.events()
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    phones[tenant].scan(event.code)
                elif isinstance(event, Connected):
                    break
            events.close()
        print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            command = json.loads(line)
            if command["op"] == "message":
                phones[command["tenant"]].receive_message(
                    sender="+628111222333", text=command["text"]
                )
        server.should_exit = True


anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3:])
"""


class ServerProcess:
    """A server process and its control channel."""

    def __init__(self, process: Process, url: str) -> None:
        self.process = process
        self.url = url

    async def message(self, tenant: str, text: str) -> None:
        """Make a contact write to ``tenant``, whose session this process holds."""
        assert self.process.stdin is not None
        line = json.dumps({"op": "message", "tenant": tenant, "text": text}) + "\n"
        await self.process.stdin.send(line.encode())


@contextlib.asynccontextmanager
async def server_process(
    redis_url: str, channel: str, *tenants: str
) -> AsyncIterator[ServerProcess]:
    """Start a server process holding (and linking) ``tenants``' sessions."""
    env = {**os.environ, "WAGATE_TEST_SECRET": SECRET}
    async with await anyio.open_process(
        [sys.executable, "-c", SERVER, redis_url, channel, *tenants], env=env, stderr=None
    ) as process:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 4096)
        port = json.loads(line)["port"]
        try:
            yield ServerProcess(process, f"http://127.0.0.1:{port}")
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def subscribers(client: Any, channel: str) -> int:
    """How many server processes listen on the Redis channel."""
    counts = await client.pubsub_numsub(channel)
    return int(counts[0][1]) if counts else 0


async def wait_for_listeners(client: Any, channel: str, count: int) -> None:
    """Wait until ``count`` server processes listen on the channel."""
    with anyio.fail_after(10):
        while await subscribers(client, channel) < count:  # noqa: ASYNC110 - Redis has no push for this
            await anyio.sleep(0.02)


@pytest.mark.timeout(90)
async def test_event_of_a_session_in_process_a_reaches_a_client_of_process_b(
    redis_url: str,
) -> None:
    """Through AsyncRedisManager a message of A's session reaches B's socket of its tenant only."""
    channel = f"wagate-test-{uuid.uuid4().hex}"
    control = redis.asyncio.Redis.from_url(redis_url)
    clients: list[Client] = []
    try:
        async with (
            server_process(redis_url, channel, "acme", "globex") as a,
            server_process(redis_url, channel) as b,
        ):
            on_b = Client()
            clients.append(on_b)
            await on_b.connect(b.url, {"token": token("acme")})
            await on_b.wait_for(bool)
            # B holds no session of acme: its welcome says so, live events come from A.
            assert on_b.messages[0][1]["status"] == "disconnected"
            other_on_b = Client()
            clients.append(other_on_b)
            await other_on_b.connect(b.url, {"token": token("globex")})
            await other_on_b.wait_for(bool)
            on_a = Client()
            clients.append(on_a)
            await on_a.connect(a.url, {"token": token("acme")})
            await on_a.wait_for(bool)
            await wait_for_listeners(control, channel, 2)

            for i in range(3):
                await a.message("acme", f"from A {i}")
            await a.message("globex", "globex only")
            await on_b.wait_text("from A 2")
            await on_a.wait_text("from A 2")
            await other_on_b.wait_text("globex only")
            assert texts_of(on_b.messages) == [f"from A {i}" for i in range(3)]
            assert texts_of(on_a.messages) == [f"from A {i}" for i in range(3)]
            assert texts_of(other_on_b.messages) == ["globex only"]
            seqs = [d["seq"] for n, d in on_b.messages if n == "message:received"]
            assert seqs == sorted(seqs)
            for client in clients:
                await client.sio.disconnect()
    finally:
        await control.aclose()
