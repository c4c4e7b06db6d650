"""neonize's groups and contacts -> wagate's values, and the engine's group refusals.

Pure functions over the protobuf messages neonize decodes (``GroupInfo``,
``GroupParticipant``, ``JoinedGroup``, ``GroupInfoEvent``, ``IsOnWhatsAppResponse``,
``UserInfo``...), like :mod:`wagate.drivers._neonize_translate`: they read
fields by name and import nothing from neonize.

With LID addressing WhatsApp names people by a hidden id (``...@lid``); where
the engine also gives the phone-number JID, that is what wagate reports.  An
event's participant lists carry no phone numbers in neonize, so a hidden id
stays as it is there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._contacts import ContactInfo, NumberCheck, ProfilePicture
from .._errors import InviteNotFound, NotGroupAdmin, NotInGroup, WagateError
from .._events import GroupJoined, GroupLeft, GroupParticipantsChanged, GroupUpdated
from .._groups import (
    INVITE_PREFIX,
    Group,
    GroupInfo,
    GroupRole,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
)
from ._neonize_translate import Update, user_jid

__all__ = [
    "Own",
    "contact_info",
    "forbidden",
    "group_from",
    "group_info_from",
    "group_refusal",
    "group_updates",
    "invite_link",
    "joined_updates",
    "number_checks",
    "own_ids",
    "participant_results",
    "picture_from",
    "picture_refusal",
]

PHONE_SERVER = "s.whatsapp.net"

Own = frozenset[str]
"""The account's own user JIDs: its phone-number JID and, where known, its hidden id."""


def own_ids(account_jid: str | None, me: Any = None) -> Own:
    """The account's user JIDs from its (device) JID and neonize's ``Device`` record."""
    ids: set[str] = set()
    if account_jid:
        user, _, server = account_jid.partition("@")
        ids.add(f"{user.partition(':')[0].partition('.')[0]}@{server}")
    for field in ("JID", "LID"):
        if me is not None and me.HasField(field) and getattr(me, field).User:
            ids.add(user_jid(getattr(me, field)))
    return frozenset(ids)


def _present(message: Any, field: str) -> Any:
    """The JID in ``field`` when it names someone (whatsmeow sends empty JIDs for none)."""
    if not message.HasField(field):
        return None
    jid = getattr(message, field)
    return jid if jid.User else None


def _person(*candidates: Any) -> str | None:
    """The best of several JIDs of one person: a phone-number JID first, else the first given."""
    present = [jid for jid in candidates if jid is not None]
    for jid in present:
        if jid.Server == PHONE_SERVER:
            return user_jid(jid)
    return user_jid(present[0]) if present else None


def _participant_ids(participant: Any) -> set[str]:
    return {
        user_jid(jid)
        for jid in (
            _present(participant, "JID"),
            _present(participant, "PhoneNumber"),
            _present(participant, "LID"),
        )
        if jid is not None
    }


def _participant_jid(participant: Any) -> str:
    best = _person(
        _present(participant, "PhoneNumber"),
        _present(participant, "JID"),
        _present(participant, "LID"),
    )
    return best or ""


def _role(participant: Any) -> GroupRole:
    if participant.IsSuperAdmin:
        return GroupRole.SUPERADMIN
    return GroupRole.ADMIN if participant.IsAdmin else GroupRole.MEMBER


def group_from(info: Any, own: Own) -> Group:
    """A neonize ``GroupInfo`` as a :class:`~wagate.Group`; ``is_admin`` is the account's role.

    A participant with an error code is not in the group: a new group lists
    whom WhatsApp could not add (privacy, no account...) that way.
    """
    members = [p for p in info.Participants if not p.Error]
    participants = tuple(Participant(jid=_participant_jid(p), role=_role(p)) for p in members)
    admin = any(_role(p) is not GroupRole.MEMBER and _participant_ids(p) & own for p in members)
    topic = info.GroupTopic if info.HasField("GroupTopic") else None
    description = None if topic is None or topic.TopicDeleted else str(topic.Topic) or None
    return Group(
        jid=user_jid(info.JID),
        subject=str(info.GroupName.Name) if info.HasField("GroupName") else "",
        description=description,
        participant_count=len(participants),
        is_admin=admin,
        announce=info.HasField("GroupAnnounce") and bool(info.GroupAnnounce.IsAnnounce),
        locked=info.HasField("GroupLocked") and bool(info.GroupLocked.isLocked),
        participants=participants,
    )


def group_info_from(info: Any, own: Own) -> GroupInfo:
    """A neonize ``GroupInfo`` as a list shows it (:class:`~wagate.GroupInfo`, no participants)."""
    group = group_from(info, own)
    return GroupInfo(
        jid=group.jid,
        subject=group.subject,
        description=group.description,
        participant_count=group.participant_count,
        is_admin=group.is_admin,
        announce=group.announce,
        locked=group.locked,
    )


# ---------------------------------------------------------------------------- participants

_CODES = {
    403: ParticipantError.PRIVACY,
    404: ParticipantError.NOT_ON_WHATSAPP,
    401: ParticipantError.NOT_ALLOWED,
    405: ParticipantError.NOT_ALLOWED,
    406: ParticipantError.NOT_ALLOWED,
    419: ParticipantError.GROUP_FULL,
}
"""WhatsApp's per-participant status codes (whatsmeow's ``GroupParticipant.Error``)
that wagate names: 403 only contacts may add them (an invite goes instead), 404 no
account, 406 not a change anyone may make, 419 the group is full (the server's
resource limit).  404 and 409 are "no account" and "already a member" for an add,
"not a member" for the other changes; any other code (408: they left recently...)
is ``FAILED`` with the code kept."""


def _participant_error(action: ParticipantAction, code: int) -> ParticipantError:
    if code in {404, 409} and action is not ParticipantAction.ADD:
        return ParticipantError.NOT_IN_GROUP
    if code == 409:
        return ParticipantError.ALREADY_IN_GROUP
    return _CODES.get(code, ParticipantError.FAILED)


def participant_results(
    action: ParticipantAction, asked: Sequence[str], answered: Iterable[Any]
) -> list[ParticipantResult]:
    """WhatsApp's answer to a participants call (neonize ``GroupParticipant``), one per ``asked``.

    The answer names each participant by phone number or hidden id, in its own
    order; a participant it does not name is ``FAILED`` without a code.
    """
    codes: dict[str, int] = {}
    for participant in answered:
        for jid in _participant_ids(participant):
            codes.setdefault(jid, int(participant.Error))
    results = []
    for jid in asked:
        code = codes.get(jid)
        if code is None:
            results.append(ParticipantResult(jid=jid, ok=False, error=ParticipantError.FAILED))
        elif code == 0 or 200 <= code < 300:  # whatsmeow says 0; WhatsApp, 200
            results.append(ParticipantResult(jid=jid, ok=True, code=code or None))
        else:
            error = _participant_error(action, code)
            results.append(ParticipantResult(jid=jid, ok=False, error=error, code=code))
    return results


# ---------------------------------------------------------------------------- events


def joined_updates(event: Any, own: Own) -> list[Update]:
    """A neonize ``JoinedGroupEv`` (protobuf ``JoinedGroup``) as a :class:`~wagate.GroupJoined`.

    ``by`` is who added the account: ``None`` when it made or joined the group
    itself, or when the engine does not say.
    """
    info = event.GroupInfo
    by = _person(_present(event, "SenderPN"), _present(event, "Sender"))
    count = sum(1 for p in info.Participants if not p.Error)
    fields = {
        "jid": user_jid(info.JID),
        "subject": str(info.GroupName.Name) if info.HasField("GroupName") else "",
        "by": None if by in own else by,
        "participant_count": count or None,
    }
    return [(GroupJoined, fields)]


_LISTS = (
    ("Join", ParticipantAction.ADD),
    ("Leave", ParticipantAction.REMOVE),
    ("Promote", ParticipantAction.PROMOTE),
    ("Demote", ParticipantAction.DEMOTE),
)


def _settings(event: Any) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    if event.HasField("Name"):
        changed["subject"] = str(event.Name.Name)
    if event.HasField("Topic"):
        topic = event.Topic
        changed["description"] = "" if topic.TopicDeleted else str(topic.Topic)
    if event.HasField("Announce"):
        changed["announce"] = bool(event.Announce.IsAnnounce)
    if event.HasField("Locked"):
        changed["locked"] = bool(event.Locked.isLocked)
    return changed


def group_updates(event: Any, own: Own) -> list[Update]:
    """A neonize ``GroupInfoEv`` (protobuf ``GroupInfoEvent``) as wagate's group events.

    A change of subject, description, announce or locked is one
    :class:`~wagate.GroupUpdated`; the account's own removal (or the group's
    deletion) a :class:`~wagate.GroupLeft`, ``by`` ``None`` when it left itself;
    each participant list with others in it a
    :class:`~wagate.GroupParticipantsChanged`.  The account's own join is left to
    ``JoinedGroupEv``.
    """
    group = user_jid(event.JID)
    sender = _person(_present(event, "Sender"))
    updates: list[Update] = []
    changed = _settings(event)
    if changed:
        updates.append((GroupUpdated, {"jid": group, "by": sender, **changed}))
    removed = {user_jid(jid) for jid in event.Leave} & own
    if removed or (event.HasField("Delete") and event.Delete.Deleted):
        updates.append((GroupLeft, {"jid": group, "by": None if sender in own else sender}))
    return updates + _participant_changes(event, group, sender, own)


def _participant_changes(event: Any, group: str, sender: str | None, own: Own) -> list[Update]:
    changes: list[Update] = []
    for field, action in _LISTS:
        others = tuple(user_jid(jid) for jid in getattr(event, field) if user_jid(jid) not in own)
        if not others:
            continue
        # Who joined by an invite link, or left, by themselves did it; nobody else did.
        by_link = action is ParticipantAction.ADD and event.JoinReason == "invite"
        by = None if by_link or others == (sender,) else sender
        fields = {"jid": group, "action": action, "participants": others, "by": by}
        changes.append((GroupParticipantsChanged, fields))
    return changes


# ---------------------------------------------------------------------------- calls


def invite_link(answer: str) -> str:
    """The full invite link of the engine's answer (whatsmeow gives it whole; a bare code too)."""
    text = str(answer).strip()
    return text if text.startswith(INVITE_PREFIX) else INVITE_PREFIX + text


_NOT_IN_GROUP = (
    "you're not participating in that group",
    "that group does not exist",
    "status 404: item-not-found",
)
_NOT_ADMIN = ("you don't have the permission to get the group's invite link",)
_NOT_AUTHORIZED = "status 401: not-authorized"
_FORBIDDEN = "status 403: forbidden"
_INVITE_GONE = (
    "that group invite link is not valid",
    "that group invite link has been revoked",
    "status 404: item-not-found",
    "status 406: not-acceptable",
    "status 410: gone",
)


def group_refusal(
    words: str, *, admin_only: bool = False, invite: bool = False
) -> type[WagateError] | None:
    """The wagate error that the engine's words say, for a group call (``None``: none fits).

    whatsmeow names "not in that group" and "no such group" (403 and 404 to a
    group query), "no permission for the invite link" (401), and a revoked or
    malformed invite (410, 406).  To a change only admins may make WhatsApp
    answers 401 not-authorized or 403 forbidden: ``NotGroupAdmin`` (a 403 may
    also mean the account is not in the group; see :func:`forbidden`); to
    another group call, 403 is ``NotInGroup``.
    """
    text = words.lower()
    if invite:
        return InviteNotFound if any(w in text for w in _INVITE_GONE) else None
    if any(w in text for w in _NOT_IN_GROUP):
        return NotInGroup
    if any(w in text for w in _NOT_ADMIN):
        return NotGroupAdmin
    if admin_only and (_NOT_AUTHORIZED in text or _FORBIDDEN in text):
        return NotGroupAdmin
    return NotInGroup if _FORBIDDEN in text else None


def forbidden(words: str) -> bool:
    """Whether the engine's words are WhatsApp's bare 403 (not in the group, or not allowed)."""
    return _FORBIDDEN in words.lower()


_NO_PICTURE = (
    "the user has hidden their profile picture from you",
    "does not have a profile picture",
    "status 401: not-authorized",
    "status 404: item-not-found",
)


def picture_refusal(words: str) -> bool:
    """Whether the engine's words mean there is no picture to see (unset, or hidden)."""
    text = words.lower()
    return any(w in text for w in _NO_PICTURE)


def picture_from(jid: str, picture: Any) -> ProfilePicture:
    """A neonize ``ProfilePictureInfo`` (empty: no picture) as a :class:`~wagate.ProfilePicture`."""
    url = str(picture.URL) if picture is not None and picture.URL else None
    picture_id = str(picture.ID) if picture is not None and picture.ID else None
    return ProfilePicture(jid=jid, url=url, id=picture_id if url else None)


# ---------------------------------------------------------------------------- contacts


def number_checks(numbers: Sequence[str], answers: Iterable[Any]) -> list[NumberCheck]:
    """The engine's ``IsOnWhatsAppResponse`` list as a :class:`~wagate.NumberCheck` per number.

    In the order of ``numbers``.  whatsmeow echoes each query as asked
    (``+628...``); the JID it gives may be a hidden id, so an account's JID is
    its phone-number JID, built from the number when only the hidden one is given.
    """
    by_digits: dict[str, Any] = {}
    for answer in answers:
        by_digits.setdefault(str(answer.Query).lstrip("+"), answer)
    checks = []
    for number in numbers:
        digits = number.lstrip("+")
        answer = by_digits.get(digits)
        if answer is None or not answer.IsIn:
            checks.append(NumberCheck(number=number, on_whatsapp=False))
            continue
        jid = _present(answer, "JID")
        phone = user_jid(jid) if jid is not None and jid.Server == PHONE_SERVER else None
        checks.append(
            NumberCheck(number=number, on_whatsapp=True, jid=phone or f"{digits}@{PHONE_SERVER}")
        )
    return checks


def _verified_name(user: Any) -> str | None:
    if user is None or not user.HasField("VerifiedName"):
        return None
    verified = user.VerifiedName
    if verified.HasField("Details") and verified.Details.verifiedName:
        return str(verified.Details.verifiedName)
    return None


def contact_info(
    jid: str, user: Any, stored: Any, blocked: Iterable[Any], *, hidden: Any = None
) -> ContactInfo:
    """What the engine knows of someone, as a :class:`~wagate.ContactInfo`.

    Args:
        jid: Their JID.
        user: neonize's ``UserInfo`` from WhatsApp (``None`` when it gave none):
            the "about" text and a business's verified name.
        stored: neonize's ``ContactInfo`` from the engine's contact store: the push
            name and business name it has seen.
        blocked: The JIDs of the account's blocklist (hidden ids, mostly).
        hidden: Their hidden id (a neonize ``JID``, empty when not known).

    ``verified`` stays ``None``: the engine gives a business's certified name, not
    whether WhatsApp verified the business.
    """
    found = stored is not None and stored.Found
    push_name = str(stored.PushName) if found and stored.PushName else None
    stored_business = str(stored.BusinessName) if found and stored.BusinessName else None
    about = str(user.Status) if user is not None and user.Status else None
    return ContactInfo(
        jid=jid,
        push_name=push_name,
        business_name=_verified_name(user) or stored_business,
        about=about,
        blocked=bool(_ids(jid, hidden) & {user_jid(b) for b in blocked}),
    )


def _ids(jid: str, hidden: Any) -> set[str]:
    return {jid, user_jid(hidden)} if hidden is not None and hidden.User else {jid}
