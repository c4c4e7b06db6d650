"""The group and contact calls of :class:`~wagate.drivers.neonize.NeonizeDriver`.

Each call goes through the driver's gated engine call (``_call``), so whatever
neonize raises leaves as a wagate error; a group call's refusal is named by
the engine's words (:func:`~wagate.drivers._neonize_groups.group_refusal`):
``NotInGroup``, ``NotGroupAdmin`` or ``InviteNotFound``, else ``DriverError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._contacts import ContactInfo, NumberCheck, ProfilePicture
from .._errors import DriverError, NotGroupAdmin, NotInGroup, WagateError
from .._groups import Group, GroupInfo, ParticipantAction, ParticipantResult
from ._neonize_groups import (
    contact_info,
    forbidden,
    group_from,
    group_info_from,
    group_refusal,
    invite_link,
    number_checks,
    participant_results,
    picture_from,
    picture_refusal,
)
from ._neonize_translate import jid_fields, user_jid

if TYPE_CHECKING:
    from ._neonize_attempt import Attempt

__all__ = ["GroupAndContactCalls"]


def _engine_words(exc: DriverError) -> str:
    """What the engine itself said (the cause of a translated error), if it said anything."""
    return " ".join(str(exc.__cause__).split()) if exc.__cause__ is not None else ""


class GroupAndContactCalls:
    """Groups and contacts through neonize's client (a mixin of ``NeonizeDriver``)."""

    if TYPE_CHECKING:

        def _live_attempt(self) -> Attempt: ...

        async def _call(
            self, attempt: Attempt, action: str, call: Callable[..., Awaitable[Any]], *args: Any
        ) -> Any: ...

    # ------------------------------------------------------------------ groups
    async def groups(self) -> list[GroupInfo]:
        """The groups the account is in (WhatsApp's list, participants counted).

        Raises:
            DriverError: not connected, or WhatsApp did not answer.
        """
        attempt = self._live_attempt()
        answer = await self._call(
            attempt, "WhatsApp did not list the groups", attempt.client.get_joined_groups
        )
        own = attempt.own
        return [group_info_from(info, own) for info in answer]

    async def group(self, jid: str) -> Group:
        """A group with its participants and their roles.

        Raises:
            NotInGroup: the account is not in it, or it does not exist.
            DriverError: not connected, or WhatsApp did not answer.
        """
        attempt = self._live_attempt()
        info = await self._group_call(
            attempt, jid, "WhatsApp did not give the group", attempt.client.get_group_info
        )
        return group_from(info, attempt.own)

    async def create_group(self, subject: str, participants: tuple[str, ...]) -> Group:
        """Make a group with ``participants``; the group as WhatsApp made it.

        Raises:
            DriverError: not connected, or WhatsApp refused to make it.
        """
        attempt = self._live_attempt()
        people = [self._jid(attempt, person) for person in participants]
        info = await self._call(
            attempt,
            "WhatsApp did not make the group",
            attempt.client.create_group,
            subject,
            people,
        )
        return group_from(info, attempt.own)

    async def leave_group(self, jid: str) -> None:
        """Leave a group.

        Raises:
            NotInGroup: the account is not in it.
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        await self._group_call(
            attempt, jid, "WhatsApp did not let the account leave", attempt.client.leave_group
        )

    async def set_group_subject(self, jid: str, subject: str) -> None:
        """Rename a group.

        Raises:
            NotInGroup: the account is not in it.
            NotGroupAdmin: the group is locked and the account is not an admin.
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        await self._group_call(
            attempt,
            jid,
            "WhatsApp did not rename the group",
            attempt.client.set_group_name,
            subject,
            admin_only=True,
        )

    async def set_group_description(self, jid: str, description: str) -> None:
        """Set a group's description (``""`` removes it).

        whatsmeow looks up the current description's id first, and makes a new id.

        Raises:
            NotInGroup: the account is not in it.
            NotGroupAdmin: the group is locked and the account is not an admin.
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        await self._group_call(
            attempt,
            jid,
            "WhatsApp did not change the group's description",
            attempt.client.set_group_topic,
            "",
            "",
            description,
            admin_only=True,
        )

    async def update_participants(
        self, jid: str, action: ParticipantAction, participants: tuple[str, ...]
    ) -> list[ParticipantResult]:
        """Add, remove, promote or demote ``participants``: WhatsApp's answer for each, in order.

        Raises:
            NotInGroup: the account is not in the group.
            NotGroupAdmin: the account is not an admin of it.
            DriverError: not connected, or WhatsApp refused the whole call.
        """
        attempt = self._live_attempt()
        change = attempt.nz.participant_change[ParticipantAction(action).name]
        people = [self._jid(attempt, person) for person in participants]
        answered = await self._group_call(
            attempt,
            jid,
            f"WhatsApp did not {action.value} the participants",
            attempt.client.update_group_participants,
            people,
            change,
            admin_only=True,
        )
        return participant_results(action, participants, answered)

    async def group_invite_link(self, jid: str, reset: bool) -> str:
        """The group's invite link (``https://chat.whatsapp.com/...``); ``reset`` revokes the old.

        Raises:
            NotInGroup: the account is not in the group.
            NotGroupAdmin: the account may not see the link (not an admin).
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        answer = await self._group_call(
            attempt,
            jid,
            "WhatsApp did not give the invite link",
            attempt.client.get_group_invite_link,
            bool(reset),
            admin_only=True,
        )
        return invite_link(answer)

    async def join_group(self, code: str) -> str:
        """Join the group of an invite code; its JID.

        Raises:
            InviteNotFound: the invite is malformed, revoked or unknown.
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        action = "WhatsApp did not let the account join"
        try:
            group = await self._call(attempt, action, attempt.client.join_group_with_link, code)
        except DriverError as exc:
            refusal = group_refusal(_engine_words(exc), invite=True)
            if refusal is None:
                raise
            raise refusal(
                f"no WhatsApp group has the invite {code} (revoked, expired or never made): "
                f"{_engine_words(exc)}"
            ) from exc.__cause__
        return user_jid(group)

    # ------------------------------------------------------------------ contacts
    async def check_numbers(self, numbers: tuple[str, ...]) -> list[NumberCheck]:
        """Which of ``numbers`` (E.164, at most 100) are on WhatsApp, in order.

        Raises:
            DriverError: not connected, or WhatsApp did not answer.
        """
        attempt = self._live_attempt()
        answers = await self._call(
            attempt,
            "WhatsApp did not check the numbers",
            attempt.client.is_on_whatsapp,
            *numbers,
        )
        return number_checks(numbers, answers)

    async def contact(self, jid: str) -> ContactInfo:
        """What WhatsApp and the engine's contact store say about a person, and if blocked.

        Raises:
            DriverError: not connected, or WhatsApp did not answer.
        """
        attempt = self._live_attempt()
        who = self._jid(attempt, jid)
        users = await self._call(
            attempt, "WhatsApp did not give the contact", attempt.client.get_user_info, who
        )
        # Keyed by JID; with LID addressing the key may be the hidden id.
        user = next((u.UserInfo for u in users if user_jid(u.JID) == jid), None)
        if user is None and len(users) == 1:
            user = users[0].UserInfo
        stored = await self._call(
            attempt,
            "the engine's contact store could not be read",
            attempt.client.contact.get_contact,
            who,
        )
        # WhatsApp keeps blocklists by hidden id: the engine's store maps the number to it.
        hidden = await self._call(
            attempt,
            "the engine's store of hidden ids could not be read",
            attempt.client.get_lid_from_pn,
            who,
        )
        blocklist = await self._call(
            attempt, "WhatsApp did not give the blocklist", attempt.client.get_blocklist
        )
        return contact_info(jid, user, stored, blocklist.JIDs, hidden=hidden)

    async def profile_picture(self, jid: str) -> ProfilePicture:
        """A person's or a group's profile picture (``url`` ``None``: none, or hidden).

        Raises:
            DriverError: not connected, or WhatsApp did not answer.
        """
        attempt = self._live_attempt()
        try:
            picture = await self._call(
                attempt,
                "WhatsApp did not give the profile picture",
                attempt.client.get_profile_picture,
                self._jid(attempt, jid),
            )
        except DriverError as exc:
            if not picture_refusal(_engine_words(exc)):
                raise
            picture = None
        return picture_from(jid, picture)

    async def set_blocked(self, jid: str, blocked: bool) -> None:
        """Block or unblock a person.

        Raises:
            DriverError: not connected, or WhatsApp refused.
        """
        attempt = self._live_attempt()
        action = attempt.nz.blocklist_action["BLOCK" if blocked else "UNBLOCK"]
        await self._call(
            attempt,
            f"WhatsApp did not {'block' if blocked else 'unblock'} the contact",
            attempt.client.update_blocklist,
            self._jid(attempt, jid),
            action,
        )

    # ------------------------------------------------------------------ helpers
    async def _group_call(
        self,
        attempt: Attempt,
        jid: str,
        action: str,
        call: Callable[..., Awaitable[Any]],
        *args: Any,
        admin_only: bool = False,
    ) -> Any:
        """A call on group ``jid`` (its JID first), its refusals named by the engine's words."""
        try:
            return await self._call(attempt, action, call, self._jid(attempt, jid), *args)
        except DriverError as exc:
            words = _engine_words(exc)
            refusal = group_refusal(words, admin_only=admin_only)
            if (
                refusal is NotGroupAdmin
                and forbidden(words)
                and not await self._member(attempt, jid)
            ):
                refusal = NotInGroup
            if refusal is None:
                raise
            raise refusal(_refusal_message(refusal, jid, action, words)) from exc.__cause__

    async def _member(self, attempt: Attempt, jid: str) -> bool:
        """Whether the account is in group ``jid``, by the group query (403 there: not in it).

        Asked only after WhatsApp answered a bare 403 to an admin's change, which
        says "not allowed" to a member and "not in the group" to anyone else.
        """
        try:
            await self._call(
                attempt, "group query", attempt.client.get_group_info, self._jid(attempt, jid)
            )
        except DriverError as exc:
            return group_refusal(_engine_words(exc)) is not NotInGroup
        return True

    @staticmethod
    def _jid(attempt: Attempt, jid: str) -> Any:
        return attempt.nz.proto.JID(**jid_fields(jid))


def _refusal_message(kind: type[WagateError], jid: str, action: str, words: str) -> str:
    if kind is NotInGroup:
        return f"the account is not in the group {jid}, or it does not exist ({action}: {words})"
    return (
        f"only the admins of the group {jid} may do that: ask one to make the account an admin "
        f"({action}: {words})"
    )
