"""neonize's protobuf events -> wagate's values.

Pure functions over the protobuf messages neonize decodes (proto2, generated
in ``neonize.proto``).  They look at a message's type by its protobuf name, so
this module imports nothing from neonize and costs nothing to import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .._driver import ConnectionEnded, IncomingMessage
from .._events import Account, DisconnectReason, utcnow

__all__ = [
    "account_from",
    "device_jid",
    "ending_for",
    "incoming_message",
    "jid_fields",
    "message_kind",
    "user_jid",
]

_NOT_CONTENT = frozenset({"messageContextInfo", "senderKeyDistributionMessage"})
_TEXT_FIELDS = ("conversation", "extendedTextMessage")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_JID = re.compile(r"(?P<user>[^@:.]*)(?:\.(?P<agent>\d+))?(?::(?P<device>\d+))?@(?P<server>.+)")
_MILLIS = 10**11  # a Unix time above this is in milliseconds (seconds reach it in 5138)


def user_jid(jid: Any) -> str:
    """A neonize ``JID`` as a user or group JID, without a device: ``628123@s.whatsapp.net``."""
    if not jid.User:
        return str(jid.Server)
    return f"{jid.User}@{jid.Server}"


def device_jid(jid: Any) -> str:
    """A neonize ``JID`` with its device, as whatsmeow stores it: ``628123:12@s.whatsapp.net``."""
    user = str(jid.User)
    if jid.RawAgent:
        user = f"{user}.{jid.RawAgent}"
    if jid.Device:
        user = f"{user}:{jid.Device}"
    return f"{user}@{jid.Server}" if user else str(jid.Server)


def jid_fields(jid: str) -> dict[str, Any]:
    """The fields of a neonize ``JID`` protobuf (proto2: all required) for a JID string.

    Raises:
        ValueError: ``jid`` is not ``user[.agent][:device]@server``.
    """
    match = _JID.fullmatch(jid)
    if match is None or not match.group("user"):
        raise ValueError(f"not a JID: {jid!r}")
    return {
        "User": match.group("user"),
        "RawAgent": int(match.group("agent") or 0),
        "Device": int(match.group("device") or 0),
        "Integrator": 0,
        "Server": match.group("server"),
        "IsEmpty": False,
    }


def account_from(me: Any, paired: Any = None) -> Account | None:
    """The linked account from neonize's ``Device`` (``client.me``) or a ``PairStatus``.

    Returns ``None`` when neither names a phone-number JID.
    """
    jid = None
    if me is not None and me.HasField("JID") and me.JID.User:
        jid = me.JID
    elif paired is not None and paired.HasField("ID") and paired.ID.User:
        jid = paired.ID
    if jid is None:
        return None
    name = me.PushName if me is not None and me.PushName else None
    return Account(jid=device_jid(jid), phone=f"+{jid.User}", name=name)


def _enum_name(message: Any, field: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    value = getattr(message, field)
    item = descriptor.values_by_number.get(value)
    return str(item.name) if item is not None else str(value)


def _logged_out(event: Any) -> str:
    reason = _enum_name(event, "Reason") if event.HasField("Reason") else "unknown"
    when = "while connecting" if event.OnConnect else "while connected"
    return f"the device was logged out {when} (reason {reason.lower()})"


def _banned(event: Any) -> str:
    code = _enum_name(event, "Code").lower() if event.HasField("Code") else "unknown"
    return f"temporarily banned by WhatsApp ({code}), for {event.Expire} s"


_ENDINGS: dict[str, tuple[DisconnectReason, Callable[[Any], str]]] = {
    "LoggedOut": (DisconnectReason.LOGGED_OUT, _logged_out),
    "StreamReplaced": (
        DisconnectReason.REPLACED,
        lambda event: "another client opened this session (stream replaced)",
    ),
    "TemporaryBan": (DisconnectReason.BANNED, _banned),
    "ClientOutdated": (
        DisconnectReason.OUTDATED,
        lambda event: "WhatsApp refused this client version; upgrade neonize",
    ),
    "StreamError": (
        DisconnectReason.NETWORK,
        lambda event: f"stream error (code {event.Code or '?'})",
    ),
    "Disconnected": (
        DisconnectReason.NETWORK,
        lambda event: "the websocket to WhatsApp was closed",
    ),
    "KeepAliveTimeout": (
        DisconnectReason.NETWORK,
        lambda event: f"WhatsApp stopped answering keepalives ({event.ErrorCount} missed)",
    ),
}
"""The neonize events that end a connection: why, and the words that say so."""

_REFUSALS = {
    "LOGGED_OUT": DisconnectReason.LOGGED_OUT,
    "MAIN_DEVICE_GONE": DisconnectReason.LOGGED_OUT,
    "UNKNOWN_LOGOUT": DisconnectReason.LOGGED_OUT,
    "TEMP_BANNED": DisconnectReason.BANNED,
    "CLIENT_OUTDATED": DisconnectReason.OUTDATED,
    "BAD_USER_AGENT": DisconnectReason.OUTDATED,
}
"""Why a connection ends, by the reason WhatsApp refused it with (others: the network)."""


def ending_for(event: Any) -> ConnectionEnded | None:
    """How a connection ends after a neonize event, or ``None`` if it does not end it."""
    kind = event.DESCRIPTOR.name
    if kind == "ConnectFailure":
        return _connect_failure(event)
    if kind not in _ENDINGS:
        return None
    reason, detail = _ENDINGS[kind]
    return ConnectionEnded(reason=reason, detail=detail(event))


def _connect_failure(event: Any) -> ConnectionEnded:
    reason = _enum_name(event, "Reason") if event.HasField("Reason") else "GENERIC"
    words = f"WhatsApp refused the connection ({reason.lower()}"
    words += f": {event.Message})" if event.Message else ")"
    return ConnectionEnded(reason=_REFUSALS.get(reason, DisconnectReason.NETWORK), detail=words)


def message_kind(message: Any) -> str:
    """``"text"``, or a message's kind: ``"image"``, ``"sticker"``, ``"poll_creation"``..."""
    fields = [field.name for field, _ in message.ListFields()]
    if any(name in fields for name in _TEXT_FIELDS):
        return "text"
    for name in fields:
        if name in _NOT_CONTENT:
            continue
        base = name.replace("Message", "") or name
        return _CAMEL.sub(r"_\1", base).lower()
    return "unknown"


def _text(message: Any) -> str | None:
    if message.conversation:
        return str(message.conversation)
    if message.HasField("extendedTextMessage") and message.extendedTextMessage.text:
        return str(message.extendedTextMessage.text)
    return None


def _timestamp(value: int) -> datetime:
    if value <= 0:
        return utcnow()
    seconds = value / 1000 if value > _MILLIS else float(value)
    return datetime.fromtimestamp(seconds, timezone.utc)


def _best_sender(source: Any) -> str:
    sender = source.Sender
    # With LID addressing the sender is a hidden id; its phone-number JID rides along.
    alt = source.SenderAlt if source.HasField("SenderAlt") else None
    if sender.Server == "lid" and alt is not None and alt.User and alt.Server == "s.whatsapp.net":
        return user_jid(alt)
    return user_jid(sender)


def incoming_message(event: Any) -> IncomingMessage | None:
    """A neonize ``Message`` event as an :class:`IncomingMessage`.

    Returns ``None`` for messages the account itself sent (from the phone or
    another linked device): reporting them as received would make a bot answer
    its own messages.
    """
    info = event.Info
    source = info.MessageSource
    if source.IsFromMe:
        return None
    sender = _best_sender(source)
    chat = user_jid(source.Chat)
    if not source.IsGroup and source.Chat.Server == "lid" and sender.endswith("@s.whatsapp.net"):
        chat = sender
    content = event.Message if event.HasField("Message") else None
    text = _text(content) if content is not None else None
    kind = message_kind(content) if content is not None else "unknown"
    if text is None and kind == "text":
        kind = "unknown"
    return IncomingMessage(
        id=str(info.ID),
        chat=chat,
        sender=sender,
        push_name=str(info.Pushname) or None,
        text=text,
        is_group=bool(source.IsGroup),
        timestamp=_timestamp(int(info.Timestamp)),
        kind=kind if text is None else "text",
    )
