"""The Socket.IO adapter over uvicorn, with python-socketio's AsyncClient over websockets."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import jwt
import pytest
import socketio
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from test_isolation_support import (
    WRONG_SECRET,
    Phones,
    authenticator,
    hs256_with_key_bytes,
    serve,
    token,
    unsigned_token,
    wait_until,
)
from test_messaging_support import every_update, wire
from wagate import Gateway, QrGenerated
from wagate.adapters.auth import Authenticator, JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter

pytestmark = pytest.mark.anyio

SENDER = "+628111222333"

Message = tuple[str, Any]


class Client:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: list[Message] = []
        self.connect_error: Any = None
        self.disconnected = anyio.Event()
        self._changed = anyio.Event()
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._refused)
        self.sio.on("disconnect", self._gone)

    async def _record(self, event: str, data: Any = None, *offset: str) -> None:
        self.messages.append((event, data))
        self._changed.set()
        self._changed = anyio.Event()

    async def _refused(self, data: Any = None) -> None:
        self.connect_error = data

    async def _gone(self, *reason: Any) -> None:
        self.disconnected.set()

    async def connect(self, url: str, auth: Any = None, **kwargs: Any) -> None:
        """Connect over the websocket transport."""
        await self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=5, **kwargs)

    async def wait_for(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5
    ) -> None:
        """Wait until the recorded messages satisfy ``predicate``."""
        with anyio.fail_after(timeout):
            while True:
                changed = self._changed
                if predicate(self.messages):
                    return
                await changed.wait()

    async def wait_text(self, text: str) -> None:
        """Wait for a message:received with ``text``."""
        await self.wait_for(lambda ms: any(texts_of([m]) == [text] for m in ms))

    def names(self) -> list[str]:
        """The event names received, in order."""
        return [name for name, _ in self.messages]


def texts_of(messages: list[Message]) -> list[str]:
    """The texts of the message:received events among ``messages``."""
    return [data["text"] for name, data in messages if name == "message:received"]


class Server:
    """A gateway with simulated tenants behind the Socket.IO adapter on uvicorn."""

    def __init__(self, gateway: Gateway, phones: Phones, adapter: SocketIOAdapter, url: str):
        self.gateway = gateway
        self.phones = phones
        self.adapter = adapter
        self.url = url
        self.clients: list[Client] = []

    def message(self, tenant: str, text: str) -> None:
        """A contact writes to ``tenant``'s account."""
        self.phones.phone(tenant).receive_message(sender=SENDER, text=text)

    async def client(
        self, auth: Any = None, *, ready: str = "connection:status", **kwargs: Any
    ) -> Client:
        """A connected client that has received its welcome snapshot (``ready``)."""
        client = Client()
        self.clients.append(client)
        await client.connect(self.url, auth, **kwargs)
        await client.wait_for(lambda ms: any(name == ready for name, _ in ms))
        return client

    async def refused(self, auth: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Connect, expect a refusal, and return the refusal's JSON error."""
        client = Client()
        self.clients.append(client)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(self.url, auth, **kwargs)
        assert isinstance(client.connect_error, dict)
        error: dict[str, Any] = client.connect_error["data"]["error"]
        return error


@contextlib.asynccontextmanager
async def sio_server(
    link: tuple[str, ...] = ("acme",), auth: Authenticator | None = None, **options: Any
) -> AsyncIterator[Server]:
    """A running adapter whose tenants in ``link`` are linked."""
    phones = Phones()
    async with Gateway(phones) as gateway:
        for tenant in link:
            await phones.link(gateway, tenant)
        adapter = SocketIOAdapter(gateway, auth or authenticator(), **options)
        async with adapter, serve(adapter.asgi_app()) as url:
            server = Server(gateway, phones, adapter, url)
            try:
                yield server
            finally:
                for client in server.clients:
                    await client.sio.disconnect()


# ------------------------------------------------------------------ connect and welcome


async def test_connect_sends_status_then_every_event_of_the_tenant() -> None:
    """After connect: connection:status, then every live event with colon names, in seq order."""
    async with sio_server() as server:
        client = await server.client({"token": token("acme")})
        first_name, status = client.messages[0]
        assert first_name == "connection:status"
        assert status["status"] == "connected"
        assert status["user"]["phone"] == server.phones.phone("acme").number
        for i in range(5):
            server.message("acme", f"m{i}")
        await client.wait_text("m4")
        received = [d for n, d in client.messages if n == "message:received"]
        assert [d["text"] for d in received] == [f"m{i}" for i in range(5)]
        seqs = [d["seq"] for d in received]
        assert seqs == sorted(seqs)
        assert all(d["tenant"] == "acme" for d in received)


async def test_pending_qr_is_sent_right_after_connect() -> None:
    """A tenant waiting for a scan: connect brings connection:status and the pending QR."""
    async with sio_server(link=()) as server:
        session = await server.gateway.session("acme")
        events = session.events()
        await session.connect()
        with anyio.fail_after(5):
            async for event in events:
                if isinstance(event, QrGenerated):
                    qr_event = event
                    break
        events.close()
        client = await server.client({"token": token("acme")})
        await client.wait_for(lambda ms: len(ms) >= 2)
        (status_name, status), (qr_name, qr) = client.messages[:2]
        assert (status_name, status["state"]) == ("connection:status", "awaiting_scan")
        assert qr_name == "qr:generated"
        assert qr["qrCode"].startswith("data:image/png;base64,")
        assert qr["qr"] == qr_event.code
        assert qr["seq"] == qr_event.seq


async def test_whole_login_is_pushed_with_colon_names() -> None:
    """A login seen live: connection:status, qr:generated, whatsapp:connected, connection:status."""
    async with sio_server(link=()) as server:
        client = await server.client({"token": token("acme")})
        assert client.messages[0][1]["status"] == "disconnected"
        await server.phones.link(server.gateway, "acme")
        await client.wait_for(lambda ms: "whatsapp:connected" in [n for n, _ in ms])
        await client.wait_for(lambda ms: len(ms) >= 5)
        assert client.names() == [
            "connection:status",
            "connection:status",
            "qr:generated",
            "whatsapp:connected",
            "connection:status",
        ]
        server.message("acme", "hi")
        await client.wait_text("hi")
        await server.gateway.get("acme").send_text(SENDER, "hello")  # type: ignore[union-attr]
        await client.wait_for(lambda ms: "message:sent" in [n for n, _ in ms])
        sent = next(d for n, d in client.messages if n == "message:sent")
        assert (sent["message"], sent["success"]) == ("hello", True)
        server.phones.phone("acme").logout()
        await client.wait_for(lambda ms: "whatsapp:disconnected" in [n for n, _ in ms])
        gone = next(d for n, d in client.messages if n == "whatsapp:disconnected")
        assert gone["reason"] == "logged_out"


async def test_dash_naming() -> None:
    """With naming='dash': connection-status {status, phoneNumber}, qr-code {qrCode, expiresIn}."""
    async with sio_server(link=(), naming="dash") as server:
        client = await server.client({"token": token("acme")}, ready="connection-status")
        assert client.messages[0] == (
            "connection-status",
            {"tenant": "acme", "status": "disconnected", "phoneNumber": None},
        )
        await server.phones.link(server.gateway, "acme")
        await client.wait_for(
            lambda ms: ms[-1][0] == "connection-status" and ms[-1][1]["status"] == "connected"
        )
        names = client.names()
        assert "qr-code" in names
        assert "qr:generated" not in names
        assert "whatsapp:connected" not in names
        qr = next(d for n, d in client.messages if n == "qr-code")
        assert set(qr) >= {"qrCode", "expiresIn"}
        assert client.messages[-1][1]["phoneNumber"] == server.phones.phone("acme").number


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "missing_token"),
        ({}, "missing_token"),
        ({"token": "garbage"}, "invalid_token"),
        ({"token": token("acme", exp_in=-5)}, "token_expired"),
        ({"token": token("acme", secret=WRONG_SECRET)}, "invalid_token"),
        ({"token": unsigned_token("acme")}, "invalid_token"),
        ({"token": token("acme", padding="x" * 65536)}, "token_too_large"),
        ({"token": token("acme"), "tenants": ["globex"]}, "forbidden"),
        ({"token": token("acme"), "tenants": "acme"}, "invalid_input"),
        ({"token": token("acme"), "tenant": "../x"}, "invalid_tenant"),
        ({"token": token("acme"), "pid": "made-up"}, "invalid_recovery_state"),
        ({"token": token("acme"), "pid": 5}, "invalid_recovery_state"),
        ({"token": token("acme"), "pid": "wagate1:acme=x"}, "invalid_recovery_state"),
        ({"token": token("acme"), "pid": "wagate1:acme=1,acme=2"}, "invalid_recovery_state"),
        ({"token": token("acme"), "pid": "wagate1:acme=1", "offset": 5}, "invalid_recovery_state"),
        (
            {"token": token("acme"), "pid": "wagate1:", "offset": "acme:-1"},
            "invalid_recovery_state",
        ),
        ({"token": token("acme"), "offset": "acme:1"}, "invalid_recovery_state"),
    ],
)
async def test_bad_connects_are_refused_with_a_json_error(auth: Any, code: str) -> None:
    """No token, garbage, expired, bad signature, alg none, 64 KB, other tenant, bad pid."""
    async with sio_server() as server:
        error = await server.refused(auth)
        assert error["code"] == code
        assert error["message"]
        assert server.adapter.connected == 0


async def test_hs256_token_against_an_rs256_server_is_refused() -> None:
    """Algorithm confusion: an HS256 token keyed with the server's RSA public key is refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"tenant": "acme", "exp": int(time.time()) + 60}
    async with sio_server(auth=JWTAuthenticator(pem)) as server:
        error = await server.refused({"token": hs256_with_key_bytes(pem, claims)})
        assert error["code"] == "invalid_token"
        good = jwt.encode(claims, key, algorithm="RS256")
        client = await server.client({"token": good})
        assert client.messages[0][0] == "connection:status"


async def test_token_in_header_or_cookie_and_query_only_when_enabled() -> None:
    """Bearer header and cookie work; a query-string token only when the app names the parameter."""
    async with sio_server() as server:
        await server.client(headers={"Authorization": f"Bearer {token('acme')}"})
        await server.client(headers={"Cookie": f"wagate_token={token('acme')}"})
        error = await server.refused(headers={"Cookie": f"other={token('acme')}"})
        assert error["code"] == "missing_token"
        query_url = f"{server.url}?token={token('acme')}"
        client = Client()
        server.clients.append(client)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(query_url)
        assert client.connect_error["data"]["error"]["code"] == "missing_token"
    async with sio_server(query_param="token") as server:
        server.url += f"?token={token('acme')}"
        client = await server.client()
        assert client.messages[0][0] == "connection:status"


async def test_adapter_not_started_refuses_connections() -> None:
    """A server whose adapter is not running refuses connections with a clear error."""
    async with Gateway(Phones()) as gateway:
        adapter = SocketIOAdapter(gateway, authenticator())
        async with serve(adapter.asgi_app()) as url:
            client = Client()
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(url, {"token": token("acme")})
            assert client.connect_error["data"]["error"]["code"] == "session_closed"


# ------------------------------------------------------------------ rooms, join, leave


async def test_tenant_a_joining_b_gets_an_error_and_nothing_of_b() -> None:
    """A token for A joining B: an error event (and ack), and none of B's events."""
    async with sio_server(link=("acme", "globex")) as server:
        client = await server.client({"token": token("acme")})
        ack = await client.sio.call("join", {"tenant": "globex"}, timeout=5)
        assert ack["error"]["code"] == "forbidden"
        await client.wait_for(lambda ms: "error" in [n for n, _ in ms])
        error = next(d for n, d in client.messages if n == "error")
        assert error == ack
        server.message("globex", "secret")
        server.message("acme", "marker")
        await client.wait_text("marker")
        assert all(d.get("tenant") == "acme" for n, d in client.messages if n != "error")
        assert "secret" not in texts_of(client.messages)


@pytest.mark.parametrize("payload", [None, 5, {"tenant": 5}, {}, "../x", "x" * 200])
async def test_join_with_a_malformed_payload_is_an_error(payload: Any) -> None:
    """A join that names no valid tenant gets an invalid_tenant error, not a crash."""
    async with sio_server() as server:
        client = await server.client({"token": token("acme")})
        ack = await client.sio.call("join", payload, timeout=5)
        assert ack["error"]["code"] == "invalid_tenant"


async def test_join_and_leave_granted_tenants() -> None:
    """A principal of two tenants starts with one, joins the other, then leaves the first."""
    async with sio_server(link=("acme", "globex")) as server:
        grant = token(["acme", "globex"])
        client = await server.client({"token": grant, "tenants": ["acme"]})
        server.message("globex", "g-before")
        server.message("acme", "a1")
        await client.wait_text("a1")
        assert "g-before" not in texts_of(client.messages)
        ack = await client.sio.call("join", "globex", timeout=5)
        assert ack == {"ok": True, "tenant": "globex"}
        await client.wait_for(
            lambda ms: any(n == "connection:status" and d["tenant"] == "globex" for n, d in ms)
        )
        server.message("globex", "g1")
        await client.wait_text("g1")
        ack = await client.sio.call("leave", {"tenant": "acme"}, timeout=5)
        assert ack == {"ok": True, "tenant": "acme"}
        server.message("acme", "a-after")
        server.message("globex", "g2")
        await client.wait_text("g2")
        assert texts_of(client.messages) == ["a1", "g1", "g2"]


async def test_repeated_join_is_acknowledged_without_a_second_snapshot() -> None:
    """Joining a tenant the socket is already in is acknowledged and changes nothing."""
    async with sio_server() as server:
        client = await server.client({"token": token("acme")})
        for _ in range(3):
            assert await client.sio.call("join", "acme", timeout=5) == {
                "ok": True,
                "tenant": "acme",
            }
        server.message("acme", "once")
        await client.wait_text("once")
        assert client.names().count("connection:status") == 1
        assert texts_of(client.messages) == ["once"]


async def test_default_joins_every_granted_tenant() -> None:
    """Without a choice, a socket joins every tenant its token grants, each with its snapshot."""
    async with sio_server(link=("acme", "globex")) as server:
        client = await server.client({"token": token(["acme", "globex"])})
        await client.wait_for(lambda ms: len(ms) >= 2)
        assert {d["tenant"] for n, d in client.messages[:2]} == {"acme", "globex"}
        server.message("acme", "a")
        server.message("globex", "g")
        await client.wait_text("g")
        assert sorted(texts_of(client.messages)) == ["a", "g"]


async def test_one_hub_reader_for_all_sockets() -> None:
    """Fan-out reads the hub once, whatever the number of sockets, and emits to rooms."""
    async with sio_server(link=("acme", "globex")) as server:
        clients = [await server.client({"token": token("acme")}) for _ in range(4)]
        clients.append(await server.client({"token": token("globex")}))
        assert server.gateway.hub.subscribers(None) == 1
        assert server.gateway.hub.subscribers("acme") == 0
        server.message("acme", "to four")
        for client in clients[:4]:
            await client.wait_text("to four")
        server.message("globex", "to one")
        await clients[4].wait_text("to one")
        assert texts_of(clients[4].messages) == ["to one"]


async def test_socket_is_disconnected_when_its_token_expires() -> None:
    """A socket whose token expires gets an error event (token_expired) and is disconnected."""
    async with sio_server() as server:
        client = await server.client({"token": token("acme", exp_in=2)})
        with anyio.fail_after(10):
            await client.disconnected.wait()
        errors = [d for n, d in client.messages if n == "error"]
        assert errors and errors[0]["error"]["code"] == "token_expired"
        await wait_until(lambda: server.adapter.connected == 0)


async def test_client_dropping_mid_write_harms_nobody() -> None:
    """A raw websocket client aborted mid-burst leaves the server and other clients unharmed."""
    async with sio_server() as server:
        steady = await server.client({"token": token("acme")})
        ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(ws_url) as ws:
            opening = await ws.recv()
            assert str(opening).startswith("0")
            await ws.send("40" + json.dumps({"token": token("acme")}))
            with anyio.fail_after(5):
                while not str(await ws.recv()).startswith("40"):
                    pass
            await wait_until(lambda: server.adapter.connected == 2)
            for i in range(300):
                server.message("acme", f"burst {i} " + "x" * 500)
            ws.transport.abort()
        await steady.wait_text("burst 299 " + "x" * 500)
        assert texts_of(steady.messages) == [f"burst {i} " + "x" * 500 for i in range(300)]
        await wait_until(lambda: server.adapter.connected == 1)
        server.message("acme", "still fine")
        await steady.wait_text("still fine")


async def test_lifespan_runs_the_adapter_and_the_gateway() -> None:
    """asgi_app(manage_gateway=True) runs the gateway and the adapter in the server's lifespan."""
    gateway = Gateway(Phones())
    adapter = SocketIOAdapter(gateway, authenticator())
    async with serve(adapter.asgi_app(manage_gateway=True), lifespan="on") as url:
        client = Client()
        await client.connect(url, {"token": token("acme")})
        await client.wait_for(bool)
        assert client.messages[0][1]["status"] == "disconnected"
        await client.sio.disconnect()


async def test_leaving_the_adapter_stops_the_engines_ping_task_and_a_new_run_restarts_it() -> None:
    """The engine's service task ends with the adapter; the next run's first connect restarts it."""
    phones = Phones()
    async with Gateway(phones) as gateway:
        adapter = SocketIOAdapter(gateway, authenticator())
        engine = adapter.server.eio
        tasks = []
        for run in range(2):
            async with adapter, serve(adapter.asgi_app()) as url:
                client = Client()
                await client.connect(url, {"token": token("acme")})
                await client.wait_for(bool)
                task = engine.service_task_handle
                assert task is not None and not task.done(), f"run {run}"
                tasks.append(task)
                await client.sio.disconnect()
            assert task.done(), f"run {run}: the service task outlived the adapter"
            assert engine.service_task_handle is None
        assert tasks[0] is not tasks[1]


# ------------------------------------------------------------------ raw packets


class RawSocket:
    """A Socket.IO client made of raw Engine.IO / Socket.IO packets over one websocket.

    It answers pings, and records every Socket.IO packet the server sends; a test
    sends any packet it likes, well-formed or not.
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.packets: list[str] = []
        self.closed = anyio.Event()
        self._changed = anyio.Event()

    async def read(self) -> None:
        """Record packets until the websocket closes (run in a task group)."""
        try:
            async for frame in self.ws:
                text = str(frame)
                if text == "2":
                    await self.ws.send("3")
                    continue
                if text.startswith("4"):
                    self.packets.append(text[1:])
                    self._changed.set()
                    self._changed = anyio.Event()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def send(self, packet: str) -> None:
        """Send one Socket.IO packet (without the Engine.IO message prefix ``4``)."""
        await self.ws.send("4" + packet)

    async def wait_for(self, predicate: Callable[[str], bool], timeout: float = 5) -> str:
        """Wait for a packet that satisfies ``predicate``; return it."""
        with anyio.fail_after(timeout):
            while True:
                changed = self._changed
                for packet in self.packets:
                    if predicate(packet):
                        return packet
                if self.closed.is_set():
                    raise AssertionError(f"closed before the packet came; got {self.packets}")
                await changed.wait()

    def events(self, name: str) -> list[Any]:
        """The first arguments of the ``name`` events received, in order."""
        found = []
        for packet in self.packets:
            if packet.startswith("2"):
                args = json.loads(packet[packet.index("[") :])
                if args[0] == name:
                    found.append(args[1] if len(args) > 1 else None)
        return found

    async def ack(self, ack_id: int, packet: str) -> Any:
        """Send ``packet`` (an event with ack id ``ack_id``) and return the ack's first argument."""
        await self.send(packet)
        prefix = f"3{ack_id}["
        answer = await self.wait_for(lambda p: p.startswith(prefix))
        return json.loads(answer[len(prefix) - 1 :])[0]


@contextlib.asynccontextmanager
async def raw_socket(server: Server, auth: Any) -> AsyncIterator[RawSocket]:
    """A raw websocket client connected (Socket.IO CONNECT done) with ``auth``."""
    ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(ws_url) as ws, anyio.create_task_group() as tg:
        assert str(await ws.recv()).startswith("0")
        raw = RawSocket(ws)
        tg.start_soon(raw.read)
        await raw.send("0" + json.dumps(auth))
        await raw.wait_for(lambda p: p.startswith("0{"))
        await raw.wait_for(lambda p: '"connection:status"' in p)
        try:
            yield raw
        finally:
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("name", ["disconnect", "connect", "connect_error"])
async def test_reserved_event_names_from_a_client_are_refused(name: str) -> None:
    """A client's event named connect, disconnect or connect_error is refused, changing nothing."""
    async with sio_server() as server, raw_socket(server, {"token": token("acme")}) as raw:
        other = json.dumps({"token": token("acme", exp_in=3600)})
        for packet in (
            f'2["{name}"]',
            f'2["{name}",{other}]',
            f'2["{name}","transport close"]',
        ):
            await raw.send(packet)
        ack = await raw.ack(7, f'27["{name}"]')
        assert ack["error"]["code"] == "reserved_event"
        await wait_until(lambda: len(raw.events("error")) == 4)
        assert {e["error"]["code"] for e in raw.events("error")} == {"reserved_event"}
        assert server.adapter.connected == 1
        server.message("acme", "still here")
        await raw.wait_for(lambda p: "still here" in p)


async def test_a_client_disconnect_event_does_not_outlive_the_token() -> None:
    """After `42["disconnect"]` and `42["connect", fresher token]` the socket still expires."""
    async with (
        sio_server() as server,
        raw_socket(server, {"token": token("acme", exp_in=2)}) as raw,
    ):
        await raw.send('2["disconnect"]')
        await raw.send('2["connect",' + json.dumps({"token": token("acme")}) + "]")
        await wait_until(lambda: len(raw.events("error")) == 2)
        await raw.wait_for(lambda p: p == "1", timeout=10)  # the server's DISCONNECT
        codes = [e["error"]["code"] for e in raw.events("error")]
        assert codes == ["reserved_event", "reserved_event", "token_expired"]
        await wait_until(lambda: server.adapter.connected == 0)


@pytest.mark.parametrize(
    ("packet", "code"),
    [
        ('21["join","acme","extra"]', "invalid_input"),
        ('21["leave","acme",1,2]', "invalid_input"),
        ('21["join"]', "invalid_tenant"),
        ('21["join",{"tenant":["acme"]}]', "invalid_tenant"),
        ('21["nope",1]', "unknown_event"),
        ('21["message","hi"]', "unknown_event"),
        ("21[5]", "invalid_input"),
        ("21[]", "invalid_input"),
        ('21{"a":1}', "invalid_input"),
        ('21"join"', "invalid_input"),
    ],
)
async def test_bad_client_events_get_a_typed_error(packet: str, code: str) -> None:
    """Extra arguments, unknown names and malformed events get an error event and ack."""
    async with sio_server() as server, raw_socket(server, {"token": token("acme")}) as raw:
        ack = await raw.ack(1, packet)
        assert ack["error"]["code"] == code
        assert ack["error"]["message"]
        await wait_until(lambda: raw.events("error") == [ack])
        assert await raw.ack(2, '22["join","acme"]') == {"ok": True, "tenant": "acme"}
        server.message("acme", "fine")
        await raw.wait_for(lambda p: "fine" in p)


@pytest.mark.parametrize("exp", [10**20, 2**63, 253402300800])
async def test_a_signed_exp_out_of_range_is_refused_as_an_invalid_token(exp: int) -> None:
    """A well-signed token whose ``exp`` no date can hold is refused as invalid, not internal."""
    async with sio_server() as server:
        error = await server.refused({"token": token("acme", exp=exp)})
        assert error["code"] == "invalid_token"
        assert server.adapter.connected == 0


async def test_every_message_kind_and_update_reaches_the_socket_as_on_the_wire() -> None:
    """Media, reactions, edits, deletes, sends and receipts: each event, its wire form, in order."""
    async with sio_server() as server:
        client = await server.client({"token": token("acme")})
        before = len(client.messages)
        session = await server.gateway.session("acme")
        events = await every_update(session, server.phones.phone("acme"), server.gateway.hub)
        await client.wait_for(lambda ms: len(ms) >= before + len(events))
        assert client.messages[before:] == [wire(e) for e in events]
