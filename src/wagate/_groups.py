"""Groups: what a session knows of the groups its account is in.

:class:`GroupInfo` is a group as a list shows it; :class:`Group` adds its
participants.  The :class:`Groups` mixin gives :class:`~wagate.Session` its
group calls.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING

import attrs

from ._errors import (
    InvalidInput,
    InvalidInviteLink,
    InvalidParticipants,
    InvalidRecipient,
    InvalidSubject,
    NotAGroup,
)
from ._validate import echo, normalize_recipient

if TYPE_CHECKING:
    import anyio.abc

    from ._driver import Driver

__all__ = [
    "INVITE_PREFIX",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_GROUP_SIZE",
    "MAX_SUBJECT_LENGTH",
    "Group",
    "GroupInfo",
    "GroupRole",
    "Groups",
    "Participant",
    "ParticipantAction",
    "ParticipantError",
    "ParticipantResult",
    "group_jid",
    "invite_code",
    "validate_description",
    "validate_participants",
    "validate_subject",
]

GROUP_SERVER = "@g.us"

MAX_SUBJECT_LENGTH = 100
"""The longest group subject WhatsApp takes, in characters."""
MAX_DESCRIPTION_LENGTH = 2048
"""The longest group description WhatsApp takes, in characters."""
MAX_GROUP_SIZE = 1024
"""The most members a WhatsApp group has, the account included; also the most
participants one call adds, removes, promotes or demotes."""
INVITE_PREFIX = "https://chat.whatsapp.com/"
"""What a group invite link starts with; the invite code follows."""
_INVITE_CODE = re.compile(r"[A-Za-z0-9]{16,32}")
_INVITE_LINK = re.compile(r"(?:https?://)?chat\.whatsapp\.com/(?:invite/)?([^/?#\s]+)/?")


class GroupRole(str, enum.Enum):
    """A participant's role in a group."""

    MEMBER = "member"
    ADMIN = "admin"
    SUPERADMIN = "superadmin"
    """The group's creator (an admin nobody can demote)."""


@attrs.frozen(kw_only=True)
class Participant:
    """One member of a group."""

    jid: str
    role: GroupRole = GroupRole.MEMBER


class ParticipantAction(str, enum.Enum):
    """What a participants call (or a :class:`~wagate.GroupParticipantsChanged`) does."""

    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    """Make an admin."""
    DEMOTE = "demote"
    """Make an admin a member again."""


class ParticipantError(str, enum.Enum):
    """Why WhatsApp refused a change for one participant."""

    NOT_ON_WHATSAPP = "not_on_whatsapp"
    """The number has no WhatsApp account."""
    ALREADY_IN_GROUP = "already_in_group"
    """Added, but already a member."""
    NOT_IN_GROUP = "not_in_group"
    """Removed, promoted or demoted, but not a member."""
    PRIVACY = "privacy"
    """Their privacy settings let only contacts add them: send them the invite link."""
    GROUP_FULL = "group_full"
    """The group has :data:`MAX_GROUP_SIZE` members already."""
    NOT_ALLOWED = "not_allowed"
    """Not a change anyone may make (demoting or removing the group's creator)."""
    FAILED = "failed"
    """WhatsApp refused it for another reason (the result's ``code`` says which)."""


@attrs.frozen(kw_only=True)
class ParticipantResult:
    """What WhatsApp answered for one participant of a participants call.

    Attributes:
        jid: The participant.
        ok: Whether the change was made.
        error: Why not, when it was not.
        code: WhatsApp's own status code for the participant, when it gave one
            (403 privacy, 404 not on WhatsApp, 409 already a member...).
    """

    jid: str
    ok: bool
    error: ParticipantError | None = None
    code: int | None = None


@attrs.frozen(kw_only=True)
class GroupInfo:
    """A group the account is in, as a list shows it.

    Attributes:
        jid: The group's JID (``...@g.us``).
        subject: Its name.
        description: Its description, if it has one.
        participant_count: How many members it has.
        is_admin: Whether the account is an admin of it.
        announce: Whether only admins may post.
        locked: Whether only admins may change its subject, description and picture.
    """

    jid: str
    subject: str
    description: str | None = None
    participant_count: int = 0
    is_admin: bool = False
    announce: bool = False
    locked: bool = False


@attrs.frozen(kw_only=True)
class Group(GroupInfo):
    """A group with its participants and their roles."""

    participants: tuple[Participant, ...] = ()


def group_jid(jid: object, tenant: str | None = None) -> str:
    """``jid`` if it is a group's JID.

    Raises:
        NotAGroup: a number, a person's JID, or anything else.
    """
    if not isinstance(jid, str) or not jid.endswith(GROUP_SERVER):
        raise NotAGroup(f"{jid!r} is not a group's JID (...{GROUP_SERVER})", tenant=tenant)
    normalized = normalize_recipient(jid)
    if not normalized.endswith(GROUP_SERVER):
        raise NotAGroup(f"{jid!r} is not a group's JID (...{GROUP_SERVER})", tenant=tenant)
    return normalized


def validate_subject(subject: object) -> str:
    """``subject`` if WhatsApp takes it as a group's subject (trimmed).

    Raises:
        InvalidSubject: not a string, empty or blank, over :data:`MAX_SUBJECT_LENGTH`
            characters, or with a NUL or line break in it.
    """
    if not isinstance(subject, str):
        raise InvalidSubject(f"a group subject must be a string, got {type(subject).__name__}")
    value = subject.strip()
    if not value:
        raise InvalidSubject("the group subject is empty or only white space")
    if len(value) > MAX_SUBJECT_LENGTH:
        raise InvalidSubject(
            f"the group subject has {len(value):,} characters; "
            f"WhatsApp's limit is {MAX_SUBJECT_LENGTH}"
        )
    if any(c in value for c in "\x00\r\n"):
        raise InvalidSubject("the group subject contains a NUL character or a line break")
    return value


def validate_description(description: object) -> str:
    """``description`` if WhatsApp takes it as a group's description (``""`` removes it).

    Raises:
        InvalidInput: not a string, over :data:`MAX_DESCRIPTION_LENGTH` characters,
            or with a NUL character in it.
    """
    if not isinstance(description, str):
        raise InvalidInput(
            f"a group description must be a string, got {type(description).__name__}"
        )
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"the group description has {len(description):,} characters; "
            f"WhatsApp's limit is {MAX_DESCRIPTION_LENGTH:,}"
        )
    if "\x00" in description:
        raise InvalidInput("the group description contains a NUL character")
    return description.strip()


def validate_participants(participants: object, *, most: int = MAX_GROUP_SIZE) -> tuple[str, ...]:
    """The JIDs of ``participants`` (phone numbers or user JIDs), each once, in order.

    Raises:
        InvalidParticipants: not a list, empty, more than ``most``, or holding a
            group's JID or something that is neither a number nor a JID.
    """
    if not isinstance(participants, (list, tuple)):
        raise InvalidParticipants(
            f"participants must be a list of numbers or JIDs, got {type(participants).__name__}"
        )
    if not participants:
        raise InvalidParticipants("the participant list is empty: give at least one")
    if len(participants) > most:
        raise InvalidParticipants(
            f"{len(participants):,} participants; one call takes at most {most:,} "
            f"(a group has at most {MAX_GROUP_SIZE:,} members)"
        )
    jids: dict[str, None] = {}
    for index, participant in enumerate(participants):
        try:
            jid = normalize_recipient(participant)
        except InvalidRecipient as exc:
            raise InvalidParticipants(f"participant {index}: {exc.message}") from None
        if jid.endswith(GROUP_SERVER):
            raise InvalidParticipants(f"participant {index}: {echo(jid)} is a group, not a person")
        jids[jid] = None
    return tuple(jids)


def invite_code(link: object) -> str:
    """The invite code of a group invite link (or of a bare code).

    Takes ``https://chat.whatsapp.com/<code>`` (``http://`` or no scheme too) or
    the code alone: 16-32 letters and digits.

    Raises:
        InvalidInviteLink: anything else.
    """
    if not isinstance(link, str):
        raise InvalidInviteLink(f"an invite link must be a string, got {type(link).__name__}")
    value = link.strip()
    matched = _INVITE_LINK.fullmatch(value)
    code = matched.group(1) if matched else value
    if not _INVITE_CODE.fullmatch(code):
        raise InvalidInviteLink(
            f"{echo(link)} is not a WhatsApp invite link: expected {INVITE_PREFIX}<code>, "
            "the code 16-32 letters and digits"
        )
    return code


class Groups:
    """The group calls of :class:`~wagate.Session`."""

    if TYPE_CHECKING:
        tenant: str
        driver: Driver

        def _check_open(self) -> anyio.abc.TaskGroup: ...
        def _check_connected(self, what: str) -> None: ...

    async def groups(self) -> list[GroupInfo]:
        """The groups the account is in.

        Raises:
            NotConnected: the session is not connected.
        """
        self._check_open()
        self._check_connected("list groups")
        return list(await self.driver.groups())

    async def group(self, jid: str) -> Group:
        """A group the account is in, with its participants and their roles.

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            NotInGroup: the account is not in that group.
            NotConnected: the session is not connected.
        """
        return await self.driver.group(self._group_call(jid, "read a group"))

    async def create_group(self, subject: str, participants: list[str]) -> Group:
        """Make a group with the account as its creator and ``participants`` in it.

        ``participants`` are phone numbers or JIDs: 1 to 1,023 (a group has at most
        1,024 members with the account).  WhatsApp adds whom it can; ask
        :meth:`group` who is in, and send the others :meth:`group_invite_link`.

        Raises:
            InvalidSubject: an empty subject or one over 100 characters.
            InvalidParticipants: no participants, too many, or one that is not a person.
            NotConnected: the session is not connected.
        """
        self._check_open()
        name = validate_subject(subject)
        members = validate_participants(participants, most=MAX_GROUP_SIZE - 1)
        self._check_connected("create a group")
        return await self.driver.create_group(name, members)

    async def leave_group(self, jid: str) -> None:
        """Leave a group (reported as :class:`~wagate.GroupLeft`).

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            NotInGroup: the account is not in that group.
            NotConnected: the session is not connected.
        """
        await self.driver.leave_group(self._group_call(jid, "leave a group"))

    async def set_group_subject(self, jid: str, subject: str) -> None:
        """Rename a group (WhatsApp lets any member, unless the group is locked).

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidSubject: an empty subject or one over 100 characters.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the group is locked and the account is not an admin.
            NotConnected: the session is not connected.
        """
        name = validate_subject(subject)
        await self.driver.set_group_subject(self._group_call(jid, "rename a group"), name)

    async def set_group_description(self, jid: str, description: str) -> None:
        """Set a group's description (``""`` removes it).

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidInput: a description over 2,048 characters.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the group is locked and the account is not an admin.
            NotConnected: the session is not connected.
        """
        text = validate_description(description)
        group = self._group_call(jid, "describe a group")
        await self.driver.set_group_description(group, text)

    async def add_participants(self, jid: str, participants: list[str]) -> list[ParticipantResult]:
        """Add people to a group; WhatsApp answers for each (see :class:`ParticipantResult`).

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidParticipants: none, more than 1,024, or one that is not a person.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the account is not an admin of it.
            NotConnected: the session is not connected.
        """
        return await self._participants(jid, ParticipantAction.ADD, participants)

    async def remove_participants(
        self, jid: str, participants: list[str]
    ) -> list[ParticipantResult]:
        """Remove people from a group, with a result for each.

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidParticipants: none, more than 1,024, or one that is not a person.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the account is not an admin of it.
            NotConnected: the session is not connected.
        """
        return await self._participants(jid, ParticipantAction.REMOVE, participants)

    async def promote_participants(
        self, jid: str, participants: list[str]
    ) -> list[ParticipantResult]:
        """Make members of a group its admins, with a result for each.

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidParticipants: none, more than 1,024, or one that is not a person.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the account is not an admin of it.
            NotConnected: the session is not connected.
        """
        return await self._participants(jid, ParticipantAction.PROMOTE, participants)

    async def demote_participants(
        self, jid: str, participants: list[str]
    ) -> list[ParticipantResult]:
        """Make admins of a group plain members again, with a result for each.

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            InvalidParticipants: none, more than 1,024, or one that is not a person.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the account is not an admin of it.
            NotConnected: the session is not connected.
        """
        return await self._participants(jid, ParticipantAction.DEMOTE, participants)

    async def group_invite_link(self, jid: str, reset: bool = False) -> str:
        """The group's invite link (``https://chat.whatsapp.com/...``); ``reset`` makes a new one.

        Resetting revokes the old link: whoever holds it can no longer join.

        Raises:
            NotAGroup: ``jid`` is not a group's JID.
            NotInGroup: the account is not in that group.
            NotGroupAdmin: the account is not an admin of it.
            NotConnected: the session is not connected.
        """
        if not isinstance(reset, bool):
            raise InvalidInput(f"reset must be true or false, got {type(reset).__name__}")
        group = self._group_call(jid, "read a group's invite link")
        return await self.driver.group_invite_link(group, reset)

    async def join_group(self, invite_link: str) -> str:
        """Join a group by its invite link (or code); returns the group's JID.

        Raises:
            InvalidInviteLink: not an invite link or code.
            InviteNotFound: WhatsApp knows no group by it (revoked or expired).
            NotConnected: the session is not connected.
        """
        self._check_open()
        code = invite_code(invite_link)
        self._check_connected("join a group")
        return await self.driver.join_group(code)

    def _group_call(self, jid: str, what: str) -> str:
        self._check_open()
        group = group_jid(jid, self.tenant)
        self._check_connected(what)
        return group

    async def _participants(
        self, jid: str, action: ParticipantAction, participants: list[str]
    ) -> list[ParticipantResult]:
        self._check_open()
        group = group_jid(jid, self.tenant)
        members = validate_participants(participants)
        self._check_connected(f"{action.value} participants")
        return list(await self.driver.update_participants(group, action, members))
