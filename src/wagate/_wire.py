"""The wire table: every kind of event, the messages it makes and their fields, both ways.

Each payload key is declared once, as a :class:`Field`: its JSON key, the
attribute it carries and the :class:`Codec` that writes and reads it (datetimes
as ISO 8601 in UTC, enums by value, an account as the ``user`` object).  A
:class:`Shape` is a message name and its fields in order; a :class:`Kind` says
which shapes an event class makes in each naming and which one the cluster's
backplane carries.  Everything else is derived from :data:`KINDS`:

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

import enum
import math
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._errors import InvalidInput
from ._events import (
    UTC,
    Account,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    MessageReceived,
    MessageSent,
    PairingCode,
    QrGenerated,
    State,
    Status,
    WireNaming,
    utcnow,
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
    "object_schema",
    "payload_schema",
    "status_message",
    "status_of",
    "status_payload",
    "to_wire",
]

JSON: TypeAlias = dict[str, Any]


@attrs.frozen
class WireMessage:
    """One message on the wire: an event name and its JSON-ready payload."""

    name: str
    data: JSON


# ---------------------------------------------------------------------------------
# Codecs: one JSON value each way


def iso(value: datetime) -> str:
    """A datetime as ISO 8601 in UTC with microseconds and a ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: object, key: str) -> datetime:
    """The timezone-aware UTC datetime an ISO 8601 string names.

    Raises:
        InvalidInput: not a string, not ISO 8601, or without a timezone.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{key!r} is not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{key!r} must carry a timezone: {value!r}")
    return parsed.astimezone(UTC)


@attrs.frozen
class Codec:
    """How a value is written as JSON (as of a moment) and read back (naming its key)."""

    encode: Callable[[Any, datetime], Any]
    decode: Callable[[Any, str], Any]
    optional: bool = False
    """Whether ``null`` (or no key at all) stands for ``None``."""
    schema: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    """The JSON Schema of the values it writes (OpenAPI's answers are made of it)."""


def _as_is(value: Any, now: datetime) -> Any:
    return value


def _exactly(*types: type) -> Callable[[Any, str], Any]:
    """A decoder accepting only ``types`` (a bool is not an int unless bool is named)."""

    def decode(value: Any, key: str) -> Any:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InvalidInput(f"payload field {key!r} has the wrong type: {value!r}")
        return value

    return decode


def _finite(value: Any, key: str) -> float:
    number = _exactly(int, float)(value, key)
    if not math.isfinite(number):
        raise InvalidInput(f"{key} must be finite, got {value!r}")
    return float(number)


def _enum(kind: type[enum.Enum]) -> Codec:
    def decode(value: Any, key: str) -> Any:
        raw = _exactly(str)(value, key)
        try:
            return kind(raw)
        except ValueError:
            raise InvalidInput(f"unknown {key} {raw!r}") from None

    schema = {"type": "string", "enum": [member.value for member in kind]}
    return Codec(lambda value, now: value.value, decode, schema=schema)


def _optional(codec: Codec) -> Codec:
    return Codec(
        lambda value, now: None if value is None else codec.encode(value, now),
        lambda value, key: None if value is None else codec.decode(value, key),
        optional=True,
        schema={"anyOf": [codec.schema, {"type": "null"}]},
    )


def _object(cls: type, *fields: Field) -> Codec:
    """A value of ``cls`` as a JSON object of ``fields``."""
    return Codec(
        lambda value, now: _encode(fields, value, now),
        lambda value, key: _decode(cls, fields, value),
        schema=object_schema(fields),
    )


def object_schema(fields: tuple[Field, ...]) -> JSON:
    """The JSON Schema of the object ``fields`` write (a key written only ``when``: optional)."""
    return {
        "type": "object",
        "properties": {f.key: dict(f.schema) for f in fields},
        "required": [f.key for f in fields if f.when is None],
    }


TEXT = Codec(_as_is, _exactly(str), schema={"type": "string"})
INTEGER = Codec(_as_is, _exactly(int), schema={"type": "integer"})
FLAG = Codec(_as_is, _exactly(bool), schema={"type": "boolean"})
SECONDS = Codec(_as_is, _finite, schema={"type": "number"})
TIME = Codec(lambda value, now: iso(value), parse_iso, schema={"type": "string"})


# ---------------------------------------------------------------------------------
# Fields and shapes


@attrs.frozen
class Field:
    """One payload key: what it carries and how.

    Attributes:
        key: The JSON key.
        attr: The attribute it reads, and the constructor argument it is read back
            into when the class takes one; ``None`` for a value computed from others.
        codec: How the value is written and read.
        compute: Computes the value (from the object and the moment of encoding)
            instead of reading ``attr``.
        read_back: Whether decoding reads it (``False`` for a copy of another key).
        when: Writes the key only for objects this accepts (default: always).
        computed: The JSON Schema of a computed value (default: the codec's).
    """

    key: str
    attr: str | None
    codec: Codec = Codec(_as_is, _exactly(object))
    compute: Callable[[Any, datetime], Any] | None = None
    read_back: bool = True
    when: Callable[[Any], bool] | None = None
    computed: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    plain: Callable[[Any], Any] | None = attrs.field(init=False, eq=False, repr=False)
    """Reads the value when it is written as it is (the fast path of most keys)."""

    @plain.default
    def _getter(self) -> Callable[[Any], Any] | None:
        if self.compute is None and self.attr is not None and self.codec.encode is _as_is:
            return operator.attrgetter(self.attr)
        return None

    @property
    def schema(self) -> Mapping[str, Any]:
        """The JSON Schema of this key's values."""
        return self.computed if self.computed is not None else self.codec.schema

    def encode(self, obj: Any, now: datetime) -> Any:
        """The JSON value of this key for ``obj`` as of ``now``."""
        value = self.compute(obj, now) if self.compute is not None else getattr(obj, str(self.attr))
        return self.codec.encode(value, now)

    def but(self, **changes: Any) -> Field:
        """A copy of the field with some of its attributes changed."""
        return attrs.evolve(self, **changes)


def _encode(fields: tuple[Field, ...], obj: Any, now: datetime) -> JSON:
    data = {}
    for f in fields:
        if f.when is None or f.when(obj):
            data[f.key] = f.encode(obj, now) if f.plain is None else f.plain(obj)
    return data


def _mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"payload must be a JSON object, got {type(data).__name__}")
    return data


_ARGUMENTS: dict[type, dict[str, attrs.Attribute[Any]]] = {}


def _arguments(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """The constructor arguments of an attrs class, by name (looked up once per class)."""
    found = _ARGUMENTS.get(cls)
    if found is None:
        found = _ARGUMENTS[cls] = {a.alias: a for a in attrs.fields(cls) if a.init}
    return found


def _decode(cls: type, fields: tuple[Field, ...], data: object) -> Any:
    """A ``cls`` from the keys of ``data`` that ``fields`` read back into its arguments.

    A missing key is an error unless its codec is optional; then the argument keeps
    the class's default, or is ``None`` where the class has none.
    """
    data = _mapping(data)
    takes = _arguments(cls)
    arguments = {}
    for f in fields:
        if f.attr not in takes or not f.read_back:
            continue
        if f.key in data:
            arguments[f.attr] = f.codec.decode(data[f.key], f.key)
        elif not f.codec.optional:
            raise InvalidInput(f"payload has no {f.key!r}")
        elif takes[f.attr].default is attrs.NOTHING:
            arguments[f.attr] = None
    return cls(**arguments)


@attrs.frozen
class Shape:
    """A message: its name and its fields, in the order they are written."""

    name: str
    fields: tuple[Field, ...]

    def encode(self, obj: Any, now: datetime) -> WireMessage:
        """The message for ``obj``, its time-dependent values as of ``now``."""
        return WireMessage(self.name, _encode(self.fields, obj, now))


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
STATE = Field("state", "state", _enum(State), compute=lambda obj, now: state_of(obj))
ATTEMPT = Field("attempt", "attempt", INTEGER)
PHONE = Field("phone", "phone", TEXT)
NAME = Field("name", "name", _optional(TEXT))
USER = Field("user", "account", _object(Account, Field("id", "jid", TEXT), NAME, PHONE))
PHONE_NUMBER = Field(
    "phoneNumber",
    None,
    compute=lambda obj, now: _linked_phone(obj),
    computed={"anyOf": [{"type": "string"}, {"type": "null"}]},
)
REASON = Field("reason", "reason", _enum(DisconnectReason))
WILL_RETRY = Field("willRetry", "will_retry", FLAG)
RETRY_IN = Field("retryIn", "retry_in", _optional(SECONDS))
DETAIL = Field("detail", "detail", _optional(TEXT))
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

# Messages
MESSAGE_ID = Field("id", "id", TEXT)
RECEIVED = (
    MESSAGE_ID,
    Field("from", "sender", TEXT),
    Field("chat", "chat", TEXT),
    Field("text", "text", _optional(TEXT)),
    Field("pushName", "push_name", _optional(TEXT)),
    Field("isGroup", "is_group", FLAG),
    Field("kind", "kind", TEXT),
    TIMESTAMP.but(attr="timestamp", read_back=True),
)
SENT = (
    MESSAGE_ID.but(codec=_optional(TEXT)),
    Field("to", "to", TEXT),
    Field("message", "text", TEXT),
    Field("success", "success", FLAG),
    Field("error", "error", _optional(TEXT)),
)

# A stream's gap
SPAN = (
    Field("from", "first_seq", INTEGER),
    Field("to", "last_seq", INTEGER),
    Field("missed", "missed", _optional(INTEGER)),
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
    takes = _arguments(cls)
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
    data = _mapping(data)
    readers = _READERS.get(name)
    if not readers:
        raise InvalidInput(f"unknown event name {name!r}")
    kind = readers[0] if len(readers) == 1 else _told_apart(readers, data)
    event: Event = _decode(kind.cls, next(s for s in kind.colon if s.name == name).fields, data)
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


PENDING_QR = Field("qr", "qr", _object(QrGenerated, *LOGIN), when=_has_qr)
_SNAPSHOT = Shape(
    CONNECTION_STATUS,
    (
        TENANT,
        STATUS,
        STATE,
        USER.but(codec=_optional(USER.codec)),
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
        "account", "account", _optional(_object(Account, Field("jid", "jid", TEXT), PHONE, NAME))
    ),
    PENDING_QR.but(
        codec=_optional(_object(QrGenerated, *_lean(QrGenerated, _QR).fields)), when=None
    ),
    REASON.but(codec=_optional(REASON.codec)),
    WILL_RETRY,
    RETRY_IN,
    Field("since", "since", TIME),
)


def backplane_status(status: Status) -> JSON:
    """A status as the cluster carries it (a pending QR code without its image)."""
    return _encode(_BACKPLANE_STATUS, status, utcnow())


def from_backplane_status(data: Mapping[str, Any]) -> Status:
    """The status :func:`backplane_status` encoded.

    Raises:
        InvalidInput: not a status's encoding.
    """
    status: Status = _decode(Status, _BACKPLANE_STATUS, data)
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
