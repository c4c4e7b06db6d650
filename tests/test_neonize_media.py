"""The neonize driver's content mapping, both ways, over neonize's real protobuf types.

No connection: received messages and events are built with neonize's generated
classes (as whatsmeow encodes them), outgoing messages are built from wagate's
contents with an ``UploadResponse`` of neonize's own type standing in for an upload.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from test_neonize_support import chat_presence_event, message_event, presence_event, receipt_event
from wagate import (
    Audio,
    ChatState,
    ChatStateChanged,
    Contact,
    Content,
    Document,
    DriverError,
    Image,
    Location,
    Media,
    MessageEdited,
    MessageReaction,
    MessageRevoked,
    MessageStatus,
    Presence,
    PresenceChanged,
    Receipt,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from wagate._driver import KnownMessage
from wagate.drivers._neonize_content import (
    MAX_THUMBNAIL,
    edit_message,
    outgoing_message,
    reaction_message,
    read_batches,
    received_content,
    revoke_message,
    unwrap,
    upload_type,
)
from wagate.drivers._neonize_engine import load_neonize
from wagate.drivers._neonize_translate import (
    chat_presence_names,
    chat_state_update,
    incoming_message,
    message_update,
    presence_update,
    receipt_update,
)
from wagate.drivers.neonize import NeonizeDriver

NZ = load_neonize()
p = NZ.proto
e2e = NZ.e2e

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
DATA = b"the media's bytes"
CARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Budi Santoso\nTEL:+628123456789\nEND:VCARD"
CARD2 = "BEGIN:VCARD\nVERSION:3.0\nFN;CHARSET=UTF-8:Sari\nEND:VCARD"
GROUP = "120363041234567890@g.us"
ALICE = "628111111111@s.whatsapp.net"
BOB = "628222222222@s.whatsapp.net"


def upload() -> Any:
    """What neonize's ``upload`` answers, as its own ``UploadResponse`` type."""
    return p.UploadResponse(
        url="https://mmg.whatsapp.net/v/t62/abc",
        DirectPath="/v/t62/abc",
        Handle="",
        MediaKey=b"k" * 32,
        FileEncSHA256=b"e" * 32,
        FileSHA256=hashlib.sha256(DATA).digest(),
        FileLength=len(DATA),
    )


def known(
    message_id: str = "3EB0QUOTED", *, chat: str = ALICE, sender: str = ALICE, from_me: bool = False
) -> KnownMessage:
    """A message the session saw."""
    return KnownMessage(
        id=message_id,
        chat=chat,
        sender=sender,
        from_me=from_me,
        at=datetime(2026, 12, 7, tzinfo=timezone.utc),
        text="the quoted text",
    )


def media_fields(**extra: Any) -> dict[str, Any]:
    """The fields of a received media message, as a phone fills them."""
    return {
        "URL": "https://mmg.whatsapp.net/x",
        "directPath": "/x",
        "mediaKey": b"k" * 32,
        "fileEncSHA256": b"e" * 32,
        "fileSHA256": hashlib.sha256(DATA).digest(),
        "fileLength": len(DATA),
        **extra,
    }


# ---------------------------------------------------------------------------- received


def test_a_received_image_is_an_image_with_a_media_descriptor_and_its_context() -> None:
    """ImageMessage: caption, mime, size, sha256 hex, JPEG preview data URL, reply, mentions."""
    context = e2e.ContextInfo(stanzaID="3EB0OLD", mentionedJID=[BOB], isForwarded=True)
    image = e2e.ImageMessage(
        **media_fields(mimetype="image/jpeg", caption="struk", JPEGThumbnail=JPEG),
        contextInfo=context,
    )
    received = received_content(e2e.Message(imageMessage=image), "m1")
    assert received.content == Image(
        Media(
            id="m1",
            mime_type="image/jpeg",
            size=len(DATA),
            sha256=hashlib.sha256(DATA).hexdigest(),
            thumbnail="data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        ),
        caption="struk",
        mime_type="image/jpeg",
        reply_to="3EB0OLD",
        mentions=(BOB,),
    )
    assert received.forwarded


def test_the_media_ref_is_a_message_holding_only_what_a_download_needs() -> None:
    """media_ref parses as a waE2E.Message with the media field, without context or preview."""
    image = e2e.ImageMessage(
        **media_fields(mimetype="image/jpeg", JPEGThumbnail=JPEG),
        contextInfo=e2e.ContextInfo(stanzaID="3EB0OLD"),
    )
    ref = received_content(e2e.Message(imageMessage=image), "m1").media_ref
    assert ref is not None
    again = e2e.Message.FromString(ref)
    assert again.imageMessage.directPath == "/x"
    assert again.imageMessage.mediaKey == b"k" * 32
    assert not again.imageMessage.HasField("contextInfo")
    assert not again.imageMessage.JPEGThumbnail
    ptv = e2e.Message(ptvMessage=e2e.VideoMessage(**media_fields(mimetype="video/mp4")))
    ptv_ref = received_content(ptv, "m2").media_ref
    assert ptv_ref is not None
    assert e2e.Message.FromString(ptv_ref).videoMessage.directPath == "/x"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            e2e.Message(videoMessage=e2e.VideoMessage(**media_fields(mimetype="video/mp4"))),
            Video,
        ),
        (
            e2e.Message(
                audioMessage=e2e.AudioMessage(
                    **media_fields(mimetype="audio/ogg; codecs=opus", PTT=True)
                )
            ),
            Audio,
        ),
        (
            e2e.Message(
                documentMessage=e2e.DocumentMessage(
                    **media_fields(mimetype="application/pdf", fileName="a.pdf", caption="nota")
                )
            ),
            Document,
        ),
        (
            e2e.Message(stickerMessage=e2e.StickerMessage(**media_fields(mimetype="image/webp"))),
            Sticker,
        ),
    ],
)
def test_each_media_kind_arrives_as_its_content(message: Any, expected: type[Content]) -> None:
    """Video, audio (PTT is a voice note), document (file name), sticker: typed, with media."""
    content = received_content(message, "m").content
    assert type(content) is expected
    media = content.media  # type: ignore[attr-defined]
    assert isinstance(media, Media)
    assert media.size == len(DATA)
    assert ";" not in media.mime_type
    if isinstance(content, Audio):
        assert content.voice
        assert media.mime_type == "audio/ogg"
    if isinstance(content, Document):
        assert content.file_name == media.file_name == "a.pdf"
        assert content.caption == "nota"


def test_text_location_and_contacts_arrive_typed() -> None:
    """Extended text (reply, mentions), a location pin, one contact, a contacts array."""
    text = e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(
            text="@bob lihat", contextInfo=e2e.ContextInfo(stanzaID="3EB0X", mentionedJID=[BOB])
        )
    )
    assert received_content(text, "").content == Text(
        "@bob lihat", reply_to="3EB0X", mentions=(BOB,)
    )
    pin = e2e.Message(
        locationMessage=e2e.LocationMessage(
            degreesLatitude=-6.2, degreesLongitude=106.8, name="Monas", address="Jakarta"
        )
    )
    assert received_content(pin, "").content == Location(
        latitude=-6.2, longitude=106.8, name="Monas", address="Jakarta"
    )
    one = e2e.Message(contactMessage=e2e.ContactMessage(displayName="Budi", vcard=CARD))
    assert received_content(one, "").content == Contact((CARD,), display_name="Budi")
    many = e2e.Message(
        contactsArrayMessage=e2e.ContactsArrayMessage(
            displayName="2 contacts",
            contacts=[e2e.ContactMessage(vcard=CARD), e2e.ContactMessage(vcard=CARD2)],
        )
    )
    assert received_content(many, "").content == Contact((CARD, CARD2), display_name="2 contacts")


def test_unknown_kinds_are_unsupported_with_their_name_and_wrappers_are_opened() -> None:
    """A poll is Unsupported("poll_creation_v3"); an ephemeral or view-once wrapper is opened."""
    poll = e2e.Message(pollCreationMessageV3=e2e.PollCreationMessage(name="Makan?"))
    assert received_content(poll, "").content == Unsupported("poll_creation_v3")
    wrapped = e2e.Message(
        ephemeralMessage=e2e.FutureProofMessage(
            message=e2e.Message(
                viewOnceMessage=e2e.FutureProofMessage(message=e2e.Message(conversation="hai"))
            )
        )
    )
    assert received_content(unwrap(wrapped), "").content == Text("hai")


def test_a_preview_that_is_too_large_or_not_an_image_is_left_out() -> None:
    """Only a JPEG or PNG preview up to MAX_THUMBNAIL bytes becomes a data URL."""
    for preview in (b"not an image", JPEG + b"\x00" * MAX_THUMBNAIL):
        image = e2e.ImageMessage(**media_fields(mimetype="image/jpeg", JPEGThumbnail=preview))
        content = received_content(e2e.Message(imageMessage=image), "m").content
        assert content.media.thumbnail is None  # type: ignore[attr-defined]


def test_incoming_message_event_carries_content_context_and_media_ref() -> None:
    """A Message event of a document: IncomingMessage with content, reply, forwarded, ref."""
    document = e2e.DocumentMessage(
        **media_fields(mimetype="application/pdf", fileName="a.pdf"),
        contextInfo=e2e.ContextInfo(stanzaID="3EB0OLD", isForwarded=True),
    )
    event = message_event(e2e.Message(documentMessage=document), message_id="3EB0DOC")
    message = incoming_message(event)
    assert message is not None
    assert message.kind == "document"
    assert isinstance(message.content, Document)
    assert message.text is None
    assert message.reply_to == "3EB0OLD"
    assert message.forwarded
    assert message.media_ref is not None


def test_updates_and_engine_traffic_are_not_received_messages() -> None:
    """Reactions, protocol messages and key-only messages are no MessageReceived."""
    for content in (
        e2e.Message(reactionMessage=e2e.ReactionMessage(key={"ID": "X"}, text="👍")),
        e2e.Message(
            protocolMessage=e2e.ProtocolMessage(type=e2e.ProtocolMessage.EPHEMERAL_SETTING)
        ),
        e2e.Message(senderKeyDistributionMessage=e2e.SenderKeyDistributionMessage(groupID=GROUP)),
    ):
        assert incoming_message(message_event(content)) is None
    ephemeral = e2e.ProtocolMessage(type=e2e.ProtocolMessage.EPHEMERAL_SETTING)
    assert message_update(message_event(e2e.Message(protocolMessage=ephemeral))) is None


def test_reactions_revokes_and_edits_are_updates() -> None:
    """ReactionMessage, ProtocolMessage REVOKE and MESSAGE_EDIT (wrapped) give sink updates."""
    reaction = e2e.Message(reactionMessage=e2e.ReactionMessage(key={"ID": "3EB0A"}, text="❤️"))
    assert message_update(message_event(reaction, chat=GROUP, sender=BOB, group=True)) == (
        MessageReaction,
        {"id": "3EB0A", "chat": GROUP, "sender": BOB, "emoji": "❤️", "from_me": False},
    )
    revoke = e2e.Message(
        protocolMessage=e2e.ProtocolMessage(key={"ID": "3EB0B"}, type=e2e.ProtocolMessage.REVOKE)
    )
    assert message_update(message_event(revoke, from_me=True)) == (
        MessageRevoked,
        {"id": "3EB0B", "chat": ALICE, "sender": ALICE, "from_me": True},
    )
    edit = e2e.Message(
        editedMessage=e2e.FutureProofMessage(
            message=e2e.Message(
                protocolMessage=e2e.ProtocolMessage(
                    key={"ID": "3EB0C"},
                    type=e2e.ProtocolMessage.MESSAGE_EDIT,
                    editedMessage=e2e.Message(conversation="diperbaiki"),
                )
            )
        )
    )
    assert message_update(message_event(edit)) == (
        MessageEdited,
        {"id": "3EB0C", "chat": ALICE, "sender": ALICE, "text": "diperbaiki", "from_me": False},
    )


@pytest.mark.parametrize(
    ("receipt", "status"),
    [("DELIVERED", Receipt.DELIVERED), ("READ", Receipt.READ), ("PLAYED", Receipt.PLAYED)],
)
def test_receipts_are_message_status_with_the_recipient(receipt: str, status: Receipt) -> None:
    """A Receipt of a group names the participant as recipient, and every id."""
    event = receipt_event(["3EB0A", "3EB0B"], receipt, chat=GROUP, sender=BOB, group=True)
    assert receipt_update(event) == (
        MessageStatus,
        {"ids": ("3EB0A", "3EB0B"), "chat": GROUP, "recipient": BOB, "status": status},
    )


def test_receipts_of_own_devices_and_other_types_are_ignored() -> None:
    """read-self, sender, retry receipts and those of the account's own devices give nothing."""
    for receipt in ("READ_SELF", "SENDER", "RETRY", "SERVER_ERROR"):
        assert receipt_update(receipt_event(["3EB0A"], receipt)) is None
    assert receipt_update(receipt_event(["3EB0A"], "READ", from_me=True)) is None


# ---------------------------------------------------------------------------- outgoing


def test_a_plain_text_is_a_conversation_and_a_reply_is_extended_text() -> None:
    """No context: conversation; a reply quotes id, sender (no device), text; mentions listed."""
    assert outgoing_message(e2e, Text("halo")) == e2e.Message(conversation="halo")
    quoted = known(sender="628111111111:4@s.whatsapp.net")
    message = outgoing_message(
        e2e, Text("ya", reply_to=quoted.id, mentions=("+628222222222",)), quoted=quoted
    )
    context = message.extendedTextMessage.contextInfo
    assert message.extendedTextMessage.text == "ya"
    assert context.stanzaID == "3EB0QUOTED"
    assert context.participant == ALICE
    assert context.quotedMessage.conversation == "the quoted text"
    assert list(context.mentionedJID) == [BOB]


@pytest.mark.parametrize(
    ("content", "field", "media_type"),
    [
        (Image(DATA, caption="struk", mime_type="image/png"), "imageMessage", "MediaImage"),
        (Video(DATA, caption="klip", mime_type="video/mp4"), "videoMessage", "MediaVideo"),
        (Audio(DATA, voice=True, mime_type="audio/ogg"), "audioMessage", "MediaAudio"),
        (
            Document(DATA, file_name="a.pdf", caption="nota", mime_type="application/pdf"),
            "documentMessage",
            "MediaDocument",
        ),
        (Sticker(DATA, mime_type="image/webp"), "stickerMessage", "MediaImage"),
    ],
)
def test_media_messages_carry_the_upload_and_the_content(
    content: Content, field: str, media_type: str
) -> None:
    """Each media kind: the upload's URL, path, keys, hashes and length, mime, caption, name."""
    assert upload_type(content) == media_type
    assert NZ.media_type[media_type] is not None
    message = outgoing_message(e2e, content, upload=upload())
    inner = getattr(message, field)
    assert inner.URL == "https://mmg.whatsapp.net/v/t62/abc"
    assert inner.directPath == "/v/t62/abc"
    assert inner.mediaKey == b"k" * 32
    assert inner.fileEncSHA256 == b"e" * 32
    assert inner.fileSHA256 == hashlib.sha256(DATA).digest()
    assert inner.fileLength == len(DATA)
    assert message.SerializeToString()
    if isinstance(content, Audio):
        assert inner.PTT
        assert inner.mimetype == "audio/ogg; codecs=opus"
    else:
        assert inner.mimetype == content.mime_type  # type: ignore[attr-defined]
    if isinstance(content, Document):
        assert inner.fileName == inner.title == "a.pdf"
    if getattr(content, "caption", None):
        assert inner.caption == content.caption  # type: ignore[attr-defined]


def test_media_without_an_upload_is_refused() -> None:
    """Building a media message before its upload is a programming error."""
    with pytest.raises(ValueError, match="uploaded"):
        outgoing_message(e2e, Image(DATA))


def test_contacts_get_a_display_name_from_their_cards() -> None:
    """One card: its FN; several: an array, each named by its FN."""
    one = outgoing_message(e2e, Contact(CARD))
    assert one.contactMessage.displayName == "Budi Santoso"
    many = outgoing_message(e2e, Contact((CARD, CARD2)))
    assert many.contactsArrayMessage.displayName == "2 contacts"
    assert [c.displayName for c in many.contactsArrayMessage.contacts] == ["Budi Santoso", "Sari"]


def test_reaction_edit_and_revoke_messages_name_the_message() -> None:
    """Keys: chat, id, fromMe, and in a group the participant of someone else's message."""
    theirs = known(chat=GROUP, sender="628222222222:2@s.whatsapp.net")
    reaction = reaction_message(e2e, theirs, "👍", 1_700_000_000_000).reactionMessage
    assert reaction.text == "👍"
    assert reaction.senderTimestampMS == 1_700_000_000_000
    assert (reaction.key.remoteJID, reaction.key.ID, reaction.key.fromMe) == (
        GROUP,
        "3EB0QUOTED",
        False,
    )
    assert reaction.key.participant == BOB
    mine = known(chat=ALICE, sender="628123456789:7@s.whatsapp.net", from_me=True)
    edit = edit_message(e2e, mine, "baru", 5).editedMessage.message.protocolMessage
    assert edit.type == e2e.ProtocolMessage.MESSAGE_EDIT
    assert edit.editedMessage.conversation == "baru"
    assert (edit.key.ID, edit.key.fromMe, edit.key.remoteJID) == ("3EB0QUOTED", True, ALICE)
    revoke = revoke_message(e2e, mine).protocolMessage
    assert revoke.type == e2e.ProtocolMessage.REVOKE
    assert (revoke.key.ID, revoke.key.fromMe, revoke.key.participant) == ("3EB0QUOTED", True, "")


def test_read_receipts_go_to_each_sender_in_a_group_and_to_the_chat_otherwise() -> None:
    """mark_read batches: by participant in a group, one batch for a one-to-one chat."""
    group = (
        known("A", chat=GROUP, sender=ALICE),
        known("B", chat=GROUP, sender="628222222222:3@s.whatsapp.net"),
        known("C", chat=GROUP, sender=ALICE),
    )
    assert read_batches(GROUP, group) == {ALICE: ("A", "C"), BOB: ("B",)}
    assert read_batches(ALICE, (known("A"), known("B"))) == {ALICE: ("A", "B")}
    assert NZ.receipt_type.READ.value == b"read"


# ---------------------------------------------------------------------------- round trip

ROUND_TRIP: list[Content] = [
    Text("halo"),
    Text("balas", reply_to="3EB0QUOTED", mentions=(BOB,)),
    Image(DATA, caption="struk", mime_type="image/jpeg", reply_to="3EB0QUOTED"),
    Video(DATA, caption="klip", mime_type="video/mp4", mentions=(BOB,)),
    Audio(DATA, voice=True, mime_type="audio/ogg"),
    Audio(DATA, mime_type="audio/mpeg"),
    Document(DATA, file_name="a.pdf", caption="nota", mime_type="application/pdf"),
    Sticker(DATA, mime_type="image/webp"),
    Location(latitude=-6.2, longitude=106.8, name="Monas", address="Jakarta"),
    Location(latitude=1.5, longitude=2.5, reply_to="3EB0QUOTED"),
    Contact(CARD, display_name="Budi"),
    Contact((CARD, CARD2), display_name="2 kontak"),
]


@pytest.mark.parametrize("content", ROUND_TRIP, ids=lambda c: c.kind)
def test_every_kind_round_trips_content_to_protobuf_to_content(content: Content) -> None:
    """Content -> protobuf -> bytes -> content gives it back (media: as a descriptor)."""
    quoted = known() if content.reply_to else None
    sent = outgoing_message(
        e2e, content, upload=upload() if content.has_media else None, quoted=quoted
    )
    wire = e2e.Message.FromString(sent.SerializeToString())
    back = received_content(wire, "m").content
    if not content.has_media:
        assert back == content
        return
    media = back.media  # type: ignore[attr-defined]
    assert isinstance(media, Media)
    assert media.sha256 == hashlib.sha256(DATA).hexdigest()
    assert media.size == len(DATA)
    expected = Media(
        id="m",
        mime_type=content.mime_type,  # type: ignore[attr-defined]
        size=len(DATA),
        file_name=getattr(content, "file_name", None),
        sha256=hashlib.sha256(DATA).hexdigest(),
    )
    make: Callable[..., Content] = type(content)
    assert back == make(expected, **_kept(content))


def _kept(content: Content) -> dict[str, Any]:
    fields = {
        "mime_type": content.mime_type,  # type: ignore[attr-defined]
        "reply_to": content.reply_to,
        "mentions": content.mentions,
    }
    for name in ("caption", "voice", "file_name"):
        if hasattr(content, name):
            fields[name] = getattr(content, name)
    return fields


@pytest.mark.anyio
async def test_every_driver_call_needs_a_connection(tmp_path: Path) -> None:
    """Unconnected, every send, receipt, download, presence and chat-state call fails."""
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    mine = known(from_me=True)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: driver.send(ALICE, Image(DATA, mime_type="image/jpeg"), quoted=None),
        lambda: driver.send(ALICE, Text("halo", mentions=(BOB,)), quoted=mine),
        lambda: driver.react(mine, "👍"),
        lambda: driver.edit(mine, "baru"),
        lambda: driver.revoke(mine),
        lambda: driver.mark_read(ALICE, (known(),)),
        lambda: driver.download(Media(id="m", mime_type="image/jpeg"), b""),
        lambda: driver.set_presence(Presence.AVAILABLE),
        lambda: driver.send_chat_state(ALICE, ChatState.RECORDING),
        lambda: driver.send_chat_state("628123@g.us", ChatState.COMPOSING),
        lambda: driver.subscribe_presence(ALICE),
    ]
    try:
        for call in calls:
            with pytest.raises(DriverError, match="not connected"):
                await call()
    finally:
        await driver.aclose()


# -------------------------------------------------------------------------- presence


def test_presence_events_become_presence_changed_by_user_jid() -> None:
    """A PresenceEv names the user without its device; online or offline, last seen if shown."""
    online = presence_update(presence_event("628111111111:3@s.whatsapp.net"))
    offline = presence_update(
        presence_event("628111111111@s.whatsapp.net", unavailable=True, last_seen=1_700_000_000)
    )
    hidden = presence_update(presence_event("628111111111@s.whatsapp.net", unavailable=True))
    zero_time = presence_update(
        presence_event("628111111111@s.whatsapp.net", unavailable=True, last_seen=-62135596800)
    )
    when = datetime.fromtimestamp(1_700_000_000, timezone.utc)
    base = {"jid": "628111111111@s.whatsapp.net"}
    assert online == (PresenceChanged, base | {"presence": Presence.AVAILABLE, "last_seen": None})
    assert offline == (
        PresenceChanged,
        base | {"presence": Presence.UNAVAILABLE, "last_seen": when},
    )
    unseen = (PresenceChanged, base | {"presence": Presence.UNAVAILABLE, "last_seen": None})
    assert hidden == zero_time == unseen


@pytest.mark.parametrize(
    ("state", "media", "expected"),
    [
        ("COMPOSING", "TEXT", ChatState.COMPOSING),
        ("COMPOSING", "AUDIO", ChatState.RECORDING),
        ("PAUSED", "TEXT", ChatState.PAUSED),
        ("PAUSED", "AUDIO", ChatState.PAUSED),
    ],
)
def test_chat_presence_events_become_chat_states(
    state: str, media: str, expected: ChatState
) -> None:
    """Composing is COMPOSING, composing with audio RECORDING, paused PAUSED (any media)."""
    update = chat_state_update(chat_presence_event(state, media))
    fields = {"chat": ALICE, "sender": ALICE, "state": expected}
    assert update == (ChatStateChanged, fields)


def test_chat_presence_in_a_group_names_the_group_and_the_participant() -> None:
    """In a group the chat is the group's JID and the sender the participant (device dropped)."""
    event = chat_presence_event(
        "COMPOSING",
        chat="120363000000000001@g.us",
        sender="628222222222:5@s.whatsapp.net",
        group=True,
    )
    fields = {
        "chat": "120363000000000001@g.us",
        "sender": "628222222222@s.whatsapp.net",
        "state": ChatState.COMPOSING,
    }
    assert chat_state_update(event) == (ChatStateChanged, fields)


def test_the_accounts_own_chat_presence_is_not_reported() -> None:
    """Typing on the account's own phone or another linked device is no ChatStateChanged."""
    assert chat_state_update(chat_presence_event("COMPOSING", from_me=True)) is None
    group = chat_presence_event("PAUSED", chat="120363000000000001@g.us", group=True, from_me=True)
    assert chat_state_update(group) is None


def test_chat_states_go_out_as_neonizes_chat_presence_enums() -> None:
    """Recording goes as composing with audio media; each name is a member of neonize's enums."""
    nz = load_neonize()
    sent = {
        state: (nz.chat_presence[presence], nz.chat_presence_media[media])
        for state, (presence, media) in ((s, chat_presence_names(s)) for s in ChatState)
    }
    composing, paused = (
        nz.chat_presence.CHAT_PRESENCE_COMPOSING,
        nz.chat_presence.CHAT_PRESENCE_PAUSED,
    )
    text, audio = (
        nz.chat_presence_media.CHAT_PRESENCE_MEDIA_TEXT,
        nz.chat_presence_media.CHAT_PRESENCE_MEDIA_AUDIO,
    )
    assert sent == {
        ChatState.COMPOSING: (composing, text),
        ChatState.RECORDING: (composing, audio),
        ChatState.PAUSED: (paused, text),
    }
    assert {nz.presence[p.name].value for p in Presence} == {b"available", b"unavailable"}
