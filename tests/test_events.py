# mypy: disable-error-code="comparison-overlap,unreachable"
"""Events: the wire encoding round trip, enums, and QR rendering."""

from __future__ import annotations

import base64
import io
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import zxingcpp
from PIL import Image

from wagate import (
    Account,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    InvalidInput,
    MessageReceived,
    MessageSent,
    PairingCode,
    QrGenerated,
    State,
    Status,
    from_wire,
    status_payload,
    to_wire,
)
from wagate._events import utcnow

AT = datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=timezone.utc)
ACCOUNT = Account(jid="628123456789@s.whatsapp.net", phone="+628123456789", name="Budi")
CODE = (
    "2@Rk3Jd9sKq1xYz0w7v8u5t4s3r2q1p0o9n8m7l6k5j4h3g2f1e0d9c8b7a6==,"
    "hbX7Vf2b3Q1sYq0dJ6lUe1cM8rS9w0T4k5p2n3m4o5q=,"
    "JqL4o3mXcY8Zr6d1e2f3g4h5i6j7k8l9m0n1o2p3q4r=,"
    "z9Y8x7W6v5U4t3S2r1Q0p9O8n7M6l5K4j3I2h1G0f9E="
)

EVENTS: list[Event] = [
    QrGenerated(tenant="acme", seq=1, at=AT, code=CODE, expires_at=AT + timedelta(seconds=60)),
    PairingCode(tenant="acme", seq=2, at=AT, code="ABCD-EFGH", phone="+628123456789"),
    Connecting(tenant="acme", seq=3, at=AT, attempt=2),
    Connected(tenant="acme", seq=4, at=AT, account=ACCOUNT),
    Connected(
        tenant="acme", seq=5, at=AT, account=Account(jid="1@s.whatsapp.net", phone="+1", name=None)
    ),
    Disconnected(
        tenant="acme",
        seq=6,
        at=AT,
        reason=DisconnectReason.NETWORK,
        will_retry=True,
        retry_in=2.5,
        detail="dial failed",
    ),
    Disconnected(tenant="acme", seq=7, at=AT, reason=DisconnectReason.LOGGED_OUT),
    MessageReceived(
        tenant="acme",
        seq=8,
        at=AT,
        id="3EB0ABC",
        chat="120363012345678901@g.us",
        sender="628111222333@s.whatsapp.net",
        push_name="Siti",
        text="halo 👋",
        is_group=True,
        timestamp=AT - timedelta(seconds=3),
    ),
    MessageReceived(
        tenant="acme",
        seq=9,
        at=AT,
        id="3EB0DEF",
        chat="628111222333@s.whatsapp.net",
        sender="628111222333@s.whatsapp.net",
        push_name=None,
        text=None,
        is_group=False,
        timestamp=AT,
        kind="image",
    ),
    MessageSent(
        tenant="acme",
        seq=10,
        at=AT,
        id="3EB0F00",
        to="628111222333@s.whatsapp.net",
        text="hello",
        success=True,
    ),
    MessageSent(
        tenant="acme",
        seq=11,
        at=AT,
        id=None,
        to="628111222333@s.whatsapp.net",
        text="hello",
        success=False,
        error="479",
    ),
    Gap(tenant="acme", seq=20, at=AT, first_seq=12, last_seq=20),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_round_trip_every_message(event: Event) -> None:
    """Every wire message of every event decodes back to an equal event, through JSON."""
    for message in to_wire(event):
        data = json.loads(json.dumps(message.data))
        assert from_wire(message.name, data) == event
        assert data["tenant"] == "acme" and data["seq"] == event.seq


def test_wire_names_and_keys_follow_the_design() -> None:
    """Names and payload keys are exactly the ones existing frontends listen to."""
    qr, _, connecting, connected, _, lost, _, received, _, sent, failed, _ = EVENTS
    (m,) = to_wire(qr, now=AT)
    assert m.name == "qr:generated"
    assert m.data["qrCode"].startswith("data:image/png;base64,")
    assert m.data["qr"] == CODE and m.data["expiresIn"] == 60.0
    assert {"expiresAt", "timestamp"} <= m.data.keys()
    (m,) = to_wire(connecting)
    assert (m.name, m.data["status"], m.data["state"]) == (
        "connection:status",
        "connecting",
        "connecting",
    )
    first, status = to_wire(connected)
    assert first.name == "whatsapp:connected"
    assert first.data["user"] == {"id": ACCOUNT.jid, "name": "Budi", "phone": "+628123456789"}
    assert (status.name, status.data["status"]) == ("connection:status", "connected")
    first, status = to_wire(lost)
    assert first.name == "whatsapp:disconnected"
    assert (first.data["reason"], first.data["willRetry"], first.data["retryIn"]) == (
        "network",
        True,
        2.5,
    )
    assert (status.data["status"], status.data["reason"]) == ("disconnected", "network")
    (m,) = to_wire(received)
    assert m.name == "message:received"
    assert {"id", "from", "chat", "text", "pushName", "isGroup", "timestamp"} <= m.data.keys()
    (m,) = to_wire(sent)
    assert m.name == "message:sent"
    assert {"id", "to", "message", "success", "timestamp"} <= m.data.keys()
    (m,) = to_wire(failed)
    assert (m.data["success"], m.data["error"]) == (False, "479")


def test_dash_naming() -> None:
    """The NestJS naming sends qr-code and connection-status with their own keys."""
    qr, _, connecting, connected, _, lost, *_ = EVENTS
    (m,) = to_wire(qr, naming="dash", now=AT)
    assert (
        m.name == "qr-code"
        and m.data["qrCode"].startswith("data:image/png")
        and m.data["expiresIn"] == 60.0
    )
    (m,) = to_wire(connected, naming="dash")
    assert (m.name, m.data["status"], m.data["phoneNumber"]) == (
        "connection-status",
        "connected",
        "+628123456789",
    )
    (m,) = to_wire(lost, naming="dash")
    assert (m.name, m.data["status"], m.data["phoneNumber"]) == (
        "connection-status",
        "disconnected",
        None,
    )
    (m,) = to_wire(connecting, naming="dash")
    assert m.data["status"] == "connecting"


def test_expires_in_counts_from_now() -> None:
    """ExpiresIn counts down from the moment of encoding, never below zero."""
    qr = EVENTS[0]
    (m,) = to_wire(qr, now=AT + timedelta(seconds=45))
    assert m.data["expiresIn"] == 15.0
    (m,) = to_wire(qr, now=AT + timedelta(seconds=90))
    assert m.data["expiresIn"] == 0.0


def test_every_encoding_of_a_qr_counts_from_the_moment_of_encoding() -> None:
    """Without ``now``, a QR's expiresIn counts from the encoding, and an expired one says so."""
    fresh = QrGenerated(
        tenant="acme", seq=1, at=utcnow(), code=CODE, expires_at=utcnow() + timedelta(seconds=60)
    )
    (m,) = to_wire(fresh)
    assert 59 < m.data["expiresIn"] <= 60 and m.data["expired"] is False
    old = EVENTS[0]  # created at AT, expired long ago
    assert isinstance(old, QrGenerated) and old.expires_at < utcnow()
    (m,) = to_wire(old)
    assert (m.data["expiresIn"], m.data["expired"]) == (0.0, True)
    (m,) = to_wire(old, naming="dash")
    assert (m.data["expiresIn"], m.data["expired"]) == (0.0, True)
    status = status_payload(Status(tenant="acme", state=State.AWAITING_SCAN, qr=old, since=AT))
    assert (status["qr"]["expiresIn"], status["qr"]["expired"]) == (0.0, True)
    (m,) = to_wire(old, now=AT + timedelta(seconds=45))
    assert (m.data["expiresIn"], m.data["expired"]) == (15.0, False)


def test_status_payload() -> None:
    """The status payload carries the coarse status, the fine state, user and pending QR."""
    qr = EVENTS[0]
    assert isinstance(qr, QrGenerated)
    waiting = status_payload(
        Status(tenant="acme", state=State.AWAITING_SCAN, qr=qr, since=AT), now=AT
    )
    assert (waiting["status"], waiting["state"], waiting["user"]) == (
        "connecting",
        "awaiting_scan",
        None,
    )
    assert waiting["qr"]["qr"] == CODE and waiting["qr"]["expiresIn"] == 60.0
    online = status_payload(Status(tenant="acme", state=State.CONNECTED, account=ACCOUNT, since=AT))
    assert online["user"]["phone"] == "+628123456789" and "qr" not in online
    lost = status_payload(
        Status(tenant="acme", state=State.DISCONNECTED, reason=DisconnectReason.BANNED, since=AT)
    )
    assert (lost["status"], lost["reason"], lost["willRetry"]) == ("disconnected", "banned", False)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("nope:event", {"tenant": "a", "seq": 1, "at": "2026-01-01T00:00:00Z"}),
        ("qr:generated", {"tenant": "a", "seq": 1, "at": "2026-01-01T00:00:00Z"}),
        (
            "qr:generated",
            {
                "tenant": "a",
                "seq": "1",
                "at": "2026-01-01T00:00:00Z",
                "qr": "x",
                "expiresAt": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "qr:generated",
            {
                "tenant": "a",
                "seq": True,
                "at": "2026-01-01T00:00:00Z",
                "qr": "x",
                "expiresAt": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "qr:generated",
            {
                "tenant": "a",
                "seq": 1,
                "at": "yesterday",
                "qr": "x",
                "expiresAt": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "qr:generated",
            {
                "tenant": "a",
                "seq": 1,
                "at": "2026-01-01T00:00:00",
                "qr": "x",
                "expiresAt": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "whatsapp:disconnected",
            {
                "tenant": "a",
                "seq": 1,
                "at": "2026-01-01T00:00:00Z",
                "reason": "gone",
                "willRetry": False,
            },
        ),
        (
            "whatsapp:disconnected",
            {
                "tenant": "a",
                "seq": 1,
                "at": "2026-01-01T00:00:00Z",
                "reason": "network",
                "willRetry": True,
                "retryIn": float("inf"),
            },
        ),
        (
            "connection:status",
            {"tenant": "a", "seq": 1, "at": "2026-01-01T00:00:00Z", "status": "sleeping"},
        ),
        (
            "whatsapp:connected",
            {"tenant": "a", "seq": 1, "at": "2026-01-01T00:00:00Z", "user": "me"},
        ),
    ],
)
def test_from_wire_rejects_malformed(name: str, data: dict[str, object]) -> None:
    """Unknown names and malformed payloads raise InvalidInput naming the problem."""
    with pytest.raises(InvalidInput):
        from_wire(name, data)


def test_from_wire_rejects_non_object() -> None:
    """A payload that is not a JSON object is refused."""
    with pytest.raises(InvalidInput, match="JSON object"):
        from_wire("qr:generated", ["not", "an", "object"])  # type: ignore[arg-type]


def test_enums_are_strings() -> None:
    """State and DisconnectReason compare equal to their wire strings."""
    assert State.CONNECTED == "connected"
    assert DisconnectReason.LOGGED_OUT == "logged_out"
    assert str(State.AWAITING_SCAN) == "awaiting_scan"
    assert {r.value for r in DisconnectReason} == {
        "network",
        "logged_out",
        "replaced",
        "banned",
        "qr_timeout",
        "closed",
        "engine_crashed",
        "outdated",
        "owner_lost",
    }
    assert [r for r in DisconnectReason if r.retryable] == [
        DisconnectReason.NETWORK,
        DisconnectReason.ENGINE_CRASHED,
        DisconnectReason.OWNER_LOST,
    ]


def test_events_are_frozen() -> None:
    """Events cannot be changed after creation."""
    import attrs

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        EVENTS[2].seq = 99  # type: ignore[misc]


def _decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return str(results[0].text)


def _qr(code: str = CODE) -> QrGenerated:
    return QrGenerated(tenant="t", seq=1, at=AT, code=code, expires_at=AT)


def test_png_decodes_to_the_code() -> None:
    """The PNG, read by a real QR decoder, gives back the raw payload."""
    assert _decode(_qr().png()) == CODE


def test_data_url_decodes_to_the_code() -> None:
    """The data URL is the same PNG, base64-encoded."""
    qr = _qr()
    prefix = "data:image/png;base64,"
    assert qr.data_url.startswith(prefix)
    assert base64.b64decode(qr.data_url[len(prefix) :]) == qr.png()


def test_svg_decodes_to_the_code() -> None:
    """The SVG, rasterised, also decodes back to the code."""
    svg = _qr().svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    # Rasterise the SVG's own path data to check it encodes the same symbol.
    import re

    n = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    image = Image.new("L", (n, n), 255)
    pixels = image.load()
    assert pixels is not None
    for x, y, w in re.findall(r"M(\d+),(\d+)h(\d+)", svg):
        for dx in range(int(w)):
            pixels[int(x) + dx, int(y)] = 0
    assert _decode_image(image.resize((n * 8, n * 8), Image.Resampling.NEAREST)) == CODE


def _decode_image(image: Image.Image) -> str:
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    return str(results[0].text)


def test_terminal_rendering_decodes() -> None:
    """The terminal text is the same symbol: reading its blocks back decodes the code."""
    text = _qr().terminal()
    lines = text.split("\n")
    width = len(lines[0])
    image = Image.new("L", (width, len(lines) * 2), 0)
    pixels = image.load()
    assert pixels is not None
    for row, line in enumerate(lines):
        for x, ch in enumerate(line):
            top_light = ch in "\u2588\u2580"
            bottom_light = ch in "\u2588\u2584"
            pixels[x, row * 2] = 255 if top_light else 0
            pixels[x, row * 2 + 1] = 255 if bottom_light else 0
    assert (
        _decode_image(image.resize((width * 8, len(lines) * 16), Image.Resampling.NEAREST)) == CODE
    )


def test_rendering_is_lazy_and_cached() -> None:
    """Nothing is rendered until asked, and each form is rendered once."""
    qr = _qr()
    assert qr._render.renders == 0
    png = qr.png()
    assert qr.png() is png and qr._repr_png_() is png
    assert qr.data_url is qr.data_url
    qr.svg()
    qr.svg()
    qr.terminal()
    assert qr._render.renders == 3


def test_rendering_is_thread_safe() -> None:
    """Many threads asking at once get one rendering."""
    qr = _qr()
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(qr.png())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert qr._render.renders == 1 and len({id(r) for r in results}) == 1


def test_copies_equal_without_sharing_renders() -> None:
    """Two events with the same fields are equal; the render cache does not affect equality."""
    a, b = _qr(), _qr()
    a.png()
    assert a == b and b._render.renders == 0
