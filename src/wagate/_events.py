"""Typed events and the values they carry.

Every event is a frozen attrs class carrying ``tenant``, ``seq`` (strictly
increasing per tenant) and ``at`` (UTC).  How each looks on the wire is the table
of :mod:`wagate._wire` (:func:`~wagate.to_wire`, :func:`~wagate.from_wire`), which
this module also exports under its old names.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs

from ._content import Content, Media, Text, Unsupported
from ._groups import ParticipantAction
from ._qr import QrRenderCache

if TYPE_CHECKING:
    from ._wire import WireMessage, from_wire, status_message, status_payload, to_wire

__all__ = [
    "Account",
    "ChatState",
    "ChatStateChanged",
    "Connected",
    "Connecting",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "Gap",
    "GroupJoined",
    "GroupLeft",
    "GroupParticipantsChanged",
    "GroupUpdated",
    "MessageEdited",
    "MessageReaction",
    "MessageReceived",
    "MessageRevoked",
    "MessageSent",
    "MessageStatus",
    "PairingCode",
    "Presence",
    "PresenceChanged",
    "QrGenerated",
    "Receipt",
    "State",
    "Status",
    "WireMessage",
    "WireNaming",
    "from_wire",
    "status_message",
    "status_payload",
    "to_wire",
]

UTC = timezone.utc

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

    wire_name: ClassVar[str]
    """The name of the event's own wire message (``"qr:generated"``...), set by the wire table."""


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


@attrs.frozen(kw_only=True)
class Connecting(Event):
    """The session is opening a connection to WhatsApp.

    Attributes:
        attempt: 1 for the first attempt, counting up while reconnecting.
    """

    attempt: int = 1


@attrs.frozen(kw_only=True)
class Connected(Event):
    """The session is connected and the account is linked.

    Attributes:
        account: The linked account.
    """

    account: Account


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


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    """A message arrived for the linked account.

    Attributes:
        id: WhatsApp's message id.
        chat: The chat JID (a user or a group).
        sender: The sender's JID (in a group, the participant who wrote).
        push_name: The sender's display name, when known.
        text: The text a person reads (the text, or a media's caption), or ``None``.
        is_group: Whether the chat is a group.
        timestamp: When the sender sent it (UTC).
        kind: The content's kind (``content.kind``): ``"text"``, ``"image"``...
        content: What the message says, typed: :class:`~wagate.Text`,
            :class:`~wagate.Image` (its ``media`` a :class:`~wagate.Media`)...
        reply_to: The id of the message it quotes, when it is a reply.
        mentions: The JIDs it mentions.
        forwarded: Whether it was forwarded.
        mentions_me: Whether it mentions the linked account (``@`` you, in a group).
    """

    id: str
    chat: str
    sender: str
    push_name: str | None
    text: str | None
    is_group: bool
    timestamp: datetime
    kind: str = attrs.field()
    content: Content = attrs.field()
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()
    forwarded: bool = False
    mentions_me: bool = False

    @kind.default
    def _kind_of_the_content(self) -> str:
        return "text" if self.text is not None else "unsupported"

    @content.default
    def _content_of_the_text(self) -> Content:
        if self.text is not None and self.kind == "text":
            return Text(self.text)
        return Unsupported(self.kind)


@attrs.frozen(kw_only=True)
class MessageSent(Event):
    """The result of sending a message.

    Attributes:
        id: WhatsApp's message id (``None`` when the send failed before one existed).
        to: The recipient JID.
        text: The text sent (a media's caption; empty for media without one).
        success: Whether WhatsApp accepted the message.
        error: Why it failed, when it did.
        kind: The content's kind.
        media: The sent media's descriptor, for media messages.
        reply_to: The id of the message it quoted.
    """

    id: str | None
    to: str
    text: str
    success: bool
    error: str | None = None
    kind: str = "text"
    media: Media | None = None
    reply_to: str | None = None


class Receipt(str, enum.Enum):
    """How far a sent message got, in order: sent, delivered, read, played."""

    SENT = "sent"
    """WhatsApp's server took it."""
    DELIVERED = "delivered"
    """It reached the recipient's phone."""
    READ = "read"
    """The recipient opened the chat (where read receipts are on)."""
    PLAYED = "played"
    """A voice note or video was played."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class MessageStatus(Event):
    """A receipt for messages this tenant sent.

    Attributes:
        ids: The messages it is about (WhatsApp answers for several at once).
        chat: The chat they were sent to.
        recipient: Who sent the receipt (in a group, the participant).
        status: How far they got.
    """

    ids: tuple[str, ...]
    chat: str
    recipient: str
    status: Receipt


@attrs.frozen(kw_only=True)
class MessageReaction(Event):
    """Someone reacted to a message (or took a reaction back: ``emoji == ""``).

    Attributes:
        id: The id of the message reacted to.
        chat: Its chat.
        sender: Who reacted.
        emoji: The reaction, or ``""`` when it was removed.
        from_me: Whether this tenant's account reacted.
    """

    id: str
    chat: str
    sender: str
    emoji: str
    from_me: bool = False


@attrs.frozen(kw_only=True)
class MessageEdited(Event):
    """A message was edited.

    Attributes:
        id: The id of the edited message.
        chat: Its chat.
        sender: Who edited it (who sent it).
        text: Its new text.
        from_me: Whether this tenant's account edited it.
    """

    id: str
    chat: str
    sender: str
    text: str
    from_me: bool = False


@attrs.frozen(kw_only=True)
class MessageRevoked(Event):
    """A message was deleted for everyone.

    Attributes:
        id: The id of the deleted message.
        chat: Its chat.
        sender: Who deleted it.
        from_me: Whether this tenant's account deleted it.
    """

    id: str
    chat: str
    sender: str
    from_me: bool = False


class Presence(str, enum.Enum):
    """Whether an account shows as online."""

    AVAILABLE = "available"
    """Online."""
    UNAVAILABLE = "unavailable"
    """Offline (with a last-seen time, where its owner shows one)."""


class ChatState(str, enum.Enum):
    """What someone is doing in a chat: the "typing…" indicator."""

    COMPOSING = "composing"
    """Typing a message."""
    RECORDING = "recording"
    """Recording a voice note."""
    PAUSED = "paused"
    """Stopped typing or recording."""


@attrs.frozen(kw_only=True)
class PresenceChanged(Event):
    """A contact went online or offline (one :meth:`~wagate.Session.subscribe_presence` named).

    Attributes:
        jid: Whose presence.
        presence: Online or offline.
        last_seen: When they were last online, where they show it.
    """

    jid: str
    presence: Presence
    last_seen: datetime | None = None


@attrs.frozen(kw_only=True)
class ChatStateChanged(Event):
    """Someone started or stopped typing (or recording) in a chat.

    Attributes:
        chat: The chat (a group's JID in a group).
        sender: Who is typing.
        state: Composing, recording or paused.
    """

    chat: str
    sender: str
    state: ChatState


@attrs.frozen(kw_only=True)
class GroupJoined(Event):
    """The account is in a new group: it made it, was added, or followed an invite.

    Attributes:
        jid: The group's JID.
        subject: Its subject.
        by: Who added the account (``None`` when it made or joined the group itself).
        participant_count: How many members it has, when known.
    """

    jid: str
    subject: str
    by: str | None = None
    participant_count: int | None = None


@attrs.frozen(kw_only=True)
class GroupLeft(Event):
    """The account is no longer in a group: it left, or an admin removed it.

    Attributes:
        jid: The group's JID.
        by: The admin who removed the account (``None`` when it left itself).
    """

    jid: str
    by: str | None = None


@attrs.frozen(kw_only=True)
class GroupUpdated(Event):
    """A group's subject, description or settings changed; only what changed is set.

    Attributes:
        jid: The group's JID.
        by: Who changed it, when WhatsApp says.
        subject: The new subject.
        description: The new description (``""``: removed).
        announce: Whether only admins may post now.
        locked: Whether only admins may edit the group's info now.
    """

    jid: str
    by: str | None = None
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None
    locked: bool | None = None


@attrs.frozen(kw_only=True)
class GroupParticipantsChanged(Event):
    """Members of a group were added, removed, promoted or demoted.

    Attributes:
        jid: The group's JID.
        action: What happened to them.
        participants: Whom it happened to.
        by: Who did it (``None`` when they joined or left themselves, or WhatsApp
            does not say).
    """

    jid: str
    action: ParticipantAction
    participants: tuple[str, ...]
    by: str | None = None


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


def expires_after(at: datetime, seconds: float) -> datetime:
    """``at`` plus a number of seconds."""
    return at + timedelta(seconds=seconds)


_IN_THE_WIRE_MODULE = frozenset(
    {"WireMessage", "from_wire", "status_message", "status_payload", "to_wire"}
)


def __getattr__(name: str) -> Any:
    """The wire encoding lives in :mod:`wagate._wire` (which imports this module)."""
    if name in _IN_THE_WIRE_MODULE:
        from . import _wire  # noqa: PLC0415 - a cycle: the table needs the event classes

        return getattr(_wire, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
