"""The published contract (wagate.contract) holds for what the transports really send.

Real payloads are captured from a running server (the FastAPI app on uvicorn at
127.0.0.1, port from the OS): the Server-Sent Events stream read with httpx, a
python-socketio client, and a webhook receiver of our own on 127.0.0.1.  A whole
life of a tenant happens meanwhile: its login (QR code, pairing code, the
connection), one of each update :func:`every_update` makes, and its logout.
Every message each transport carries is validated with ``jsonschema`` against
:func:`wagate.contract.event_schemas` (webhook bodies and headers against the
AsyncAPI document's envelope), and may hold no key the schema does not list.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.to_thread
import attrs
import httpx
import jsonschema
import pytest
import socketio

from test_contract_documents import message_schema
from test_contract_support import serve as serve_framework
from test_isolation_support import Phones, authenticator, serve, token
from test_messaging_support import RICH_KINDS, every_update
from wagate import Disconnected, Event, Gateway, Hub, QrGenerated, Session, contract, to_wire
from wagate._events import WireNaming
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents
from wagate.adapters.webhooks import WebhookDispatcher, WebhookEndpoint
from wagate.integrations.fastapi import create_app

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

TENANT = "acme"
OTHER = "globex"
SECRET = "contract-test-secret-0123456789"
SCHEMAS = contract.event_schemas()
LIFE = {
    "connection:status",
    "qr:generated",
    "pairing:code",
    "whatsapp:connected",
    "whatsapp:disconnected",
    *RICH_KINDS,
}
"""The colon names a tenant's life (below) makes, each at least once."""

Message = tuple[str, Any]


# ---------------------------------------------------------------------------------
# Checking a payload


def _keys(schema: dict[str, Any]) -> set[str]:
    """Every key some branch of an object schema lists."""
    keys = set(schema.get("properties", {}))
    for branch in schema.get("anyOf", ()):
        keys |= _keys(branch)
    return keys


def check(name: str, payload: Any) -> None:
    """``payload`` is valid for ``name``'s schema and has no key it does not list."""
    schema = SCHEMAS[name]
    jsonschema.Draft202012Validator(schema).validate(payload)
    assert set(payload) <= _keys(schema), (name, set(payload) - _keys(schema))


# ---------------------------------------------------------------------------------
# A running server and a tenant's life


@attrs.define
class Running:
    """The server under test: its gateway, phones and base URL."""

    gateway: Gateway
    phones: Phones
    url: str


@contextlib.asynccontextmanager
async def running(naming: WireNaming = "colon", hub: Hub | None = None) -> AsyncIterator[Running]:
    """The FastAPI app (REST, SSE, Socket.IO) on uvicorn, its transports in ``naming``."""
    phones = Phones()
    async with Gateway(phones, hub=hub) as gateway:
        sio = SocketIOAdapter(gateway, authenticator(), naming=naming)
        sse = ServerSentEvents(gateway, authenticator(), naming=naming)
        app = create_app(gateway, authenticator(), socketio=sio, sse=sse, simulator=True)
        async with sio, serve(app) as url:
            yield Running(gateway, phones, url)


async def live(server: Running) -> list[Event]:
    """A tenant's life: a login (QR, pairing code), every update, a logout; its events."""
    phone = server.phones.phone(TENANT)
    session: Session = await server.gateway.session(TENANT)
    seen: list[Event] = []
    events = server.gateway.hub.subscribe(TENANT, initial=False)
    try:
        await session.connect()
        with anyio.fail_after(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, QrGenerated) and len(seen) < 3:
                    await session.request_pairing_code(phone.number)
                    phone.scan(event.code)
                elif event.wire_name == "whatsapp:connected":
                    break
        await every_update(session, phone, server.gateway.hub)
        await session.logout()
        with anyio.fail_after(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, Disconnected):
                    break
    finally:
        events.close()
    return seen


def wire_count(events: list[Event], naming: WireNaming) -> int:
    """How many messages the events make on a stream (SSE, Socket.IO)."""
    return sum(len(to_wire(event, naming=naming)) for event in events)


def names_in(naming: WireNaming) -> set[str]:
    """The names a tenant's life makes in ``naming``."""
    if naming == "colon":
        return LIFE
    renamed = {"qr:generated", "connection:status", "whatsapp:connected", "whatsapp:disconnected"}
    return LIFE - renamed | {"qr-code", "connection-status"}


# ---------------------------------------------------------------------------------
# REST


@pytest.mark.parametrize("simulator", [False, True])
def test_openapi_is_the_document_both_frameworks_serve(simulator: bool) -> None:
    """FastAPI's /openapi.json, Flask's and contract.openapi() are one document."""
    pytest.importorskip("flask", reason="the flask extra is not installed")
    served = {}
    for framework in ("fastapi", "flask"):
        with serve_framework(framework, simulator=simulator) as running_server:
            response = httpx.get(f"{running_server.url}/openapi.json", timeout=15)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        served[framework] = response.json()
    made = json.loads(json.dumps(contract.openapi(simulator=simulator)))
    assert served["fastapi"] == served["flask"] == made
    assert ("/api/simulator/scan" in made["paths"]) is simulator


# ---------------------------------------------------------------------------------
# Server-Sent Events


@attrs.frozen
class Frame:
    """One SSE event frame."""

    event: str
    id: str | None
    data: Any


async def frames_of(response: httpx.Response) -> AsyncIterator[Frame]:
    """The event frames of a stream (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line == "":
            if fields:
                yield Frame(fields["event"], fields.get("id"), json.loads(fields["data"]))
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")


async def read_frames(frames: AsyncIterator[Frame], count: int, out: list[Frame]) -> None:
    """Append the stream's next frames to ``out`` until it holds ``count``."""
    async for frame in frames:
        out.append(frame)
        if len(out) == count:
            return


@pytest.mark.parametrize("naming", ["colon", "dash"])
async def test_every_payload_the_stream_sends_is_valid(naming: WireNaming) -> None:
    """SSE: the snapshot, a login, every update and a logout, each frame valid; id is seq."""
    async with running(naming) as server, httpx.AsyncClient(base_url=server.url) as client:
        headers = {"Authorization": f"Bearer {token(TENANT)}"}
        async with client.stream("GET", "/api/events", headers=headers, timeout=10) as response:
            assert response.status_code == 200
            frames: list[Frame] = []
            stream = frames_of(response)
            with anyio.fail_after(10):
                await read_frames(stream, 1, frames)  # the snapshot: the stream is open
            events = await live(server)
            with anyio.fail_after(10):
                await read_frames(stream, 1 + wire_count(events, naming), frames)
    for frame in frames:
        check(frame.event, frame.data)
    assert {frame.event for frame in frames} >= names_in(naming)
    ids = [frame.id for frame in frames[1:] if frame.id is not None]
    assert ids == [str(event.seq) for event in events]


async def test_a_gap_on_the_stream_is_valid() -> None:
    """SSE: a resume the replay log cannot serve says ``stream:gap``, as its schema says."""
    async with running(hub=Hub(buffer=2)) as server:
        await server.phones.link(server.gateway, TENANT)
        for number in range(6):
            server.phones.phone(TENANT).receive_message(sender="+628111222333", text=f"{number}")
        headers = {"Authorization": f"Bearer {token(TENANT)}", "Last-Event-ID": "1"}
        async with (
            httpx.AsyncClient(base_url=server.url) as client,
            client.stream("GET", "/api/events", headers=headers, timeout=10) as response,
        ):
            frames: list[Frame] = []
            with anyio.fail_after(10):
                async for frame in frames_of(response):
                    frames.append(frame)
                    if frame.event == "connection:status":
                        break
    assert frames[0].event == "stream:gap"
    for frame in frames:
        check(frame.event, frame.data)


# ---------------------------------------------------------------------------------
# Socket.IO


class Recorder:
    """A python-socketio client that records every event, with its arguments."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = anyio.Event()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.messages.append((event, args))
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_count(self, count: int) -> None:
        """Wait until ``count`` events arrived."""
        with anyio.fail_after(10):
            while len(self.messages) < count:
                await self._changed.wait()


@pytest.mark.parametrize("naming", ["colon", "dash"])
async def test_every_payload_the_socket_receives_is_valid(naming: WireNaming) -> None:
    """Socket.IO: the welcome, a login, every update and a logout, each emit valid."""
    async with running(naming) as server:
        client = Recorder()
        await client.sio.connect(
            server.url, auth={"token": token(TENANT)}, transports=["websocket"], wait_timeout=5
        )
        try:
            await client.wait_count(1)  # the welcome: the socket is in its tenant's room
            events = await live(server)
            await client.wait_count(1 + wire_count(events, naming))
        finally:
            await client.sio.disconnect()
    for name, args in client.messages:
        check(name, args[0])
    assert {name for name, _ in client.messages} >= names_in(naming)
    offsets = [args[1] for _, args in client.messages[1:] if len(args) > 1]
    assert offsets == [
        f"{TENANT}:{event.seq}" for event in events for _ in to_wire(event, naming=naming)
    ]


async def test_the_socket_answers_as_the_contract_says() -> None:
    """Socket.IO: a granted join's ack, a refused one's ack and error event, as documented."""
    async with running() as server:
        client = Recorder()
        grants = token([TENANT, OTHER])
        await client.sio.connect(
            server.url,
            auth={"token": grants, "tenants": [TENANT]},
            transports=["websocket"],
            wait_timeout=5,
        )
        try:
            await client.wait_count(1)
            granted = await client.sio.call("join", OTHER, timeout=5)
            refused = await client.sio.call("join", "initech", timeout=5)
            unknown = await client.sio.call("dance", timeout=5)
            await client.wait_count(4)  # two welcomes, two error events
        finally:
            await client.sio.disconnect()
    jsonschema.validate(granted, message_schema("socketio.ack"))
    errors = [args[0] for name, args in client.messages if name == "error"]
    assert errors == [refused, unknown]
    for error in errors:
        jsonschema.validate(error, message_schema("socketio.error"))
    for name, args in client.messages:
        if name != "error":
            check(name, args[0])


# ---------------------------------------------------------------------------------
# Webhooks


@attrs.frozen
class Posted:
    """One webhook request as the receiver got it."""

    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 (port from the OS) that keeps what is posted to it."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.cond = threading.Condition()
        names = list(message_schema("webhook.message.received", "headers")["properties"])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # The header names as the contract spells them (HTTP ignores case).
                headers = {name: self.headers[name] for name in names if name in self.headers}
                with receiver.cond:
                    receiver.posted.append(Posted(headers, body))
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    async def wait_count(self, count: int) -> list[Posted]:
        """Wait until ``count`` requests arrived; all of them."""

        def wait() -> bool:
            with self.cond:
                return self.cond.wait_for(lambda: len(self.posted) >= count, timeout=10)

        assert await anyio.to_thread.run_sync(wait), len(self.posted)
        return list(self.posted)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    made = Receiver()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        made.server.shutdown()
        made.server.server_close()
        thread.join(10)


async def test_every_webhook_body_and_its_headers_are_valid(receiver: Receiver) -> None:
    """Webhooks: each POST of a tenant's life, body and signature headers as documented."""
    async with running() as server:
        endpoint = WebhookEndpoint(url=receiver.url, secret=SECRET, tenant=TENANT)
        async with WebhookDispatcher(server.gateway, [endpoint], attempts=1, timeout=5):
            events = await live(server)
            posted = await receiver.wait_count(len(events))
    names = []
    for request in posted:
        envelope = json.loads(request.body)
        key = "webhook." + contract.schema_key(envelope["event"])
        jsonschema.validate(envelope, message_schema(key))
        jsonschema.validate(request.headers, message_schema(key, "headers"))
        assert set(envelope) == {"event", "tenant", "seq", "data"}
        check(envelope["event"], envelope["data"])
        names.append(envelope["event"])
    assert set(names) >= LIFE
    assert [json.loads(r.body)["seq"] for r in posted] == [e.seq for e in events]


# ---------------------------------------------------------------------------------
# What the schemas refuse


async def test_a_payload_of_the_wrong_type_fails_its_schema() -> None:
    """A real payload with a wrong type, without a required key or a bad enum is refused."""
    async with running() as server:
        await server.phones.link(server.gateway, TENANT)
        events = server.gateway.hub.subscribe(TENANT, initial=False)
        server.phones.phone(TENANT).receive_message(sender="+628111222333", text="hi")
        with anyio.fail_after(10):
            event = await events.__anext__()
        events.close()
    [message] = to_wire(event)
    assert message.name == "message:received"
    check(message.name, message.data)
    wrong = {**message.data, "seq": str(message.data["seq"])}
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        check(message.name, wrong)
    missing = {key: value for key, value in message.data.items() if key != "from"}
    with pytest.raises(jsonschema.ValidationError, match="'from' is a required property"):
        check(message.name, missing)
    with pytest.raises(jsonschema.ValidationError):
        check(message.name, {**message.data, "isGroup": "no"})
    with pytest.raises(jsonschema.ValidationError):
        check(message.name, {**message.data, "content": {"type": "hologram"}})
