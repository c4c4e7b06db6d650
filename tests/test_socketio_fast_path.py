"""The Socket.IO adapter's broadcast path and wagate's uvicorn websocket protocol.

A room broadcast is encoded once and, on a connection served by
:class:`wagate.integrations.uvicorn.WebSocketProtocol`, written as one frame to every
ready socket; elsewhere it is queued on engine.io's sockets.  These tests drive
real uvicorn servers with real clients (python-socketio's client over websocket and
over long-polling, and raw websockets) and check what each client receives: all of
it, once, in order, its own tenant's only, with either protocol, from a slow reader
too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import socketio
import websockets

from test_isolation_support import Phones, authenticator, serve, token, wait_until
from test_socketio_recovery import node_client
from wagate import Gateway, Hub, MessageReceived
from wagate._events import utcnow
from wagate.adapters._websocket import text_frame
from wagate.adapters.socketio import SocketIOAdapter
from wagate.integrations.uvicorn import CoalescingTransport, WebSocketProtocol

SENDER = "628111222333@s.whatsapp.net"
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PROTOCOLS = {"wagate": WebSocketProtocol, "uvicorn": "websockets-sansio"}


def message(tenant: str, seq: int) -> MessageReceived:
    now = utcnow()
    return MessageReceived(
        tenant=tenant,
        seq=seq,
        at=now,
        id=f"3EB0{seq:016X}",
        chat=SENDER,
        sender=SENDER,
        push_name="Bench",
        text=f"{tenant} {seq}",
        is_group=False,
        timestamp=now,
    )


@contextlib.asynccontextmanager
async def adapter_server(ws: Any, hub: Hub | None = None) -> AsyncIterator[tuple[Hub, str]]:
    """The adapter over a hub on uvicorn with websocket protocol ``ws``; yield (hub, url)."""
    hub = hub or Hub(buffer=50_000, all_buffer=200_000)
    async with Gateway(Phones(), hub=hub) as gateway:
        adapter = SocketIOAdapter(gateway, authenticator(), ping_interval=60, ping_timeout=60)
        async with adapter, serve(adapter.asgi_app(), ws=ws) as url:
            yield hub, url


class Collector:
    """A python-socketio client that records the message:received texts it gets."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.texts: list[str] = []
        self.sio.on("message:received", self._got)
        self.welcomed = anyio.Event()
        self.sio.on("connection:status", self._welcome)

    async def _got(self, data: dict[str, Any], offset: str) -> None:
        self.texts.append(data["text"])

    async def _welcome(self, *args: Any) -> None:
        self.welcomed.set()

    async def connect(self, url: str, tenant: str, transport: str) -> None:
        """Connect over ``transport`` and wait for the welcome."""
        await self.sio.connect(
            url, auth={"token": token(tenant)}, transports=[transport], wait_timeout=5
        )
        with anyio.fail_after(5):
            await self.welcomed.wait()


@pytest.mark.parametrize("ws", PROTOCOLS.values(), ids=PROTOCOLS.keys())
async def test_a_burst_reaches_every_client_once_in_order_and_only_its_tenants(
    ws: Any, node_socketio_client: list[str]
) -> None:
    """Every client gets its own tenant's burst, whole and in order.

    Two tenants; python-socketio over websocket, the stock client over long-polling
    and upgraded from it (a browser's way).
    """
    async with adapter_server(ws) as (hub, url), contextlib.AsyncExitStack() as stack:
        texts: dict[tuple[str, str], Callable[[], list[str]]] = {}
        for tenant in ("acme", "globex"):
            for i in range(2):
                collector = Collector()
                await collector.connect(url, tenant, "websocket")
                stack.push_async_callback(collector.sio.disconnect)
                texts[(tenant, f"websocket {i}")] = functools.partial(list, collector.texts)
            for transports in (["polling"], ["polling", "websocket"]):
                options = {"auth": {"token": token(tenant)}, "transports": transports}
                node = await stack.enter_async_context(
                    node_client(node_socketio_client, url, options)
                )
                texts[(tenant, "+".join(transports))] = node.texts
        count = 400
        for seq in range(1, count + 1):
            hub.publish(message("acme", seq))
            hub.publish(message("globex", seq))
            if seq % 100 == 0:
                await anyio.lowlevel.checkpoint()
        await wait_until(lambda: all(len(got()) >= count for got in texts.values()), 20)
        await anyio.sleep(0.2)  # nothing more may follow
        for (tenant, _), got in texts.items():
            assert got() == [f"{tenant} {seq}" for seq in range(1, count + 1)]


async def raw_socket(url: str, tenant: str, **options: Any) -> Any:
    """A raw Engine.IO websocket, connected to the namespace and past its welcome."""
    ws = await websockets.connect(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", **options
    )
    assert str(await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token(tenant)}))
    while not str(await ws.recv()).startswith('42["connection:status"'):
        pass
    return ws


async def test_wagates_protocol_declines_permessage_deflate_and_uvicorns_accepts_it() -> None:
    """A client offering compression gets none from wagate's protocol (as socket.io's server)."""
    for ws, compressed in ((WebSocketProtocol, False), ("websockets-sansio", True)):
        async with adapter_server(ws) as (_hub, url):
            raw = await raw_socket(url, "acme", compression="deflate")
            try:
                extensions = raw.response.headers.get("Sec-WebSocket-Extensions") or ""
                assert ("permessage-deflate" in extensions) is compressed
            finally:
                await raw.close()


async def test_the_same_frames_with_either_protocol() -> None:
    """What a raw client reads is byte for byte python-socketio's encoding, both ways."""
    seen: dict[str, list[str]] = {}
    for name, ws in PROTOCOLS.items():
        async with adapter_server(ws) as (hub, url):
            raw = await raw_socket(url, "acme", compression=None)
            try:
                events = [message("acme", seq) for seq in range(1, 6)]
                for event in events:
                    hub.publish(event)
                got: list[str] = []
                with anyio.fail_after(5):
                    while len(got) < len(events):
                        text = str(await raw.recv())
                        if text.startswith("42"):
                            got.append(text)
                seen[name] = got
            finally:
                await raw.close()
        for text, seq in zip(got, range(1, 6), strict=True):
            name_, data, offset = json.loads(text[2:])
            assert name_ == "message:received"
            assert (data["text"], offset) == (f"acme {seq}", f"acme:{seq}")

    # Only the events' own `at` differs between the two runs: compare without it.
    def shape(texts: list[str]) -> list[Any]:
        out = []
        for text in texts:
            _, data, offset = json.loads(text[2:])
            out.append((sorted(k for k in data), data["text"], offset))
        return out

    assert shape(seen["wagate"]) == shape(seen["uvicorn"])


async def test_a_slow_reader_gets_everything_in_order() -> None:
    """A client that stops reading fills its buffers; it still gets every event, in order."""
    async with adapter_server(WebSocketProtocol) as (hub, url):
        raw = await raw_socket(url, "acme", compression=None, max_queue=1, max_size=None)
        try:
            count = 6000  # ~3 MB: more than the socket buffers hold while nobody reads
            for seq in range(1, count + 1):
                hub.publish(message("acme", seq))
                if seq % 500 == 0:
                    await anyio.sleep(0.01)
            seqs: list[int] = []
            with anyio.fail_after(30):
                while len(seqs) < count:
                    text = str(await raw.recv())
                    if text == "2":
                        await raw.send("3")
                    elif text.startswith("42"):
                        seqs.append(json.loads(text[2:])[1]["seq"])
            assert seqs == list(range(1, count + 1))
        finally:
            await raw.close()


def test_a_text_frame_is_rfc_6455s_unmasked_text_frame() -> None:
    """The three length forms, with FIN and the text opcode, unmasked."""
    assert text_frame("hi") == b"\x81\x02hi"
    medium = text_frame("x" * 300)
    assert medium[:4] == b"\x81\x7e\x01\x2c"
    assert medium[4:] == b"x" * 300
    large = text_frame("é" * 40_000)  # 80,000 bytes of UTF-8
    assert large[:2] == b"\x81\x7f"
    assert int.from_bytes(large[2:10], "big") == 80_000


async def test_the_coalescing_transport_writes_one_turn_in_one_write() -> None:
    """Writes of one loop turn reach the peer together and in order; close flushes first."""
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    right.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, left)
    coalescing = CoalescingTransport(transport, loop)
    writes: list[bytes] = []
    real_write = transport.write

    def recorded(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        real_write(data)

    transport.write = recorded  # type: ignore[method-assign]
    for part in (b"one ", b"two ", b"three"):
        coalescing.write(part)
    assert writes == []  # nothing before the turn ends
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert writes == [b"one two three"]
    coalescing.write(b" four")
    coalescing.close()  # flushes what is gathered, then closes
    assert writes == [b"one two three", b" four"]
    received = b""
    with anyio.fail_after(5):
        while not received.endswith(b"four"):
            received += await loop.sock_recv(right, 1024)
    assert received == b"one two three four"
    right.close()
