"""wagate's message contents <-> neonize's protobuf messages (``waE2E.Message``), both ways.

Pure functions: what a received message says (:func:`received_content`), and the
protobuf a content, a reaction, an edit or a revoke is sent as
(:func:`outgoing_message`, :func:`reaction_message`, :func:`edit_message`,
:func:`revoke_message`).  Like :mod:`._neonize_translate` this module imports
nothing from neonize: a builder takes neonize's generated module
(``WAWebProtobufsE2E_pb2``, loaded by the engine) as its first argument, so the
mapping is tested with neonize's real types and importing it costs nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._content import (
    Audio,
    Contact,
    Content,
    Document,
    Image,
    Location,
    Media,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from .._driver import KnownMessage
from .._validate import normalize_recipient

__all__ = [
    "MAX_THUMBNAIL",
    "Received",
    "content_field",
    "edit_message",
    "outgoing_message",
    "plain_jid",
    "reaction_message",
    "read_batches",
    "received_content",
    "revoke_message",
    "unwrap",
    "upload_type",
]

MAX_THUMBNAIL = 64 * 1024
"""The largest preview (bytes) kept as a media's ``thumbnail``; WhatsApp's are a few KiB."""

_NOT_CONTENT = frozenset({"messageContextInfo", "senderKeyDistributionMessage"})
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
    "deviceSentMessage",
)
"""Fields whose ``message`` is the real message (whatsmeow unwraps most, not always all)."""

_MEDIA: dict[str, tuple[type[Content], str]] = {
    "imageMessage": (Image, "imageMessage"),
    "videoMessage": (Video, "videoMessage"),
    "ptvMessage": (Video, "videoMessage"),  # a round video note: a VideoMessage
    "audioMessage": (Audio, "audioMessage"),
    "documentMessage": (Document, "documentMessage"),
    "stickerMessage": (Sticker, "stickerMessage"),
}
"""Received media fields: the content class, and the field its download reference uses."""

_FIELD_OF_KIND = {
    "image": "imageMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
}
_UPLOAD_TYPES = {
    "image": "MediaImage",
    "video": "MediaVideo",
    "audio": "MediaAudio",
    "document": "MediaDocument",
    "sticker": "MediaImage",  # WhatsApp keeps stickers with the images
}
_DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
_PREVIEWS = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
_USER_SERVERS = frozenset({"s.whatsapp.net", "lid", "msgr"})
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_FN = re.compile(r"^FN(?:;[^:\r\n]*)?:(?P<name>.*)$", re.IGNORECASE | re.MULTILINE)


# ---------------------------------------------------------------------------- received


@attrs.frozen(kw_only=True)
class Received:
    """What a received protobuf message says, in wagate's terms.

    Attributes:
        content: The typed content (``reply_to`` and ``mentions`` included).
        forwarded: Whether it was forwarded.
        media_ref: For media, a serialized ``waE2E.Message`` holding only the
            media message: what :meth:`NeonizeDriver.download` hands the engine.
    """

    content: Content
    forwarded: bool = False
    media_ref: bytes | None = None


def unwrap(message: Any) -> Any:
    """The message inside the wrappers WhatsApp puts around one (ephemeral, view-once...)."""
    for _ in range(len(_WRAPPERS)):
        wrapper = next((name for name in _WRAPPERS if message.HasField(name)), None)
        if wrapper is None or not getattr(message, wrapper).HasField("message"):
            return message
        message = getattr(message, wrapper).message
    return message


def content_field(message: Any) -> str | None:
    """The name of the field that holds what ``message`` says (``"imageMessage"``...)."""
    if message.conversation:
        return "conversation"
    for field, _ in message.ListFields():
        if field.name not in _NOT_CONTENT:
            return str(field.name)
    return None


def received_content(message: Any, media_id: str) -> Received:
    """A (unwrapped) ``waE2E.Message`` as a typed content.

    ``media_id`` becomes the id of a media's :class:`~wagate.Media` (the
    driver's own: the session gives it a wagate id).  A kind wagate does not
    model is :class:`~wagate.Unsupported`, its ``type`` the field's name in
    snake case: ``"poll_creation_v3"``, ``"live_location"``...
    """
    field = content_field(message)
    if field is None:
        return Received(content=Unsupported("unknown"))
    if field == "conversation":
        return Received(content=Text(str(message.conversation)))
    inner = getattr(message, field)
    context = _context(inner)
    forwarded = bool(context is not None and context.isForwarded)
    quoting = _quoting(context)
    if field in _MEDIA:
        content, ref = _media_content(message, field, inner, media_id, quoting)
        return Received(content=content, forwarded=forwarded, media_ref=ref)
    decode = _DECODERS.get(field)
    if decode is None:
        return Received(content=Unsupported(_kind_name(field), **quoting), forwarded=forwarded)
    return Received(content=decode(inner, quoting), forwarded=forwarded)


def _kind_name(field: str) -> str:
    base = field.replace("Message", "") or field
    return _CAMEL.sub(r"_\1", base).lower()


def _context(inner: Any) -> Any:
    has_context = "contextInfo" in inner.DESCRIPTOR.fields_by_name and inner.HasField("contextInfo")
    return inner.contextInfo if has_context else None


def _quoting(context: Any) -> dict[str, Any]:
    if context is None:
        return {}
    fields: dict[str, Any] = {}
    if context.stanzaID:
        fields["reply_to"] = str(context.stanzaID)
    if context.mentionedJID:
        fields["mentions"] = tuple(str(jid) for jid in context.mentionedJID)
    return fields


def _text(inner: Any, quoting: Mapping[str, Any]) -> Content:
    return Text(str(inner.text), **quoting)


def _location(inner: Any, quoting: Mapping[str, Any]) -> Content:
    return Location(
        latitude=float(inner.degreesLatitude),
        longitude=float(inner.degreesLongitude),
        name=str(inner.name) or None,
        address=str(inner.address) or None,
        **quoting,
    )


def _contact(inner: Any, quoting: Mapping[str, Any]) -> Content:
    cards = (str(inner.vcard),) if inner.vcard else ()
    return Contact(cards, display_name=str(inner.displayName) or None, **quoting)


def _contacts(inner: Any, quoting: Mapping[str, Any]) -> Content:
    cards = tuple(str(card.vcard) for card in inner.contacts if card.vcard)
    return Contact(cards, display_name=str(inner.displayName) or None, **quoting)


_DECODERS: dict[str, Callable[[Any, Mapping[str, Any]], Content]] = {
    "extendedTextMessage": _text,
    "locationMessage": _location,
    "contactMessage": _contact,
    "contactsArrayMessage": _contacts,
}


def _media_content(
    message: Any, field: str, inner: Any, media_id: str, quoting: Mapping[str, Any]
) -> tuple[Content, bytes]:
    cls, ref_field = _MEDIA[field]
    mime = str(inner.mimetype).split(";")[0].strip() or _DEFAULT_MIME[cls.kind]
    file_name = (str(inner.fileName) or None) if cls is Document else None
    media = Media(
        id=media_id,
        mime_type=mime,
        size=int(inner.fileLength) if inner.HasField("fileLength") else None,
        file_name=file_name,
        sha256=bytes(inner.fileSHA256).hex() or None,
        thumbnail=_thumbnail(inner),
    )
    extra: dict[str, Any] = dict(quoting)
    if cls in (Image, Video, Document) and inner.caption:
        extra["caption"] = str(inner.caption)
    if cls is Audio:
        extra["voice"] = bool(inner.PTT)
    if cls is Document:
        extra["file_name"] = file_name
    make: Callable[..., Content] = cls  # each media class takes (media, *, mime_type, ...)
    return make(media, mime_type=mime, **extra), _media_ref(message, ref_field, inner)


def _thumbnail(inner: Any) -> str | None:
    fields = inner.DESCRIPTOR.fields_by_name
    for name in ("JPEGThumbnail", "pngThumbnail"):
        data = bytes(getattr(inner, name)) if name in fields else b""
        if not data or len(data) > MAX_THUMBNAIL:
            continue
        for magic, mime in _PREVIEWS:
            if data.startswith(magic):
                return f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return None


def _media_ref(message: Any, ref_field: str, inner: Any) -> bytes:
    # Only what a download needs: the quoted message and the previews can be large.
    ref = type(message)()
    media = getattr(ref, ref_field)
    media.CopyFrom(inner)
    for name in ("contextInfo", "JPEGThumbnail", "pngThumbnail"):
        if name in media.DESCRIPTOR.fields_by_name:
            media.ClearField(name)
    return bytes(ref.SerializeToString())


# ---------------------------------------------------------------------------- outgoing


def plain_jid(jid: str) -> str:
    """A JID without its device or agent part: ``628123:7@s.whatsapp.net`` -> ``628123@s...``."""
    user, at, server = jid.partition("@")
    if not at:
        return jid
    return f"{user.split(':')[0].split('.')[0]}@{server}"


def upload_type(content: Content) -> str:
    """The name of neonize's ``MediaType`` a media content is uploaded as (``"MediaImage"``...).

    Raises:
        ValueError: ``content`` carries no media.
    """
    if content.kind not in _UPLOAD_TYPES:
        raise ValueError(f"a {content.kind} message carries no media to upload")
    return _UPLOAD_TYPES[content.kind]


def outgoing_message(
    e2e: Any, content: Content, *, upload: Any = None, quoted: KnownMessage | None = None
) -> Any:
    """The ``waE2E.Message`` that sends ``content``.

    Args:
        e2e: neonize's ``WAWebProtobufsE2E_pb2`` module.
        content: A checked content; media already uploaded.
        upload: For media, neonize's ``UploadResponse`` of the bytes.
        quoted: The message ``content.reply_to`` names, if any.

    Raises:
        ValueError: a media content without ``upload``, or a kind that cannot be sent.
    """
    context = _context_info(e2e, content, quoted)
    extra = {"contextInfo": context} if context is not None else {}
    if isinstance(content, Text):
        if context is None:
            return e2e.Message(conversation=content.body)
        return e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text=content.body, **extra))
    if isinstance(content, Location):
        place = {"name": content.name, "address": content.address}
        return e2e.Message(
            locationMessage=e2e.LocationMessage(
                degreesLatitude=content.latitude,
                degreesLongitude=content.longitude,
                **{key: value for key, value in place.items() if value},
                **extra,
            )
        )
    if isinstance(content, Contact):
        return _contact_message(e2e, content, extra)
    if content.has_media:
        if upload is None:
            raise ValueError(f"a {content.kind} message needs its media uploaded first")
        field = _FIELD_OF_KIND[content.kind]
        inner = getattr(e2e, field[0].upper() + field[1:])(
            **_media_fields(content, upload), **extra
        )
        return e2e.Message(**{field: inner})
    raise ValueError(f"a {content.kind} message cannot be sent")


def _context_info(e2e: Any, content: Content, quoted: KnownMessage | None) -> Any:
    fields: dict[str, Any] = {}
    reply_to = content.reply_to or (quoted.id if quoted is not None else None)
    if reply_to:
        fields["stanzaID"] = reply_to
    if quoted is not None:
        if quoted.sender:
            fields["participant"] = plain_jid(quoted.sender)
        if quoted.text:
            # What the recipient's phone shows in the quote bubble.
            fields["quotedMessage"] = e2e.Message(conversation=quoted.text)
    if content.mentions:
        fields["mentionedJID"] = [normalize_recipient(jid) for jid in content.mentions]
    return e2e.ContextInfo(**fields) if fields else None


def _media_fields(content: Content, upload: Any) -> dict[str, Any]:
    mime = getattr(content, "mime_type", None) or _DEFAULT_MIME[content.kind]
    if isinstance(content, Audio) and content.voice and mime == "audio/ogg":
        mime = "audio/ogg; codecs=opus"  # what phones play as a voice note
    fields: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": mime,
    }
    caption = getattr(content, "caption", None)
    if caption:
        fields["caption"] = caption
    if isinstance(content, Audio):
        fields["PTT"] = content.voice
    if isinstance(content, Document):
        name = content.file_name or "file"
        fields["fileName"] = name
        fields["title"] = name
    return fields


def _card_name(card: str) -> str | None:
    match = _FN.search(card)
    if match is None:
        return None
    return match.group("name").strip() or None


def _contact_message(e2e: Any, content: Contact, extra: Mapping[str, Any]) -> Any:
    cards = content.vcards
    if len(cards) == 1:
        name = content.display_name or _card_name(cards[0]) or "Contact"
        return e2e.Message(
            contactMessage=e2e.ContactMessage(displayName=name, vcard=cards[0], **extra)
        )
    contacts = [
        e2e.ContactMessage(displayName=_card_name(card) or "Contact", vcard=card) for card in cards
    ]
    name = content.display_name or f"{len(cards)} contacts"
    return e2e.Message(
        contactsArrayMessage=e2e.ContactsArrayMessage(displayName=name, contacts=contacts, **extra)
    )


def _message_key(message: KnownMessage) -> dict[str, Any]:
    key: dict[str, Any] = {"remoteJID": message.chat, "fromMe": message.from_me, "ID": message.id}
    _, _, server = message.chat.partition("@")
    if not message.from_me and server not in _USER_SERVERS and message.sender:
        key["participant"] = plain_jid(message.sender)  # whose message, in a group
    return key


def reaction_message(e2e: Any, message: KnownMessage, emoji: str, at_ms: int) -> Any:
    """The ``waE2E.Message`` that reacts to ``message`` (``""`` takes a reaction back)."""
    return e2e.Message(
        reactionMessage=e2e.ReactionMessage(
            key=_message_key(message), text=emoji, senderTimestampMS=at_ms
        )
    )


def edit_message(e2e: Any, message: KnownMessage, text: str, at_ms: int) -> Any:
    """The ``waE2E.Message`` that changes the text of ``message`` (one this account sent)."""
    key = _message_key(message) | {"fromMe": True}
    key.pop("participant", None)
    return e2e.Message(
        editedMessage=e2e.FutureProofMessage(
            message=e2e.Message(
                protocolMessage=e2e.ProtocolMessage(
                    key=key,
                    type=e2e.ProtocolMessage.MESSAGE_EDIT,
                    editedMessage=e2e.Message(conversation=text),
                    timestampMS=at_ms,
                )
            )
        )
    )


def revoke_message(e2e: Any, message: KnownMessage) -> Any:
    """The ``waE2E.Message`` that deletes ``message`` for everyone."""
    return e2e.Message(
        protocolMessage=e2e.ProtocolMessage(
            key=_message_key(message), type=e2e.ProtocolMessage.REVOKE
        )
    )


def read_batches(chat: str, messages: tuple[KnownMessage, ...]) -> dict[str, tuple[str, ...]]:
    """The ids to mark read, by whom they came from (one receipt each; in a chat, the chat)."""
    _, _, server = chat.partition("@")
    batches: dict[str, list[str]] = {}
    for message in messages:
        sender = plain_jid(message.sender) if server not in _USER_SERVERS else plain_jid(chat)
        batches.setdefault(sender or plain_jid(chat), []).append(message.id)
    return {sender: tuple(ids) for sender, ids in batches.items()}
