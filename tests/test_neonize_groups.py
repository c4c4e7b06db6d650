"""The neonize driver's groups and contacts, over neonize's real protobuf types.

The translation (a ``GroupInfo`` as a Group, WhatsApp's per-participant codes,
``JoinedGroupEv`` and ``GroupInfoEv`` as group events, ``IsOnWhatsAppResponse``
and ``UserInfo`` as contact values) is tested with neonize's generated classes
filled as whatsmeow fills them (proto2: every required field set).  The events
also go through neonize's live callbacks into a real Session, and the calls
reach the engine's real functions in a child process, where the engine refuses
them offline: always as wagate errors, never neonize's.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from test_neonize_process import run_child
from test_neonize_support import empty_jid, jid, live_session, next_event
from wagate import (
    Connected,
    ContactInfo,
    DriverError,
    Group,
    GroupInfo,
    GroupJoined,
    GroupLeft,
    GroupParticipantsChanged,
    GroupRole,
    GroupUpdated,
    InviteNotFound,
    NotGroupAdmin,
    NotInGroup,
    NumberCheck,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
    ProfilePicture,
)
from wagate.drivers._neonize_engine import load_neonize
from wagate.drivers._neonize_groups import (
    contact_info,
    group_from,
    group_info_from,
    group_refusal,
    group_updates,
    invite_link,
    joined_updates,
    number_checks,
    own_ids,
    participant_results,
    picture_from,
    picture_refusal,
)
from wagate.drivers.neonize import NeonizeDriver
from wagate.drivers.process import ProcessDriver

NZ = load_neonize()
p = NZ.proto

ACCOUNT_JID = "628123456789:7@s.whatsapp.net"
ME = "628123456789@s.whatsapp.net"
ME_LID = "111122223333@lid"
OWN = own_ids(ACCOUNT_JID)
GROUP = "120363000000000001@g.us"
ANI = "628111111111@s.whatsapp.net"
BUDI = "628222222222@s.whatsapp.net"
CITRA = "628333333333@s.whatsapp.net"


# -------------------------------------------------------------------------- builders


def complete(message: Any) -> Any:
    """``message`` with every required field that is unset given its zero value, as Go does.

    whatsmeow's encoder sets every field of neonize's proto2 messages (empty
    strings, zero times, empty JIDs); this gives a hand-built message the same.
    """
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            if field.message_type is not None:
                for item in getattr(message, field.name):
                    complete(item)
            continue
        if field.message_type is not None:
            if field.is_required or message.HasField(field.name):
                complete(getattr(message, field.name))
                getattr(message, field.name).SetInParent()
        elif field.is_required and not message.HasField(field.name):
            setattr(message, field.name, field.default_value)
    assert message.IsInitialized(), message.FindInitializationErrors()
    return message


def participant(
    who: str,
    *,
    admin: bool = False,
    superadmin: bool = False,
    lid: str | None = None,
    error: int = 0,
) -> Any:
    """A neonize GroupParticipant as whatsmeow encodes it (a LID one carries its phone number)."""
    fields: dict[str, Any] = {
        "IsAdmin": admin or superadmin,
        "IsSuperAdmin": superadmin,
        "Error": error,
    }
    if lid is not None:
        fields |= {"JID": jid(lid), "LID": jid(lid), "PhoneNumber": jid(who)}
    else:
        fields |= {"JID": jid(who), "PhoneNumber": jid(who)}
    return complete(p.GroupParticipant(**fields))


def group_info(
    participants: list[Any],
    *,
    subject: str = "Arisan RT 05",
    topic: str = "",
    locked: bool = False,
    announce: bool = False,
) -> Any:
    """A neonize GroupInfo, as get_group_info, get_joined_groups and create_group answer."""
    return complete(
        p.GroupInfo(
            JID=jid(GROUP),
            OwnerJID=jid(ANI),
            GroupName=p.GroupName(Name=subject, NameSetAt=1_700_000_000, NameSetBy=jid(ANI)),
            GroupTopic=p.GroupTopic(Topic=topic, TopicID="T1" if topic else ""),
            GroupLocked=p.GroupLocked(isLocked=locked),
            GroupAnnounce=p.GroupAnnounce(IsAnnounce=announce, AnnounceVersionID=""),
            GroupCreated=1_700_000_000.0,
            Participants=participants,
        )
    )


def group_event(sender: str | None = ANI, **fields: Any) -> Any:
    """A neonize GroupInfoEv (protobuf ``GroupInfoEvent``) for GROUP."""
    event = p.GroupInfoEvent(JID=jid(GROUP), Notify="Ani", Timestamp=1_700_000_000, **fields)
    if sender is not None:
        event.Sender.CopyFrom(jid(sender))
    return complete(event)


def joined_event(sender: str | None, *, sender_pn: str | None = None) -> Any:
    """A neonize JoinedGroupEv (protobuf ``JoinedGroup``)."""
    event = p.JoinedGroup(
        Reason="", Type="", CreateKey="", GroupInfo=group_info([participant(ANI), participant(ME)])
    )
    if sender is not None:
        event.Sender.CopyFrom(jid(sender))
    if sender_pn is not None:
        event.SenderPN.CopyFrom(jid(sender_pn))
    return complete(event)


# -------------------------------------------------------------------------- groups


def test_a_group_info_is_a_group_with_roles_and_the_accounts_admin_flag() -> None:
    """GroupInfo becomes a Group: subject, topic, settings, each participant's role, own admin."""
    info = group_info(
        [participant(ANI, superadmin=True), participant(ME, admin=True), participant(BUDI)],
        topic="iuran tiap Jumat",
        locked=True,
        announce=True,
    )
    group = group_from(info, OWN)
    assert group == Group(
        jid=GROUP,
        subject="Arisan RT 05",
        description="iuran tiap Jumat",
        participant_count=3,
        is_admin=True,
        announce=True,
        locked=True,
        participants=(
            Participant(jid=ANI, role=GroupRole.SUPERADMIN),
            Participant(jid=ME, role=GroupRole.ADMIN),
            Participant(jid=BUDI, role=GroupRole.MEMBER),
        ),
    )
    listed = group_info_from(info, OWN)
    assert type(listed) is GroupInfo
    assert (listed.jid, listed.participant_count, listed.is_admin) == (GROUP, 3, True)


def test_a_member_is_no_admin_and_an_empty_topic_is_no_description() -> None:
    """The account as a plain member is not an admin; no topic is ``None``, not ``""``."""
    group = group_from(group_info([participant(ANI, superadmin=True), participant(ME)]), OWN)
    assert group.is_admin is False
    assert group.description is None
    assert (group.announce, group.locked) == (False, False)


def test_hidden_id_participants_are_named_by_phone_and_the_account_found_by_its_lid() -> None:
    """A LID participant is reported by its phone JID; the account is known by its LID too."""
    me = complete(p.Device(JID=jid(ACCOUNT_JID), LID=jid(ME_LID), PushName="Toko"))
    own = own_ids(ACCOUNT_JID, me)
    assert own == {ME, ME_LID}
    # Only the hidden id names the account here (no phone number came with it).
    hidden_me = complete(p.GroupParticipant(JID=jid(ME_LID), LID=jid(ME_LID), IsAdmin=True))
    info = group_info([participant(ANI, lid="99887766554433@lid", superadmin=True), hidden_me])
    group = group_from(info, own)
    assert group.participants[0] == Participant(jid=ANI, role=GroupRole.SUPERADMIN)
    assert group.participants[1] == Participant(jid=ME_LID, role=GroupRole.ADMIN)
    assert group.is_admin is True
    assert group_from(info, OWN).is_admin is False


def test_participants_whatsapp_could_not_add_are_not_members_of_the_new_group() -> None:
    """create_group's answer lists refused participants with a code: they are not in the group."""
    info = group_info(
        [participant(ME, superadmin=True), participant(ANI), participant(BUDI, error=403)]
    )
    group = group_from(info, OWN)
    assert [p.jid for p in group.participants] == [ME, ANI]
    assert (group.participant_count, group.is_admin) == (2, True)


# -------------------------------------------------------------------------- participants


def test_participant_codes_become_one_result_per_participant_in_the_asked_order() -> None:
    """WhatsApp's per-participant codes: 0 ok, 403 privacy, 404, 409, 419 full, others failed."""
    dedi, eka, fajar = (f"62844444444{n}@s.whatsapp.net" for n in range(3))
    answered = [
        participant(BUDI, error=403),
        participant(ANI),
        participant(CITRA, error=404),
        participant(dedi, error=409),
        participant(eka, error=419),
        participant(fajar, error=408),
    ]
    asked = (ANI, BUDI, CITRA, dedi, eka, fajar, "628555555555@s.whatsapp.net")
    results = participant_results(ParticipantAction.ADD, asked, answered)
    assert results == [
        ParticipantResult(jid=ANI, ok=True),
        ParticipantResult(jid=BUDI, ok=False, error=ParticipantError.PRIVACY, code=403),
        ParticipantResult(jid=CITRA, ok=False, error=ParticipantError.NOT_ON_WHATSAPP, code=404),
        ParticipantResult(jid=dedi, ok=False, error=ParticipantError.ALREADY_IN_GROUP, code=409),
        ParticipantResult(jid=eka, ok=False, error=ParticipantError.GROUP_FULL, code=419),
        ParticipantResult(jid=fajar, ok=False, error=ParticipantError.FAILED, code=408),
        # WhatsApp did not answer for this one.
        ParticipantResult(
            jid="628555555555@s.whatsapp.net", ok=False, error=ParticipantError.FAILED
        ),
    ]


@pytest.mark.parametrize(
    ("action", "code", "error"),
    [
        (ParticipantAction.REMOVE, 409, ParticipantError.NOT_IN_GROUP),
        (ParticipantAction.REMOVE, 404, ParticipantError.NOT_IN_GROUP),
        (ParticipantAction.PROMOTE, 403, ParticipantError.PRIVACY),
        (ParticipantAction.PROMOTE, 409, ParticipantError.NOT_IN_GROUP),
        (ParticipantAction.DEMOTE, 406, ParticipantError.NOT_ALLOWED),
        (ParticipantAction.REMOVE, 406, ParticipantError.NOT_ALLOWED),
        (ParticipantAction.DEMOTE, 500, ParticipantError.FAILED),
    ],
)
def test_codes_of_removals_promotions_and_demotions(
    action: ParticipantAction, code: int, error: ParticipantError
) -> None:
    """404 and 409 are "not a member" for anything but an add; 406 is a change nobody may make."""
    [result] = participant_results(action, (BUDI,), [participant(BUDI, error=code)])
    assert result == ParticipantResult(jid=BUDI, ok=False, error=error, code=code)


def test_an_answer_naming_a_participant_by_hidden_id_still_finds_them() -> None:
    """WhatsApp may answer with a LID (its phone number attached): matched to the asked JID."""
    answered = [participant(BUDI, lid="77665544332211@lid", error=403)]
    [result] = participant_results(ParticipantAction.ADD, (BUDI,), answered)
    assert (result.error, result.code) == (ParticipantError.PRIVACY, 403)


# -------------------------------------------------------------------------- events


def test_joined_group_names_who_added_the_account_by_phone_number() -> None:
    """JoinedGroupEv is GroupJoined: subject, member count, the adder's phone JID when given."""
    [(kind, fields)] = joined_updates(joined_event("99887766554433@lid", sender_pn=ANI), OWN)
    assert kind is GroupJoined
    assert fields == {"jid": GROUP, "subject": "Arisan RT 05", "by": ANI, "participant_count": 2}
    # Made by the account itself, or the engine does not say: nobody added it.
    assert joined_updates(joined_event(ME), OWN)[0][1]["by"] is None
    assert joined_updates(joined_event(None), OWN)[0][1]["by"] is None


def test_group_info_settings_are_one_group_updated_with_only_what_changed() -> None:
    """Name, topic, announce and locked changes are one GroupUpdated, by the sender."""
    event = group_event(
        Name=p.GroupName(Name="Arisan RT 06"),
        Topic=p.GroupTopic(Topic="", TopicID="T2", TopicDeleted=True),
        Locked=p.GroupLocked(isLocked=True),
    )
    [(kind, fields)] = group_updates(event, OWN)
    assert kind is GroupUpdated
    assert fields == {
        "jid": GROUP,
        "by": ANI,
        "subject": "Arisan RT 06",
        "description": "",
        "locked": True,
    }
    [(_, announced)] = group_updates(group_event(Announce=p.GroupAnnounce(IsAnnounce=True)), OWN)
    assert announced == {"jid": GROUP, "by": ANI, "announce": True}


def test_participant_lists_become_participant_changes_and_own_removal_group_left() -> None:
    """Join/Leave/Promote/Demote are GroupParticipantsChanged; the account removed is GroupLeft."""
    event = group_event(
        Join=[jid(BUDI), jid(ME)], Leave=[jid(CITRA), jid(ME)], Promote=[jid(BUDI)], Demote=[]
    )
    updates = group_updates(event, OWN)
    assert updates == [
        (GroupLeft, {"jid": GROUP, "by": ANI}),
        (
            GroupParticipantsChanged,
            {"jid": GROUP, "action": ParticipantAction.ADD, "participants": (BUDI,), "by": ANI},
        ),
        (
            GroupParticipantsChanged,
            {"jid": GROUP, "action": ParticipantAction.REMOVE, "participants": (CITRA,), "by": ANI},
        ),
        (
            GroupParticipantsChanged,
            {"jid": GROUP, "action": ParticipantAction.PROMOTE, "participants": (BUDI,), "by": ANI},
        ),
    ]


def test_leaving_by_oneself_has_nobody_as_its_doer() -> None:
    """The account leaving itself is GroupLeft(by=None); a person leaving alone too."""
    assert group_updates(group_event(ME, Leave=[jid(ME)]), OWN) == [
        (GroupLeft, {"jid": GROUP, "by": None})
    ]
    [(kind, fields)] = group_updates(group_event(BUDI, Leave=[jid(BUDI)]), OWN)
    assert kind is GroupParticipantsChanged
    assert fields["by"] is None
    # A group deleted under the account is left too, once.
    deleted = group_event(Delete=p.GroupDelete(Deleted=True, DeletedReason="admin"))
    assert group_updates(deleted, OWN) == [(GroupLeft, {"jid": GROUP, "by": ANI})]


def test_joining_by_an_invite_link_has_nobody_as_its_doer() -> None:
    """A join with reason "invite" was the joiner's own doing, whoever WhatsApp names as sender."""
    event = group_event("99887766554433@lid", Join=[jid(BUDI)], JoinReason="invite")
    [(_, fields)] = group_updates(event, OWN)
    assert (fields["participants"], fields["by"]) == ((BUDI,), None)


def test_group_events_that_change_nothing_wagate_reports_are_dropped() -> None:
    """An invite-link or ephemeral change alone gives no event."""
    event = group_event(NewInviteLink="https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQr")
    assert group_updates(event, OWN) == []


@pytest.mark.anyio
async def test_group_events_through_the_live_callbacks_become_group_events(
    tmp_path: Path,
) -> None:
    """JoinedGroupEv and GroupInfoEv delivered as the Go side does reach the session as events."""
    async with live_session(tmp_path / "engine.db") as live:
        await live.connected(ACCOUNT_JID)
        await next_event(live.events, Connected)
        await live.entry.event(joined_event("99887766554433@lid", sender_pn=ANI))
        joined = await next_event(live.events, GroupJoined)
        await live.entry.event(group_event(Name=p.GroupName(Name="Arisan RT 06")))
        updated = await next_event(live.events, GroupUpdated)
        await live.entry.event(group_event(Join=[jid(BUDI)]))
        added = await next_event(live.events, GroupParticipantsChanged)
        await live.entry.event(group_event(Leave=[jid(ME)]))
        left = await next_event(live.events, GroupLeft)
    assert (joined.jid, joined.subject, joined.by, joined.participant_count) == (
        GROUP,
        "Arisan RT 05",
        ANI,
        2,
    )
    assert (updated.jid, updated.subject, updated.by, updated.description) == (
        GROUP,
        "Arisan RT 06",
        ANI,
        None,
    )
    assert (added.action, added.participants, added.by) == (ParticipantAction.ADD, (BUDI,), ANI)
    assert (left.jid, left.by) == (GROUP, ANI)
    assert joined.tenant == left.tenant == "acme"


# -------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("words", "admin_only", "expected"),
    [
        ("you're not participating in that group", False, NotInGroup),
        ("that group does not exist", True, NotInGroup),
        (
            "failed to get old group info to update topic: you're not participating in that group",
            True,
            NotInGroup,
        ),
        ("info query returned status 404: item-not-found", False, NotInGroup),
        ("you don't have the permission to get the group's invite link", True, NotGroupAdmin),
        ("info query returned status 401: not-authorized", True, NotGroupAdmin),
        ("info query returned status 403: forbidden", True, NotGroupAdmin),
        ("info query returned status 401: not-authorized", False, None),
        ("info query returned status 403: forbidden", False, NotInGroup),
        ("websocket not connected", True, None),
        ("info query timed out", False, None),
    ],
)
def test_whatsmeows_group_refusals_are_named(
    words: str, admin_only: bool, expected: type[Exception] | None
) -> None:
    """The words whatsmeow refuses a group call with map to NotInGroup or NotGroupAdmin, or none."""
    assert group_refusal(words, admin_only=admin_only) is expected


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("that group invite link has been revoked", InviteNotFound),
        ("that group invite link is not valid", InviteNotFound),
        ("info query returned status 404: item-not-found", InviteNotFound),
        ("websocket not connected", None),
    ],
)
def test_a_revoked_or_invalid_invite_is_invite_not_found(
    words: str, expected: type[Exception] | None
) -> None:
    """The invalid and revoked invite errors of whatsmeow are InviteNotFound."""
    assert group_refusal(words, invite=True) is expected


def test_the_invite_link_is_whole() -> None:
    """The engine's answer is already a link; a bare code is made one."""
    link = "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQr"
    assert invite_link(link) == link
    assert invite_link("AbCdEfGhIjKlMnOpQr") == link


# -------------------------------------------------------------------------- contacts


def test_number_checks_answer_each_number_in_order_with_its_phone_jid() -> None:
    """IsOnWhatsAppResponse becomes NumberCheck per asked number; a LID answer gives the PN JID."""
    answers = [
        complete(p.IsOnWhatsAppResponse(Query="+628222222222", JID=jid("5566@lid"), IsIn=True)),
        complete(p.IsOnWhatsAppResponse(Query="+628111111111", JID=jid(ANI), IsIn=True)),
        complete(p.IsOnWhatsAppResponse(Query="+628999", JID=jid("628999@s.whatsapp.net"))),
    ]
    checks = number_checks(("+628111111111", "+628222222222", "+628999", "+62877"), answers)
    assert checks == [
        NumberCheck(number="+628111111111", on_whatsapp=True, jid=ANI),
        NumberCheck(number="+628222222222", on_whatsapp=True, jid=BUDI),
        NumberCheck(number="+628999", on_whatsapp=False),
        NumberCheck(number="+62877", on_whatsapp=False),
    ]


def test_contact_info_joins_whatsapps_user_info_the_contact_store_and_the_blocklist() -> None:
    """UserInfo gives about and the business's certified name; the store the push name."""
    from neonize.proto.waVnameCert import WAWebProtobufsVnameCert_pb2 as cert

    details = cert.VerifiedNameCertificate.Details(verifiedName="Toko Ani")
    user = complete(
        p.UserInfo(
            Status="Buka 08.00-17.00",
            PictureID="1",
            VerifiedName=p.VerifiedName(
                Certificate=cert.VerifiedNameCertificate(details=details.SerializeToString()),
                Details=details,
            ),
        )
    )
    stored = complete(p.ContactInfo(Found=True, PushName="Ani", BusinessName=""))
    info = contact_info(ANI, user, stored, [jid(BUDI), jid(ANI)])
    assert info == ContactInfo(
        jid=ANI, push_name="Ani", business_name="Toko Ani", about="Buka 08.00-17.00", blocked=True
    )
    unknown = contact_info(BUDI, None, complete(p.ContactInfo(Found=False)), [])
    assert unknown == ContactInfo(jid=BUDI)
    # A blocklist by hidden ids: found through the number's hidden id.
    empty = empty_jid()
    by_lid = contact_info(BUDI, None, None, [jid("5566@lid")], hidden=jid("5566@lid"))
    assert by_lid.blocked is True
    assert contact_info(BUDI, None, None, [jid("5566@lid")], hidden=empty).blocked is False


def test_profile_pictures_and_their_absence() -> None:
    """A ProfilePictureInfo gives url and id; none, unset or hidden is ``url=None``."""
    picture = p.ProfilePictureInfo(URL="https://pps.whatsapp.net/v/t61/abc", ID="1700")
    assert picture_from(ANI, picture) == ProfilePicture(
        jid=ANI, url="https://pps.whatsapp.net/v/t61/abc", id="1700"
    )
    assert picture_from(ANI, p.ProfilePictureInfo()) == ProfilePicture(jid=ANI)
    assert picture_from(ANI, None) == ProfilePicture(jid=ANI)
    assert picture_refusal('Error: "the user has hidden their profile picture from you"')
    assert picture_refusal("that user or group does not have a profile picture")
    assert not picture_refusal("websocket not connected")


# -------------------------------------------------------------------------- calls


@pytest.mark.anyio
async def test_every_group_and_contact_call_needs_a_connection(tmp_path: Path) -> None:
    """Unconnected, each group and contact call fails as DriverError, before the engine."""
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    calls: list[Callable[[], Awaitable[object]]] = [
        driver.groups,
        lambda: driver.group(GROUP),
        lambda: driver.create_group("Arisan", (ANI,)),
        lambda: driver.leave_group(GROUP),
        lambda: driver.set_group_subject(GROUP, "Arisan"),
        lambda: driver.set_group_description(GROUP, ""),
        lambda: driver.update_participants(GROUP, ParticipantAction.ADD, (ANI,)),
        lambda: driver.group_invite_link(GROUP, False),
        lambda: driver.join_group("AbCdEfGhIjKlMnOpQr"),
        lambda: driver.check_numbers(("+628111111111",)),
        lambda: driver.contact(ANI),
        lambda: driver.profile_picture(ANI),
        lambda: driver.set_blocked(ANI, True),
    ]
    try:
        for call in calls:
            with pytest.raises(DriverError, match="not connected"):
                await call()
    finally:
        await driver.aclose()


ENGINE_CALLS = r"""
import json
import anyio
from test_neonize_support import EngineEntry, holding_proxy, store_fake_device
from wagate import Account, ParticipantAction, WagateError
from wagate.drivers._neonize_engine import WHATSAPP_ENDPOINT, engine, load_neonize
from wagate.drivers.neonize import NeonizeDriver

JID = "628123456789:7@s.whatsapp.net"
ACCOUNT = Account(jid=JID, phone="+628123456789", name="Budi")
GROUP = "120363000000000001@g.us"
ANI = "628111111111@s.whatsapp.net"

class Sink:
    def __init__(self):
        self.linked = anyio.Event()
    def qr(self, code, valid_for):
        pass
    def connected(self, account):
        self.linked.set()
    def message(self, message):
        pass
    def update(self, kind, fields):
        pass

async def main():
    report = {}
    first = NeonizeDriver(database="engine.db")
    engine().dial_result(WHATSAPP_ENDPOINT, ok=True)
    await first.run(Sink(), resume=None)  # offline: creates the engine's tables, fails the dial
    await first.aclose()
    # A paired device, resumed: the engine's stores are those of a linked account (on a
    # device that never paired, whatsmeow's stores are nil and some calls dereference them).
    store_fake_device("engine.db", JID, "Budi")
    async with holding_proxy() as proxy:
        d = NeonizeDriver(database="engine.db", proxy=proxy.url)
        sink = Sink()
        async with anyio.create_task_group() as outer:
            outer.start_soon(lambda: d.run(sink, resume=ACCOUNT))
            with anyio.fail_after(20):
                await proxy.dialed.wait()
            entry = EngineEntry(d)
            await entry.me(JID, "Budi")
            await entry.event(load_neonize().proto.Connected(status=True))
            with anyio.fail_after(20):
                await sink.linked.wait()
            calls = {
                "groups": d.groups,
                "group": lambda: d.group(GROUP),
                "create_group": lambda: d.create_group("Arisan", (ANI,)),
                "leave_group": lambda: d.leave_group(GROUP),
                "set_group_subject": lambda: d.set_group_subject(GROUP, "Arisan"),
                "set_group_description": lambda: d.set_group_description(GROUP, "iuran"),
                "update_participants": lambda: d.update_participants(
                    GROUP, ParticipantAction.ADD, (ANI,)
                ),
                "group_invite_link": lambda: d.group_invite_link(GROUP, True),
                "join_group": lambda: d.join_group("AbCdEfGhIjKlMnOpQr"),
                "check_numbers": lambda: d.check_numbers(("+628111111111",)),
                "contact": lambda: d.contact(ANI),
                "profile_picture": lambda: d.profile_picture(ANI),
                "set_blocked": lambda: d.set_blocked(ANI, True),
            }

            async def one(name, call):
                try:
                    report[name] = ["accepted", repr(await call())]
                except WagateError as exc:
                    report[name] = [type(exc).__name__, exc.message]
                except Exception as exc:
                    report[name] = ["raw", f"{type(exc).__module__}.{type(exc).__name__}: {exc}"]

            # whatsmeow's calls wait for the socket that is still dialling: all are made at
            # once, then the dial is dropped, which gives each the engine's own answer.
            async with anyio.create_task_group() as tg:
                for name, call in calls.items():
                    tg.start_soon(one, name, call)
                await anyio.wait_all_tasks_blocked()
                proxy.close()
            outer.cancel_scope.cancel()
        await d.aclose()
    print(json.dumps(report))

anyio.run(main, backend="asyncio")
"""


def test_group_and_contact_calls_reach_the_engine_and_come_back_as_wagate_errors(
    tmp_path: Path,
) -> None:
    """Each call reaches neonize's real function on a resumed device: DriverError, never a crash."""
    report = run_child(ENGINE_CALLS, tmp_path)
    assert len(report) == 13
    for name, (kind, words) in report.items():
        # The engine's own answer (the socket never came up), in the driver's words.
        assert kind == "DriverError", (name, kind, words)
        assert words.startswith("WhatsApp did not"), (name, words)
        assert "websocket not connected" in words, (name, words)


def neonize_driver(database: str, tenant: str) -> NeonizeDriver:
    """A NeonizeDriver on ``database``, made in a ProcessDriver's child."""
    return NeonizeDriver(database=database)


@pytest.mark.anyio
async def test_the_calls_cross_a_process_driver_to_the_neonize_driver_in_its_child(
    tmp_path: Path,
) -> None:
    """Through a ProcessDriver the calls reach a NeonizeDriver in the child; its errors return."""
    driver = ProcessDriver(functools.partial(neonize_driver, str(tmp_path / "engine.db")))
    try:
        with pytest.raises(DriverError, match="not connected to WhatsApp"):
            await driver.update_participants(GROUP, ParticipantAction.DEMOTE, (ANI, BUDI))
        with pytest.raises(DriverError, match="not connected to WhatsApp"):
            await driver.check_numbers(("+628111111111",))
        with pytest.raises(DriverError, match="not connected to WhatsApp"):
            await driver.join_group("AbCdEfGhIjKlMnOpQr")
    finally:
        await driver.aclose()
