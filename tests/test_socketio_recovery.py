"""socket.io's connection-state recovery with a stock Node socket.io-client 4.x over uvicorn."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from test_isolation_support import Phones, authenticator, serve, token, wait_until
from wagate import Gateway, Hub
from wagate.adapters.socketio import SocketIOAdapter

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SENDER = "+628111222333"


class NodeClient:
    """The stock client in a node process: what it reported, and commands to it."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._changed = anyio.Event()

    async def read(self) -> None:
        """Record the client's report lines until it exits (run in a task group)."""
        assert self.process.stdout is not None
        stream = BufferedByteReceiveStream(self.process.stdout)
        with contextlib.suppress(anyio.EndOfStream, anyio.IncompleteRead):
            while True:
                line = await stream.receive_until(b"\n", 1 << 20)
                self.lines.append(json.loads(line))
                self._changed.set()
                self._changed = anyio.Event()

    async def command(self, line: str) -> None:
        """Send ``break``, ``reconnect`` or ``exit``."""
        assert self.process.stdin is not None
        await self.process.stdin.send(line.encode() + b"\n")

    async def wait_for(self, count: int, kind: str, name: str | None = None) -> None:
        """Wait until ``count`` lines of ``kind`` (and event ``name``) were reported."""
        with anyio.fail_after(15):
            while len(self.of(kind, name)) < count:
                await self._changed.wait()

    def of(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        """The reported lines of ``kind`` (events: of ``name``)."""
        return [
            line
            for line in self.lines
            if line["type"] == kind and (name is None or line.get("name") == name)
        ]

    def texts(self) -> list[str]:
        """The texts of every message:received, in the order the client got them."""
        return [line["args"][0]["text"] for line in self.of("event", "message:received")]


class Recovery:
    """A server with a linked tenant, and the stock client connected to it."""

    def __init__(self, gateway: Gateway, phones: Phones, adapter: SocketIOAdapter) -> None:
        self.gateway = gateway
        self.phones = phones
        self.adapter = adapter

    def message(self, text: str) -> None:
        """A contact writes to acme."""
        self.phones.phone("acme").receive_message(sender=SENDER, text=text)

    async def send(self, client: NodeClient, texts: list[str]) -> None:
        """Messages arrive at acme; wait until the client has them all."""
        before = len(client.of("event", "message:received"))
        for text in texts:
            self.message(text)
        await client.wait_for(before + len(texts), "event", "message:received")

    async def blip(self, client: NodeClient, texts: list[str]) -> None:
        """Break the client's transport, send ``texts`` while it is away, reconnect it."""
        connects = len(client.of("connect"))
        await client.command("break")
        await client.wait_for(1 + len(client.of("disconnect")), "disconnect")
        await wait_until(lambda: self.adapter.connected == 0)
        before = self.gateway.hub.last_seq("acme") or 0
        for text in texts:
            self.message(text)
        await wait_until(lambda: (self.gateway.hub.last_seq("acme") or 0) >= before + len(texts))
        await client.command("reconnect")
        await client.wait_for(connects + 1, "connect")


@contextlib.asynccontextmanager
async def node_client(
    node: list[str], url: str, options: dict[str, Any]
) -> AsyncIterator[NodeClient]:
    """The stock client (``recover.mjs``) with ``options``, once it got its welcome."""
    async with (
        await anyio.open_process([*node, url, json.dumps(options)], stderr=None) as process,
        anyio.create_task_group() as tg,
    ):
        client = NodeClient(process)
        tg.start_soon(client.read)
        try:
            await client.wait_for(1, "event", "connection:status")
            yield client
        finally:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await client.command("exit")
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
            tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def recovery_server(
    node: list[str], hub: Hub | None = None, **client_options: Any
) -> AsyncIterator[tuple[Recovery, NodeClient]]:
    """A server for acme and a connected stock client that got its welcome."""
    phones = Phones()
    async with Gateway(phones, hub=hub) as gateway:
        await phones.link(gateway, "acme")
        adapter = SocketIOAdapter(gateway, authenticator())
        async with adapter, serve(adapter.asgi_app()) as url:
            options = {"auth": {"token": token("acme")}, **client_options}
            async with node_client(node, url, options) as client:
                yield Recovery(gateway, phones, adapter), client


async def test_a_blip_loses_nothing_and_the_client_says_recovered(
    node_socketio_client: list[str],
) -> None:
    """Messages sent while the transport is down arrive once, in order, with socket.recovered."""
    async with recovery_server(node_socketio_client) as (server, client):
        await server.send(client, ["m0", "m1", "m2"])
        first = client.of("connect")[0]
        assert first["recovered"] is False
        await server.blip(client, ["m3", "m4", "m5", "m6"])
        await client.wait_for(7, "event", "message:received")
        server.message("m7")
        await client.wait_for(8, "event", "message:received")
        assert client.texts() == [f"m{i}" for i in range(8)]
        assert client.of("connect")[-1]["recovered"] is True
        assert client.of("event", "stream:gap") == []
        # A recovered socket gets no second snapshot: it missed nothing.
        assert len(client.of("event", "connection:status")) == 1
        offsets = [line["args"][-1] for line in client.of("event", "message:received")]
        assert all(isinstance(o, str) and o.startswith("acme:") for o in offsets)


async def test_a_client_that_had_no_event_yet_recovers(node_socketio_client: list[str]) -> None:
    """A blip before the first event (socket.io#5538): recovered, and every message arrives."""
    async with recovery_server(node_socketio_client) as (server, client):
        await server.blip(client, ["z0", "z1", "z2"])
        await client.wait_for(3, "event", "message:received")
        assert client.texts() == ["z0", "z1", "z2"]
        assert client.of("connect")[-1]["recovered"] is True
        # Twice: the pid still names where the client stands.
        await server.blip(client, ["z3"])
        await client.wait_for(4, "event", "message:received")
        assert client.texts() == ["z0", "z1", "z2", "z3"]
        assert client.of("connect")[-1]["recovered"] is True


async def test_a_long_lived_connection_recovers(node_socketio_client: list[str]) -> None:
    """Long after connect (the log kept nothing of that time, socket.io#5282), a blip recovers."""
    async with recovery_server(node_socketio_client, hub=Hub(buffer=4)) as (server, client):
        texts = [f"old {i}" for i in range(40)]
        await server.send(client, texts)
        await server.blip(client, ["new 0", "new 1", "new 2"])
        await client.wait_for(43, "event", "message:received")
        assert client.texts() == [*texts, "new 0", "new 1", "new 2"]
        assert client.of("connect")[-1]["recovered"] is True


async def test_a_lost_log_says_stream_gap_then_the_state(node_socketio_client: list[str]) -> None:
    """A lost log: stream:gap naming the lost seqs, then the state, then what the log kept."""
    async with recovery_server(node_socketio_client, hub=Hub(buffer=4)) as (server, client):
        await server.send(client, ["kept 0"])
        received = client.of("event", "message:received")[0]["args"][0]["seq"]
        await server.blip(client, [f"away {i}" for i in range(20)])
        await client.wait_for(1, "event", "stream:gap")
        await wait_until(lambda: client.texts()[-1:] == ["away 19"])
        assert client.of("connect")[-1]["recovered"] is False
        gap = client.of("event", "stream:gap")[0]["args"][0]
        assert gap["tenant"] == "acme"
        assert gap["from"] == received + 1
        after_gap = client.lines[client.lines.index(client.of("event", "stream:gap")[0]) + 1 :]
        assert after_gap[0]["name"] == "connection:status"
        assert after_gap[0]["args"][0]["status"] == "connected"
        kept = client.texts()[1:]
        assert kept == [f"away {i}" for i in range(20 - len(kept), 20)]
        assert gap["to"] == gap["from"] + gap["missed"] - 1
        assert gap["missed"] == 20 - len(kept)
        # Live events go on after the recovery.
        server.message("live")
        await wait_until(lambda: client.texts()[-1:] == ["live"])


async def test_automatic_reconnection_loses_nothing(node_socketio_client: list[str]) -> None:
    """With socket.io's own reconnection: messages sent as the transport breaks arrive once."""
    async with recovery_server(node_socketio_client, reconnection=True) as (server, client):
        await server.send(client, ["a0", "a1"])
        await client.command("break")
        for i in range(2, 12):
            server.message(f"a{i}")
        await client.wait_for(2, "connect")
        await client.wait_for(12, "event", "message:received")
        server.message("a12")
        await client.wait_for(13, "event", "message:received")
        assert client.texts() == [f"a{i}" for i in range(13)]
        assert client.of("connect")[-1]["recovered"] is True
