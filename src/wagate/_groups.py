"""Groups: what a session knows of the groups its account is in.

:class:`GroupInfo` is a group as a list shows it; :class:`Group` adds its
participants.  The :class:`Groups` mixin gives :class:`~wagate.Session` its
group calls.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

from ._errors import NotAGroup
from ._validate import normalize_recipient

if TYPE_CHECKING:
    import anyio.abc

    from ._driver import Driver

__all__ = ["Group", "GroupInfo", "GroupRole", "Groups", "Participant", "group_jid"]

GROUP_SERVER = "@g.us"


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
        self._check_open()
        group = group_jid(jid, self.tenant)
        self._check_connected("read a group")
        return await self.driver.group(group)
