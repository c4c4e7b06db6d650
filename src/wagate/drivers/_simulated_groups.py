"""WhatsApp's groups and contacts, simulated: the phone's side and the driver's calls.

:class:`PhoneGroups` is mixed into :class:`~wagate.drivers.simulator.SimulatedPhone`:
the groups of the simulated world (with or without the account in them), what
the phone's contacts do in them (make one, add or remove the account, rename it,
promote someone), and who is on WhatsApp.  :class:`DriverGroups` is mixed into
:class:`~wagate.drivers.simulator.SimulatedDriver`: the account's group and
contact calls, answered as WhatsApp does (per participant, admins only where
WhatsApp says so) and reported to every linked device as events.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from typing import TYPE_CHECKING, Any

import attrs

from .._contacts import ContactInfo, NumberCheck, ProfilePicture
from .._errors import InviteNotFound, NotGroupAdmin, NotInGroup, NotLinked
from .._events import GroupJoined, GroupLeft, GroupParticipantsChanged, GroupUpdated
from .._groups import (
    INVITE_PREFIX,
    MAX_GROUP_SIZE,
    Group,
    GroupInfo,
    GroupRole,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
)
from .._validate import normalize_phone, normalize_recipient

if TYPE_CHECKING:
    from .simulator import SimulatedPhone

__all__ = ["DriverGroups", "PhoneGroups", "Room"]

_ADMINS = (GroupRole.ADMIN, GroupRole.SUPERADMIN)


@attrs.define
class Room:
    """One simulated group as WhatsApp holds it (mutable, unlike :class:`~wagate.Group`)."""

    jid: str
    subject: str
    roles: dict[str, GroupRole]
    """Each member's role, in the order they joined."""
    invite: str
    description: str | None = None
    announce: bool = False
    locked: bool = False

    def snapshot(self, own: str) -> Group:
        """The group as the account ``own`` sees it."""
        return Group(
            jid=self.jid,
            subject=self.subject,
            description=self.description,
            participant_count=len(self.roles),
            is_admin=self.roles.get(own) in _ADMINS,
            announce=self.announce,
            locked=self.locked,
            participants=tuple(Participant(jid=j, role=r) for j, r in self.roles.items()),
        )


def _jids(members: list[str] | tuple[str, ...]) -> list[str]:
    return [normalize_recipient(m) for m in members]


class PhoneGroups:
    """The group and contact side of :class:`~wagate.drivers.simulator.SimulatedPhone`."""

    if TYPE_CHECKING:
        jid: str

        def _update(self, kind: Any, **fields: Any) -> None: ...

    def _init_groups(self) -> None:
        self.rooms: dict[str, Room] = {}
        """Every group of the simulated world, by JID (the account need not be in one)."""
        self._group_ids = itertools.count(120363000000000001)
        self._invites = itertools.count(1)
        self.not_on_whatsapp: set[str] = set()
        """Numbers (E.164) that have no WhatsApp account; every other number has one."""
        self.add_only_by_contacts: set[str] = set()
        """JIDs whose privacy lets only their contacts add them to groups."""
        self.profiles: dict[str, ContactInfo] = {}
        """What WhatsApp says of a person, by JID (others: nothing beyond their JID)."""
        self.pictures: dict[str, ProfilePicture] = {}
        """Profile pictures by JID (others have none)."""
        self.blocked: set[str] = set()
        """The JIDs the account blocks."""

    @property
    def groups(self) -> dict[str, Group]:
        """The groups the account is in, by JID, as WhatsApp holds them."""
        return {j: r.snapshot(self.jid) for j, r in self.rooms.items() if self.jid in r.roles}

    # ------------------------------------------------------------------ contacts' doing
    def add_to_group(
        self,
        subject: str,
        members: list[str],
        *,
        creator: str | None = None,
        admins: tuple[str, ...] = (),
        description: str | None = None,
        announce: bool = False,
        locked: bool = False,
        account: bool = True,
    ) -> str:
        """A contact (``creator``, else the first member) makes a group; returns its JID.

        ``members`` are the other contacts; ``admins`` may name the account's own
        number to make it an admin.  With ``account`` (the default) the account
        is added, and a linked device reports :class:`~wagate.GroupJoined`;
        without, the group is one the account can join by :meth:`invite_link`.
        """
        jids = _jids(members)
        maker = normalize_recipient(creator) if creator else jids[0]
        promoted = set(_jids(admins))
        roles = {maker: GroupRole.SUPERADMIN}
        for jid in (*jids, *((self.jid,) if account else ())):
            roles.setdefault(jid, GroupRole.ADMIN if jid in promoted else GroupRole.MEMBER)
        room = Room(
            jid=f"{next(self._group_ids)}@g.us",
            subject=subject,
            roles=roles,
            invite=self._new_invite(),
            description=description,
            announce=announce,
            locked=locked,
        )
        self.rooms[room.jid] = room
        if account:
            self._tell(
                GroupJoined,
                jid=room.jid,
                subject=subject,
                by=maker,
                participant_count=len(roles),
            )
        return room.jid

    def invite_link(self, group: str) -> str:
        """The group's invite link, as an admin of it would share it."""
        return INVITE_PREFIX + self._room(group).invite

    def rename_group(self, group: str, subject: str, *, by: str) -> None:
        """A member renames the group."""
        self._room(group).subject = subject
        self._tell(GroupUpdated, jid=group, by=normalize_recipient(by), subject=subject)

    def describe_group(self, group: str, description: str, *, by: str) -> None:
        """A member sets the group's description (``""`` removes it)."""
        self._room(group).description = description or None
        self._tell(GroupUpdated, jid=group, by=normalize_recipient(by), description=description)

    def set_group_settings(
        self, group: str, *, by: str, announce: bool | None = None, locked: bool | None = None
    ) -> None:
        """An admin changes who may post (``announce``) or edit the group's info (``locked``)."""
        room = self._room(group)
        if announce is not None:
            room.announce = announce
        if locked is not None:
            room.locked = locked
        fields = {"announce": announce, "locked": locked}
        self._tell(GroupUpdated, jid=group, by=normalize_recipient(by), **fields)

    def change_participants(
        self, group: str, action: ParticipantAction | str, members: list[str], *, by: str
    ) -> None:
        """An admin (``by``) adds, removes, promotes or demotes ``members``.

        When the account itself is added or removed, a linked device reports
        :class:`~wagate.GroupJoined` or :class:`~wagate.GroupLeft`.
        """
        room = self._room(group)
        verb = ParticipantAction(action)
        admin = normalize_recipient(by)
        jids = _jids(members)
        for jid in jids:
            _apply(room, verb, jid)
        others = tuple(j for j in jids if j != self.jid)
        if others:
            self._tell(
                GroupParticipantsChanged, jid=group, action=verb, participants=others, by=admin
            )
        if self.jid in jids and verb is ParticipantAction.ADD:
            self._tell(
                GroupJoined,
                jid=group,
                subject=room.subject,
                by=admin,
                participant_count=len(room.roles),
            )
        elif self.jid in jids and verb is ParticipantAction.REMOVE:
            self._tell(GroupLeft, jid=group, by=admin)

    # ------------------------------------------------------------------ helpers
    def _room(self, group: str) -> Room:
        room = self.rooms.get(group)
        if room is None:
            raise NotInGroup(f"no simulated group has the JID {group}")
        return room

    def _new_invite(self) -> str:
        digest = hashlib.sha256(f"{self.jid}:{next(self._invites)}".encode()).hexdigest()
        return "".join(c for c in digest if c.isalnum())[:22].upper()

    def _tell(self, kind: Any, **fields: Any) -> None:
        """Report to the linked devices, if any (a group can change while none is)."""
        with contextlib.suppress(NotLinked):
            self._update(kind, **fields)


def _apply(room: Room, action: ParticipantAction, jid: str) -> None:
    if action is ParticipantAction.ADD:
        room.roles.setdefault(jid, GroupRole.MEMBER)
    elif action is ParticipantAction.REMOVE:
        room.roles.pop(jid, None)
    elif jid in room.roles and room.roles[jid] is not GroupRole.SUPERADMIN:
        promote = action is ParticipantAction.PROMOTE
        room.roles[jid] = GroupRole.ADMIN if promote else GroupRole.MEMBER


def _refusal(
    phone: PhoneGroups, room: Room, action: ParticipantAction, jid: str
) -> ParticipantResult | None:
    """WhatsApp's per-participant refusal of a change the account asked for, if any."""
    if action is ParticipantAction.ADD:
        if f"+{jid.partition('@')[0]}" in phone.not_on_whatsapp:
            return ParticipantResult(
                jid=jid, ok=False, error=ParticipantError.NOT_ON_WHATSAPP, code=404
            )
        if jid in room.roles:
            return ParticipantResult(
                jid=jid, ok=False, error=ParticipantError.ALREADY_IN_GROUP, code=409
            )
        if jid in phone.add_only_by_contacts:
            return ParticipantResult(jid=jid, ok=False, error=ParticipantError.PRIVACY, code=403)
        if len(room.roles) >= MAX_GROUP_SIZE:
            return ParticipantResult(jid=jid, ok=False, error=ParticipantError.GROUP_FULL, code=419)
        return None
    if jid not in room.roles:
        return ParticipantResult(jid=jid, ok=False, error=ParticipantError.NOT_IN_GROUP, code=404)
    if action is not ParticipantAction.PROMOTE and room.roles[jid] is GroupRole.SUPERADMIN:
        return ParticipantResult(jid=jid, ok=False, error=ParticipantError.NOT_ALLOWED, code=406)
    return None


class DriverGroups:
    """The group and contact calls of :class:`~wagate.drivers.simulator.SimulatedDriver`."""

    if TYPE_CHECKING:
        phone: SimulatedPhone

        def _check_up(self) -> None: ...

    def _member_room(self, jid: str, *, admin: bool = False, info: bool = False) -> Room:
        """The group the account is in.

        ``admin``: the account must be an admin of it; ``info``: it must be, if the
        group is locked (its info is only the admins' to edit).
        """
        self._check_up()
        room = self.phone.rooms.get(jid)
        own = self.phone.jid
        if room is None or own not in room.roles:
            raise NotInGroup(f"the account is not in the group {jid} (simulated)")
        if (admin or (info and room.locked)) and room.roles[own] not in _ADMINS:
            raise NotGroupAdmin(
                f"only the admins of {jid} may do that, and the account is not one "
                "(WhatsApp answered 403 forbidden, simulated)"
            )
        return room

    async def groups(self) -> list[GroupInfo]:
        self._check_up()
        keep = attrs.fields_dict(GroupInfo)
        return [
            GroupInfo(**{k: v for k, v in attrs.asdict(g, recurse=False).items() if k in keep})
            for g in self.phone.groups.values()
        ]

    async def group(self, jid: str) -> Group:
        return self._member_room(jid).snapshot(self.phone.jid)

    async def create_group(self, subject: str, participants: tuple[str, ...]) -> Group:
        self._check_up()
        phone = self.phone
        jid = phone.add_to_group(
            subject,
            [phone.jid],
            creator=phone.jid,
            account=False,
        )
        room = phone.rooms[jid]
        for person in participants:
            if _refusal(phone, room, ParticipantAction.ADD, person) is None:
                _apply(room, ParticipantAction.ADD, person)
        phone._tell(
            GroupJoined, jid=jid, subject=subject, by=None, participant_count=len(room.roles)
        )
        return room.snapshot(phone.jid)

    async def leave_group(self, jid: str) -> None:
        room = self._member_room(jid)
        del room.roles[self.phone.jid]
        self.phone._tell(GroupLeft, jid=jid, by=None)

    async def set_group_subject(self, jid: str, subject: str) -> None:
        room = self._member_room(jid, info=True)
        room.subject = subject
        self.phone._tell(GroupUpdated, jid=jid, by=self.phone.jid, subject=subject)

    async def set_group_description(self, jid: str, description: str) -> None:
        room = self._member_room(jid, info=True)
        room.description = description or None
        self.phone._tell(GroupUpdated, jid=jid, by=self.phone.jid, description=description)

    async def update_participants(
        self, jid: str, action: ParticipantAction, participants: tuple[str, ...]
    ) -> list[ParticipantResult]:
        room = self._member_room(jid, admin=True)
        results = []
        for person in participants:
            refused = _refusal(self.phone, room, action, person)
            if refused is None:
                _apply(room, action, person)
            results.append(refused or ParticipantResult(jid=person, ok=True))
        done = tuple(r.jid for r in results if r.ok)
        if done:
            self.phone._tell(
                GroupParticipantsChanged,
                jid=jid,
                action=action,
                participants=done,
                by=self.phone.jid,
            )
        return results

    async def group_invite_link(self, jid: str, reset: bool) -> str:
        room = self._member_room(jid, admin=True)
        if reset:
            room.invite = self.phone._new_invite()
        return INVITE_PREFIX + room.invite

    async def join_group(self, code: str) -> str:
        self._check_up()
        phone = self.phone
        room = next((r for r in phone.rooms.values() if r.invite == code), None)
        if room is None:
            raise InviteNotFound("WhatsApp knows no group by that invite (simulated)")
        if phone.jid not in room.roles:
            room.roles[phone.jid] = GroupRole.MEMBER
            phone._tell(
                GroupJoined,
                jid=room.jid,
                subject=room.subject,
                by=None,
                participant_count=len(room.roles),
            )
        return room.jid

    async def check_numbers(self, numbers: tuple[str, ...]) -> list[NumberCheck]:
        self._check_up()
        missing = self.phone.not_on_whatsapp
        return [
            NumberCheck(number=n, on_whatsapp=False)
            if n in missing
            else NumberCheck(number=n, on_whatsapp=True, jid=f"{n[1:]}@s.whatsapp.net")
            for n in (normalize_phone(n) for n in numbers)
        ]

    async def contact(self, jid: str) -> ContactInfo:
        self._check_up()
        info = self.phone.profiles.get(jid, ContactInfo(jid=jid))
        return attrs.evolve(info, blocked=jid in self.phone.blocked)

    async def profile_picture(self, jid: str) -> ProfilePicture:
        self._check_up()
        return self.phone.pictures.get(jid, ProfilePicture(jid=jid))

    async def set_blocked(self, jid: str, blocked: bool) -> None:
        self._check_up()
        if blocked:
            self.phone.blocked.add(jid)
        else:
            self.phone.blocked.discard(jid)
