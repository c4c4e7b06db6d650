"""The REST contract, run against both integrations (FastAPI on uvicorn, Flask on werkzeug).

Every test is parametrized over the two frameworks through the ``server`` fixture:
the same requests must get the same statuses and payloads from both.  The servers
run for real on 127.0.0.1 (ports from the OS) in simulator mode and are driven
over HTTP with httpx, authenticated with HS256 JWTs minted here.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from test_contract_support import (
    CONTACT,
    FRAMEWORKS,
    SECRET,
    WRONG_SECRET,
    Phones,
    Served,
    mint,
    normalized,
    serve,
)
from wagate import MAX_TEXT_LENGTH, ScanRejected

LEFT_MID_BODY = "the client went away before sending the whole body"

pytestmark = pytest.mark.timeout(90)

_tenants = itertools.count(1)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request: pytest.FixtureRequest) -> Iterator[Served]:
    """One running server per framework, shared by this module's tests (tenants differ)."""
    with serve(request.param) as served:
        yield served


@pytest.fixture
def tenant() -> str:
    """A tenant no other test uses."""
    return f"tenant-{next(_tenants)}"


@pytest.fixture
def token(tenant: str) -> str:
    """A token for ``tenant``."""
    return mint(tenant)


@pytest.fixture
def client(server: Served, token: str) -> Iterator[httpx.Client]:
    """A client authenticated as ``tenant``."""
    with server.client(token) as http:
        yield http


@pytest.fixture
def linked(server: Served, token: str) -> str:
    """``tenant``, linked (connected) over HTTP."""
    server.link(token)
    return token


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of a JSON error response (checking its shape on the way)."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) >= {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    code: str = body["error"]["code"]
    return code


# ---------------------------------------------------------------------------------
# Status and QR


def test_status_before_and_after_connect(server: Served, client: httpx.Client, token: str) -> None:
    """/status reads disconnected for a new tenant, and connected with the user once linked."""
    before = client.get("/status")
    assert before.status_code == 200
    body = before.json()
    assert body["status"] == "disconnected"
    assert body["state"] == "disconnected"
    assert body["user"] is None
    assert "qr" not in body

    server.link(token)
    after = client.get("/status").json()
    tenant = body["tenant"]
    phone = server.phones.phone(tenant)
    assert after["status"] == after["state"] == "connected"
    assert after["user"] == {"id": phone.jid, "name": phone.name, "phone": phone.number}
    assert after["tenant"] == tenant


def test_status_while_awaiting_scan_carries_the_qr(client: httpx.Client) -> None:
    """During a login /status says connecting / awaiting_scan and carries the pending QR."""
    client.post("/api/qr/generate")
    body = client.get("/status").json()
    assert body["status"] == "connecting"
    assert body["state"] == "awaiting_scan"
    assert body["qr"]["qrCode"].startswith("data:image/png;base64,")
    assert body["qr"]["qr"] == client.get("/api/qr").json()["qr"]


def test_qr_absent_is_404_with_the_reason(client: httpx.Client) -> None:
    """With no login in progress /api/qr is 404 no_pending_qr, saying how to start one."""
    response = client.get("/api/qr")
    assert response.status_code == 404
    assert error_code(response) == "no_pending_qr"
    assert "/api/qr/generate" in response.json()["error"]["message"]


def test_qr_absent_when_connected_says_so(client: httpx.Client, linked: str) -> None:
    """A connected tenant's /api/qr is 404, and the reason says it is connected."""
    response = client.get("/api/qr")
    assert response.status_code == 404
    assert error_code(response) == "no_pending_qr"
    assert "connected" in response.json()["error"]["message"]


def test_generate_answers_202_with_the_new_qr(client: httpx.Client) -> None:
    """POST /api/qr/generate starts a login and answers 202 with the QR it produced."""
    response = client.post("/api/qr/generate")
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "awaiting_scan"
    qr = client.get("/api/qr")
    assert qr.status_code == 200
    pending = qr.json()
    assert set(pending) == {"tenant", "qrCode", "qr", "expiresIn", "expired", "expiresAt"}
    assert pending["qr"] == body["qr"]["qr"]
    assert pending["qrCode"].startswith("data:image/png;base64,")
    assert 0 < pending["expiresIn"] <= 60 and pending["expired"] is False
    assert pending["expiresAt"].endswith("Z")


def test_generate_again_replaces_the_pending_qr(server: Served, client: httpx.Client) -> None:
    """A second generate drops the pending QR: a new code, and the phone refuses the old one."""
    first = client.post("/api/qr/generate").json()["qr"]["qr"]
    second = client.post("/api/qr/generate").json()["qr"]["qr"]
    assert first != second
    assert client.get("/api/qr").json()["qr"] == second
    phone = server.phones.phone(client.get("/status").json()["tenant"])
    with pytest.raises(ScanRejected):
        server.call(phone.scan, first)


def test_generate_while_connected_is_409(client: httpx.Client, linked: str) -> None:
    """POST /api/qr/generate on a connected tenant is 409 already_connected."""
    response = client.post("/api/qr/generate")
    assert response.status_code == 409
    assert error_code(response) == "already_connected"


# ---------------------------------------------------------------------------------
# Sending

SURROGATE = b'{"to": "+628111222333", "text": "\\ud800"}'
"""A lone surrogate, as only a raw JSON escape can carry it."""

BAD_SENDS: list[tuple[str, bytes, set[str]]] = [
    ("to-number", json.dumps({"to": 628111222333, "text": "hi"}).encode(), {"invalid_input"}),
    ("to-array", json.dumps({"to": [CONTACT], "text": "hi"}).encode(), {"invalid_input"}),
    ("to-null", json.dumps({"to": None, "text": "hi"}).encode(), {"invalid_input"}),
    ("to-40-digits", json.dumps({"to": "1" * 40, "text": "hi"}).encode(), {"invalid_recipient"}),
    (
        "to-sql",
        json.dumps({"to": "'; DROP TABLE wagate_sessions; --", "text": "hi"}).encode(),
        {"invalid_recipient"},
    ),
    ("to-emoji", json.dumps({"to": "\U0001f600", "text": "hi"}).encode(), {"invalid_recipient"}),
    ("to-empty", json.dumps({"to": "", "text": "hi"}).encode(), {"invalid_recipient"}),
    (
        "to-national",
        json.dumps({"to": "08123456789", "text": "hi"}).encode(),
        {"invalid_recipient"},
    ),
    (
        "to-bad-jid",
        json.dumps({"to": "abc@s.whatsapp.net", "text": "hi"}).encode(),
        {"invalid_recipient"},
    ),
    ("text-empty", json.dumps({"to": CONTACT, "text": ""}).encode(), {"invalid_text"}),
    ("text-blank", json.dumps({"to": CONTACT, "text": " \n\t"}).encode(), {"invalid_text"}),
    (
        "text-65537",
        json.dumps({"to": CONTACT, "text": "a" * (MAX_TEXT_LENGTH + 1)}).encode(),
        {"invalid_text"},
    ),
    ("text-surrogate", SURROGATE, {"invalid_text"}),
    ("text-nul", json.dumps({"to": CONTACT, "text": "a\u0000b"}).encode(), {"invalid_text"}),
    ("text-number", json.dumps({"to": CONTACT, "text": 5}).encode(), {"invalid_input"}),
    ("text-object", json.dumps({"to": CONTACT, "text": {"a": 1}}).encode(), {"invalid_input"}),
    ("missing-to", json.dumps({"text": "hi"}).encode(), {"invalid_input"}),
    ("missing-text", json.dumps({"to": CONTACT}).encode(), {"invalid_input"}),
    ("missing-both", b"{}", {"invalid_input"}),
    ("body-array", json.dumps([CONTACT, "hi"]).encode(), {"invalid_input"}),
    ("body-string", b'"hi"', {"invalid_input"}),
    ("body-null", b"null", {"invalid_input"}),
]


@pytest.mark.parametrize(("body", "codes"), [pytest.param(b, c, id=i) for i, b, c in BAD_SENDS])
def test_send_bad_input_is_422(
    server: Served, client: httpx.Client, linked: str, body: bytes, codes: set[str]
) -> None:
    """Each bad recipient, text or body shape is 422 with its code, and nothing is sent."""
    phone = server.phones.phone(client.get("/status").json()["tenant"])
    response = client.post("/api/send", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert error_code(response) in codes
    assert phone.sent == []


def test_longest_text_is_sent(server: Served, client: httpx.Client, linked: str) -> None:
    """A text of exactly 65,536 characters is accepted (the limit is inclusive)."""
    text = "a" * MAX_TEXT_LENGTH
    response = client.post("/api/send", json={"to": CONTACT, "text": text})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["message"] == text


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        pytest.param(b'{"to": "+62811', "application/json", 400, "invalid_json", id="truncated"),
        pytest.param(b"{to: 1}", "application/json", 400, "invalid_json", id="unquoted"),
        pytest.param(b"\xff\xfe{}", "application/json", 400, "invalid_json", id="not-utf8"),
        pytest.param(b"[" * 200_000, "application/json", 400, "invalid_json", id="deep-nesting"),
        pytest.param(b"", "application/json", 400, "invalid_json", id="empty"),
        pytest.param(b"to=1&text=hi", "text/plain", 415, "unsupported_media_type", id="text"),
        pytest.param(
            b"to=1&text=hi",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
            id="form",
        ),
        pytest.param(b'{"to": "x"}', None, 415, "unsupported_media_type", id="no-type"),
        pytest.param(
            b'{"to": "' + b"1" * 2_000_000 + b'", "text": "hi"}',
            "application/json",
            413,
            "body_too_large",
            id="2MB",
        ),
    ],
)
def test_send_bad_body(
    client: httpx.Client,
    linked: str,
    content: bytes,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    """Malformed JSON is 400, another media type 415, a 2 MB body 413: JSON errors all."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/send", content=content, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert error_code(response) == code


def test_send_when_not_connected_is_409(server: Served, client: httpx.Client) -> None:
    """Sending before linking (never started, then awaiting the scan) is 409 not_connected."""
    response = client.post("/api/send", json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 409
    assert error_code(response) == "not_connected"
    client.post("/api/qr/generate")
    response = client.post("/api/send", json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 409
    assert error_code(response) == "not_connected"


def test_send_delivers_and_answers_message_sent(
    server: Served, client: httpx.Client, linked: str
) -> None:
    """A good send is 200 with the message:sent payload, and the message reaches the phone."""
    response = client.post(
        "/api/send", json={"to": "+62 811-1222-333", "text": "halo \u00e9\U0001f600"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    tenant = client.get("/status").json()["tenant"]
    assert body["tenant"] == tenant
    assert body["to"] == "628111222333@s.whatsapp.net"
    assert body["message"] == "halo \u00e9\U0001f600"
    assert body["success"] is True
    assert body["error"] is None
    assert isinstance(body["seq"], int)
    sent = server.phones.phone(tenant).sent
    assert [(m.id, m.to, m.text) for m in sent] == [(body["id"], body["to"], body["message"])]


def test_whatsapp_refusal_is_502_with_the_message_sent_payload(
    server: Served, client: httpx.Client, linked: str
) -> None:
    """When WhatsApp refuses a message: 502 send_failed, carrying the failed message:sent."""
    phone = server.phones.phone(client.get("/status").json()["tenant"])
    server.call(phone.fail_next_send, "server returned error 479")
    response = client.post("/api/send", json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 502
    assert error_code(response) == "send_failed"
    body = response.json()
    assert body["error"]["message"] == "server returned error 479"
    assert body["sent"]["success"] is False
    assert body["sent"]["error"] == "server returned error 479"
    assert body["sent"]["id"] is None
    assert body["sent"]["to"] == "628111222333@s.whatsapp.net"
    again = client.post("/api/send", json={"to": CONTACT, "text": "hi"})
    assert again.status_code == 200, "the next send goes through"


# ---------------------------------------------------------------------------------
# Logout


def test_logout_then_second_logout_is_409(client: httpx.Client, linked: str) -> None:
    """Logout is 200 with the logged-out status; a second one is 409 not_linked."""
    response = client.post("/api/logout")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "disconnected"
    assert body["reason"] == "logged_out"
    assert body["user"] is None
    again = client.post("/api/logout")
    assert again.status_code == 409
    assert error_code(again) == "not_linked"
    assert client.get("/status").json()["reason"] == "logged_out"


def test_logout_never_linked_is_409(client: httpx.Client) -> None:
    """Logging out a tenant that was never linked is 409 not_linked."""
    response = client.post("/api/logout")
    assert response.status_code == 409
    assert error_code(response) == "not_linked"


def test_link_again_after_logout(server: Served, client: httpx.Client, token: str) -> None:
    """After a logout the tenant links again with a new QR code."""
    server.link(token)
    assert client.post("/api/logout").status_code == 200
    server.link(token)
    assert client.get("/status").json()["status"] == "connected"


# ---------------------------------------------------------------------------------
# Routing errors

ROUTES = [
    ("GET", "/status"),
    ("GET", "/api/qr"),
    ("POST", "/api/qr/generate"),
    ("POST", "/api/send"),
    ("POST", "/api/logout"),
    ("GET", "/api/events"),
    ("POST", "/api/simulator/scan"),
    ("POST", "/api/simulator/receive"),
]


@pytest.mark.parametrize(
    "path", ["/nope", "/api/nope", "/api/send/x", "/status/", "/api/../etc/passwd", "/%00"]
)
def test_unknown_route_is_404_json(client: httpx.Client, path: str) -> None:
    """An unknown path is 404 not_found, as JSON."""
    response = client.get(path)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/status"),
        ("POST", "/status"),
        ("GET", "/api/send"),
        ("PUT", "/api/qr"),
        ("GET", "/api/logout"),
        ("PATCH", "/api/qr/generate"),
        ("OPTIONS", "/status"),
        ("HEAD", "/api/events"),
    ],
)
def test_wrong_method_is_405_json(client: httpx.Client, method: str, path: str) -> None:
    """A known path with the wrong method is 405 method_not_allowed (JSON, with Allow)."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert "Allow" in response.headers
    if method != "HEAD":
        assert error_code(response) == "method_not_allowed"


def test_head_answers_like_get(client: httpx.Client) -> None:
    """HEAD /status answers 200 with the JSON content type and no body."""
    response = client.head("/status")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content == b""


# ---------------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_token_is_401(server: Served, method: str, path: str) -> None:
    """Every route refuses a request without a token: 401 missing_token, WWW-Authenticate."""
    with server.client() as anonymous:
        response = anonymous.request(method, path, json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 401
    assert error_code(response) == "missing_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


BAD_TOKENS = {
    "wrong-secret": (mint("acme", secret=WRONG_SECRET), "invalid_token"),
    "expired": (mint("acme", exp_in=-60), "token_expired"),
    "garbage": ("not-a-jwt", "invalid_token"),
    "alg-none": (
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0ZW5hbnQiOiJhY21lIiwiZXhwIjo0MTAyNDQ0ODAwfQ.",
        "invalid_token",
    ),
    "bad-tenant-claim": (mint("bad tenant!"), "invalid_token"),
    "non-ascii": ("\u00e9t\u00e9", "invalid_token"),  # sent as raw UTF-8 bytes
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_bad_token_is_401(server: Served, name: str, method: str, path: str) -> None:
    """Every route refuses a bad, forged or expired token with 401 and its code."""
    bad, code = BAD_TOKENS[name]
    with server.client(headers={"Authorization": f"Bearer {bad}".encode()}) as http:
        response = http.request(method, path, json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 401, response.text
    assert error_code(response) == code


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_cookie_and_header_for_different_tenants_is_401(
    server: Served, method: str, path: str
) -> None:
    """A token in the cookie and another tenant's in the header: refused, not guessed."""
    with server.client(mint("tenant-a"), cookies={"wagate_token": mint("tenant-b")}) as http:
        response = http.request(method, path, json={"to": CONTACT, "text": "hi"})
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"


def test_cookie_alone_or_agreeing_with_the_header_is_accepted(server: Served, tenant: str) -> None:
    """The token cookie works alone, and with a header token for the same tenant."""
    with server.client(cookies={"wagate_token": mint(tenant)}) as http:
        assert http.get("/status").json()["tenant"] == tenant
    with server.client(mint(tenant), cookies={"wagate_token": mint(tenant)}) as http:
        assert http.get("/status").json()["tenant"] == tenant


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        ({}, True),  # not a browser: no cookie is sent on its behalf by anyone else
    ],
)
def test_cookie_changes_from_another_site_are_403(
    server: Served, tenant: str, headers: dict[str, str], allowed: bool
) -> None:
    """A POST authenticated by the cookie alone must come from the same site (CSRF)."""
    with server.client(cookies={"wagate_token": mint(tenant)}, headers=headers) as http:
        response = http.post("/api/qr/generate")
        assert http.get("/status").status_code == 200, "reads are not affected"
    if allowed:
        assert response.status_code == 202, response.text
    else:
        assert response.status_code == 403
        assert error_code(response) == "cross_site_request"


def test_same_origin_header_and_bearer_pass_the_site_check(server: Served, tenant: str) -> None:
    """An Origin matching the server, or a bearer token, is not a cross-site request."""
    same = {"Origin": server.url}
    with server.client(cookies={"wagate_token": mint(tenant)}, headers=same) as http:
        assert http.post("/api/qr/generate").status_code == 202
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    with server.client(mint(tenant), headers=evil) as http:
        assert http.post("/api/qr/generate").status_code == 202


def test_non_bearer_authorization_is_401(server: Served, tenant: str) -> None:
    """Basic credentials are not a token: 401 missing_token."""
    with server.client(headers={"Authorization": "Basic dXNlcjpwYXNz"}) as http:
        response = http.get("/status")
    assert response.status_code == 401
    assert error_code(response) == "missing_token"


# ---------------------------------------------------------------------------------
# Tenant isolation


class SSEReader:
    """Reads (event, data) frames from one streaming SSE response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.iter_lines()

    def until(self, done: Callable[[str, dict[str, Any]], bool]) -> list[tuple[str, Any]]:
        """The frames up to and including the first for which ``done(event, data)`` holds."""
        frames: list[tuple[str, Any]] = []
        event: str | None = None
        for line in self._lines:
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                assert event is not None
                data = json.loads(line[len("data: ") :])
                frames.append((event, data))
                if done(event, data):
                    return frames
        raise AssertionError(f"the stream ended early: {frames}")


def test_tenant_a_never_sees_tenant_b(server: Served) -> None:
    """A's token reads A's status and QR only, and cannot choose B by header or query."""
    a, b = f"iso-a-{next(_tenants)}", f"iso-b-{next(_tenants)}"
    server.link(mint(b))
    with server.client(mint(b)) as http_b:
        http_b.post("/api/logout")
        http_b.post("/api/qr/generate")  # B now has a QR pending
        b_qr = http_b.get("/api/qr").json()["qr"]
    with server.client(mint(a)) as http_a:
        status = http_a.get("/status").json()
        assert status["tenant"] == a
        assert status["state"] == "disconnected"
        assert "qr" not in status
        qr = http_a.get("/api/qr")
        assert qr.status_code == 404
        assert b_qr not in qr.text
        for chosen in ({"headers": {"X-Wagate-Tenant": b}}, {"params": {"tenant": b}}):
            response = http_a.get("/status", **chosen)  # type: ignore[arg-type]
            assert response.status_code == 403, chosen
            assert error_code(response) == "forbidden"
            assert http_a.post("/api/qr/generate", **chosen).status_code == 403  # type: ignore[arg-type]
        events = http_a.get("/api/events", params={"tenant": b})
        assert events.status_code == 403


def test_events_stream_carries_only_its_tenant(server: Served) -> None:
    """A's SSE stream never carries B's events, even while B links, sends and receives."""
    a, b = f"sse-a-{next(_tenants)}", f"sse-b-{next(_tenants)}"
    with (
        server.client(mint(a)) as http_a,
        http_a.stream("GET", "/api/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        reader = SSEReader(stream)
        first = reader.until(lambda e, d: e == "connection:status")
        assert first[-1][1]["tenant"] == a
        # B does everything it can; then A makes one event of its own.
        token_b = mint(b)
        server.link(token_b)
        with server.client(token_b) as http_b:
            assert http_b.post("/api/send", json={"to": CONTACT, "text": "b"}).status_code == 200
            received = http_b.post("/api/simulator/receive", json={"from": CONTACT, "text": "to b"})
            assert received.status_code == 200
        http_a.post("/api/qr/generate")
        frames = reader.until(lambda e, d: e == "qr:generated")
    assert {data["tenant"] for _, data in frames} == {a}


def test_events_stream_carries_received_messages(server: Served, token: str) -> None:
    """A message the simulated phone receives reaches the tenant's SSE stream."""
    server.link(token)
    with server.client(token) as http, http.stream("GET", "/api/events") as stream:
        reader = SSEReader(stream)
        reader.until(lambda e, d: e == "connection:status")
        response = http.post("/api/simulator/receive", json={"from": CONTACT, "text": "ping"})
        assert response.status_code == 200
        frames = reader.until(lambda e, d: e == "message:received")
    _, data = frames[-1]
    assert data["text"] == "ping"
    assert data["from"] == "628111222333@s.whatsapp.net"
    assert data["id"] == response.json()["id"]


def test_multi_tenant_token_must_choose(server: Served) -> None:
    """A token for two tenants must name one (422 without); X-Wagate-Tenant and ?tenant work."""
    a, b = f"multi-a-{next(_tenants)}", f"multi-b-{next(_tenants)}"
    with server.client(mint([a, b])) as http:
        response = http.get("/status")
        assert response.status_code == 422
        assert error_code(response) == "tenant_required"
        assert http.get("/status", headers={"X-Wagate-Tenant": b}).json()["tenant"] == b
        assert http.get("/status", params={"tenant": a}).json()["tenant"] == a
        other = http.get("/status", params={"tenant": "someone-else"})
        assert other.status_code == 403


def test_simulator_routes_act_for_the_caller_only(server: Served) -> None:
    """/api/simulator/scan links the caller's tenant only; receive needs a linked account."""
    a, b = f"simu-a-{next(_tenants)}", f"simu-b-{next(_tenants)}"
    with server.client(mint(a)) as http_a, server.client(mint(b)) as http_b:
        http_b.post("/api/qr/generate")
        scan = http_a.post("/api/simulator/scan")
        assert scan.status_code == 404
        assert error_code(scan) == "no_pending_qr"
        assert http_b.get("/status").json()["state"] == "awaiting_scan"
        receive = http_a.post("/api/simulator/receive", json={"from": CONTACT, "text": "x"})
        assert receive.status_code == 409
        assert error_code(receive) == "not_linked"
        bad = http_a.post("/api/simulator/receive", json={"from": "nobody", "text": "x"})
        assert bad.status_code == 422


# ---------------------------------------------------------------------------------
# Both frameworks answer the same


def _script(served: Served) -> list[tuple[str, int, str, Any]]:
    """Run one scripted session; return (step, status, content type, normalized body)."""
    token = mint("same")
    out: list[tuple[str, int, str, Any]] = []

    def record(step: str, response: httpx.Response) -> None:
        body = response.json() if response.content else None
        media = response.headers.get("content-type", "").split(";")[0]
        out.append((step, response.status_code, media, normalized(body)))

    with served.client(token) as http:
        record("status", http.get("/status"))
        record("qr-absent", http.get("/api/qr"))
        record("send-early", http.post("/api/send", json={"to": CONTACT, "text": "x"}))
        record("generate", http.post("/api/qr/generate"))
        record("qr", http.get("/api/qr"))
        record("scan", http.post("/api/simulator/scan"))
        record("status-linked", http.get("/status"))
        record("generate-linked", http.post("/api/qr/generate"))
        record("send", http.post("/api/send", json={"to": CONTACT, "text": "x"}))
        served.call(served.phones.phone("same").fail_next_send)
        record("send-refused", http.post("/api/send", json={"to": CONTACT, "text": "x"}))
        for name, body, _ in BAD_SENDS:
            record(
                f"bad-{name}",
                http.post("/api/send", content=body, headers={"Content-Type": "application/json"}),
            )
        record(
            "bad-json",
            http.post("/api/send", content=b"{", headers={"Content-Type": "application/json"}),
        )
        record(
            "bad-type", http.post("/api/send", content=b"x", headers={"Content-Type": "text/plain"})
        )
        record(
            "too-large",
            http.post(
                "/api/send", content=b" " * 2_000_000, headers={"Content-Type": "application/json"}
            ),
        )
        record("receive", http.post("/api/simulator/receive", json={"from": CONTACT, "text": "y"}))
        record("not-found", http.get("/api/nope"))
        record("wrong-method", http.delete("/status"))
        record("head", http.head("/status"))
        record("logout", http.post("/api/logout"))
        record("logout-again", http.post("/api/logout"))
        record("forbidden", http.get("/status", params={"tenant": "other"}))
    with served.client() as anonymous:
        record("no-token", anonymous.get("/status"))
    with served.client(mint("same", secret=WRONG_SECRET)) as forged:
        record("bad-token", forged.get("/status"))
    with served.client(mint("same"), cookies={"wagate_token": mint("other")}) as mixed:
        record("mixed-tokens", mixed.get("/status"))
    return out


def test_both_frameworks_answer_identically() -> None:
    """The same script gets the same statuses, content types and bodies from both."""
    runs = {}
    for framework in FRAMEWORKS:
        with serve(framework) as served:
            runs[framework] = _script(served)
    fastapi_run, flask_run = runs["fastapi"], runs["flask"]
    assert [step for step, *_ in fastapi_run] == [step for step, *_ in flask_run]
    for fastapi_step, flask_step in zip(fastapi_run, flask_run, strict=True):
        assert fastapi_step == flask_step


def test_both_frameworks_send_the_same_bytes(server: Served, tenant: str) -> None:
    """Error bodies are byte for byte the same JSON encoding (compact, UTF-8)."""
    with server.client(mint(tenant)) as http:
        response = http.get("/api/qr")
    assert response.content == (
        b'{"error":{"code":"no_pending_qr","message":"no login is in progress: '
        b'POST /api/qr/generate to start one"}}'
    )


def test_serve_socketio_on_a_taken_port_raises_oserror() -> None:
    """Socket.IO beside Flask: a taken port is an OSError for the caller; close is idempotent."""
    from wagate import SyncGateway
    from wagate.adapters.auth import JWTAuthenticator
    from wagate.integrations.flask import serve_socketio

    with SyncGateway(Phones()) as gateway:
        first = serve_socketio(gateway, JWTAuthenticator(SECRET))
        try:
            assert first.port > 0
            with pytest.raises(OSError):
                serve_socketio(gateway, JWTAuthenticator(SECRET), port=first.port)
        finally:
            first.close()
            first.close()


# ---------------------------------------------------------------------------------
# Edges (issue 11)


@pytest.mark.parametrize("exp", [10**20, 2**63, 253402300800])
@pytest.mark.parametrize("path", ["/status", "/api/events"])
def test_a_signed_exp_out_of_range_is_401_invalid_token(
    server: Served, exp: int, path: str
) -> None:
    """A well-signed token whose ``exp`` no date can hold is refused (401), not a crash (500)."""
    with server.client(mint("acme", exp=exp)) as http:
        response = http.get(path)
    assert response.status_code == 401, response.text
    assert error_code(response) == "invalid_token"


def test_several_tenants_and_no_choice_is_one_answer_on_rest_and_sse(server: Served) -> None:
    """REST and SSE refuse a multi-tenant token that chose nothing alike; both read the header."""
    a, b = f"choice-a-{next(_tenants)}", f"choice-b-{next(_tenants)}"
    with server.client(mint([a, b])) as http:
        rest = http.get("/status")
        events = http.get("/api/events")
        assert (rest.status_code, error_code(rest)) == (422, "tenant_required")
        assert (events.status_code, error_code(events)) == (rest.status_code, error_code(rest))
        assert events.json() == rest.json()
        with http.stream("GET", "/api/events", headers={"X-Wagate-Tenant": b}) as stream:
            assert stream.status_code == 200
            frames = SSEReader(stream).until(lambda e, d: e == "connection:status")
        assert frames[-1][1]["tenant"] == b
        other = http.get("/api/events", headers={"X-Wagate-Tenant": "someone-else"})
        assert (other.status_code, error_code(other)) == (403, "forbidden")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("{scheme}://{host}:{port}", True),
        ("https://{host}:{port}", False),
        ("ws://{host}:{port}", False),
        ("{scheme}://{host}:{other_port}", False),
        ("{scheme}://{host}", False),
        ("{scheme}://localhost:{port}", False),
        ("{scheme}://{host}:{port}/path", False),
        ("{scheme}://user@{host}:{port}", False),
        ("{scheme}://{host}:99999", False),
    ],
)
def test_origin_must_match_scheme_host_and_port(server: Served, origin: str, allowed: bool) -> None:
    """A cookie POST whose Origin differs from the server in scheme, host or port is cross-site."""
    scheme, _, address = server.url.partition("://")
    host, _, port = address.partition(":")
    headers = {
        "Origin": origin.format(
            scheme=scheme, host=host, port=port, other_port=int(port) % 65535 + 1
        )
    }
    tenant = f"origin-{next(_tenants)}"
    with server.client(cookies={"wagate_token": mint(tenant)}, headers=headers) as http:
        response = http.post("/api/qr/generate")
    if allowed:
        assert response.status_code == 202, response.text
    else:
        assert response.status_code == 403, headers
        assert error_code(response) == "cross_site_request"


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/status", "header"),
        ("/status", "query"),
        ("/api/events", "header"),
        ("/api/events", "query"),
    ],
)
def test_a_long_tenant_name_is_echoed_cut_short(server: Served, path: str, where: str) -> None:
    """A 10 KB tenant name is quoted in the 403 by its first 64 characters only."""
    asked = "n" * 64 + "z" * 10_000
    chosen: dict[str, Any] = (
        {"headers": {"X-Wagate-Tenant": asked}}
        if where == "header"
        else {"params": {"tenant": asked}}
    )
    with server.client(mint("acme")) as http:
        response = http.get(path, **chosen)
    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    message = response.json()["error"]["message"]
    assert "n" * 64 + "…" in message
    assert "z" not in message
    assert len(response.content) < 300


def leave_mid_body(served: Served, path: str, caplog: pytest.LogCaptureFixture) -> None:
    """POST headers with a Content-Length and half the body, close, and check the server's log.

    It waits until the server is done with the request (it says so, or logs an
    error), then checks that it logged no error, no traceback, only the debug line.
    """
    caplog.set_level(logging.DEBUG)
    # uvicorn's loggers do not propagate to the root logger that caplog listens to.
    server_logger = logging.getLogger("uvicorn")
    server_logger.addHandler(caplog.handler)
    try:
        host, _, port = served.url.removeprefix("http://").partition(":")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {mint('acme')}\r\nContent-Length: 100\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(head.encode() + b'{"to": "+62')
        deadline = time.monotonic() + 10
        while not any(
            r.getMessage().endswith(LEFT_MID_BODY) or r.levelno >= logging.ERROR
            for r in caplog.records
        ):
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.01)
    finally:
        server_logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], (
        caplog.text
    )
    [gone] = [r for r in caplog.records if r.getMessage().endswith(LEFT_MID_BODY)]
    assert gone.levelno == logging.DEBUG
    assert gone.getMessage() == f"POST {path}: {LEFT_MID_BODY}"


def test_a_client_leaving_mid_body_is_not_logged_as_an_error(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers with a Content-Length, half the body, then a close: no error, no traceback."""
    leave_mid_body(server, "/api/send", caplog)


def test_a_host_route_whose_client_leaves_mid_body_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The FastAPI error handlers treat a host app's own route the same way."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def upload(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    def upload_route(app: Any) -> None:
        # A plain Starlette route: FastAPI would read the string annotations of a
        # function defined here as query parameters.
        app.add_route("/host/upload", upload, methods=["POST"])

    with serve("fastapi", extra_routes=upload_route) as served:
        leave_mid_body(served, "/host/upload", caplog)


@pytest.mark.parametrize("path", ["/status", "/api/events"])
def test_a_malformed_token_is_refused_in_the_library_words(server: Served, path: str) -> None:
    """A token whose header is not UTF-8 gets wagate's sentence, not the JSON decoder's."""
    import base64

    header = base64.urlsafe_b64encode(b"\xb7\xff{").rstrip(b"=").decode()
    with server.client(f"{header}.e30.c2ln") as http:
        response = http.get(path)
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"
    assert response.json()["error"]["message"] == "the token is not a well-formed JWT"
