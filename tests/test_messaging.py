"""Rich messages through a Session on the simulator: every kind, receipts, reactions, media."""

from __future__ import annotations

import io
import random
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image as PILImage

from wagate import (
    Audio,
    Backoff,
    Contact,
    Content,
    Document,
    FileMediaStore,
    Image,
    InvalidContent,
    InvalidMedia,
    Location,
    Media,
    MediaFetchFailed,
    MediaLimits,
    MediaNotFound,
    MediaTooLarge,
    MediaUrl,
    MessageEdited,
    MessageReaction,
    MessageReceived,
    MessageRevoked,
    MessageSent,
    MessageStatus,
    NotConnected,
    NotEditable,
    Receipt,
    Session,
    Sticker,
    Text,
    UnknownMessage,
    UrlPolicy,
    Video,
    from_wire,
    to_wire,
)
from wagate._media import refused_address, sniff
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver, SimulatedPhone
from wagate.testing import link, wait_for

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.001, maximum=0.004, jitter=0.1)
SITI = "628111222333@s.whatsapp.net"


def _image(fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


JPEG = _image()
PNG = _image("PNG")
WEBP = _image("WEBP")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 64


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def phone() -> SimulatedPhone:
    return SimulatedPhone(number="+628123456789", name="Budi")


@pytest.fixture
async def session(
    phone: SimulatedPhone, clock: SimulatedClock, tmp_path: Path
) -> AsyncIterator[Session]:
    driver = SimulatedDriver(phone=phone, clock=clock, seed=1)
    async with Session(
        "acme",
        driver=driver,
        backoff=FAST,
        rng=random.Random(0),
        media_store=FileMediaStore(tmp_path / "media"),
    ) as s:
        await link(s, phone)
        yield s


@pytest.mark.parametrize(
    "content",
    [
        Text("hello", mentions=("+628111222333",)),
        Image(JPEG, caption="a receipt"),
        Image(PNG),
        Video(MP4, caption="clip"),
        Audio(OGG, voice=True),
        Document(PDF, file_name="invoice.pdf", caption="your invoice"),
        Sticker(WEBP),
        Location(-6.1754, 106.8272, name="Monas", address="Jakarta"),
        Contact("BEGIN:VCARD\nVERSION:3.0\nFN:Siti\nTEL:+628111222333\nEND:VCARD"),
    ],
    ids=lambda c: c.kind,
)
async def test_every_kind_is_sent_and_published(
    session: Session, phone: SimulatedPhone, content: object
) -> None:
    events = session.events()
    sent = await session.send("+628111222333", content)  # type: ignore[arg-type]
    assert sent.to == SITI and sent.id and sent.kind == content.kind  # type: ignore[attr-defined]
    published = await wait_for(events, MessageSent)
    assert (published.id, published.kind, published.success) == (sent.id, sent.kind, True)
    got = phone.sent[-1]
    assert got.id == sent.id and got.content is not None and got.content.kind == sent.kind
    if content.has_media:  # type: ignore[attr-defined]
        assert got.content.media == content.media  # type: ignore[attr-defined]
        assert sent.media is not None and sent.media.size == len(content.media)  # type: ignore[attr-defined]
        assert await session.download(sent.media) == content.media  # type: ignore[attr-defined]
    status = await wait_for(events, MessageStatus)
    assert (status.ids, status.status) == ((sent.id,), Receipt.SENT)


async def test_media_from_a_path_and_a_file_object(
    session: Session, phone: SimulatedPhone, tmp_path: Path
) -> None:
    path = tmp_path / "r.jpg"
    path.write_bytes(JPEG)
    await session.send(SITI, Image(str(path)))
    assert phone.sent[-1].content.media == JPEG  # type: ignore[union-attr]
    sent = await session.send(SITI, Document(path))
    assert sent.media is not None and sent.media.file_name == "r.jpg"
    with path.open("rb") as f:
        await session.send(SITI, Image(f))
    assert phone.sent[-1].content.media == JPEG  # type: ignore[union-attr]


async def test_receipts_arrive_delivered_then_read(
    session: Session, phone: SimulatedPhone, clock: SimulatedClock
) -> None:
    events = session.events()
    sent = await session.send(SITI, Text("are you there?"))
    assert (await wait_for(events, MessageStatus)).status is Receipt.SENT
    clock.advance(1.0)
    delivered = await wait_for(events, MessageStatus)
    assert (delivered.ids, delivered.status, delivered.recipient) == (
        (sent.id,),
        Receipt.DELIVERED,
        SITI,
    )
    phone.open_chat("+628111222333")
    read = await wait_for(events, MessageStatus)
    assert (read.ids, read.status) == ((sent.id,), Receipt.READ)


async def test_every_kind_is_received_typed_and_media_round_trips(
    session: Session, phone: SimulatedPhone
) -> None:
    events = session.events()
    contents: tuple[Content, ...] = (
        Image(JPEG, caption="photo of my receipt"),
        Document(PDF, file_name="order.pdf"),
        Audio(OGG, voice=True),
        Location(1.5, 2.5, name="here"),
        Text("see above", reply_to="3EB0X"),
    )
    for content in contents:
        phone.send("+628111222333", content, push_name="Siti", forwarded=True)
        got = await wait_for(events, MessageReceived)
        assert got.kind == content.kind and type(got.content) is type(content)
        assert got.forwarded and got.sender == got.chat == SITI
        assert got.reply_to == content.reply_to
        if isinstance(content, (Image, Document, Audio)):
            assert isinstance(got.content, (Image, Document, Audio))
            media, data = got.content.media, content.media
            assert isinstance(media, Media) and isinstance(data, bytes)
            assert media.size == len(data)
            assert await session.download(media) == data
            # The wire carries the descriptor, never the bytes.
            wire = to_wire(got)[0]
            assert "data" not in wire.data["content"]["media"]
            assert from_wire(wire.name, wire.data) == got
    assert got.text == "see above"


async def test_received_media_can_be_sent_on(session: Session, phone: SimulatedPhone) -> None:
    events = session.events()
    phone.send("+628111222333", Image(JPEG))
    got = await wait_for(events, MessageReceived)
    await session.send(got.chat, Image(got.content.media, caption="echo", reply_to=got.id))  # type: ignore[attr-defined]
    assert phone.sent[-1].content.media == JPEG  # type: ignore[union-attr]


async def test_downloads_survive_a_restart(
    phone: SimulatedPhone, clock: SimulatedClock, tmp_path: Path
) -> None:
    store = FileMediaStore(tmp_path / "media")
    async with Session("acme", SimulatedDriver(phone, clock=clock), media_store=store) as s:
        events = s.events()
        await link(s, phone)
        phone.send(SITI, Image(PNG))
        media = (await wait_for(events, MessageReceived)).content.media  # type: ignore[attr-defined]
        await s.download(media)
    phone.media.clear()  # WhatsApp has forgotten it: only the store still has the bytes
    async with Session("acme", SimulatedDriver(phone, clock=clock), media_store=store) as s:
        assert await s.download(media.id) == PNG
    async with Session("other", SimulatedDriver(phone, clock=clock), media_store=store) as s:
        with pytest.raises(MediaNotFound):
            await s.download(media.id)
        with pytest.raises(MediaNotFound):
            await s.download("../acme/" + media.id)


async def test_reactions_edits_and_revokes_both_ways(
    session: Session, phone: SimulatedPhone
) -> None:
    events = session.events()
    sent = await session.send(SITI, Text("hello"))
    await session.react(sent.id, "👍")
    mine = await wait_for(events, MessageReaction)
    assert (mine.id, mine.emoji, mine.from_me) == (sent.id, "👍", True)
    await session.react(sent.id, "")
    assert (await wait_for(events, MessageReaction)).emoji == ""
    await session.edit(sent.id, "hello, Siti")
    edited = await wait_for(events, MessageEdited)
    assert (edited.text, edited.from_me) == ("hello, Siti", True)
    assert phone.edits == [(sent.id, "hello, Siti")]
    await session.revoke(sent.id)
    assert (await wait_for(events, MessageRevoked)).id == sent.id
    assert phone.reactions == [(sent.id, "👍"), (sent.id, "")] and phone.revoked == [sent.id]

    theirs = phone.receive_message("+628111222333", "hi")
    await wait_for(events, MessageReceived)
    phone.react("+628111222333", sent.id, "❤️")
    reaction = await wait_for(events, MessageReaction)
    assert (reaction.sender, reaction.emoji, reaction.from_me) == (SITI, "❤️", False)
    phone.edit("+628111222333", theirs, "hi!")
    assert (await wait_for(events, MessageEdited)).text == "hi!"
    phone.revoke("+628111222333", theirs)
    assert (await wait_for(events, MessageRevoked)).sender == SITI
    await session.mark_read(SITI, [theirs])
    assert phone.read == [theirs]


async def test_bad_input_is_refused_and_loses_nothing(
    session: Session, phone: SimulatedPhone
) -> None:
    theirs = phone.receive_message("+628111222333", "hi")
    cases = [
        (Image(PDF), InvalidMedia),  # a PDF sent as an image
        (Image(b""), InvalidMedia),
        (Sticker(JPEG), InvalidMedia),
        (Image(JPEG, mime_type="image/png"), InvalidMedia),
        (Text("hi", reply_to="3EB0NEVERSEEN"), UnknownMessage),
        (Location(91, 0), InvalidContent),
        (Contact("not a card"), InvalidContent),
        (Image(MediaUrl("ftp://example.com/a.jpg")), MediaFetchFailed),
        (Image(MediaUrl("file:///etc/passwd")), MediaFetchFailed),
        (Image("http://127.0.0.1:1/a.jpg"), MediaFetchFailed),
        (Image(Media(id="x" * 22, mime_type="image/jpeg")), MediaNotFound),
        ("just a string", InvalidContent),
    ]
    for content, error in cases:
        with pytest.raises(error):
            await session.send(SITI, content)  # type: ignore[arg-type]
    with pytest.raises(UnknownMessage):
        await session.react("3EB0NEVERSEEN", "👍")
    with pytest.raises(UnknownMessage):
        await session.edit("3EB0NEVERSEEN", "x")
    with pytest.raises(NotEditable):
        await session.edit(theirs, "not mine")
    with pytest.raises(NotEditable):
        await session.revoke(theirs)
    with pytest.raises(UnknownMessage):
        await session.mark_read("+628999888777", [theirs])
    assert phone.sent == []
    sent = await session.send(SITI, Text("still fine"))
    assert phone.sent[-1].id == sent.id


async def test_one_byte_past_the_limit(phone: SimulatedPhone, clock: SimulatedClock) -> None:
    limits = MediaLimits().but(image=len(JPEG))
    assert MediaLimits().limit("image") == 5 * 1024 * 1024
    async with Session("acme", SimulatedDriver(phone, clock=clock), media_limits=limits) as s:
        await link(s, phone)
        await s.send(SITI, Image(JPEG))
        with pytest.raises(MediaTooLarge):
            await s.send(SITI, Image(JPEG + b"\0"))


async def test_an_edit_past_the_window_is_refused(session: Session) -> None:
    import attrs

    sent = await session.send(SITI, Text("typo"))
    known = session._known[sent.id]
    session._known[sent.id] = attrs.evolve(known, at=known.at - timedelta(minutes=16))
    with pytest.raises(NotEditable, match="15 minutes"):
        await session.edit(sent.id, "fixed")


async def test_sending_while_disconnected_is_refused(phone: SimulatedPhone) -> None:
    async with Session("acme", SimulatedDriver(phone)) as s:
        with pytest.raises(NotConnected):
            await s.send(SITI, Image(JPEG))


class _Served(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/a.jpg":
            body = JPEG
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow.jpg":  # headers, then the body never comes
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.flush()
            SLOW.wait(10)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/a.jpg")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


SLOW = threading.Event()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def test_media_urls_are_fetched_only_where_allowed(
    phone: SimulatedPhone, clock: SimulatedClock, server: str
) -> None:
    async with Session("acme", SimulatedDriver(phone, clock=clock)) as s:
        await link(s, phone)
        with pytest.raises(MediaFetchFailed, match="private or loopback"):
            await s.send(SITI, Image(f"{server}/a.jpg"))
    allowed = UrlPolicy(allow_private=True, timeout=5)
    async with Session("acme", SimulatedDriver(phone, clock=clock), url_policy=allowed) as s:
        await link(s, phone)
        await s.send(SITI, Image(f"{server}/moved"))
        assert phone.sent[-1].content.media == JPEG  # type: ignore[union-attr]
        with pytest.raises(MediaFetchFailed, match="404"):
            await s.send(SITI, Image(f"{server}/missing.jpg"))
    SLOW.clear()
    impatient = UrlPolicy(allow_private=True, timeout=0.5)
    async with Session("acme", SimulatedDriver(phone, clock=clock), url_policy=impatient) as s:
        await link(s, phone)
        with pytest.raises(MediaFetchFailed, match="did not answer within"):
            await s.send(SITI, Image(f"{server}/slow.jpg"))
        SLOW.set()
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # a port nobody listens on: connection refused
        port = closed.getsockname()[1]
        with pytest.raises(MediaFetchFailed):
            await s.send(SITI, Image(f"http://127.0.0.1:{port}/a.jpg"))
        closed.close()
        await s.send(SITI, Image(f"{server}/a.jpg"))  # the session goes on
    pinned = UrlPolicy(allow_private=True, hosts=["cdn.example.com"])
    async with Session("acme", SimulatedDriver(phone, clock=clock), url_policy=pinned) as s:
        await link(s, phone)
        with pytest.raises(MediaFetchFailed, match="not one the gateway fetches from"):
            await s.send(SITI, Image(f"{server}/a.jpg"))
    tiny = MediaLimits().but(image=10)
    async with Session(
        "acme", SimulatedDriver(phone, clock=clock), url_policy=allowed, media_limits=tiny
    ) as s:
        await link(s, phone)
        with pytest.raises(MediaTooLarge):
            await s.send(SITI, Image(f"{server}/a.jpg"))


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "0.0.0.0"]
)
def test_private_addresses_are_refused(address: str) -> None:
    assert refused_address(address)


def test_public_addresses_are_not_refused() -> None:
    assert not refused_address("93.184.216.34")
    assert not refused_address("2606:2800:220:1:248:1893:25c8:1946")


def test_sniffing() -> None:
    assert [sniff(b) for b in (JPEG, PNG, WEBP, PDF, MP4, OGG)] == [
        "image/jpeg",
        "image/png",
        "image/webp",
        "application/pdf",
        "video/mp4",
        "audio/ogg",
    ]
    assert sniff(b"hello") is None
