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
from .._events import (
    Account,
    ChatState,
    ChatStateChanged,
    DisconnectReason,
    Event,
    MessageEdited,
    MessageReaction,
    MessageRevoked,
    MessageStatus,
    Presence,
    PresenceChanged,
    Receipt,
    utcnow,
)
from ._neonize_content import content_field, received_content, unwrap

__all__ = [
    "account_from",
    "chat_presence_names",
    "chat_state_update",
    "device_jid",
    "ending_for",
    "incoming_message",
    "jid_fields",
    "message_kind",
    "message_update",
    "presence_update",
    "receipt_update",
    "user_jid",
]

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
    """A message's kind: ``"text"``, ``"image"``, ``"contact"``, or ``"unsupported"``."""
    return received_content(unwrap(message), "").content.kind


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


def _origin(source: Any) -> tuple[str, str]:
    """The chat and the sender of a message or receipt, by phone number where known."""
    sender = _best_sender(source)
    chat = user_jid(source.Chat)
    if not source.IsGroup and source.Chat.Server == "lid" and sender.endswith("@s.whatsapp.net"):
        chat = sender
    return chat, sender


_SILENT = frozenset({"protocolMessage", "reactionMessage"})
"""Fields of messages that are not something a person wrote (updates, engine traffic)."""


def incoming_message(event: Any) -> IncomingMessage | None:
    """A neonize ``Message`` event as an :class:`IncomingMessage`, typed content included.

    Returns ``None`` for messages the account itself sent (from the phone or
    another linked device): reporting them as received would make a bot answer
    its own messages.  Also ``None`` for what is no message a person wrote:
    reactions, edits and revokes (see :func:`message_update`), the engine's
    protocol traffic, and messages that carry only encryption keys.
    """
    info = event.Info
    source = info.MessageSource
    if source.IsFromMe or not event.HasField("Message"):
        return None
    message = unwrap(event.Message)
    field = content_field(message)
    if field is None or field in _SILENT:
        return None
    chat, sender = _origin(source)
    received = received_content(message, str(info.ID))
    content = received.content
    return IncomingMessage(
        id=str(info.ID),
        chat=chat,
        sender=sender,
        push_name=str(info.Pushname) or None,
        text=content.text,
        is_group=bool(source.IsGroup),
        timestamp=_timestamp(int(info.Timestamp)),
        kind=content.kind,
        content=content,
        reply_to=content.reply_to,
        mentions=content.mentions,
        forwarded=received.forwarded,
        media_ref=received.media_ref,
    )


Update = tuple[type[Event], dict[str, Any]]
"""What a driver hands ``sink.update``: the event class and its fields."""


def message_update(event: Any) -> Update | None:
    """A neonize ``Message`` event that changes another message, as a sink update.

    A reaction is :class:`~wagate.MessageReaction`, a revoke
    :class:`~wagate.MessageRevoked`, an edit :class:`~wagate.MessageEdited`
    (its new text or caption); what the account did from another device comes
    with ``from_me=True``.  ``None`` for every other message.
    """
    if not event.HasField("Message"):
        return None
    source = event.Info.MessageSource
    message = unwrap(event.Message)
    chat, sender = _origin(source)
    base: dict[str, Any] = {"chat": chat, "sender": sender, "from_me": bool(source.IsFromMe)}
    if message.HasField("reactionMessage"):
        reaction = message.reactionMessage
        return MessageReaction, base | {"id": str(reaction.key.ID), "emoji": str(reaction.text)}
    if not message.HasField("protocolMessage"):
        return None
    protocol = message.protocolMessage
    kind = _enum_name(protocol, "type") if protocol.HasField("type") else ""
    if kind == "REVOKE":
        return MessageRevoked, base | {"id": str(protocol.key.ID)}
    if kind == "MESSAGE_EDIT" and protocol.HasField("editedMessage"):
        edited = received_content(unwrap(protocol.editedMessage), "").content
        return MessageEdited, base | {"id": str(protocol.key.ID), "text": edited.text or ""}
    return None


_RECEIPTS = {
    "DELIVERED": Receipt.DELIVERED,
    "READ": Receipt.READ,
    "PLAYED": Receipt.PLAYED,
}
"""whatsmeow's receipt types ("" i.e. delivered, "read", "played") that say how far a
sent message got; the others (``read-self``, ``sender``, ``retry``, ``server-error``,
``inactive``, ``peer_msg``, ``hist_sync``...) are the engine's business."""


def receipt_update(event: Any) -> Update | None:
    """A neonize ``Receipt`` event as a :class:`~wagate.MessageStatus` update.

    ``recipient`` is who sent the receipt (in a group, the participant).
    ``None`` for receipts of the account's own devices and for the types that
    are not a delivery, a read or a play.
    """
    source = event.MessageSource
    status = _RECEIPTS.get(_enum_name(event, "Type")) if event.HasField("Type") else None
    if status is None or source.IsFromMe or not event.MessageIDs:
        return None
    chat, recipient = _origin(source)
    fields = {"ids": tuple(str(i) for i in event.MessageIDs), "chat": chat}
    return MessageStatus, fields | {"recipient": recipient, "status": status}


def presence_update(event: Any) -> Update | None:
    """A neonize ``PresenceEv`` (protobuf ``Presence``) as a :class:`~wagate.PresenceChanged`.

    ``jid`` is the user, without a device; ``last_seen`` is ``None`` when the
    contact hides it (whatsmeow's zero time, or no time at all).
    """
    if not event.HasField("From") or not event.From.User:
        return None
    presence = Presence.UNAVAILABLE if event.Unavailable else Presence.AVAILABLE
    seen = int(event.LastSeen) if event.HasField("LastSeen") else 0
    last_seen = _timestamp(seen) if seen > 0 else None
    return PresenceChanged, {
        "jid": user_jid(event.From),
        "presence": presence,
        "last_seen": last_seen,
    }


def chat_state_update(event: Any) -> Update | None:
    """A neonize ``ChatPresenceEv`` (protobuf ``ChatPresence``) as a ``ChatStateChanged``.

    Composing with audio media is :attr:`~wagate.ChatState.RECORDING`.  ``None``
    for the account's own devices and for a state the engine does not name.
    """
    source = event.MessageSource
    state = _enum_name(event, "State") if event.HasField("State") else ""
    if source.IsFromMe or state not in ("COMPOSING", "PAUSED"):
        return None
    audio = event.HasField("Media") and _enum_name(event, "Media") == "AUDIO"
    if state == "PAUSED":
        value = ChatState.PAUSED
    else:
        value = ChatState.RECORDING if audio else ChatState.COMPOSING
    chat, sender = _origin(source)
    return ChatStateChanged, {"chat": chat, "sender": sender, "state": value}


_CHAT_PRESENCES = {
    ChatState.COMPOSING: ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_TEXT"),
    ChatState.RECORDING: ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_AUDIO"),
    ChatState.PAUSED: ("CHAT_PRESENCE_PAUSED", "CHAT_PRESENCE_MEDIA_TEXT"),
}


def chat_presence_names(state: ChatState) -> tuple[str, str]:
    """The names in neonize's ``ChatPresence`` and ``ChatPresenceMedia`` enums for ``state``.

    WhatsApp has no "recording" state: it is composing, with audio media.
    """
    return _CHAT_PRESENCES[ChatState(state)]
