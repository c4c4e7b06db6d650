"""The wire table: every kind of event, the messages it makes and their fields, both ways.

Each payload key is declared once, as a :class:`Field`: its JSON key, the
attribute it carries and the :class:`Codec` that writes and reads it (datetimes
as ISO 8601 in UTC, enums by value, an account as the ``user`` object).  A
:class:`Shape` is a message name and its fields in order; a :class:`Kind` says
which shapes an event class makes in each naming and which one the cluster's
backplane carries.  Fields, codecs and shapes are built in
:mod:`wagate._wire_codec`; the table of kinds is here.  Everything else is
derived from :data:`KINDS`:

- :func:`to_wire`: the messages SSE, Socket.IO, webhooks and the dashboard send;
- :func:`from_wire`: an event back from its colon-named message (the cluster,
  :mod:`wagate.testing`, the webhook backlog);
- :func:`status_payload` / :func:`status_message`: the snapshot a client gets first;
- :func:`backplane_message` and :func:`backplane_status` (with their way back):
  what the processes of a cluster send each other;
- :func:`status_of`: the status a tenant's last state event leaves.

A key that a class does not take (``qrCode`` of the rendered image, ``state`` of
an event) is written and never read back; the message's own ``timestamp`` is
read back where it is the event's own moment (``message:received``).
"""

from __future__ import annotations

import base64
import binascii
import os
import pathlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._contacts import ContactInfo, NumberCheck, ProfilePicture
from ._content import (
    CONTENT_KINDS,
    Content,
    Media,
    MediaUrl,
    SentMessage,
)
from ._errors import InvalidContent, InvalidInput, InvalidMedia
from ._events import (
    Account,
    ChatState,
    ChatStateChanged,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    GroupJoined,
    GroupLeft,
    GroupParticipantsChanged,
    GroupUpdated,
    MessageEdited,
    MessageReaction,
    MessageReceived,
    MessageRevoked,
    MessageSent,
    MessageStatus,
    PairingCode,
    Presence,
    PresenceChanged,
    QrGenerated,
    Receipt,
    State,
    Status,
    WireNaming,
    utcnow,
)
from ._groups import (
    Group,
    GroupInfo,
    GroupRole,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
)
from ._wire_codec import (
    FLAG,
    INTEGER,
    JSON,
    SECONDS,
    TEXT,
    TIME,
    Codec,
    Field,
    Shape,
    WireMessage,
    arguments_of,
    as_mapping,
    decode_fields,
    encode_fields,
    enum_of,
    object_of,
    object_schema,
    optional,
)

__all__ = [
    "KINDS",
    "Codec",
    "Field",
    "Kind",
    "Shape",
    "WireMessage",
    "backplane_message",
    "backplane_status",
    "from_backplane_status",
    "from_wire",
    "kind_of",
    "message_schemas",
    "object_schema",
    "payload_schema",
    "status_message",
    "status_of",
    "status_payload",
    "to_wire",
]


def state_of(obj: Event | Status) -> State:
    """The state a status is in, or that a state event puts its session in."""
    if isinstance(obj, Status):
        return obj.state
    state = kind_of(obj).state
    if state is None:
        raise TypeError(f"{type(obj).__name__} is not a state event")
    return state


def _coarse(state: State) -> str:
    if state is State.CONNECTED:
        return "connected"
    if state is State.DISCONNECTED:
        return "disconnected"
    return "connecting"


def _linked_phone(obj: Event | Status) -> str | None:
    account: Account | None = getattr(obj, "account", None)
    return account.phone if account is not None and state_of(obj) is State.CONNECTED else None


def _seconds_left(qr: QrGenerated, now: datetime) -> float:
    """As of the encoding, not the event: a replayed code must not promise a full minute."""
    return round(qr.expires_in(now), 3)


# Every payload
TENANT = Field("tenant", "tenant", TEXT)
SEQ = Field("seq", "seq", INTEGER)
AT = Field("at", "at", TIME)
BASE = (TENANT, SEQ, AT)
TIMESTAMP = Field("timestamp", "at", TIME, read_back=False)
"""``at`` again, for clients of the original gateways (messages and statuses: their own time)."""

# Where a session stands
STATUS = Field(
    "status",
    None,
    compute=lambda obj, now: _coarse(state_of(obj)),
    computed={"type": "string", "enum": ["connected", "disconnected", "connecting"]},
)
STATE = Field("state", "state", enum_of(State), compute=lambda obj, now: state_of(obj))
ATTEMPT = Field("attempt", "attempt", INTEGER)
PHONE = Field("phone", "phone", TEXT)
NAME = Field("name", "name", optional(TEXT))
USER = Field("user", "account", object_of(Account, Field("id", "jid", TEXT), NAME, PHONE))
PHONE_NUMBER = Field(
    "phoneNumber",
    None,
    compute=lambda obj, now: _linked_phone(obj),
    computed={"anyOf": [{"type": "string"}, {"type": "null"}]},
)
REASON = Field("reason", "reason", enum_of(DisconnectReason))
WILL_RETRY = Field("willRetry", "will_retry", FLAG)
RETRY_IN = Field("retryIn", "retry_in", optional(SECONDS))
DETAIL = Field("detail", "detail", optional(TEXT))
WHY = (REASON, WILL_RETRY, RETRY_IN, DETAIL)

# A login
QR_IMAGE = Field("qrCode", "data_url", TEXT)
QR_RAW = Field("qr", "code", TEXT)
EXPIRES_IN = Field("expiresIn", None, compute=_seconds_left, computed=SECONDS.schema)
EXPIRED = Field(
    "expired", None, compute=lambda qr, now: _seconds_left(qr, now) <= 0, computed=FLAG.schema
)
EXPIRES_AT = Field("expiresAt", "expires_at", TIME)
LOGIN = (QR_IMAGE, QR_RAW, EXPIRES_IN, EXPIRED, EXPIRES_AT)
PAIRING = (Field("code", "code", TEXT), PHONE)


# Message contents: {"type": "image", "media": {...}, "caption": ...}
def _encode_media(value: Any, now: datetime) -> JSON:
    if isinstance(value, Media):
        return encode_fields(_MEDIA_FIELDS, value, now)
    if isinstance(value, MediaUrl):
        return {MEDIA_URL.key: value.url}
    if isinstance(value, bytes):
        return {MEDIA_DATA.key: base64.b64encode(value).decode("ascii")}
    if isinstance(value, os.PathLike):
        return {MEDIA_DATA.key: base64.b64encode(pathlib.Path(value).read_bytes()).decode("ascii")}
    return {MEDIA_DATA.key: base64.b64encode(value.read()).decode("ascii")}


def _decode_media(value: Any, key: str) -> Any:
    if isinstance(value, bytes):
        return value  # a form's file part: the bytes themselves
    data = as_mapping(value)
    for only in (MEDIA_DATA.key, MEDIA_URL.key):
        if only in data and len(data) > 1:
            others = ", ".join(repr(k) for k in sorted(data) if k != only)
            raise InvalidMedia(f"{key} with {only!r} takes no other key (got {others})")
    if MEDIA_DATA.key in data:
        raw = data[MEDIA_DATA.key]
        try:
            return base64.b64decode(_exactly_text(raw, MEDIA_DATA.key), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMedia(f"{key}.{MEDIA_DATA.key} is not base64") from None
    if MEDIA_URL.key in data:
        return MediaUrl(_exactly_text(data[MEDIA_URL.key], MEDIA_URL.key))
    if MEDIA_ID.key in data:
        unknown = sorted(set(data) - {f.key for f in _MEDIA_FIELDS})
        if unknown:
            raise InvalidMedia(f"a media descriptor has no {', '.join(map(repr, unknown))}")
        return decode_fields(Media, _MEDIA_FIELDS, data)
    raise InvalidMedia(
        f"{key} must carry {MEDIA_DATA.key!r} (base64), {MEDIA_URL.key!r}"
        f" or a media {MEDIA_ID.key!r}"
    )


def _exactly_text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _texts(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"{key!r} must be a list of strings")
    if not value:
        return ()
    return tuple(_exactly_text(item, key) for item in value)


TEXTS = Codec(
    lambda value, now: list(value),
    _texts,
    schema={"type": "array", "items": {"type": "string"}},
)
MESSAGE_ID = Field("id", "id", TEXT)
MEDIA_ID = MESSAGE_ID
MEDIA_DATA = Field("data", None, TEXT)
MEDIA_URL = Field("url", None, TEXT)
MIME_TYPE = Field("mimeType", "mime_type", optional(TEXT))
FILE_NAME = Field("fileName", "file_name", optional(TEXT))
_MEDIA_FIELDS = (
    MEDIA_ID,
    MIME_TYPE.but(codec=TEXT),
    Field("size", "size", optional(INTEGER)),
    FILE_NAME,
    Field("sha256", "sha256", optional(TEXT)),
    Field("thumbnail", "thumbnail", optional(TEXT)),
)
MEDIA = Codec(
    _encode_media,
    _decode_media,
    schema={
        "oneOf": [
            object_schema(_MEDIA_FIELDS),
            object_schema((MEDIA_DATA,)),
            object_schema((MEDIA_URL,)),
        ]
    },
)
REPLY_TO = Field("replyTo", "reply_to", optional(TEXT))
MENTIONS = Field("mentions", "mentions", optional(TEXTS))
CAPTION = Field("caption", "caption", optional(TEXT))
_MEDIA_CONTENT = (Field("media", "media", MEDIA), MIME_TYPE)
CONTENT_TYPE = Field("type", None, TEXT)
CONTENT_FIELDS: dict[str, tuple[Field, ...]] = {
    "text": (Field("text", "body", TEXT),),
    "image": (*_MEDIA_CONTENT, CAPTION),
    "video": (*_MEDIA_CONTENT, CAPTION),
    "audio": (*_MEDIA_CONTENT, Field("voice", "voice", optional(FLAG))),
    "document": (*_MEDIA_CONTENT, CAPTION, FILE_NAME),
    "sticker": _MEDIA_CONTENT,
    "location": (
        Field("latitude", "latitude", SECONDS),
        Field("longitude", "longitude", SECONDS),
        Field("name", "name", optional(TEXT)),
        Field("address", "address", optional(TEXT)),
    ),
    "contact": (
        Field("vcards", "vcards", TEXTS),
        Field("displayName", "display_name", optional(TEXT)),
    ),
    "unsupported": (Field("unsupported", "type", TEXT),),
}
"""Each content kind's own keys, after ``type`` and before ``replyTo`` and ``mentions``."""
_CONTENT_CLASSES = {cls.kind: cls for cls in CONTENT_KINDS}
_CONTENT_ALL = {kind: (*own, REPLY_TO, MENTIONS) for kind, own in CONTENT_FIELDS.items()}
"""Each content kind's keys after ``type``: one tuple each, compiled once."""
_CONTENT_KEYS = {
    kind: frozenset({CONTENT_TYPE.key, *(f.key for f in fields)})
    for kind, fields in _CONTENT_ALL.items()
}


def _encode_content(content: Content, now: datetime) -> JSON:
    data: JSON = {CONTENT_TYPE.key: content.kind}
    data.update(encode_fields(_CONTENT_ALL[content.kind], content, now))
    return data


def _decode_content(value: Any, key: str) -> Content:
    if not isinstance(value, Mapping):
        raise InvalidContent(
            f"{key} must be a JSON object {{type, ...}}, got {type(value).__name__}"
        )
    data = as_mapping(value)
    kind = data.get(CONTENT_TYPE.key)
    cls = _CONTENT_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidContent(
            f"{key}.{CONTENT_TYPE.key} must be one of {', '.join(_CONTENT_CLASSES)}, got {kind!r}"
        )
    fields = _CONTENT_ALL[cls.kind]
    known = _CONTENT_KEYS[cls.kind]
    if not known.issuperset(data):
        unknown = sorted(set(data) - known)
        raise InvalidContent(f"a {cls.kind} content has no {', '.join(map(repr, unknown))}")
    try:
        content: Content = decode_fields(cls, fields, data)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidContent(f"a {cls.kind} content is malformed: {exc}") from None
    return content


def _content_schema() -> JSON:
    return {
        "oneOf": [
            {
                **object_schema((*CONTENT_FIELDS[kind], REPLY_TO, MENTIONS)),
                "properties": {
                    CONTENT_TYPE.key: {"const": kind},
                    **object_schema((*CONTENT_FIELDS[kind], REPLY_TO, MENTIONS))["properties"],
                },
            }
            for kind in CONTENT_FIELDS
        ]
    }


CONTENT = Codec(_encode_content, _decode_content, schema=_content_schema())
"""A message content both ways: what ``message:received`` carries and what a send takes."""

# Messages
CHAT = Field("chat", "chat", TEXT)
SENDER = Field("from", "sender", TEXT)
FROM_ME = Field("fromMe", "from_me", FLAG)
KIND = Field("kind", "kind", TEXT)
RECEIVED = (
    MESSAGE_ID,
    SENDER,
    CHAT,
    Field("text", "text", optional(TEXT)),
    Field("pushName", "push_name", optional(TEXT)),
    Field("isGroup", "is_group", FLAG),
    KIND,
    Field("content", "content", CONTENT),
    REPLY_TO,
    MENTIONS,
    Field("forwarded", "forwarded", FLAG),
    Field("mentionsMe", "mentions_me", FLAG),
    TIMESTAMP.but(attr="timestamp", read_back=True),
)
SENT_MEDIA = Field("media", "media", optional(object_of(Media, *_MEDIA_FIELDS)))
SENT = (
    MESSAGE_ID.but(codec=optional(TEXT)),
    Field("to", "to", TEXT),
    Field("message", "text", TEXT),
    Field("success", "success", FLAG),
    Field("error", "error", optional(TEXT)),
    KIND,
    SENT_MEDIA,
    REPLY_TO,
)
STATUS_OF = (
    Field("ids", "ids", TEXTS),
    CHAT,
    Field("recipient", "recipient", TEXT),
    Field("status", "status", enum_of(Receipt)),
)
REACTION = (MESSAGE_ID, CHAT, SENDER, Field("emoji", "emoji", TEXT), FROM_ME)
EDITED = (MESSAGE_ID, CHAT, SENDER, Field("text", "text", TEXT), FROM_ME)
REVOKED = (MESSAGE_ID, CHAT, SENDER, FROM_ME)
JID = Field("jid", "jid", TEXT)
PRESENCE_OF = (
    JID,
    Field("presence", "presence", enum_of(Presence)),
    Field("lastSeen", "last_seen", optional(TIME)),
)
CHAT_STATE_OF = (CHAT, SENDER, Field("state", "state", enum_of(ChatState)))
SENT_MESSAGE = (
    MESSAGE_ID,
    Field("to", "to", TEXT),
    TIMESTAMP.but(attr="timestamp", read_back=True),
    KIND,
    SENT_MEDIA,
)
SENT_MESSAGE_CODEC = object_of(SentMessage, *SENT_MESSAGE)
"""What ``POST /api/messages`` answers, and a cluster carries back from a send."""


def list_of(codec: Codec) -> Codec:
    """A list of values, each as ``codec`` writes it."""
    return Codec(
        lambda value, now: [codec.encode(item, now) for item in value],
        lambda value, key: [codec.decode(item, key) for item in _as_list(value, key)],
        schema={"type": "array", "items": dict(codec.schema)},
    )


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{key} must be a list, got {type(value).__name__}")
    return value


GROUP_INFO = (
    JID,
    Field("subject", "subject", TEXT),
    Field("description", "description", optional(TEXT)),
    Field("participantCount", "participant_count", INTEGER),
    Field("isAdmin", "is_admin", FLAG),
    Field("announce", "announce", FLAG),
    Field("locked", "locked", FLAG),
)
PARTICIPANT = object_of(Participant, JID, Field("role", "role", enum_of(GroupRole)))
GROUP_INFO_CODEC = object_of(GroupInfo, *GROUP_INFO)
"""A group as ``GET /api/groups`` lists it."""
GROUPS_CODEC = list_of(GROUP_INFO_CODEC)
"""The groups ``GET /api/groups`` answers (and a cluster carries back)."""


def _tuple_of(codec: Codec) -> Codec:
    listed = list_of(codec)
    return attrs.evolve(listed, decode=lambda value, key: tuple(listed.decode(value, key)))


GROUP_CODEC = object_of(
    Group, *GROUP_INFO, Field("participants", "participants", _tuple_of(PARTICIPANT))
)
"""A group with its participants, as ``GET /api/groups/{jid}`` answers it."""
PARTICIPANT_RESULT_CODEC = object_of(
    ParticipantResult,
    JID,
    Field("ok", "ok", FLAG),
    Field("error", "error", optional(enum_of(ParticipantError))),
    Field("code", "code", optional(INTEGER)),
)
"""What WhatsApp answered for one participant of a participants call."""
NUMBER_CHECK_CODEC = object_of(
    NumberCheck,
    Field("number", "number", TEXT),
    Field("onWhatsApp", "on_whatsapp", FLAG),
    Field("jid", "jid", optional(TEXT)),
)
"""Whether one phone number is on WhatsApp."""
PROFILE_PICTURE_CODEC = object_of(
    ProfilePicture, JID, Field("url", "url", optional(TEXT)), Field("id", "id", optional(TEXT))
)
"""Someone's profile picture."""
CONTACT_INFO_CODEC = object_of(
    ContactInfo,
    JID,
    Field("pushName", "push_name", optional(TEXT)),
    Field("businessName", "business_name", optional(TEXT)),
    Field("verified", "verified", optional(FLAG)),
    Field("about", "about", optional(TEXT)),
    Field("pictureUrl", "picture_url", optional(TEXT)),
    Field("blocked", "blocked", FLAG),
)
"""What WhatsApp tells the account about someone."""


@attrs.frozen
class Result:
    """How one type of command result is written as JSON (a REST answer, a cluster reply).

    Attributes:
        tag: Its name in a cluster reply.
        cls: The type (a command whose result is a list holds these).
        codec: How one value is written and read.
    """

    tag: str
    cls: type
    codec: Codec


RESULTS: tuple[Result, ...] = (
    Result("sent", SentMessage, SENT_MESSAGE_CODEC),
    Result("group", Group, GROUP_CODEC),  # before GroupInfo, its base
    Result("groupInfo", GroupInfo, GROUP_INFO_CODEC),
    Result("participant", ParticipantResult, PARTICIPANT_RESULT_CODEC),
    Result("number", NumberCheck, NUMBER_CHECK_CODEC),
    Result("contact", ContactInfo, CONTACT_INFO_CODEC),
    Result("picture", ProfilePicture, PROFILE_PICTURE_CODEC),
)
"""Every command result that is an object of wagate's, and how it is written."""


def result_of(value: object) -> Result | None:
    """The :data:`RESULTS` entry of ``value`` (of its first item, for a list)."""
    probe = value[0] if isinstance(value, list) and value else value
    return result_for(type(probe))


def result_for(cls: type) -> Result | None:
    """The :data:`RESULTS` entry of values of ``cls``, if it has one."""
    return next((r for r in RESULTS if issubclass(cls, r.cls)), None)


def result_by_tag(tag: object) -> Result:
    """The :data:`RESULTS` entry named ``tag``.

    Raises:
        ValueError: no entry is.
    """
    for result in RESULTS:
        if result.tag == tag:
            return result
    raise ValueError(f"not a command result's type: {tag!r}")


# Groups' events
BY = Field("by", "by", optional(TEXT))
GROUP_JOINED = (
    JID,
    Field("subject", "subject", TEXT),
    BY,
    Field("participantCount", "participant_count", optional(INTEGER)),
)
GROUP_UPDATED = (
    JID,
    BY,
    Field("subject", "subject", optional(TEXT)),
    Field("description", "description", optional(TEXT)),
    Field("announce", "announce", optional(FLAG)),
    Field("locked", "locked", optional(FLAG)),
)
GROUP_PEOPLE = (
    JID,
    Field("action", "action", enum_of(ParticipantAction)),
    Field("participants", "participants", TEXTS),
    BY,
)

# A stream's gap
SPAN = (
    Field("from", "first_seq", INTEGER),
    Field("to", "last_seq", INTEGER),
    Field("missed", "missed", optional(INTEGER)),
)

CONNECTION_STATUS = "connection:status"
DASH_STATUS = "connection-status"


def _connection_status(*fields: Field) -> Shape:
    return Shape(CONNECTION_STATUS, (*BASE, STATUS, STATE, *fields, TIMESTAMP))


_DASH_CONNECTION = Shape(DASH_STATUS, (*BASE, STATUS, PHONE_NUMBER))


@attrs.frozen
class Kind:
    """What one event class looks like on the wire.

    Attributes:
        cls: The event class.
        colon: Its messages in the colon naming; the first is its own
            (``cls.wire_name``), and the one read back.
        dash: Its messages in the dash naming (NestJS-style frontends).
        state: The state it puts a session in, for a state event.
        backplane: What the processes of a cluster send each other for it.
    """

    cls: type[Event]
    colon: tuple[Shape, ...]
    dash: tuple[Shape, ...] = attrs.field()
    state: State | None = None
    backplane: Shape = attrs.field()

    @dash.default
    def _same_as_colon(self) -> tuple[Shape, ...]:
        return self.colon

    @backplane.default
    def _own_message(self) -> Shape:
        return self.colon[0]


def _lean(cls: type[Event], shape: Shape) -> Shape:
    """Only the keys read back into ``cls``: a QR code crosses the cluster without its image."""
    takes = arguments_of(cls)
    return Shape(shape.name, tuple(f for f in shape.fields if f.attr in takes and f.read_back))


_QR = Shape("qr:generated", (*BASE, *LOGIN, TIMESTAMP))
_LEAN_QR = _lean(QrGenerated, _QR)

KINDS: tuple[Kind, ...] = (
    Kind(
        QrGenerated,
        (_QR,),
        dash=(Shape("qr-code", (*BASE, QR_IMAGE, EXPIRES_IN, EXPIRED)),),
        state=State.AWAITING_SCAN,
        backplane=_LEAN_QR,
    ),
    Kind(PairingCode, (Shape("pairing:code", (*BASE, *PAIRING, TIMESTAMP)),)),
    Kind(
        Connecting,
        (_connection_status(ATTEMPT),),
        dash=(_DASH_CONNECTION,),
        state=State.CONNECTING,
    ),
    Kind(
        Connected,
        (Shape("whatsapp:connected", (*BASE, USER)), _connection_status(USER)),
        dash=(_DASH_CONNECTION,),
        state=State.CONNECTED,
    ),
    Kind(
        Disconnected,
        (Shape("whatsapp:disconnected", (*BASE, *WHY)), _connection_status(*WHY)),
        dash=(_DASH_CONNECTION,),
        state=State.DISCONNECTED,
    ),
    Kind(MessageReceived, (Shape("message:received", (*BASE, *RECEIVED)),)),
    Kind(MessageSent, (Shape("message:sent", (*BASE, *SENT, TIMESTAMP)),)),
    Kind(MessageStatus, (Shape("message:status", (*BASE, *STATUS_OF, TIMESTAMP)),)),
    Kind(MessageReaction, (Shape("message:reaction", (*BASE, *REACTION, TIMESTAMP)),)),
    Kind(MessageEdited, (Shape("message:edited", (*BASE, *EDITED, TIMESTAMP)),)),
    Kind(MessageRevoked, (Shape("message:revoked", (*BASE, *REVOKED, TIMESTAMP)),)),
    Kind(PresenceChanged, (Shape("presence:changed", (*BASE, *PRESENCE_OF)),)),
    Kind(ChatStateChanged, (Shape("chat:state", (*BASE, *CHAT_STATE_OF)),)),
    Kind(GroupJoined, (Shape("group:joined", (*BASE, *GROUP_JOINED)),)),
    Kind(GroupLeft, (Shape("group:left", (*BASE, JID, BY)),)),
    Kind(GroupUpdated, (Shape("group:updated", (*BASE, *GROUP_UPDATED)),)),
    Kind(GroupParticipantsChanged, (Shape("group:participants", (*BASE, *GROUP_PEOPLE)),)),
    Kind(Gap, (Shape("stream:gap", (*BASE, *SPAN)),)),
)
"""Every kind of wagate event, in the order the wire-protocol page lists them."""

_BY_CLASS = {kind.cls: kind for kind in KINDS}
_READERS: dict[str, list[Kind]] = {}
for _kind in KINDS:
    _kind.cls.wire_name = _kind.colon[0].name
    for _shape in _kind.colon:
        _READERS.setdefault(_shape.name, []).append(_kind)


def kind_of(event: Event) -> Kind:
    """The table's entry for an event.

    Raises:
        TypeError: not a wagate event.
    """
    for cls in type(event).__mro__:
        kind = _BY_CLASS.get(cls)
        if kind is not None:
            return kind
    raise TypeError(f"not a wagate event: {event!r}")


# ---------------------------------------------------------------------------------
# What clients see


def to_wire(
    event: Event, *, naming: WireNaming = "colon", now: datetime | None = None
) -> tuple[WireMessage, ...]:
    """Encode an event as the messages every transport sends.

    The first message is the event's own (``event.wire_name``); a state change also
    produces the ``connection:status`` message that existing frontends listen to.
    Every payload carries ``tenant``, ``seq`` and ``at``.

    Args:
        event: The event.
        naming: ``"colon"`` (``qr:generated``...) or ``"dash"`` (``qr-code``,
            ``connection-status``), the naming of NestJS-style frontends.
        now: The moment a QR code's ``expiresIn`` (and ``expired``) is counted
            from; by default the moment of this call, so a replayed
            ``qr:generated`` says how long its code is still valid, or that it
            has expired.

    Example:
        >>> [m.name for m in to_wire(event)]  # doctest: +SKIP
        ['whatsapp:connected', 'connection:status']
    """
    kind = kind_of(event)
    moment = now or utcnow()
    shapes = kind.dash if naming == "dash" else kind.colon
    return tuple(shape.encode(event, moment) for shape in shapes)


def from_wire(name: str, data: Mapping[str, Any]) -> Event:
    """Decode a message produced by :func:`to_wire` (colon naming) back into an event.

    Raises:
        InvalidInput: the name is unknown or the payload is malformed.
    """
    data = as_mapping(data)
    readers = _READERS.get(name)
    if not readers:
        raise InvalidInput(f"unknown event name {name!r}")
    kind = readers[0] if len(readers) == 1 else _told_apart(readers, data)
    event: Event = decode_fields(
        kind.cls, next(s for s in kind.colon if s.name == name).fields, data
    )
    return event


def _told_apart(readers: list[Kind], data: Mapping[str, Any]) -> Kind:
    """The kind a ``connection:status`` is about, by its ``status``."""
    said = data.get(STATUS.key)
    for kind in readers:
        if kind.state is not None and _coarse(kind.state) == said:
            return kind
    raise InvalidInput(f"unknown connection status {said!r}")


def _has_reason(status: Status) -> bool:
    return status.reason is not None


def _has_qr(status: Status) -> bool:
    return status.qr is not None


PENDING_QR = Field("qr", "qr", object_of(QrGenerated, *LOGIN), when=_has_qr)
_SNAPSHOT = Shape(
    CONNECTION_STATUS,
    (
        TENANT,
        STATUS,
        STATE,
        USER.but(codec=optional(USER.codec)),
        TIMESTAMP.but(attr="since"),
        *(f.but(when=_has_reason) for f in (REASON, WILL_RETRY, RETRY_IN)),
        PENDING_QR,
    ),
)
_DASH_SNAPSHOT = Shape(DASH_STATUS, (TENANT, STATUS, PHONE_NUMBER))


def payload_schema(name: str) -> JSON:
    """The JSON Schema of a payload, by message name (colon naming).

    ``connection:status`` is the snapshot (:func:`status_payload`, the REST status
    body); any other name is an event's own message (``message:sent``...).

    Raises:
        KeyError: no event's own message has that name.
    """
    if name == CONNECTION_STATUS:
        return object_schema(_SNAPSHOT.fields)
    shape = next((k.colon[0] for k in KINDS if k.colon[0].name == name), None)
    if shape is None:
        raise KeyError(name)
    return object_schema(shape.fields)


def message_schemas() -> dict[str, JSON]:
    """The JSON Schema of every message any transport sends, by name, in both namings.

    A name that several shapes make (``connection:status`` of each state event and
    of the snapshot; ``connection-status``) is any of them; the order is the
    table's, colon names first.
    """
    shapes: dict[str, list[JSON]] = {}
    every = [s for k in KINDS for s in k.colon] + [_SNAPSHOT]
    every += [s for k in KINDS for s in k.dash] + [_DASH_SNAPSHOT]
    for shape in every:
        made = shapes.setdefault(shape.name, [])
        schema = object_schema(shape.fields)
        if schema not in made:
            made.append(schema)
    return {name: made[0] if len(made) == 1 else {"anyOf": made} for name, made in shapes.items()}


def status_payload(status: Status, now: datetime | None = None) -> JSON:
    """The ``connection:status`` payload (and REST ``/status`` body) for a Status."""
    return _SNAPSHOT.encode(status, now or utcnow()).data


def status_message(
    status: Status, *, naming: WireNaming = "colon", now: datetime | None = None
) -> WireMessage:
    """The ``connection:status`` message for a Status (``connection-status`` in the dash naming).

    Transports send it to a client that just connected, before any live event.
    """
    return (_DASH_SNAPSHOT if naming == "dash" else _SNAPSHOT).encode(status, now or utcnow())


# ---------------------------------------------------------------------------------
# What the processes of a cluster send each other


def backplane_message(event: Event) -> WireMessage:
    """The message the cluster carries for an event (a QR code without its image)."""
    return kind_of(event).backplane.encode(event, utcnow())


JID = Field("jid", "jid", TEXT)
_BACKPLANE_STATUS = (
    TENANT,
    STATE,
    Field(
        "account", "account", optional(object_of(Account, Field("jid", "jid", TEXT), PHONE, NAME))
    ),
    PENDING_QR.but(
        codec=optional(object_of(QrGenerated, *_lean(QrGenerated, _QR).fields)), when=None
    ),
    REASON.but(codec=optional(REASON.codec)),
    WILL_RETRY,
    RETRY_IN,
    Field("since", "since", TIME),
)


def backplane_status(status: Status) -> JSON:
    """A status as the cluster carries it (a pending QR code without its image)."""
    return encode_fields(_BACKPLANE_STATUS, status, utcnow())


def from_backplane_status(data: Mapping[str, Any]) -> Status:
    """The status :func:`backplane_status` encoded.

    Raises:
        InvalidInput: not a status's encoding.
    """
    status: Status = decode_fields(Status, _BACKPLANE_STATUS, data)
    return status


def status_of(tenant: str, current: tuple[Event, ...]) -> Status:
    """A tenant's status as its last published state event tells it (no session here).

    The event's fields that a :class:`~wagate.Status` also has (``account``,
    ``reason``, ``will_retry``, ``retry_in``) carry over; a QR code is the pending one.
    """
    event = current[0] if current else None
    state = None if event is None else kind_of(event).state
    if event is None or state is None:
        return Status(tenant=tenant, state=State.DISCONNECTED)
    shared = attrs.fields_dict(Status).keys() & attrs.fields_dict(type(event)).keys()
    carried = {name: getattr(event, name) for name in shared - {"tenant"}}
    if isinstance(event, QrGenerated):
        carried["qr"] = event
    return Status(tenant=tenant, state=state, since=event.at, **carried)
