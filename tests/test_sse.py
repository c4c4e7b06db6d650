"""Server-Sent Events over a real uvicorn server: snapshot, live events, resume, gaps, auth."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import attrs
import httpx
import pytest
from anyio.abc import SocketAttribute
from starlette.applications import Starlette
from starlette.routing import Route

from test_isolation_support import (
    WRONG_SECRET,
    Phones,
    authenticator,
    serve,
    token,
    unsigned_token,
    wait_until,
)
from test_messaging_support import every_update, wire
from wagate import Gateway, Hub, MessageReceived
from wagate._events import utcnow
from wagate.adapters.sse import (
    HEARTBEAT_FRAME,
    InvalidLastEventId,
    ServerSentEvents,
    SSEEncoder,
    parse_last_event_id,
)
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver

pytestmark = pytest.mark.anyio

SENDER = "+628111222333"


@attrs.frozen
class Frame:
    """One SSE frame as a client parses it (``comment`` for ``: ...`` lines)."""

    event: str | None = None
    id: str | None = None
    data: Any = None
    comment: str | None = None


async def read_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Parse a text/event-stream body into frames."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield Frame(comment=line[1:].strip())
            continue
        if line == "":
            if fields:
                data = json.loads(fields["data"]) if "data" in fields else None
                yield Frame(event=fields.get("event"), id=fields.get("id"), data=data)
                fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value


async def take(
    frames: AsyncIterator[Frame], count: int, *, events_only: bool = True
) -> list[Frame]:
    """The next ``count`` frames (heartbeats skipped unless ``events_only`` is false)."""
    out: list[Frame] = []
    with anyio.fail_after(10):
        async for frame in frames:
            if events_only and frame.comment is not None:
                continue
            out.append(frame)
            if len(out) == count:
                break
    return out


class Server:
    """A gateway with linkable simulated tenants behind an SSE endpoint on uvicorn."""

    def __init__(self, gateway: Gateway, phones: Phones, sse: ServerSentEvents, url: str) -> None:
        self.gateway = gateway
        self.phones = phones
        self.sse = sse
        self.url = url

    def message(self, tenant: str, text: str) -> None:
        """A contact writes to ``tenant``'s account."""
        self.phones.phone(tenant).receive_message(sender=SENDER, text=text, push_name="Siti")

    @contextlib.asynccontextmanager
    async def stream(
        self,
        tenant_token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[Frame]]]:
        """Open the stream; yield the response and its frames."""
        all_headers = dict(headers or {})
        if tenant_token is not None:
            all_headers["Authorization"] = f"Bearer {tenant_token}"
        async with (
            httpx.AsyncClient(base_url=self.url, cookies=cookies, timeout=10) as client,
            client.stream("GET", "/events", headers=all_headers, params=params) as response,
        ):
            yield response, read_frames(response)

    async def get(self, tenant_token: str | None = None, **kwargs: Any) -> httpx.Response:
        """A request whose answer is expected not to be a stream (an error)."""
        async with self.stream(tenant_token, **kwargs) as (response, _):
            await response.aread()
            return response


@contextlib.asynccontextmanager
async def sse_server(
    *, hub: Hub | None = None, link: tuple[str, ...] = ("acme",), **options: Any
) -> AsyncIterator[Server]:
    """An SSE server whose tenants in ``link`` are linked."""
    phones = Phones()
    async with Gateway(phones, hub=hub) as gateway:
        for tenant in link:
            await phones.link(gateway, tenant)
        sse = ServerSentEvents(gateway, authenticator(), **options)
        app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
        async with serve(app) as url:
            yield Server(gateway, phones, sse, url)


# ------------------------------------------------------------------ the encoder


def test_parse_last_event_id() -> None:
    """Only non-negative integers of at most 18 digits are accepted; empty means none."""
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("") is None
    assert parse_last_event_id("42") == 42
    assert parse_last_event_id(b" 7 ") == 7
    for bad in ("abc", "-1", "1e309", "1.5", " ", "0x10", "9" * 19, "4\n2"):
        with pytest.raises(InvalidLastEventId):
            parse_last_event_id(bad)


def test_frames_put_the_id_on_the_last_frame_of_an_event() -> None:
    """An event of two wire messages has ``id:`` only on the last, so a resume never splits it."""
    from wagate import Account, Connected, to_wire
    from wagate._events import utcnow

    event = Connected(
        tenant="acme", seq=7, at=utcnow(), account=Account(jid="1@s.whatsapp.net", phone="+1")
    )
    text = SSEEncoder().event(event).decode()
    first, second, rest = text.split("\n\n")
    assert first.startswith("event: whatsapp:connected\ndata: ")
    assert "id:" not in first
    assert second.startswith("event: connection:status\nid: 7\ndata: ")
    assert rest == ""
    names = [m.name for m in to_wire(event)]
    assert names == ["whatsapp:connected", "connection:status"]


async def test_a_stream_that_falls_behind_gets_a_gap_then_the_status_then_what_follows() -> None:
    """Live events past the buffer: one chunk brings stream:gap, connection:status, the rest."""
    from wagate import MessageSent
    from wagate.adapters.auth import Principal

    async with Gateway(Phones(), hub=Hub(buffer=4)) as gateway:
        sse = ServerSentEvents(gateway, authenticator())
        principal = Principal(subject="u", tenants=frozenset({"acme"}))
        slow, steady = sse.open(principal, "acme", None), sse.open(principal, "acme", None)
        for stream in (slow, steady):
            assert b"connection:status" in (await stream.next_chunk() or b"")

        def sent(seq: int) -> MessageSent:
            return MessageSent(
                tenant="acme", seq=seq, at=utcnow(), id=f"m{seq}", to="1@s.whatsapp.net",
                text=f"t{seq}", success=True,
            )  # fmt: skip

        for seq in range(1, 11):
            gateway.hub.publish(sent(seq))
            if seq <= 4:
                assert f'"m{seq}"'.encode() in (await steady.next_chunk() or b"")
        frames = [
            frame for frame in (await slow.next_chunk() or b"").decode().split("\n\n") if frame
        ]
        names = [frame.split("\n")[0] for frame in frames]
        assert names[:2] == ["event: stream:gap", "event: connection:status"]
        sent_ids = [json.loads(f.split("data: ", 1)[1])["id"] for f in frames[2:]]
        assert sent_ids == [f"m{seq}" for seq in range(5, 11)]
        # The steady stream shares the encodings and lost nothing.
        chunk = (await steady.next_chunk() or b"").decode()
        assert [f'"m{seq}"' in chunk for seq in range(5, 11)] == [True] * 6
        assert "stream:gap" not in chunk
        slow.close()
        steady.close()


def test_extend_serves_cached_events_and_leaves_the_rest_to_the_miss_handler() -> None:
    """extend: cached frames as they are, every other event (Gaps too) through ``miss``."""
    from wagate import Gap, MessageSent

    encoder = SSEEncoder()
    now = utcnow()
    message = MessageSent(
        tenant="acme", seq=1, at=now, id="m1", to="1@s.whatsapp.net", text="x", success=True
    )
    gap = Gap(tenant="acme", seq=3, at=now, first_seq=2, last_seq=3, missed=2)
    cached = encoder.event(message)
    missed: list[object] = []

    def miss(event: object) -> bytes:
        missed.append(event)
        return b"<miss>"

    chunks: list[bytes] = [b"before"]
    size = encoder.extend(chunks, [message, gap, message], miss)
    assert chunks == [b"before", cached, b"<miss>", cached]
    assert size == 2 * len(cached) + len(b"<miss>")
    assert missed == [gap]
    assert encoder.encoded == 1


def test_data_stays_on_one_line() -> None:
    """Newlines and carriage returns in a message never break the frame."""
    from wagate import WireMessage

    frame = SSEEncoder.frames([WireMessage("message:received", {"text": "a\nb\r\nc\u2028"})], 3)
    lines = frame.decode().split("\n")
    assert lines[0] == "event: message:received"
    assert lines[1] == "id: 3"
    assert json.loads(lines[2][len("data: ") :]) == {"text": "a\nb\r\nc\u2028"}
    assert lines[3:] == ["", ""]


# ------------------------------------------------------------------ streams


async def test_stream_starts_with_the_current_state_then_live_events() -> None:
    """A new stream gets connection:status first (the newest seq as id), then live events."""
    async with sse_server() as server, server.stream(token("acme")) as (response, frames):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        [status] = await take(frames, 1)
        assert status.event == "connection:status"
        assert status.id == str(server.gateway.hub.last_seq("acme"))
        assert status.data["status"] == "connected"
        assert status.data["tenant"] == "acme"
        server.message("acme", "hello")
        [message] = await take(frames, 1)
        assert message.event == "message:received"
        assert message.data["text"] == "hello"
        assert message.data["pushName"] == "Siti"
        assert message.id == str(message.data["seq"])


async def test_pending_qr_is_sent_on_connect() -> None:
    """A tenant waiting for a scan: the stream opens with its status and the pending QR image."""
    async with sse_server(link=()) as server:
        session = await server.gateway.session("acme")
        events = session.events()
        await session.connect()
        with anyio.fail_after(5):
            async for event in events:
                if event.wire_name == "qr:generated":
                    break
        events.close()
        async with server.stream(token("acme")) as (_, frames):
            status, qr = await take(frames, 2)
        assert status.event == "connection:status"
        assert status.data["state"] == "awaiting_scan"
        assert status.id is None  # the id goes on the snapshot's last frame only
        assert qr.event == "qr:generated"
        assert qr.id == str(server.gateway.hub.last_seq("acme"))
        assert qr.data["qrCode"].startswith("data:image/png;base64,")
        assert qr.data["qr"] == session.status.qr.code  # type: ignore[union-attr]
        assert 0 < qr.data["expiresIn"] <= 60


async def test_unknown_tenant_reads_disconnected() -> None:
    """A granted tenant without a session reads ``disconnected`` and then its live events."""
    async with sse_server(link=()) as server, server.stream(token("newco")) as (_, frames):
        [status] = await take(frames, 1)
        assert status.data["status"] == "disconnected"
        await server.phones.link(server.gateway, "newco")
        seen = await take(frames, 4)
        assert [f.event for f in seen] == [
            "connection:status",  # connecting
            "qr:generated",
            "whatsapp:connected",
            "connection:status",  # connected
        ]


async def test_dash_naming() -> None:
    """With dash naming the stream uses connection-status {status, phoneNumber}."""
    async with (
        sse_server(naming="dash") as server,
        server.stream(token("acme")) as (_, frames),
    ):
        [status] = await take(frames, 1)
        assert status.event == "connection-status"
        assert status.data["status"] == "connected"
        assert status.data["phoneNumber"] == server.phones.phone("acme").number


async def test_resume_with_last_event_id_gets_exactly_the_missed_events() -> None:
    """Disconnect, produce events, reconnect with Last-Event-ID: exactly the missed ones."""
    async with sse_server() as server:
        async with server.stream(token("acme")) as (_, frames):
            await take(frames, 1)
            for i in range(3):
                server.message("acme", f"before {i}")
            seen = await take(frames, 3)
            last_id = seen[-1].id
            assert last_id is not None
        for i in range(5):
            server.message("acme", f"missed {i}")
        async with server.stream(token("acme"), headers={"Last-Event-ID": last_id}) as (_, frames):
            replayed = await take(frames, 5)
            server.message("acme", "live")
            [live] = await take(frames, 1)
        assert [f.data["text"] for f in replayed] == [f"missed {i}" for i in range(5)]
        seqs = [int(f.id) for f in replayed if f.id is not None]
        assert seqs == list(range(int(last_id) + 1, int(last_id) + 6))
        assert live.data["text"] == "live"
        assert int(live.id or 0) == seqs[-1] + 1


async def test_a_stream_that_saw_only_the_snapshot_resumes_from_it() -> None:
    """The snapshot's last frame carries the newest seq: a reconnect gets what came meanwhile."""
    async with sse_server() as server:
        async with server.stream(token("acme")) as (_, frames):
            [status] = await take(frames, 1)
        assert status.event == "connection:status"
        assert status.id == str(server.gateway.hub.last_seq("acme"))
        for i in range(3):
            server.message("acme", f"while away {i}")
        async with server.stream(token("acme"), headers={"Last-Event-ID": status.id}) as (
            _,
            frames,
        ):
            replayed = await take(frames, 3)
        assert [f.event for f in replayed] == ["message:received"] * 3
        assert [f.data["text"] for f in replayed] == [f"while away {i}" for i in range(3)]


async def test_a_snapshot_before_any_event_carries_id_zero_and_resumes() -> None:
    """A tenant with no event yet: id 0, and a reconnect gets every event since, no gap."""
    async with sse_server(link=()) as server:
        async with server.stream(token("acme")) as (_, frames):
            [status] = await take(frames, 1)
        assert (status.event, status.id) == ("connection:status", "0")
        await server.phones.link(server.gateway, "acme")
        newest = server.gateway.hub.last_seq("acme")
        assert newest is not None
        async with server.stream(token("acme"), headers={"Last-Event-ID": "0"}) as (_, frames):
            replayed = [await anext(frames)]
            while replayed[-1].id != str(newest):
                replayed.append(await anext(frames))
        assert "stream:gap" not in [f.event for f in replayed]
        assert [int(f.id) for f in replayed if f.id is not None] == list(range(1, newest + 1))


async def test_resumed_qr_says_its_expiry_as_of_the_resume() -> None:
    """A qr:generated replayed by a Last-Event-ID resume after it expired says expired, 0 s left."""
    clock = SimulatedClock()  # never advanced: the simulator keeps the code pending

    def driver(tenant: str) -> SimulatedDriver:
        return SimulatedDriver(clock=clock, qr_timeouts=(0.5,))

    async with Gateway(driver) as gateway:
        sse = ServerSentEvents(gateway, authenticator())
        async with serve(Starlette(routes=[Route("/events", sse.starlette_endpoint)])) as url:
            server = Server(gateway, Phones(), sse, url)
            session = await gateway.session("acme")
            async with server.stream(token("acme")) as (_, frames):
                await take(frames, 1)  # the status
                await session.connect()
                connecting, live = await take(frames, 2)
            assert live.event == "qr:generated" and live.data["expired"] is False
            assert 0 < live.data["expiresIn"] <= 0.5
            qr = session.status.qr
            assert qr is not None
            await wait_until(lambda: utcnow() >= qr.expires_at)
            assert connecting.id is not None
            resume = {"Last-Event-ID": connecting.id}
            async with server.stream(token("acme"), headers=resume) as (_, frames):
                [replayed] = await take(frames, 1)
        assert replayed.event == "qr:generated" and replayed.id == live.id
        assert (replayed.data["expiresIn"], replayed.data["expired"]) == (0.0, True)


async def test_resume_at_the_head_sends_nothing_old() -> None:
    """Resuming from the newest seq sends no snapshot and no replay, just what comes next."""
    async with sse_server() as server:
        server.message("acme", "one")
        newest = server.gateway.hub.last_seq("acme")
        async with server.stream(token("acme"), headers={"Last-Event-ID": str(newest)}) as (
            _,
            frames,
        ):
            server.message("acme", "two")
            [frame] = await take(frames, 1)
        assert frame.event == "message:received"
        assert frame.data["text"] == "two"


async def test_resume_older_than_the_log_gets_an_explicit_gap() -> None:
    """An id older than the replay log gets stream:gap naming the lost seqs, then the status."""
    async with sse_server(hub=Hub(buffer=4)) as server:
        first = server.gateway.hub.last_seq("acme")
        assert first is not None
        for i in range(20):
            server.message("acme", f"m{i}")
        async with server.stream(token("acme"), headers={"Last-Event-ID": str(first)}) as (
            _,
            frames,
        ):
            gap, status = await take(frames, 2)
            kept = [await anext(frames)]
            while kept[-1].data["text"] != "m19":
                kept.append(await anext(frames))
        assert gap.event == "stream:gap"
        assert gap.data["from"] == first + 1
        kept_seqs = [f.data["seq"] for f in kept]
        assert gap.data["to"] == kept_seqs[0] - 1
        assert gap.data["missed"] == gap.data["to"] - gap.data["from"] + 1
        assert gap.id == str(gap.data["to"])
        assert status.event == "connection:status"
        assert status.id is None
        # The log keeps between `buffer` and twice that many events; the rest are in the gap.
        assert 4 <= len(kept) < 8
        assert kept_seqs == list(range(kept_seqs[0], kept_seqs[0] + len(kept)))


async def test_resume_past_the_replay_age_gets_a_gap() -> None:
    """Events older than the replay age are not replayed; a gap says so."""
    async with sse_server(hub=Hub(replay_age=timedelta(0))) as server:
        first = server.gateway.hub.last_seq("acme")
        server.message("acme", "too old")
        async with server.stream(token("acme"), headers={"Last-Event-ID": str(first)}) as (
            _,
            frames,
        ):
            gap, status = await take(frames, 2)
        assert gap.event == "stream:gap"
        assert (gap.data["from"], gap.data["to"]) == (first + 1, first + 1)  # type: ignore[operator]
        assert status.event == "connection:status"


@pytest.mark.parametrize("bad", ["abc", "-1", "1e309", "1.5", "99999999999999999999"])
async def test_bad_last_event_id_is_a_400(bad: str) -> None:
    """A Last-Event-ID that is not a seq gets 400 with a JSON error."""
    async with sse_server() as server:
        response = await server.get(token("acme"), headers={"Last-Event-ID": bad})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_last_event_id"
    assert "Last-Event-ID" in response.json()["error"]["message"]


async def test_future_last_event_id_starts_afresh() -> None:
    """A Last-Event-ID ahead of the stream is ignored: the stream starts with the current state."""
    async with (
        sse_server() as server,
        server.stream(token("acme"), headers={"Last-Event-ID": "999999999999"}) as (_, frames),
    ):
        [status] = await take(frames, 1)
        assert status.event == "connection:status"
        server.message("acme", "after")
        [frame] = await take(frames, 1)
        assert frame.data["text"] == "after"


async def test_heartbeat_comment_when_idle() -> None:
    """An idle stream sends a ``: ping`` comment every heartbeat interval."""
    async with sse_server(heartbeat=0.05) as server, server.stream(token("acme")) as (_, frames):
        status, ping = await take(frames, 2, events_only=False)
        assert status.event == "connection:status"
        assert ping.comment == "ping"
    assert HEARTBEAT_FRAME == b": ping\n\n"


async def test_retry_field_when_configured() -> None:
    """With retry_ms the stream starts with the browser's reconnect delay."""
    async with (
        sse_server(retry_ms=2500) as server,
        server.stream(token("acme")) as (response, _),
    ):
        head = await anext(response.aiter_bytes())
        assert head.startswith(b"retry: 2500\n\n")


async def test_each_event_is_encoded_once_for_all_streams() -> None:
    """Three streams of one tenant: each event is encoded once, not once per stream."""
    async with sse_server() as server, contextlib.AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(server.stream(token("acme"))) for _ in range(3)]
        for _, frames in streams:
            await take(frames, 1)
        before = server.sse.encoder.encoded
        for i in range(5):
            server.message("acme", f"m{i}")
        for _, frames in streams:
            assert [f.data["text"] for f in await take(frames, 5)] == [f"m{i}" for i in range(5)]
        assert server.sse.encoder.encoded - before == 5


async def test_stream_ends_when_the_gateway_closes() -> None:
    """Closing the gateway ends open streams after what was published."""
    async with sse_server() as server, server.stream(token("acme")) as (_, frames):
        await take(frames, 1)
        server.message("acme", "last words")
        await server.gateway.aclose()
        rest = [f async for f in frames if f.comment is None]
        assert rest[0].data["text"] == "last words"
        assert rest[-1].event == "connection:status"
        assert rest[-1].data["status"] == "disconnected"


async def test_stream_ends_when_the_token_expires() -> None:
    """A stream ends once its token's ``exp`` passes."""
    async with (
        sse_server(heartbeat=0.2) as server,
        server.stream(token("acme", exp_in=2)) as (
            response,
            frames,
        ),
    ):
        assert response.status_code == 200
        with anyio.fail_after(10):
            seen = [f async for f in frames]
        assert seen[0].event == "connection:status"


async def test_disconnected_client_releases_its_subscription() -> None:
    """When a client goes away, its stream unsubscribes from the hub at once."""
    async with sse_server() as server:
        hub = server.gateway.hub
        async with server.stream(token("acme")) as (_, frames):
            await take(frames, 1)
            assert hub.subscribers("acme") == 1
        await wait_until(lambda: hub.subscribers("acme") == 0)


async def test_client_that_disconnects_mid_write_harms_nobody() -> None:
    """A client that resets its connection during a burst leaves the server and others unharmed."""
    async with sse_server(heartbeat=0.05) as server, server.stream(token("acme")) as (_, frames):
        await take(frames, 1)
        host, port = server.url.removeprefix("http://").split(":")
        raw = await anyio.connect_tcp(host, int(port))
        request = (
            f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token('acme')}\r\n\r\n"
        )
        await raw.send(request.encode())
        with anyio.fail_after(5):
            assert (await raw.receive(64)).startswith(b"HTTP/1.1 200")
        hub = server.gateway.hub
        await wait_until(lambda: hub.subscribers("acme") == 2)
        for i in range(200):
            server.message("acme", f"burst {i} " + "x" * 500)
        # Close with a reset (SO_LINGER 0) while the server still has data to write.
        sock = raw.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await raw.aclose()
        texts = [f.data["text"] for f in await take(frames, 200)]
        assert texts == [f"burst {i} " + "x" * 500 for i in range(200)]
        await wait_until(lambda: hub.subscribers("acme") == 1)
        server.message("acme", "still fine")
        [frame] = await take(frames, 1)
        assert frame.data["text"] == "still fine"


# ------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (None, "missing_token"),
        ("garbage", "invalid_token"),
        (token("acme", exp_in=-5), "token_expired"),
        (token("acme", secret=WRONG_SECRET), "invalid_token"),
        (unsigned_token("acme"), "invalid_token"),
    ],
)
async def test_bad_credentials_get_401(credentials: str | None, code: str) -> None:
    """Missing, garbage, expired, badly signed and unsigned tokens get 401 and a JSON error."""
    async with sse_server() as server:
        response = await server.get(credentials)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("where", ["header", "cookie"])
async def test_64k_token_is_refused(where: str) -> None:
    """A 64 KB token, in the header or a cookie, is refused for its size without decoding."""
    big = token("acme", padding="x" * 65536)
    async with sse_server() as server:
        if where == "header":
            response = await server.get(big)
        else:
            response = await server.get(cookies={"wagate_token": big})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_too_large"


async def test_cookie_authentication() -> None:
    """The token may come in the ``wagate_token`` cookie (EventSource cannot set headers)."""
    async with (
        sse_server() as server,
        server.stream(cookies={"wagate_token": token("acme")}) as (response, frames),
    ):
        assert response.status_code == 200
        [status] = await take(frames, 1)
        assert status.data["tenant"] == "acme"


async def test_query_token_only_when_enabled() -> None:
    """A query-string token is ignored by default and accepted when the app names the parameter."""
    async with sse_server() as server:
        response = await server.get(params={"token": token("acme")})
        assert response.status_code == 401
    async with (
        sse_server(query_param="token") as server,
        server.stream(params={"token": token("acme")}) as (response, frames),
    ):
        assert response.status_code == 200
        assert (await take(frames, 1))[0].event == "connection:status"


async def test_tenant_a_cannot_read_tenant_b() -> None:
    """A token for tenant A asking for tenant B gets 403."""
    async with sse_server(link=("acme", "globex")) as server:
        response = await server.get(token("acme"), params={"tenant": "globex"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_multi_tenant_token_picks_one_tenant() -> None:
    """A principal granted several tenants must choose one; it then gets only that one."""
    async with sse_server(link=("acme", "globex")) as server:
        response = await server.get(token(["acme", "globex"]))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "tenant_required"
        async with server.stream(token(["acme", "globex"]), params={"tenant": "globex"}) as (
            _,
            frames,
        ):
            await take(frames, 1)
            server.message("acme", "not for you")
            server.message("globex", "for you")
            [frame] = await take(frames, 1)
        assert frame.data["tenant"] == "globex"
        assert frame.data["text"] == "for you"


async def test_streams_only_carry_their_tenant() -> None:
    """Each stream carries only its own tenant's events."""
    async with (
        sse_server(link=("acme", "globex")) as server,
        server.stream(token("acme")) as (_, acme),
        server.stream(token("globex")) as (_, globex),
    ):
        await take(acme, 1)
        await take(globex, 1)
        for i in range(3):
            server.message("acme", f"a{i}")
            server.message("globex", f"g{i}")
        assert {f.data["tenant"] for f in await take(acme, 3)} == {"acme"}
        assert {f.data["tenant"] for f in await take(globex, 3)} == {"globex"}


async def test_events_are_message_received_events() -> None:
    """The frames decode back to the events the session published (to_wire round trip)."""
    from wagate import from_wire

    async with sse_server() as server, server.stream(token("acme")) as (_, frames):
        await take(frames, 1)
        server.message("acme", "round trip")
        [frame] = await take(frames, 1)
        assert frame.event is not None
        event = from_wire(frame.event, frame.data)
        assert isinstance(event, MessageReceived)
        assert event.text == "round trip"


async def test_stream_reset_by_the_client_is_freed_before_any_heartbeat() -> None:
    """A stream whose client resets the connection (RST) is freed at the disconnect, not later.

    The heartbeat is a minute, so only the ``http.disconnect`` can free it within the
    test's deadline.
    """
    async with sse_server(heartbeat=60) as server:
        host, port = server.url.removeprefix("http://").split(":")
        raw = await anyio.connect_tcp(host, int(port))
        request = (
            f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token('acme')}\r\n\r\n"
        )
        await raw.send(request.encode())
        with anyio.fail_after(5):
            assert (await raw.receive(64)).startswith(b"HTTP/1.1 200")
        await wait_until(lambda: server.sse.open_streams == 1)
        assert server.gateway.hub.subscribers("acme") == 1
        sock = raw.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await raw.aclose()
        await wait_until(lambda: server.sse.open_streams == 0, timeout=20)
        assert server.gateway.hub.subscribers("acme") == 0


@pytest.mark.parametrize("exp", [10**20, 2**63, 253402300800])
async def test_a_signed_exp_out_of_range_gets_401_invalid_token(exp: int) -> None:
    """A well-signed token whose ``exp`` no date can hold is a 401, not a 500."""
    async with sse_server() as server:
        response = await server.get(token("acme", exp=exp))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_the_tenant_header_chooses_as_on_the_rest_routes() -> None:
    """``X-Wagate-Tenant`` picks the tenant of a multi-tenant token, before ``?tenant=``."""
    async with (
        sse_server(link=("acme", "globex")) as server,
        server.stream(
            token(["acme", "globex"]),
            headers={"X-Wagate-Tenant": "globex"},
            params={"tenant": "acme"},
        ) as (response, frames),
    ):
        assert response.status_code == 200
        [status] = await take(frames, 1)
        assert status.data["tenant"] == "globex"


async def test_a_long_tenant_name_is_echoed_cut_short() -> None:
    """A 10 KB ``?tenant=`` is quoted in the 403 by its first 64 characters only."""
    async with sse_server() as server:
        response = await server.get(token("acme"), params={"tenant": "t" * 64 + "u" * 10_000})
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "t" * 64 + "…" in message
    assert "u" * 10 not in message


async def test_every_message_kind_and_update_reaches_the_stream_as_on_the_wire() -> None:
    """Media, reactions, edits, deletes, sends and receipts: each event, its wire form, in order."""
    async with sse_server() as server, server.stream(token("acme")) as (_, frames):
        await take(frames, 1)  # the snapshot
        session = await server.gateway.session("acme")
        events = await every_update(session, server.phones.phone("acme"), server.gateway.hub)
        got = await take(frames, len(events))
    assert [(f.event, f.data) for f in got] == [wire(e) for e in events]
    assert [f.id for f in got] == [str(e.seq) for e in events]
