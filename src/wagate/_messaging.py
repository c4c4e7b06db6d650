"""The messaging half of a :class:`~wagate.Session`: send any kind, react, edit, revoke, read.

The session remembers the most recent messages it saw (sent and received) in a
bounded index: a reply, reaction, edit or revoke names one of them by id, and
the engine gets what WhatsApp needs of it (chat, sender, whether it was ours).
An id the session never saw (or forgot: the index keeps ``KNOWN_MESSAGES``, and
starts empty after a restart) is refused with :class:`~wagate.UnknownMessage`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from ._content import (
    Content,
    Document,
    Media,
    MediaUrl,
    SentMessage,
    check_content,
)
from ._driver import IncomingMessage, KnownMessage
from ._errors import (
    DriverError,
    InvalidInput,
    InvalidMedia,
    InvalidRecipient,
    MediaNotFound,
    NotConnected,
    NotEditable,
    RateLimited,
    UnknownMessage,
)
from ._events import (
    ChatState,
    ChatStateChanged,
    Event,
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
    Presence,
    PresenceChanged,
    Receipt,
    State,
    utcnow,
)
from ._media import MediaLimits, UrlPolicy, check_media, fetch_url
from ._mediastore import MediaStore, StoredMedia, check_media_id, new_media_id
from ._telemetry import RATE_LIMITED, SEND_SECONDS, TELEMETRY
from ._validate import normalize_recipient, validate_text

if TYPE_CHECKING:
    import anyio.abc

    from ._driver import Driver
    from ._events import Account, Status
    from ._pacing import Pacer

E = TypeVar("E", bound=Event)

log = logging.getLogger("wagate")

__all__ = ["EDIT_WINDOW", "KNOWN_MESSAGES", "Messaging"]

KNOWN_MESSAGES = 5000
"""How many recent messages a session remembers for replies, reactions, edits and revokes."""
EDIT_WINDOW = timedelta(minutes=15)
"""How long after sending WhatsApp lets a message be edited."""
MAX_EMOJI = 16
"""A reaction is one emoji: a few code points at most (with skin tones, joiners)."""
UPDATES = (
    MessageStatus,
    MessageReaction,
    MessageEdited,
    MessageRevoked,
    PresenceChanged,
    ChatStateChanged,
    GroupJoined,
    GroupLeft,
    GroupUpdated,
    GroupParticipantsChanged,
)
"""What a driver may report with ``sink.update``."""


P = TypeVar("P", Presence, ChatState)


def _user_of(jid: str) -> str:
    """``628123@s.whatsapp.net`` of ``628123:7@s.whatsapp.net`` (a device's JID)."""
    user, _, server = jid.partition("@")
    return f"{user.partition(':')[0]}@{server}"


def _one_of(kind: type[P], value: object, name: str, tenant: str) -> P:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in kind)
        raise InvalidInput(
            f"{name} must be one of {choices}, got {value!r}", tenant=tenant
        ) from None


def _read_source(source: Any) -> bytes | None:
    if isinstance(source, bytes):
        return source
    if isinstance(source, os.PathLike):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise InvalidMedia(f"cannot read {os.fspath(source)!r}: {exc.strerror}") from None
    if isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise InvalidMedia("a media file object must be opened in binary mode")
        return data
    return None


class Messaging:
    """Messaging for :class:`~wagate.Session` (a mixin: the session holds the state)."""

    __slots__ = ()

    if TYPE_CHECKING:
        tenant: str
        driver: Driver
        media_store: MediaStore
        media_limits: MediaLimits
        url_policy: UrlPolicy
        _known: OrderedDict[str, KnownMessage]
        _pending_media: dict[str, StoredMedia]
        _status: Status
        _account: Account | None
        _done: bool

        pacer: Pacer | None

        def _check_open(self) -> anyio.abc.TaskGroup: ...
        def _running(self) -> anyio.abc.TaskGroup | None: ...
        def _emit(self, cls: type[E], **fields: Any) -> E: ...

    # ------------------------------------------------------------------ sending
    async def send(self, to: str, content: Content) -> SentMessage:
        """Send a message of any kind and return the :class:`~wagate.SentMessage`.

        Example:
            ```python
            await session.send("+628123456789", Image("receipt.jpg", caption="Your receipt"))
            await session.send(chat, Text("Thanks!", reply_to=event.id))
            ```

        Media (``Image``, ``Video``, ``Audio``, ``Document``, ``Sticker``) may be
        bytes, a path, a binary file object, a :class:`~wagate.MediaUrl` (fetched
        by the gateway) or a received :class:`~wagate.Media`; its type is sniffed
        and checked against the kind and its size against :attr:`media_limits`.
        A ``MessageSent`` event is published either way.

        Raises:
            InvalidRecipient: ``to`` is not a number or JID.
            InvalidContent: the content is malformed.
            InvalidMedia: the media is empty or not of its kind.
            MediaTooLarge: the media is past its kind's limit.
            MediaFetchFailed: a media URL could not be fetched.
            UnknownMessage: ``reply_to`` names a message the session never saw.
            NotConnected: the session is not connected.
            DriverError: WhatsApp refused the message.
        """
        self._check_open()
        jid = normalize_recipient(to)
        content = check_content(content, self.tenant)
        quoted = self._known_message(content.reply_to) if content.reply_to else None
        self._check_connected("send")
        ready, media = await self._prepare(content)
        started = await self._take_turn()
        try:
            message_id = await self.driver.send(jid, ready, quoted=quoted)
        except DriverError as exc:
            self._emit(
                MessageSent,
                id=None,
                to=jid,
                text=content.text or "",
                success=False,
                error=exc.message,
                kind=content.kind,
                media=media,
                reply_to=content.reply_to,
            )
            raise
        finally:
            self._sent_in(started, content.kind)
        sent = self._emit(
            MessageSent,
            id=message_id,
            to=jid,
            text=content.text or "",
            success=True,
            kind=content.kind,
            media=media,
            reply_to=content.reply_to,
        )
        self._remember(
            KnownMessage(
                id=message_id,
                chat=jid,
                sender=self._own_jid(),
                from_me=True,
                at=sent.at,
                text=content.text,
            )
        )
        self._emit(MessageStatus, ids=(message_id,), chat=jid, recipient=jid, status=Receipt.SENT)
        return SentMessage(id=message_id, to=jid, timestamp=sent.at, kind=content.kind, media=media)

    async def _prepare(self, content: Content) -> tuple[Content, Media | None]:
        """The content with its media as checked bytes, and the descriptor kept of them."""
        if not content.has_media:
            return content, None
        source: Any = content.media  # type: ignore[attr-defined]
        limit = self.media_limits.limit(content.kind)
        declared: str | None = content.mime_type  # type: ignore[attr-defined]
        data = _read_source(source)
        if isinstance(source, MediaUrl):
            data, served = await fetch_url(
                source.url, max_bytes=limit, policy=self.url_policy, tenant=self.tenant
            )
            declared = declared or (served.split(";")[0].strip() if served else None)
            if content.kind != "document":
                declared = None  # sniffed: a server's type is not evidence
        elif isinstance(source, Media):
            data = await self.download(source)
            declared = declared or source.mime_type
        if data is None:
            raise InvalidMedia(f"a {content.kind}'s media cannot be {type(source).__name__}")
        mime = check_media(
            content.kind, data, declared, limits=self.media_limits, tenant=self.tenant
        )
        file_name = None
        if isinstance(content, Document):
            file_name = content.file_name or (
                Path(source).name if isinstance(source, os.PathLike) else "file"
            )
        media = Media(
            id=new_media_id(),
            mime_type=mime,
            size=len(data),
            file_name=file_name,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        await self.media_store.put(self.tenant, StoredMedia(media=media), data)
        changes: dict[str, Any] = {"media": data, "mime_type": mime}
        if isinstance(content, Document):
            changes["file_name"] = file_name
        return attrs.evolve(content, **changes), media

    async def react(self, message_id: str, emoji: str) -> None:
        """React to a message with an emoji; ``""`` takes the reaction back.

        Raises:
            UnknownMessage: the session never saw ``message_id``.
            InvalidInput: ``emoji`` is not a short string.
            NotConnected: the session is not connected.
        """
        self._check_open()
        if not isinstance(emoji, str) or len(emoji) > MAX_EMOJI or emoji.isspace():
            raise InvalidInput("a reaction is one emoji, or '' to remove one", tenant=self.tenant)
        message = self._known_message(message_id)
        self._check_connected("react")
        await self.driver.react(message, emoji)
        self._emit(
            MessageReaction,
            id=message.id,
            chat=message.chat,
            sender=self._own_jid(),
            emoji=emoji,
            from_me=True,
        )

    async def edit(self, message_id: str, text: str) -> None:
        """Change the text of a message this account sent, within WhatsApp's 15 minutes.

        Raises:
            UnknownMessage: the session never saw ``message_id``.
            NotEditable: another account sent it, or the edit window has passed.
            InvalidText: ``text`` is empty, blank or too long.
            NotConnected: the session is not connected.
        """
        self._check_open()
        text = validate_text(text)
        message = self._known_message(message_id)
        if not message.from_me:
            raise NotEditable("only messages this account sent can be edited", tenant=self.tenant)
        if utcnow() - message.at > EDIT_WINDOW:
            raise NotEditable(
                "WhatsApp lets a message be edited for 15 minutes after it was sent",
                tenant=self.tenant,
            )
        self._check_connected("edit")
        await self.driver.edit(message, text)
        self._remember(attrs.evolve(message, text=text))
        self._emit(
            MessageEdited,
            id=message.id,
            chat=message.chat,
            sender=message.sender,
            text=text,
            from_me=True,
        )

    async def revoke(self, message_id: str) -> None:
        """Delete a message for everyone.

        Raises:
            UnknownMessage: the session never saw ``message_id``.
            NotEditable: another account sent it (only a group admin may, and
                wagate does not know who is one).
            NotConnected: the session is not connected.
        """
        self._check_open()
        message = self._known_message(message_id)
        if not message.from_me:
            raise NotEditable("only messages this account sent can be revoked", tenant=self.tenant)
        self._check_connected("revoke")
        await self.driver.revoke(message)
        self._emit(
            MessageRevoked, id=message.id, chat=message.chat, sender=message.sender, from_me=True
        )

    async def mark_read(self, chat: str, message_ids: list[str]) -> None:
        """Tell the sender that messages of ``chat`` were read (blue ticks).

        Raises:
            InvalidRecipient: ``chat`` is not a number or JID.
            UnknownMessage: an id the session never saw, or of another chat.
            NotConnected: the session is not connected.
        """
        self._check_open()
        jid = normalize_recipient(chat)
        if not isinstance(message_ids, (list, tuple)) or not message_ids:
            raise InvalidInput("message_ids must be a non-empty list of ids", tenant=self.tenant)
        messages = tuple(self._known_message(i) for i in message_ids)
        for message in messages:
            if message.chat != jid:
                raise UnknownMessage(
                    f"message {message.id!r} is not of chat {jid}", tenant=self.tenant
                )
        self._check_connected("mark messages read")
        await self.driver.mark_read(jid, messages)

    async def download(self, media: Media | str) -> bytes:
        """The bytes of media this tenant received or sent (fetched once, then kept).

        Raises:
            MediaNotFound: this tenant has no media of that id.
            NotConnected: the bytes are not here yet and the session is not connected.
            DriverError: the engine could not download them.
        """
        self._check_open()
        stored = await self.media_info(media.id if isinstance(media, Media) else media)
        data = await self.media_store.read(self.tenant, stored.media.id)
        if data is not None:
            return data
        self._check_connected("download media")
        data = await self.driver.download(stored.media, stored.ref)
        await self.media_store.put(self.tenant, stored, data)
        return data

    async def media_info(self, media_id: str) -> StoredMedia:
        """What the media store holds of one of this tenant's media.

        Raises:
            MediaNotFound: this tenant has no media of that id.
        """
        check_media_id(media_id, self.tenant)
        stored = self._pending_media.get(media_id) or await self.media_store.get(
            self.tenant, media_id
        )
        if stored is None:
            raise MediaNotFound(f"no media has the id {media_id!r}", tenant=self.tenant)
        return stored

    # ------------------------------------------------------------------ presence
    async def set_presence(self, presence: str) -> None:
        """Show this account online (``"available"``) or offline (``"unavailable"``).

        Raises:
            InvalidInput: not one of :class:`~wagate.Presence`'s values.
            NotConnected: the session is not connected.
        """
        self._check_open()
        value = _one_of(Presence, presence, "presence", self.tenant)
        self._check_connected("set the presence")
        await self.driver.set_presence(value)

    async def send_chat_state(self, chat: str, state: str) -> None:
        """Show ``chat`` that this account is typing (``"composing"``), recording, or stopped.

        Raises:
            InvalidRecipient: ``chat`` is not a number or JID.
            InvalidInput: ``state`` is not one of :class:`~wagate.ChatState`'s values.
            NotConnected: the session is not connected.
        """
        self._check_open()
        jid = normalize_recipient(chat)
        value = _one_of(ChatState, state, "state", self.tenant)
        self._check_connected("send a chat state")
        await self.driver.send_chat_state(jid, value)

    async def subscribe_presence(self, contact: str) -> None:
        """Get ``contact``'s presence (online, last seen) as :class:`~wagate.PresenceChanged`.

        Raises:
            InvalidRecipient: ``contact`` is not a number or a user's JID.
            NotConnected: the session is not connected.
        """
        self._check_open()
        user = normalize_recipient(contact)
        if not user.endswith("@s.whatsapp.net"):
            raise InvalidRecipient(f"presence is a person's, not {user}'s", tenant=self.tenant)
        self._check_connected("subscribe to presence")
        await self.driver.subscribe_presence(user)

    # ------------------------------------------------------------------ what drivers report
    def _on_message(self, message: IncomingMessage) -> None:
        if self._done:
            return
        content = message.content
        media_ref = message.media_ref
        if content is not None and content.has_media:
            engine_media = content.media  # type: ignore[attr-defined]
            if isinstance(engine_media, Media):
                media = attrs.evolve(engine_media, id=new_media_id())
                content = attrs.evolve(content, media=media)  # type: ignore[call-arg]
                self._store_later(StoredMedia(media=media, ref=media_ref))
        extra: dict[str, Any] = {}
        if content is not None:
            extra["content"] = content
            extra["kind"] = content.kind
        event = self._emit(
            MessageReceived,
            id=message.id,
            chat=message.chat,
            sender=message.sender,
            push_name=message.push_name,
            text=message.text if content is None else content.text,
            is_group=message.is_group,
            timestamp=message.timestamp,
            reply_to=message.reply_to,
            mentions=message.mentions,
            forwarded=message.forwarded,
            mentions_me=self._mentions_me(message.mentions),
            **({"kind": message.kind} | extra),
        )
        self._remember(
            KnownMessage(
                id=event.id,
                chat=event.chat,
                sender=event.sender,
                from_me=False,
                at=event.timestamp,
                text=event.text,
            )
        )

    def _on_update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        if self._done:
            return
        if kind not in UPDATES:
            raise TypeError(f"a driver update is one of {UPDATES}, not {kind!r}")
        event = self._emit(kind, **fields)
        if isinstance(event, MessageEdited):
            known = self._known.get(event.id)
            if known is not None:
                self._remember(attrs.evolve(known, text=event.text))

    def _store_later(self, stored: StoredMedia) -> None:
        tg = self._running()
        if tg is not None:
            self._pending_media[stored.media.id] = stored
            tg.start_soon(self._store_media, stored)

    async def _store_media(self, stored: StoredMedia) -> None:
        try:
            await self.media_store.put(self.tenant, stored)
        except Exception:  # a background task never takes the session down
            log.exception("tenant %r: media %s could not be stored", self.tenant, stored.media.id)
        finally:
            self._pending_media.pop(stored.media.id, None)

    # ------------------------------------------------------------------ the index
    def _remember(self, message: KnownMessage) -> None:
        known = self._known
        known[message.id] = message
        known.move_to_end(message.id)
        while len(known) > KNOWN_MESSAGES:
            known.popitem(last=False)

    def _known_message(self, message_id: object) -> KnownMessage:
        message = self._known.get(message_id) if isinstance(message_id, str) else None
        if message is None:
            raise UnknownMessage(
                f"this session has not seen a message {message_id!r} (it remembers the "
                f"last {KNOWN_MESSAGES}, since it started)",
                tenant=self.tenant,
            )
        return message

    async def _take_turn(self) -> float:
        """Wait for the pacer's turn (if paced); when the send started."""
        started = anyio.current_time()
        pacer = self.pacer
        if pacer is not None:
            try:
                slot = pacer.take(self.tenant)
            except RateLimited:
                TELEMETRY.add(RATE_LIMITED, tenant=self.tenant)
                raise
            if slot is not None:
                await pacer.wait(slot)
                self._check_connected("send")
        return started

    def _sent_in(self, started: float, kind: str) -> None:
        TELEMETRY.observe(SEND_SECONDS, anyio.current_time() - started, kind, tenant=self.tenant)

    def _mentions_me(self, mentions: tuple[str, ...]) -> bool:
        """Whether ``mentions`` name the linked account (any of its devices)."""
        own = self._own_jid()
        if not own or not mentions:
            return False
        user = _user_of(own)
        return any(_user_of(jid) == user for jid in mentions)

    def _own_jid(self) -> str:
        return self._account.jid if self._account is not None else ""

    def _check_connected(self, what: str) -> None:
        if self._status.state is not State.CONNECTED:
            raise NotConnected(
                f"cannot {what}: the session is {self._status.state.value}; "
                "connect and link an account first",
                tenant=self.tenant,
            )
