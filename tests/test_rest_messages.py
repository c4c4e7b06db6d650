"""REST messaging: ``POST /api/messages`` (JSON and forms), reactions, edits, reads, media.

Each test runs on FastAPI (uvicorn) and Flask (werkzeug) on 127.0.0.1, with the
simulator on the other side; every bad input gets its typed error and the session
goes on sending afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate import Document, FileMediaStore, Image, Location, MediaLimits, Text
from wagate.drivers.simulator import SentMessage as PhoneGot

pytest.importorskip("fastapi")
pytest.importorskip("flask")

SITI = "628111222333@s.whatsapp.net"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _png(size: int = 64) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (size, size), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
TEXT_OK = {"type": "text", "text": "ok"}
NEVER = "3EB0NEVERSEEN"


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A linked tenant ``acme`` whose media is kept in files, on each framework."""
    options = {
        "media_store": FileMediaStore(tmp_path / "media"),
        "media_limits": MediaLimits().but(image=len(PNG)),
    }
    with serve(request.param, gateway_options=options) as running:
        running.link(mint("acme"))
        yield running


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    """An HTTP client with acme's token."""
    with served.client(mint("acme")) as http:
        yield http


def _got(served: Served) -> list[PhoneGot]:
    return list(served.phones.phone("acme").sent)


def _json_image(data: bytes, **more: Any) -> dict[str, Any]:
    return {
        "to": CONTACT,
        "content": {"type": "image", "media": {"data": base64.b64encode(data).decode()}, **more},
    }


def _error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


def _still_sends(client: httpx.Client, served: Served) -> None:
    """After whatever came before, the session sends as before (nothing crashed, nothing lost)."""
    before = len(_got(served))
    answer = client.post(
        "/api/messages", json={"to": CONTACT, "content": {"type": "text", "text": "ok"}}
    )
    assert answer.status_code == 200, answer.text
    assert len(_got(served)) == before + 1
    assert _got(served)[-1].content == Text("ok")


# -- sending --------------------------------------------------------------------------


def test_a_json_image_is_sent_and_answered_with_the_sent_message(
    client: httpx.Client, served: Served
) -> None:
    answer = client.post("/api/messages", json=_json_image(PNG, caption="a receipt"))
    assert answer.status_code == 200, answer.text
    sent = answer.json()
    assert sent["to"] == SITI and sent["kind"] == "image" and sent["id"]
    assert sent["media"]["mimeType"] == "image/png" and sent["media"]["size"] == len(PNG)
    got = _got(served)[-1]
    assert got.id == sent["id"]
    assert isinstance(got.content, Image)
    assert got.content.media == PNG and got.content.caption == "a receipt"
    # The sent media is served back, byte for byte.
    media = client.get(f"/api/media/{sent['media']['id']}")
    assert media.status_code == 200 and media.content == PNG
    assert media.headers["content-type"] == "image/png"


def test_a_form_with_a_file_part_is_sent_byte_exact(client: httpx.Client, served: Served) -> None:
    answer = client.post(
        "/api/messages",
        data={"to": CONTACT, "type": "document", "caption": "your invoice"},
        files={"file": ("invoice.pdf", PDF, "application/pdf")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["media"]["fileName"] == "invoice.pdf"
    got = _got(served)[-1].content
    assert isinstance(got, Document)
    assert (got.media, got.file_name, got.caption) == (PDF, "invoice.pdf", "your invoice")


def test_a_form_takes_repeated_mentions_and_a_reply(client: httpx.Client, served: Served) -> None:
    phone = served.phones.phone("acme")
    quoted = served.call(lambda: phone.send(CONTACT, Text("send me the photo")))
    answer = client.post(
        "/api/messages",
        data={"to": CONTACT, "type": "image", "replyTo": quoted, "mentions": [CONTACT, CONTACT]},
        files={"file": ("p.png", PNG, "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    got = _got(served)[-1].content
    assert isinstance(got, Image) and got.reply_to == quoted and len(got.mentions) == 2


def test_a_location_is_sent_as_json(client: httpx.Client, served: Served) -> None:
    content = {"type": "location", "latitude": -6.2, "longitude": 106.8, "name": "Monas"}
    answer = client.post("/api/messages", json={"to": CONTACT, "content": content})
    assert answer.status_code == 200, answer.text
    assert _got(served)[-1].content == Location(-6.2, 106.8, name="Monas")


def test_api_send_keeps_working(client: httpx.Client, served: Served) -> None:
    answer = client.post("/api/send", json={"to": CONTACT, "text": "halo"})
    assert answer.status_code == 200, answer.text
    assert _got(served)[-1].text == "halo"


# -- reactions, edits, revokes, reads ------------------------------------------------


def test_react_edit_revoke_and_read(client: httpx.Client, served: Served) -> None:
    phone = served.phones.phone("acme")
    sent = client.post(
        "/api/messages", json={"to": CONTACT, "content": {"type": "text", "text": "hi"}}
    )
    mine = sent.json()["id"]
    theirs = served.call(lambda: phone.send(CONTACT, Text("hello")))
    for path, body in (
        ("/api/messages/react", {"messageId": theirs, "emoji": "\N{THUMBS UP SIGN}"}),
        ("/api/messages/edit", {"messageId": mine, "text": "hi there"}),
        ("/api/messages/read", {"chat": CONTACT, "messageIds": [theirs]}),
        ("/api/messages/revoke", {"messageId": mine}),
    ):
        answer = client.post(path, json=body)
        assert (answer.status_code, answer.json()) == (200, {}), (path, answer.text)
    assert phone.reactions == [(theirs, "\N{THUMBS UP SIGN}")]
    assert phone.edits == [(mine, "hi there")]  # the text "ok" was edited
    assert phone.read == [theirs]
    assert phone.revoked == [mine]


# -- media downloads -----------------------------------------------------------------


def test_received_media_streams_with_ranges_head_and_safe_headers(
    client: httpx.Client, served: Served
) -> None:
    phone = served.phones.phone("acme")
    body = bytes(range(256)) * 1000 + PDF  # not sniffable as PDF: served as a download
    with (
        served.client(mint("acme")) as events_client,
        events_client.stream(
            "GET", "/api/events", headers={"Accept": "text/event-stream"}
        ) as stream,
    ):
        document = Document(PDF + body, file_name="report \N{EM DASH} 2026.pdf")
        served.call(lambda: phone.send(CONTACT, document))
        media_id = None
        for line in stream.iter_lines():
            if line.startswith("data:") and '"document"' in line:
                import json

                media_id = json.loads(line[5:])["content"]["media"]["id"]
                break
    assert media_id is not None
    data = PDF + body
    whole = client.get(f"/api/media/{media_id}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-length"] == str(len(data))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''report%20%E2%80%94%202026.pdf" in whole.headers["content-disposition"]
    assert "sandbox" in whole.headers["content-security-policy"]
    assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'

    part = client.get(f"/api/media/{media_id}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = client.get(f"/api/media/{media_id}", headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    stale = client.get(
        f"/api/media/{media_id}", headers={"Range": "bytes=0-0", "If-Range": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == data
    past = client.get(f"/api/media/{media_id}", headers={"Range": f"bytes={len(data)}-"})
    _error(past, 416, "range_not_satisfiable")
    assert past.headers["content-range"] == f"bytes */{len(data)}"
    head = client.head(f"/api/media/{media_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))


def test_another_tenants_media_is_not_found(served: Served) -> None:
    with served.client(mint("acme")) as acme:
        sent = acme.post("/api/messages", json=_json_image(PNG)).json()
    media_id = sent["media"]["id"]
    served.link(mint("globex"))
    with served.client(mint("globex")) as globex:
        # The same answer as for an id nobody has: existence does not leak.
        _error(globex.get(f"/api/media/{media_id}"), 404, "media_not_found")
        _error(globex.get("/api/media/AAAAAAAAAAAAAAAAAAAAAA"), 404, "media_not_found")
        # A path in the id never reaches a file (Flask does not even route it).
        assert globex.get("/api/media/..%2F..%2Fetc%2Fpasswd").status_code == 404
    with served.client() as anonymous:
        _error(anonymous.get(f"/api/media/{media_id}"), 401, "missing_token")


# -- bad input -----------------------------------------------------------------------

BAD_JSON = [
    pytest.param({"type": "hologram"}, 422, "invalid_content", id="unknown-kind"),
    pytest.param(
        {"type": "image", "media": {"data": base64.b64encode(PDF).decode()}},
        422,
        "invalid_media",
        id="pdf-as-image",
    ),
    pytest.param({"type": "image", "media": {"data": ""}}, 422, "invalid_media", id="empty"),
    pytest.param(
        {"type": "image", "media": {"data": base64.b64encode(PNG + b"\0").decode()}},
        413,
        "media_too_large",
        id="one-byte-past-the-limit",
    ),
    pytest.param(
        {"type": "image", "media": {"data": "not base64!"}}, 422, "invalid_media", id="not-base64"
    ),
    pytest.param(
        {"type": "image", "media": {"url": "http://127.0.0.1:9/a.png"}},
        422,
        "media_fetch_failed",
        id="url-to-loopback",
    ),
    pytest.param(
        {"type": "image", "media": {"url": "ftp://example.com/a.png"}},
        422,
        "media_fetch_failed",
        id="url-not-http",
    ),
    pytest.param(
        {"type": "text", "text": "hi", "replyTo": NEVER},
        404,
        "unknown_message",
        id="reply-to-unseen",
    ),
    pytest.param({"type": "text", "text": "hi", "colour": "red"}, 422, "invalid_content", id="key"),
    pytest.param("just a string", 422, "invalid_content", id="content-not-object"),
]


@pytest.mark.parametrize(("content", "status", "code"), BAD_JSON)
def test_bad_json_content_is_refused_and_the_session_goes_on(
    client: httpx.Client, served: Served, content: Any, status: int, code: str
) -> None:
    before = len(_got(served))
    _error(client.post("/api/messages", json={"to": CONTACT, "content": content}), status, code)
    assert len(_got(served)) == before
    _still_sends(client, served)


BAD_FORMS = [
    pytest.param({"to": CONTACT, "type": "image"}, {}, "invalid_form", id="no-file-part"),
    pytest.param(
        {"to": CONTACT, "type": "image"},
        [("file", ("a.png", PNG, "image/png")), ("file", ("b.png", PNG, "image/png"))],
        "invalid_form",
        id="two-file-parts",
    ),
    pytest.param(
        {"to": CONTACT, "type": "image"},
        {"picture": ("a.png", PNG, "image/png")},
        "invalid_form",
        id="file-part-misnamed",
    ),
    pytest.param(
        {"to": CONTACT, "type": "location"},
        {"file": ("a.png", PNG, "image/png")},
        "invalid_content",
        id="kind-without-media",
    ),
    pytest.param(
        {"to": CONTACT, "type": "image", "colour": "red"},
        {"file": ("a.png", PNG, "image/png")},
        "invalid_form",
        id="unknown-field",
    ),
    pytest.param(
        {"to": CONTACT, "type": "audio", "voice": "maybe"},
        {"file": ("a.ogg", b"OggS\0\2" + b"\0" * 64, "audio/ogg")},
        "invalid_form",
        id="voice-not-a-flag",
    ),
    pytest.param(
        {"to": CONTACT, "type": "image"},
        {"file": ("a.png", PDF, "image/png")},
        "invalid_media",
        id="pdf-as-image",
    ),
    pytest.param(
        {"to": CONTACT, "type": "image"},
        {"file": ("a.png", b"", "image/png")},
        "invalid_media",
        id="empty-file",
    ),
]


@pytest.mark.parametrize(("fields", "files", "code"), BAD_FORMS)
def test_bad_forms_are_refused_and_the_session_goes_on(
    client: httpx.Client, served: Served, fields: dict[str, str], files: Any, code: str
) -> None:
    answer = client.post("/api/messages", data=fields, files=files or {"": ("", b"", "x/y")})
    if not files:  # no file part at all: a form of fields only
        answer = client.post(
            "/api/messages",
            content=b'--b\r\nContent-Disposition: form-data; name="to"\r\n\r\n'
            + CONTACT.encode()
            + b"\r\n--b--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    _error(answer, 422, code)
    _still_sends(client, served)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"--b\r\nno headers", id="unterminated"),
        pytest.param(b"nothing delimited", id="no-boundary-in-body"),
        pytest.param(
            b'--b\r\nContent-Disposition: attachment; name="x"\r\n\r\nv\r\n--b--',
            id="not-form-data",
        ),
    ],
)
def test_malformed_multipart_bodies_are_invalid_forms(client: httpx.Client, body: bytes) -> None:
    answer = client.post(
        "/api/messages", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    _error(answer, 422, "invalid_form")
    no_boundary = client.post(
        "/api/messages", content=body, headers={"Content-Type": "multipart/form-data"}
    )
    _error(no_boundary, 422, "invalid_form")


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (
            "/api/messages/react",
            {"messageId": "3EB0NEVERSEEN", "emoji": "x"},
            404,
            "unknown_message",
        ),
        ("/api/messages/edit", {"messageId": "3EB0NEVERSEEN", "text": "x"}, 404, "unknown_message"),
        ("/api/messages/revoke", {"messageId": "3EB0NEVERSEEN"}, 404, "unknown_message"),
        (
            "/api/messages/read",
            {"chat": CONTACT, "messageIds": ["3EB0NEVERSEEN"]},
            404,
            "unknown_message",
        ),
        ("/api/messages/read", {"chat": CONTACT, "messageIds": []}, 422, "invalid_input"),
        ("/api/messages/read", {"chat": CONTACT, "messageIds": "x"}, 422, "invalid_input"),
        ("/api/messages/react", {"messageId": 7, "emoji": "x"}, 422, "invalid_input"),
    ],
)
def test_ids_the_tenant_never_saw_are_refused(
    client: httpx.Client, served: Served, path: str, body: Any, status: int, code: str
) -> None:
    _error(client.post(path, json=body), status, code)
    _still_sends(client, served)


def test_editing_or_revoking_a_contacts_message_is_refused(
    client: httpx.Client, served: Served
) -> None:
    phone = served.phones.phone("acme")
    theirs = served.call(lambda: phone.send(CONTACT, Text("mine, not yours")))
    _error(
        client.post("/api/messages/edit", json={"messageId": theirs, "text": "x"}),
        409,
        "not_editable",
    )
    _error(client.post("/api/messages/revoke", json={"messageId": theirs}), 409, "not_editable")
    _still_sends(client, served)
