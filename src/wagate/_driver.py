"""The driver interface: what a Session needs from a WhatsApp engine.

Public as :mod:`wagate.drivers`; it lives in the core so that the core imports
no driver.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

from ._contacts import ContactInfo, NumberCheck, ProfilePicture
from ._content import Content, Media, Text
from ._errors import DriverError
from ._events import Account, ChatState, DisconnectReason, Event, Presence
from ._groups import Group, GroupInfo, ParticipantAction, ParticipantResult

__all__ = ["ConnectionEnded", "Driver", "DriverSink", "IncomingMessage", "KnownMessage"]


@attrs.frozen(kw_only=True)
class IncomingMessage:
    """A message as a driver reports it (the session turns it into ``MessageReceived``).

    Attributes:
        id: WhatsApp's message id.
        chat: The chat JID (a user or a group).
        sender: The sender's JID.
        push_name: The sender's display name, when known.
        text: The text, or ``None`` for a message that is not text.
        is_group: Whether the chat is a group.
        timestamp: When it was sent (UTC).
        kind: ``"text"``, or the kind of a non-text message.
        content: The typed content (default: a :class:`~wagate.Text` of ``text``).
            A media's :class:`~wagate.Media` id is the driver's own: the
            session gives it a new wagate id and keeps ``media_ref``.
        reply_to: The id of the quoted message.
        mentions: The JIDs mentioned.
        forwarded: Whether it was forwarded.
        media_ref: What the driver needs to download the media again (opaque).
    """

    id: str
    chat: str
    sender: str
    push_name: str | None
    text: str | None
    is_group: bool
    timestamp: datetime
    kind: str = "text"
    content: Content | None = None
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()
    forwarded: bool = False
    media_ref: bytes | None = None


@attrs.frozen(kw_only=True)
class KnownMessage:
    """A message the session saw (sent or received): what a reply, reaction or edit needs.

    Attributes:
        id: WhatsApp's message id.
        chat: Its chat.
        sender: Who sent it.
        from_me: Whether this tenant's account sent it.
        at: When it was sent.
        text: Its text or caption, for a quote.
    """

    id: str
    chat: str
    sender: str
    from_me: bool
    at: datetime
    text: str | None = None


@attrs.frozen(kw_only=True)
class ConnectionEnded:
    """Why a connection ended: what :meth:`Driver.run` returns.

    Attributes:
        reason: The reason, in wagate's terms.
        detail: The engine's own words, if any (never credentials).
    """

    reason: DisconnectReason
    detail: str | None = None


class DriverSink(Protocol):
    """What a driver reports to its session while :meth:`Driver.run` runs.

    The methods are plain functions: call them from the event loop thread that
    runs the session.
    """

    def qr(self, code: str, valid_for: float) -> None:
        """A login QR code is ready; it is accepted for ``valid_for`` seconds."""

    def connected(self, account: Account) -> None:
        """The connection is up and ``account`` is linked."""

    def message(self, message: IncomingMessage) -> None:
        """A message arrived."""

    def update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        """Something happened to messages or contacts: a receipt, a reaction, typing...

        ``kind`` is :class:`~wagate.MessageStatus`, :class:`~wagate.MessageReaction`,
        :class:`~wagate.MessageEdited`, :class:`~wagate.MessageRevoked`,
        :class:`~wagate.PresenceChanged` or :class:`~wagate.ChatStateChanged`, and
        ``fields`` its attributes but ``tenant``, ``seq`` and ``at``.
        """


class Driver(abc.ABC):
    """One WhatsApp connection for one session.

    The session calls :meth:`run` once per connection attempt; while it runs, the
    session may call :meth:`send_text`, :meth:`request_pairing_code` and
    :meth:`logout`.  :meth:`aclose` releases whatever the driver holds.
    """

    @abc.abstractmethod
    async def run(self, sink: DriverSink, *, resume: Account | None) -> ConnectionEnded:
        """Open a connection and keep it until it ends; return why it ended.

        With ``resume``, log in as that (previously linked) account without a QR
        code where the engine still holds its keys; otherwise start a QR login and
        report each code with ``sink.qr``.  Cancelling the call closes the
        connection.  Failures to connect are returned (``NETWORK``...), not raised.
        """

    @abc.abstractmethod
    async def send_text(self, jid: str, text: str) -> str:
        """Send a text message to a validated JID; return WhatsApp's message id.

        Raises:
            wagate.DriverError: WhatsApp (or the engine) refused it.
        """

    @abc.abstractmethod
    async def request_pairing_code(self, phone: str) -> str:
        """Ask for a pairing code for ``phone`` (E.164) during a QR login.

        Raises:
            wagate.PairingFailed: the engine could not produce one.
        """

    @abc.abstractmethod
    async def logout(self, account: Account) -> None:
        """Unlink ``account``: tell WhatsApp when connected, and forget its keys.

        A running :meth:`run` then returns ``LOGGED_OUT``.
        """

    async def send(self, jid: str, content: Content, *, quoted: KnownMessage | None) -> str:
        """Send a message of any kind; return WhatsApp's message id.

        Media arrives as ``bytes`` with its ``mime_type`` set, already checked.
        An engine that only sends text may leave this as it is.

        Raises:
            wagate.DriverError: WhatsApp (or the engine) refused it, or the engine
                cannot send this kind.
        """
        if isinstance(content, Text) and quoted is None and not content.mentions:
            return await self.send_text(jid, content.body)
        raise DriverError(
            f"this engine cannot send a {content.kind} message with quotes or mentions"
        )

    async def react(self, message: KnownMessage, emoji: str) -> None:
        """React to ``message`` (``""`` takes a reaction back)."""
        raise DriverError(f"{type(self).__name__} cannot react to messages")

    async def edit(self, message: KnownMessage, text: str) -> None:
        """Edit a message this account sent."""
        raise DriverError(f"{type(self).__name__} cannot edit messages")

    async def revoke(self, message: KnownMessage) -> None:
        """Delete ``message`` for everyone."""
        raise DriverError(f"{type(self).__name__} cannot revoke messages")

    async def mark_read(self, chat: str, messages: tuple[KnownMessage, ...]) -> None:
        """Send read receipts for ``messages`` of ``chat``."""
        raise DriverError(f"{type(self).__name__} cannot mark messages read")

    async def download(self, media: Media, ref: bytes | None) -> bytes:
        """The bytes of received media (``ref`` is the ``media_ref`` the driver reported)."""
        raise DriverError(f"{type(self).__name__} cannot download media")

    async def set_presence(self, presence: Presence) -> None:
        """Show this account online or offline."""
        raise DriverError(f"{type(self).__name__} cannot set the account's presence")

    async def send_chat_state(self, jid: str, state: ChatState) -> None:
        """Show ``jid`` that this account is typing, recording, or stopped."""
        raise DriverError(f"{type(self).__name__} cannot send chat states")

    async def subscribe_presence(self, jid: str) -> None:
        """Ask WhatsApp for ``jid``'s presence updates (reported as ``PresenceChanged``)."""
        raise DriverError(f"{type(self).__name__} cannot subscribe to presence")

    async def groups(self) -> list[GroupInfo]:
        """The groups the account is in."""
        raise DriverError(f"{type(self).__name__} cannot list groups")

    async def group(self, jid: str) -> Group:
        """A group the account is in, with its participants.

        Raises:
            wagate.NotInGroup: the account is not in it.
        """
        raise DriverError(f"{type(self).__name__} cannot read groups")

    # Group calls get checked values: a group's JID, a subject WhatsApp takes, the
    # participants' JIDs.  They raise NotInGroup for a group the account is not
    # in and NotGroupAdmin where WhatsApp refuses a member what admins may do.
    async def create_group(self, subject: str, participants: tuple[str, ...]) -> Group:
        """Make a group with ``participants``; the group as WhatsApp made it."""
        raise DriverError(f"{type(self).__name__} cannot create groups")

    async def leave_group(self, jid: str) -> None:
        """Leave a group."""
        raise DriverError(f"{type(self).__name__} cannot leave groups")

    async def set_group_subject(self, jid: str, subject: str) -> None:
        """Rename a group."""
        raise DriverError(f"{type(self).__name__} cannot rename groups")

    async def set_group_description(self, jid: str, description: str) -> None:
        """Set a group's description (``""`` removes it)."""
        raise DriverError(f"{type(self).__name__} cannot describe groups")

    async def update_participants(
        self, jid: str, action: ParticipantAction, participants: tuple[str, ...]
    ) -> list[ParticipantResult]:
        """Add, remove, promote or demote ``participants``: one result each, in order."""
        raise DriverError(f"{type(self).__name__} cannot change group participants")

    async def group_invite_link(self, jid: str, reset: bool) -> str:
        """The group's invite link (a new one, revoking the old, if ``reset``)."""
        raise DriverError(f"{type(self).__name__} cannot read invite links")

    async def join_group(self, code: str) -> str:
        """Join the group of an invite code; its JID.

        Raises:
            wagate.InviteNotFound: no group has that invite.
        """
        raise DriverError(f"{type(self).__name__} cannot join groups")

    async def check_numbers(self, numbers: tuple[str, ...]) -> list[NumberCheck]:
        """Which of ``numbers`` (E.164, at most 100) are on WhatsApp, in order."""
        raise DriverError(f"{type(self).__name__} cannot check numbers")

    async def contact(self, jid: str) -> ContactInfo:
        """What WhatsApp says about a person (``picture_url`` may be left ``None``)."""
        raise DriverError(f"{type(self).__name__} cannot read contacts")

    async def profile_picture(self, jid: str) -> ProfilePicture:
        """A person's or a group's profile picture."""
        raise DriverError(f"{type(self).__name__} cannot read profile pictures")

    async def set_blocked(self, jid: str, blocked: bool) -> None:
        """Block or unblock a person."""
        raise DriverError(f"{type(self).__name__} cannot block contacts")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the driver holds; the session calls it once, when it closes."""
