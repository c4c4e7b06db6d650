"""Typed events, the values they carry, and their one wire encoding.

Every event is a frozen attrs class carrying ``tenant``, ``seq`` (strictly
increasing per tenant) and ``at`` (UTC).  :func:`to_wire` turns an event into the
messages that every transport sends (Socket.IO, SSE, webhooks); :func:`from_wire`
reads one back.  The transports only carry what this module produces.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal, TypeAlias

import attrs

from ._errors import InvalidInput
from ._qr import QrRenderCache

__all__ = [
    "Account",
    "Connected",
    "Connecting",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "Gap",
    "MessageReceived",
    "MessageSent",
    "PairingCode",
    "QrGenerated",
    "State",
    "Status",
    "WireMessage",
    "WireNaming",
    "from_wire",
    "status_payload",
    "to_wire",
]

UTC = timezone.utc

JSON: TypeAlias = dict[str, Any]
WireNaming: TypeAlias = Literal["colon", "dash"]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class State(str, enum.Enum):
    """Where a session is in its life.

    ``disconnected`` -> ``connecting`` -> ``awaiting_scan`` (a QR is shown) ->
    ``connected``; any of them back to ``disconnected`` with a
    :class:`DisconnectReason`.  A linked account that resumes goes from
    ``connecting`` straight to ``connected``.
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    AWAITING_SCAN = "awaiting_scan"
    CONNECTED = "connected"

    def __str__(self) -> str:
        return self.value


class DisconnectReason(str, enum.Enum):
    """Why a session is not connected."""

    NETWORK = "network"
    """The connection to WhatsApp failed or dropped; retried with backoff."""
    LOGGED_OUT = "logged_out"
    """The account was unlinked (from the phone or by :meth:`Session.logout`)."""
    REPLACED = "replaced"
    """Another client took over this session (stream replaced)."""
    BANNED = "banned"
    """WhatsApp temporarily banned the account."""
    QR_TIMEOUT = "qr_timeout"
    """Nobody scanned any of the QR codes in time; start a new login."""
    CLOSED = "closed"
    """Closed by this application."""
    ENGINE_CRASHED = "engine_crashed"
    """The WhatsApp engine (or its child process) died; retried."""
    OUTDATED = "outdated"
    """WhatsApp refused this client version; upgrade the engine."""
    OWNER_LOST = "owner_lost"
    """(Cluster) the process running the session is gone; another one takes it over."""

    def __str__(self) -> str:
        return self.value

    @property
    def retryable(self) -> bool:
        """Whether a session reconnects by itself after this reason."""
        return self in (
            DisconnectReason.NETWORK,
            DisconnectReason.ENGINE_CRASHED,
            DisconnectReason.OWNER_LOST,
        )


@attrs.frozen(kw_only=True)
class Account:
    """A linked WhatsApp account.

    Attributes:
        jid: The account's WhatsApp id, e.g. ``"628123456789@s.whatsapp.net"``.
        phone: The phone number in E.164 form, e.g. ``"+628123456789"``.
        name: The account's display (push) name, when known.
    """

    jid: str
    phone: str
    name: str | None = None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_iso(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{key!r} is not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{key!r} must carry a timezone: {value!r}")
    return parsed.astimezone(UTC)


@attrs.frozen(kw_only=True)
class Event:
    """The base of every event.

    Attributes:
        tenant: The tenant whose session produced the event.
        seq: Position in the tenant's stream: strictly increasing, never reused.
        at: When the event happened (UTC).
    """

    tenant: str
    seq: int
    at: datetime

    wire_name: ClassVar[str] = ""


@attrs.frozen(kw_only=True)
class QrGenerated(Event):
    """A login QR code to show to the user; the phone scans it to link.

    The image is rendered on demand and cached: ``event.png()``, ``event.data_url``,
    ``event.svg()``, ``event.terminal()``; in a notebook the event shows itself.

    Attributes:
        code: The raw payload the phone reads (what the QR encodes).
        expires_at: When this code stops being accepted.
    """

    code: str
    expires_at: datetime
    _render: QrRenderCache = attrs.field(
        init=False, eq=False, repr=False, hash=False, alias="_render"
    )

    wire_name: ClassVar[str] = "qr:generated"

    @_render.default
    def _make_render_cache(self) -> QrRenderCache:
        return QrRenderCache(self.code)

    def png(self) -> bytes:
        """Return the QR code as PNG bytes."""
        return self._render.png()

    @property
    def data_url(self) -> str:
        """The PNG as a ``data:image/png;base64,...`` URL, ready for ``<img src>``."""
        return self._render.data_url()

    def svg(self) -> str:
        """Return the QR code as a standalone SVG document."""
        return self._render.svg()

    def terminal(self) -> str:
        """Return the QR code drawn with Unicode blocks, to print in a terminal."""
        return self._render.terminal()

    def expires_in(self, now: datetime | None = None) -> float:
        """Seconds until the code expires (never negative), counted from ``now``.

        Args:
            now: The moment to count from; by default the current time.
        """
        return max(0.0, (self.expires_at - (now or utcnow())).total_seconds())

    def _repr_png_(self) -> bytes:
        return self.png()


@attrs.frozen(kw_only=True)
class PairingCode(Event):
    """An 8-character code to type on the phone instead of scanning a QR.

    Attributes:
        code: The code, e.g. ``"ABCD-EFGH"``.
        phone: The number (E.164) the code was requested for.
    """

    code: str
    phone: str

    wire_name: ClassVar[str] = "pairing:code"


@attrs.frozen(kw_only=True)
class Connecting(Event):
    """The session is opening a connection to WhatsApp.

    Attributes:
        attempt: 1 for the first attempt, counting up while reconnecting.
    """

    attempt: int = 1

    wire_name: ClassVar[str] = "connection:status"


@attrs.frozen(kw_only=True)
class Connected(Event):
    """The session is connected and the account is linked.

    Attributes:
        account: The linked account.
    """

    account: Account

    wire_name: ClassVar[str] = "whatsapp:connected"


@attrs.frozen(kw_only=True)
class Disconnected(Event):
    """The session is not connected.

    Attributes:
        reason: Why.
        will_retry: Whether the session reconnects by itself.
        retry_in: Seconds until the next attempt, when one is planned.
        detail: The engine's own words, when it gave any.
    """

    reason: DisconnectReason
    will_retry: bool = False
    retry_in: float | None = None
    detail: str | None = None

    wire_name: ClassVar[str] = "whatsapp:disconnected"


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    """A message arrived for the linked account.

    Attributes:
        id: WhatsApp's message id.
        chat: The chat JID (a user or a group).
        sender: The sender's JID.
        push_name: The sender's display name, when known.
        text: The text, or ``None`` for a message that is not text (see ``kind``).
        is_group: Whether the chat is a group.
        timestamp: When the sender sent it (UTC).
        kind: ``"text"``, or the kind of a non-text message (``"image"``, ``"sticker"``...).
    """

    id: str
    chat: str
    sender: str
    push_name: str | None
    text: str | None
    is_group: bool
    timestamp: datetime
    kind: str = "text"

    wire_name: ClassVar[str] = "message:received"


@attrs.frozen(kw_only=True)
class MessageSent(Event):
    """The result of sending a message.

    Attributes:
        id: WhatsApp's message id (``None`` when the send failed before one existed).
        to: The recipient JID.
        text: The text sent.
        success: Whether WhatsApp accepted the message.
        error: Why it failed, when it did.
    """

    id: str | None
    to: str
    text: str
    success: bool
    error: str | None = None

    wire_name: ClassVar[str] = "message:sent"


@attrs.frozen(kw_only=True)
class Gap(Event):
    """Events were missed: a subscriber lagged, or a resume asked for pruned history.

    ``seq`` is the last missed seq, so a stream stays in order.

    Seqs go up by one while a session runs and across a clean close; after a
    crash they jump (past the block the process had reserved), so a span of seqs
    is not always a count of events.  ``missed`` counts only events that were
    really published and not delivered; it is ``None`` when nobody can know, which
    happens across a restart whose replay log is gone (the client was last seen
    before this process started), where seqs may have been skipped.

    Attributes:
        first_seq: The first seq that was not delivered.
        last_seq: The last seq that was not delivered.
        missed: How many events were missed, or ``None`` when unknown (a restart).
    """

    first_seq: int
    last_seq: int
    missed: int | None = attrs.field()

    wire_name: ClassVar[str] = "stream:gap"

    @missed.default
    def _every_seq_of_the_span(self) -> int | None:
        return self.last_seq - self.first_seq + 1


STATE_EVENTS = (Connecting, QrGenerated, Connected, Disconnected)
"""Events that define a session's state: the last one is replayed to new subscribers."""


@attrs.frozen(kw_only=True)
class Status:
    """A snapshot of a session.

    Attributes:
        tenant: The tenant.
        state: Where the session is.
        account: The linked account, if any (kept while disconnected).
        qr: The pending QR code while ``awaiting_scan``.
        reason: Why the session was last disconnected.
        will_retry: Whether a reconnect is planned.
        retry_in: Seconds until that reconnect, as of ``since``.
        since: When the session entered this state.
    """

    tenant: str
    state: State
    account: Account | None = None
    qr: QrGenerated | None = None
    reason: DisconnectReason | None = None
    will_retry: bool = False
    retry_in: float | None = None
    since: datetime = attrs.field(factory=utcnow)

    @property
    def connected(self) -> bool:
        """Whether the session is connected."""
        return self.state is State.CONNECTED


# ---------------------------------------------------------------------------------
# Wire encoding


@attrs.frozen
class WireMessage:
    """One message on the wire: an event name and its JSON-ready payload."""

    name: str
    data: JSON


def _user(account: Account) -> JSON:
    return {"id": account.jid, "name": account.name, "phone": account.phone}


def _coarse(state: State) -> str:
    if state is State.CONNECTED:
        return "connected"
    if state is State.DISCONNECTED:
        return "disconnected"
    return "connecting"


def status_payload(status: Status, now: datetime | None = None) -> JSON:
    """The ``connection:status`` payload (and REST ``/status`` body) for a Status."""
    data: JSON = {
        "tenant": status.tenant,
        "status": _coarse(status.state),
        "state": status.state.value,
        "user": _user(status.account) if status.account else None,
        "timestamp": _iso(status.since),
    }
    if status.reason is not None:
        data["reason"] = status.reason.value
        data["willRetry"] = status.will_retry
        data["retryIn"] = status.retry_in
    if status.qr is not None:
        data["qr"] = {
            "qrCode": status.qr.data_url,
            "qr": status.qr.code,
            **_expiry(status.qr, now),
            "expiresAt": _iso(status.qr.expires_at),
        }
    return data


def status_message(
    status: Status, *, naming: WireNaming = "colon", now: datetime | None = None
) -> WireMessage:
    """The ``connection:status`` message for a Status (``connection-status`` in the dash naming).

    Transports send it to a client that just connected, before any live event.
    """
    data = status_payload(status, now)
    if naming == "dash":
        phone = status.account.phone if status.account and status.connected else None
        return WireMessage(
            "connection-status",
            {"tenant": status.tenant, "status": data["status"], "phoneNumber": phone},
        )
    return WireMessage("connection:status", data)


def _seconds(value: float) -> float:
    return round(value, 3)


def _expiry(qr: QrGenerated, now: datetime | None) -> JSON:
    """``expiresIn`` and ``expired`` as of ``now`` (default: this moment, not the event's).

    A QR event is encoded again when it is replayed (an SSE resume, a snapshot, a
    webhook retry); counting from the event's own time would promise a full minute
    for a code that expired long ago.
    """
    left = _seconds(qr.expires_in(now or utcnow()))
    return {"expiresIn": left, "expired": left <= 0}


def _base(event: Event) -> JSON:
    return {"tenant": event.tenant, "seq": event.seq, "at": _iso(event.at)}


def _encode(event: Event, now: datetime | None) -> list[WireMessage]:
    base = _base(event)
    if isinstance(event, QrGenerated):
        return [
            WireMessage(
                "qr:generated",
                {
                    **base,
                    "qrCode": event.data_url,
                    "qr": event.code,
                    **_expiry(event, now),
                    "expiresAt": _iso(event.expires_at),
                    "timestamp": _iso(event.at),
                },
            ),
        ]
    if isinstance(event, Connecting):
        return [
            WireMessage(
                "connection:status",
                {
                    **base,
                    "status": "connecting",
                    "state": State.CONNECTING.value,
                    "attempt": event.attempt,
                    "timestamp": _iso(event.at),
                },
            )
        ]
    if isinstance(event, Connected):
        user = _user(event.account)
        return [
            WireMessage("whatsapp:connected", {**base, "user": user}),
            WireMessage(
                "connection:status",
                {
                    **base,
                    "status": "connected",
                    "state": State.CONNECTED.value,
                    "user": user,
                    "timestamp": _iso(event.at),
                },
            ),
        ]
    if isinstance(event, Disconnected):
        why = {
            "reason": event.reason.value,
            "willRetry": event.will_retry,
            "retryIn": event.retry_in,
            "detail": event.detail,
        }
        return [
            WireMessage("whatsapp:disconnected", {**base, **why}),
            WireMessage(
                "connection:status",
                {
                    **base,
                    "status": "disconnected",
                    "state": State.DISCONNECTED.value,
                    **why,
                    "timestamp": _iso(event.at),
                },
            ),
        ]
    if isinstance(event, MessageReceived):
        return [
            WireMessage(
                "message:received",
                {
                    **base,
                    "id": event.id,
                    "from": event.sender,
                    "chat": event.chat,
                    "text": event.text,
                    "pushName": event.push_name,
                    "isGroup": event.is_group,
                    "kind": event.kind,
                    "timestamp": _iso(event.timestamp),
                },
            )
        ]
    if isinstance(event, MessageSent):
        return [
            WireMessage(
                "message:sent",
                {
                    **base,
                    "id": event.id,
                    "to": event.to,
                    "message": event.text,
                    "success": event.success,
                    "error": event.error,
                    "timestamp": _iso(event.at),
                },
            )
        ]
    if isinstance(event, PairingCode):
        return [
            WireMessage(
                "pairing:code",
                {**base, "code": event.code, "phone": event.phone, "timestamp": _iso(event.at)},
            )
        ]
    if isinstance(event, Gap):
        return [
            WireMessage(
                "stream:gap",
                {**base, "from": event.first_seq, "to": event.last_seq, "missed": event.missed},
            )
        ]
    raise TypeError(f"not a wagate event: {event!r}")


def _dash(messages: list[WireMessage], event: Event, now: datetime | None) -> list[WireMessage]:
    """The NestJS-style names: ``qr-code`` and ``connection-status``."""
    out = []
    for message in messages:
        if message.name == "qr:generated":
            assert isinstance(event, QrGenerated)
            out.append(
                WireMessage(
                    "qr-code",
                    {
                        **_base(event),
                        "qrCode": event.data_url,
                        **_expiry(event, now),
                    },
                )
            )
        elif message.name == "connection:status":
            phone = event.account.phone if isinstance(event, Connected) else None
            out.append(
                WireMessage(
                    "connection-status",
                    {**_base(event), "status": message.data["status"], "phoneNumber": phone},
                )
            )
        elif message.name in ("whatsapp:connected", "whatsapp:disconnected"):
            continue  # the dash naming carries these in connection-status
        else:
            out.append(message)
    return out


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
    messages = _encode(event, now)
    if naming == "dash":
        return tuple(_dash(messages, event, now))
    return tuple(messages)


# ---------------------------------------------------------------------------------
# Wire decoding


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise InvalidInput(f"payload has no {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
        raise InvalidInput(f"payload field {key!r} has the wrong type: {value!r}")
    return value


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if data.get(key) is None:
        return None
    return _get(data, key, kind)


def _account(data: Mapping[str, Any]) -> Account:
    user = _get(data, "user", dict)
    return Account(
        jid=_get(user, "id", str), phone=_get(user, "phone", str), name=_opt(user, "name", str)
    )


def _common(data: Mapping[str, Any]) -> JSON:
    seq = _get(data, "seq", int)
    return {"tenant": _get(data, "tenant", str), "seq": seq, "at": _parse_iso(data.get("at"), "at")}


def _reason(data: Mapping[str, Any]) -> DisconnectReason:
    raw = _get(data, "reason", str)
    try:
        return DisconnectReason(raw)
    except ValueError:
        raise InvalidInput(f"unknown disconnect reason {raw!r}") from None


def _retry_in(data: Mapping[str, Any]) -> float | None:
    value = _opt(data, "retryIn", (int, float))
    if value is None:
        return None
    if not math.isfinite(value):
        raise InvalidInput(f"retryIn must be finite, got {value!r}")
    return float(value)


def from_wire(name: str, data: Mapping[str, Any]) -> Event:
    """Decode a message produced by :func:`to_wire` (colon naming) back into an event.

    Raises:
        InvalidInput: the name is unknown or the payload is malformed.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput(f"payload must be a JSON object, got {type(data).__name__}")
    common = _common(data)
    if name == "qr:generated":
        return QrGenerated(
            **common,
            code=_get(data, "qr", str),
            expires_at=_parse_iso(data.get("expiresAt"), "expiresAt"),
        )
    if name == "connection:status":
        status = _get(data, "status", str)
        if status == "connecting":
            return Connecting(**common, attempt=_get(data, "attempt", int))
        if status == "connected":
            return Connected(**common, account=_account(data))
        if status == "disconnected":
            return Disconnected(
                **common,
                reason=_reason(data),
                will_retry=_get(data, "willRetry", bool),
                retry_in=_retry_in(data),
                detail=_opt(data, "detail", str),
            )
        raise InvalidInput(f"unknown connection status {status!r}")
    if name == "whatsapp:connected":
        return Connected(**common, account=_account(data))
    if name == "whatsapp:disconnected":
        return Disconnected(
            **common,
            reason=_reason(data),
            will_retry=_get(data, "willRetry", bool),
            retry_in=_retry_in(data),
            detail=_opt(data, "detail", str),
        )
    if name == "message:received":
        return MessageReceived(
            **common,
            id=_get(data, "id", str),
            chat=_get(data, "chat", str),
            sender=_get(data, "from", str),
            push_name=_opt(data, "pushName", str),
            text=_opt(data, "text", str),
            is_group=_get(data, "isGroup", bool),
            timestamp=_parse_iso(data.get("timestamp"), "timestamp"),
            kind=_get(data, "kind", str),
        )
    if name == "message:sent":
        return MessageSent(
            **common,
            id=_opt(data, "id", str),
            to=_get(data, "to", str),
            text=_get(data, "message", str),
            success=_get(data, "success", bool),
            error=_opt(data, "error", str),
        )
    if name == "pairing:code":
        return PairingCode(**common, code=_get(data, "code", str), phone=_get(data, "phone", str))
    if name == "stream:gap":
        first, last = _get(data, "from", int), _get(data, "to", int)
        if "missed" not in data:
            return Gap(**common, first_seq=first, last_seq=last)
        return Gap(**common, first_seq=first, last_seq=last, missed=_opt(data, "missed", int))
    raise InvalidInput(f"unknown event name {name!r}")


def expires_after(at: datetime, seconds: float) -> datetime:
    """``at`` plus a number of seconds."""
    return at + timedelta(seconds=seconds)
