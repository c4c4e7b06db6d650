"""Server-Sent Events for WSGI: a Flask view and a bare WSGI app on werkzeug's threaded server."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from test_isolation_support import Phones, authenticator, token
from wagate import SyncGateway
from wagate.adapters.sse import ServerSentEvents

SENDER = "+628111222333"


@contextlib.contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    """Serve a WSGI app with werkzeug on 127.0.0.1 (OS port) in a thread; yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def flask_sse(
    *, served: list[ServerSentEvents] | None = None, **options: Any
) -> Iterator[tuple[str, SyncGateway, Phones]]:
    """A Flask app whose /events view streams a SyncGateway's events; 'acme' is linked.

    The transport is appended to ``served`` when given, for tests that look inside.
    """
    phones = Phones()
    with SyncGateway(phones) as sync:
        sync.portal.call(phones.link, sync.gateway, "acme")
        sse = ServerSentEvents(sync.gateway, authenticator(), **options)
        if served is not None:
            served.append(sse)
        app = Flask(__name__)

        @app.get("/events")
        def events() -> Response:
            status, headers, body = sse.wsgi_response(sync, request.environ)
            return Response(body, status=status, headers=headers)

        with wsgi_server(app) as url:
            yield url, sync, phones


def message(sync: SyncGateway, phones: Phones, text: str) -> None:
    """A contact writes to acme (called in the gateway's loop thread)."""
    phone = phones.phone("acme")
    sync.portal.call(lambda: phone.receive_message(sender=SENDER, text=text))


def frames(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse the stream into frames (dicts of fields; ``data`` decoded)."""
    fields: dict[str, Any] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line == "":
            if fields:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                yield fields
                fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until ``predicate()`` holds (the state lives in another thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


@pytest.mark.timeout(30)
def test_flask_stream_snapshot_live_and_resume() -> None:
    """Through Flask: the snapshot, live events with ids, and a resume with Last-Event-ID."""
    with flask_sse(heartbeat=0.1) as (url, sync, phones), httpx.Client(base_url=url) as client:
        auth = {"Authorization": f"Bearer {token('acme')}"}
        with client.stream("GET", "/events", headers=auth, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = (f for f in frames(response) if "comment" not in f)
            status = next(stream)
            assert status["event"] == "connection:status"
            assert status["data"]["status"] == "connected"
            assert int(status["id"]) > 0  # the seq the snapshot is current as of
            message(sync, phones, "one")
            first = next(stream)
            assert first["data"]["text"] == "one"
            assert first["id"] == str(first["data"]["seq"])
        for text in ("two", "three"):
            message(sync, phones, text)
        resume = {**auth, "Last-Event-ID": first["id"]}
        with client.stream("GET", "/events", headers=resume, timeout=10) as response:
            stream = (f for f in frames(response) if "comment" not in f)
            assert [next(stream)["data"]["text"] for _ in range(2)] == ["two", "three"]


@pytest.mark.timeout(30)
def test_flask_client_that_leaves_releases_its_stream() -> None:
    """When a WSGI client goes away its stream unsubscribes (noticed at the next write)."""
    with flask_sse(heartbeat=0.05) as (url, sync, _), httpx.Client(base_url=url) as client:
        hub = sync.gateway.hub

        def subscribers() -> int:
            return sync.portal.call(lambda: hub.subscribers("acme"))

        auth = {"Authorization": f"Bearer {token('acme')}"}
        with client.stream("GET", "/events", headers=auth, timeout=10) as response:
            # Kept: a frames generator dropped after one frame would close the response
            # (httpx closes it when its iterator is closed), and the server, rightly,
            # frees the stream before the count is read.
            stream = frames(response)
            next(stream)
            assert subscribers() == 1
        wait_until(lambda: subscribers() == 0)


@pytest.mark.timeout(30)
def test_flask_stream_ends_when_the_gateway_closes() -> None:
    """Closing the SyncGateway ends the WSGI stream instead of leaving its thread blocked."""
    phones = Phones()
    sync = SyncGateway(phones).start()
    sse = ServerSentEvents(sync.gateway, authenticator())
    with wsgi_server(sse.wsgi_app(sync)) as url, httpx.Client(base_url=url) as client:
        auth = {"Authorization": f"Bearer {token('acme')}"}
        with client.stream("GET", "/", headers=auth, timeout=10) as response:
            stream = frames(response)
            assert next(stream)["event"] == "connection:status"
            sync.close()
            rest = list(stream)
        assert all("comment" in f or f["event"] for f in rest)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_token"),
        ({"Authorization": "Bearer garbage"}, 401, "invalid_token"),
        ({"Authorization": f"Bearer {token('acme', exp_in=-1)}"}, 401, "token_expired"),
        ({"Authorization": f"Bearer {token('globex')}"}, 403, "forbidden"),
        (
            {"Authorization": f"Bearer {token('acme')}", "Last-Event-ID": "-1"},
            400,
            "invalid_last_event_id",
        ),
    ],
)
@pytest.mark.timeout(30)
def test_wsgi_app_errors(headers: dict[str, str], status: int, code: str) -> None:
    """The bare WSGI app answers bad requests with the same JSON errors as the ASGI one."""
    with (
        SyncGateway(Phones()) as sync,
        wsgi_server(ServerSentEvents(sync.gateway, authenticator()).wsgi_app(sync)) as url,
        httpx.Client(base_url=url) as client,
    ):
        response = client.get("/", headers=headers, params={"tenant": "acme"}, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.timeout(60)
def test_flask_stream_reset_by_the_client_is_freed_before_any_heartbeat() -> None:
    """A WSGI stream whose client resets the connection is freed without waiting for a write.

    The heartbeat is a minute, so only noticing the reset itself frees it within the
    deadline.
    """
    served: list[ServerSentEvents] = []
    with flask_sse(heartbeat=60, served=served) as (url, sync, _):
        [sse] = served
        host, _, port = url.removeprefix("http://").partition(":")
        raw = socket.create_connection((host, int(port)), timeout=10)
        auth = f"Authorization: Bearer {token('acme')}"
        raw.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        assert raw.recv(64).startswith(b"HTTP/1.1 200")
        wait_until(lambda: sync.portal.call(lambda: sse.open_streams) == 1)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        wait_until(lambda: sync.portal.call(lambda: sse.open_streams) == 0, timeout=20)
        assert sync.portal.call(lambda: sync.gateway.hub.subscribers("acme")) == 0
