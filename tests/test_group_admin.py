"""Managing groups and asking about contacts: through Session, SyncGateway and REST.

The account makes groups, renames them, adds and removes people (WhatsApp answers
for each), shares and resets invite links, joins by one and leaves; its contacts
do the same to groups it is in and it hears of each as an event.  Each call's bad
inputs (a person's JID for a group, a group the account is not in, an admin's
change by a member, a subject of 0 or 101 characters, 0 or 1,025 participants, a
malformed invite link, 10,000 numbers) get their typed errors and the session goes on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate import (
    Connected,
    ContactInfo,
    GroupJoined,
    GroupLeft,
    GroupParticipantsChanged,
    GroupRole,
    GroupUpdated,
    InvalidInput,
    InvalidInviteLink,
    InvalidParticipants,
    InvalidPhoneNumber,
    InvalidRecipient,
    InvalidSubject,
    InviteNotFound,
    MessageReceived,
    NotAGroup,
    NotConnected,
    NotGroupAdmin,
    NotInGroup,
    NumberCheck,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
    ProfilePicture,
    QrGenerated,
    Session,
    SyncGateway,
    Text,
    TooManyNumbers,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import wait_for

SITI = "628111222333@s.whatsapp.net"
AGUS = "628111222444@s.whatsapp.net"
DEWI = "628111222555@s.whatsapp.net"
NOBODY = "+628111222999"


@pytest.mark.anyio
async def test_the_account_makes_and_runs_a_group(session: Session, phone: SimulatedPhone) -> None:
    phone.not_on_whatsapp.add(NOBODY)
    events = session.events()
    made = await session.create_group("  Team  ", ["+628111222333", SITI, NOBODY])
    assert made.subject == "Team"  # trimmed
    assert made.is_admin
    assert made.participants == (
        Participant(jid=phone.jid, role=GroupRole.SUPERADMIN),
        Participant(jid=SITI, role=GroupRole.MEMBER),  # given twice: added once
    )
    joined = await wait_for(events, GroupJoined)
    assert (joined.jid, joined.subject, joined.by, joined.participant_count) == (
        made.jid,
        "Team",
        None,
        2,
    )

    await session.set_group_subject(made.jid, "Team A")
    await session.set_group_description(made.jid, "who is on call")
    renamed = await wait_for(events, GroupUpdated)
    described = await wait_for(events, GroupUpdated)
    assert (renamed.subject, renamed.by, renamed.description) == ("Team A", phone.jid, None)
    assert (described.description, described.subject) == ("who is on call", None)

    phone.add_only_by_contacts.add(DEWI)
    added = await session.add_participants(made.jid, [AGUS, SITI, DEWI, NOBODY])
    assert added == [
        ParticipantResult(jid=AGUS, ok=True),
        ParticipantResult(jid=SITI, ok=False, error=ParticipantError.ALREADY_IN_GROUP, code=409),
        ParticipantResult(jid=DEWI, ok=False, error=ParticipantError.PRIVACY, code=403),
        ParticipantResult(
            jid="628111222999@s.whatsapp.net",
            ok=False,
            error=ParticipantError.NOT_ON_WHATSAPP,
            code=404,
        ),
    ]
    grown = await wait_for(events, GroupParticipantsChanged)
    assert (grown.action, grown.participants, grown.by) == (
        ParticipantAction.ADD,
        (AGUS,),
        phone.jid,
    )
    promoted = await session.promote_participants(made.jid, [AGUS])
    assert promoted == [ParticipantResult(jid=AGUS, ok=True)]
    creator = await session.demote_participants(made.jid, [phone.jid])
    assert creator[0].error is ParticipantError.NOT_ALLOWED
    removed = await session.remove_participants(made.jid, [SITI, DEWI])
    assert [r.ok for r in removed] == [True, False]
    assert removed[1].error is ParticipantError.NOT_IN_GROUP
    group = await session.group(made.jid)
    assert group.subject == "Team A"
    assert group.description == "who is on call"
    assert group.participants == (
        Participant(jid=phone.jid, role=GroupRole.SUPERADMIN),
        Participant(jid=AGUS, role=GroupRole.ADMIN),
    )

    link = await session.group_invite_link(made.jid)
    assert link.startswith("https://chat.whatsapp.com/")
    assert await session.group_invite_link(made.jid) == link
    fresh = await session.group_invite_link(made.jid, reset=True)
    assert fresh != link

    await session.leave_group(made.jid)
    left = await wait_for(events, GroupLeft)
    assert (left.jid, left.by) == (made.jid, None)
    with pytest.raises(NotInGroup):
        await session.group(made.jid)
    with pytest.raises(InviteNotFound):
        await session.join_group(link)  # reset: the old link is dead
    assert await session.join_group(fresh) == made.jid
    back = await wait_for(events, GroupJoined)
    assert (back.jid, back.by) == (made.jid, None)
    assert (await session.group(made.jid)).is_admin is False
    events.close()


@pytest.mark.anyio
async def test_what_contacts_do_to_a_group_arrives_as_events(
    session: Session, phone: SimulatedPhone
) -> None:
    events = session.events()
    team = phone.add_to_group("Team", [CONTACT, "+628111222444"])
    joined = await wait_for(events, GroupJoined)
    assert (joined.jid, joined.subject, joined.by, joined.participant_count) == (
        team,
        "Team",
        SITI,
        3,
    )
    phone.set_group_settings(team, by=CONTACT, announce=True, locked=True)
    settings = await wait_for(events, GroupUpdated)
    assert (settings.announce, settings.locked, settings.subject, settings.by) == (
        True,
        True,
        None,
        SITI,
    )
    phone.change_participants(team, "promote", ["+628111222444"], by=CONTACT)
    promoted = await wait_for(events, GroupParticipantsChanged)
    assert (promoted.action, promoted.participants) == (ParticipantAction.PROMOTE, (AGUS,))

    phone.send(CONTACT, Text("@Budi look", mentions=(phone.jid,)), group=team)
    phone.send(CONTACT, Text("@Agus look", mentions=(AGUS,)), group=team)
    mentioned = await wait_for(events, MessageReceived)
    other = await wait_for(events, MessageReceived)
    assert (mentioned.chat, mentioned.sender, mentioned.is_group) == (team, SITI, True)
    assert mentioned.mentions_me
    assert not other.mentions_me

    phone.change_participants(team, "remove", [phone.number], by=CONTACT)
    left = await wait_for(events, GroupLeft)
    assert (left.jid, left.by) == (team, SITI)
    assert await session.groups() == []
    events.close()


@pytest.mark.anyio
async def test_admin_changes_by_a_member_get_the_engines_refusal(
    session: Session, phone: SimulatedPhone
) -> None:
    team = phone.add_to_group("Team", [CONTACT], locked=True)
    for change in (
        session.add_participants(team, [AGUS]),
        session.remove_participants(team, [SITI]),
        session.promote_participants(team, [SITI]),
        session.demote_participants(team, [SITI]),
        session.group_invite_link(team),
        session.set_group_subject(team, "Mine now"),  # locked: admins only
        session.set_group_description(team, "mine"),
    ):
        with pytest.raises(NotGroupAdmin, match="only the admins"):
            await change
    assert (await session.group(team)).subject == "Team"
    phone.set_group_settings(team, by=CONTACT, locked=False)
    await session.set_group_subject(team, "Ours")  # unlocked: any member
    assert (await session.group(team)).subject == "Ours"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("subject", "error"),
    [
        ("", InvalidSubject),
        ("   ", InvalidSubject),
        ("x" * 101, InvalidSubject),
        ("two\nlines", InvalidSubject),
        (None, InvalidSubject),
    ],
)
async def test_bad_subjects_are_refused(
    session: Session, phone: SimulatedPhone, subject: object, error: type[Exception]
) -> None:
    team = phone.add_to_group("Team", [CONTACT])
    with pytest.raises(error):
        await session.create_group(subject, [CONTACT])  # type: ignore[arg-type]
    with pytest.raises(error):
        await session.set_group_subject(team, subject)  # type: ignore[arg-type]
    assert (await session.create_group("x" * 100, [CONTACT])).subject == "x" * 100
    assert [g.subject for g in await session.groups()] == ["Team", "x" * 100]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "participants",
    [
        [],
        [f"+62811{n:07d}" for n in range(1025)],
        ["not a number"],
        ["120363000000000001@g.us"],
        "+628111222333",
    ],
    ids=["none", "1025", "garbage", "a-group", "a-string"],
)
async def test_bad_participant_lists_are_refused(
    session: Session, phone: SimulatedPhone, participants: object
) -> None:
    team = phone.add_to_group("Team", [CONTACT], admins=(phone.number,))
    for call in (
        session.add_participants,
        session.remove_participants,
        session.promote_participants,
        session.demote_participants,
    ):
        with pytest.raises(InvalidParticipants):
            await call(team, participants)  # type: ignore[arg-type]
    with pytest.raises(InvalidParticipants):
        await session.create_group("Team", participants)  # type: ignore[arg-type]
    assert (await session.group(team)).participant_count == 2


@pytest.mark.anyio
async def test_a_full_group_takes_1024_and_refuses_one_more(
    session: Session, phone: SimulatedPhone
) -> None:
    people = [f"+62811{n:07d}" for n in range(1024)]
    with pytest.raises(InvalidParticipants, match="1,023"):
        await session.create_group("Everyone", people)  # with the account: 1,025
    made = await session.create_group("Everyone", people[:1023])
    assert made.participant_count == 1024
    late = await session.add_participants(made.jid, [people[1023]])
    assert late == [
        ParticipantResult(
            jid=f"{people[1023][1:]}@s.whatsapp.net",
            ok=False,
            error=ParticipantError.GROUP_FULL,
            code=419,
        )
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "link",
    [
        "",
        "https://chat.whatsapp.com/",
        "https://chat.whatsapp.com/short",
        "https://evil.example/ABCDEFGHIJKLMNOPQRSTUV",
        "https://chat.whatsapp.com/ABCDEFGHIJ KLMNOPQRSTUV",
        "ABCDEFGHIJKLMNOPQRSTUV!",
        "x" * 10_000,
        42,
    ],
)
async def test_invite_links_of_the_wrong_form_are_refused(session: Session, link: object) -> None:
    with pytest.raises(InvalidInviteLink):
        await session.join_group(link)  # type: ignore[arg-type]
    assert await session.groups() == []


@pytest.mark.anyio
async def test_an_invite_link_or_its_code_joins(session: Session, phone: SimulatedPhone) -> None:
    club = phone.add_to_group("Club", [CONTACT], account=False)
    assert await session.groups() == []
    link = phone.invite_link(club)
    code = link.rsplit("/", 1)[1]
    assert await session.join_group(f"http://chat.whatsapp.com/{code}/") == club
    assert await session.join_group(code) == club  # already in: the same group
    assert [g.jid for g in await session.groups()] == [club]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("jid", "error"),
    [(SITI, NotAGroup), ("", NotAGroup), ("120363999999999999@g.us", NotInGroup)],
)
async def test_group_calls_on_a_wrong_jid_are_refused(
    session: Session, jid: str, error: type[Exception]
) -> None:
    calls = (
        session.leave_group(jid),
        session.set_group_subject(jid, "x"),
        session.set_group_description(jid, "x"),
        session.add_participants(jid, [AGUS]),
        session.group_invite_link(jid),
    )
    for call in calls:
        with pytest.raises(error):
            await call
    await session.send_text(CONTACT, "still here")


@pytest.mark.anyio
async def test_a_description_over_2048_characters_is_refused(
    session: Session, phone: SimulatedPhone
) -> None:
    team = phone.add_to_group("Team", [CONTACT])
    with pytest.raises(InvalidInput, match="2,048"):
        await session.set_group_description(team, "x" * 2049)
    await session.set_group_description(team, "x" * 2048)
    await session.set_group_description(team, "")  # removed
    assert (await session.group(team)).description is None


@pytest.mark.anyio
async def test_numbers_are_checked_in_bounded_batches(
    session: Session, phone: SimulatedPhone
) -> None:
    phone.not_on_whatsapp.add(NOBODY)
    checked = await session.check_numbers(["+62 811-1222-333", NOBODY, "628111222333"])
    assert checked == [
        NumberCheck(number="+628111222333", on_whatsapp=True, jid=SITI),
        NumberCheck(number=NOBODY, on_whatsapp=False),
    ]
    thousand = [f"+62811{n:07d}" for n in range(1000)]
    assert len(await session.check_numbers(thousand)) == 1000
    with pytest.raises(TooManyNumbers, match="at most 1,000"):
        await session.check_numbers([f"+62811{n:07d}" for n in range(10_000)])
    with pytest.raises(InvalidPhoneNumber, match="number 1"):
        await session.check_numbers(["+628111222333", "call me"])
    with pytest.raises(InvalidInput):
        await session.check_numbers([])
    with pytest.raises(InvalidInput):
        await session.check_numbers("+628111222333")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_contacts_pictures_and_blocks(session: Session, phone: SimulatedPhone) -> None:
    phone.profiles[SITI] = ContactInfo(
        jid=SITI, push_name="Siti", business_name="Siti's Shop", verified=True
    )
    phone.pictures[SITI] = ProfilePicture(jid=SITI, url="https://pps.example/siti.jpg", id="7")
    siti = await session.contact("+628111222333")
    assert siti == ContactInfo(
        jid=SITI,
        push_name="Siti",
        business_name="Siti's Shop",
        verified=True,
        picture_url="https://pps.example/siti.jpg",
    )
    assert await session.profile_picture(AGUS) == ProfilePicture(jid=AGUS)  # none, or hidden
    await session.block(SITI)
    assert (await session.contact(SITI)).blocked
    assert phone.blocked == {SITI}
    await session.unblock(SITI)
    assert not (await session.contact(SITI)).blocked
    for call in (session.contact, session.block, session.unblock):
        with pytest.raises(InvalidRecipient):
            await call("120363000000000001@g.us")
        with pytest.raises(InvalidRecipient):
            await call("nobody")


@pytest.mark.anyio
async def test_every_call_while_disconnected_fails_as_sending_does(phone: SimulatedPhone) -> None:
    team = "120363000000000001@g.us"
    async with Session("acme", SimulatedDriver(phone=phone, seed=1)) as s:
        for call in (
            s.create_group("Team", [CONTACT]),
            s.leave_group(team),
            s.set_group_subject(team, "x"),
            s.set_group_description(team, "x"),
            s.add_participants(team, [CONTACT]),
            s.remove_participants(team, [CONTACT]),
            s.promote_participants(team, [CONTACT]),
            s.demote_participants(team, [CONTACT]),
            s.group_invite_link(team),
            s.join_group("ABCDEFGHIJKLMNOPQRSTUV"),
            s.check_numbers([CONTACT]),
            s.contact(CONTACT),
            s.profile_picture(CONTACT),
            s.block(CONTACT),
            s.unblock(CONTACT),
        ):
            with pytest.raises(NotConnected):
                await call
        with pytest.raises(NotConnected):
            await s.send_text(CONTACT, "x")


def test_the_sync_gateway_manages_groups() -> None:
    phone = SimulatedPhone(number="+628123456789")
    with SyncGateway(lambda tenant: SimulatedDriver(phone=phone)) as gateway:
        events = gateway.events("acme", timeout=10)
        gateway.connect("acme")
        qr = next(e for e in events if isinstance(e, QrGenerated))
        gateway.session("acme").call(phone.scan, qr.code)
        next(e for e in events if isinstance(e, Connected))
        made = gateway.create_group("acme", "Team", [CONTACT])
        results = gateway.add_participants("acme", made.jid, ["+628111222444", CONTACT])
        assert [r.error for r in results] == [None, ParticipantError.ALREADY_IN_GROUP]
        assert gateway.group_invite_link("acme", made.jid).startswith("https://chat.whatsapp.com/")
        assert gateway.check_numbers("acme", [CONTACT])[0].on_whatsapp
        with pytest.raises(InvalidSubject):
            gateway.set_group_subject("acme", made.jid, "")
        gateway.leave_group("acme", made.jid)
        assert gateway.groups("acme") == []


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve(request.param) as running:
        running.link(mint("acme"))
        running.link(mint("globex"))
        yield running


def test_groups_are_managed_over_rest_and_only_the_tenants_own(served: Served) -> None:
    with served.client(mint("acme")) as acme:
        made = acme.post("/api/groups", json={"subject": "Team", "participants": [CONTACT]})
        assert made.status_code == 201, made.text
        team = made.json()["jid"]
        assert made.json()["participants"][1] == {"jid": SITI, "role": "member"}
        added = acme.post(
            f"/api/groups/{team}/participants/add", json={"participants": [CONTACT, AGUS]}
        )
        assert added.status_code == 200, added.text
        assert added.json() == {
            "results": [
                {"jid": SITI, "ok": False, "error": "already_in_group", "code": 409},
                {"jid": AGUS, "ok": True, "error": None, "code": None},
            ]
        }
        subject = acme.post(f"/api/groups/{team}/subject", json={"subject": "Team A"})
        assert (subject.status_code, subject.json()) == (200, {})
        link = acme.post(f"/api/groups/{team}/invite", json={})
        assert link.status_code == 200, link.text
        reset = acme.post(f"/api/groups/{team}/invite", json={"reset": True})
        assert reset.json()["link"] != link.json()["link"]
        checked = acme.post("/api/contacts/check", json={"numbers": [CONTACT]})
        assert checked.json() == {"numbers": [{"number": CONTACT, "onWhatsApp": True, "jid": SITI}]}
        contact = acme.get(f"/api/contacts/{SITI}")
        assert contact.json()["jid"] == SITI
        picture = acme.get(f"/api/contacts/{SITI}/picture")
        assert picture.json() == {"jid": SITI, "url": None, "id": None}
        assert acme.post(f"/api/contacts/{SITI}/block").status_code == 200

        bad = {
            ("POST", "/api/groups", '{"subject": "", "participants": ["+628111222333"]}'): (
                422,
                "invalid_subject",
            ),
            ("POST", "/api/groups", '{"subject": "x", "participants": []}'): (
                422,
                "invalid_participants",
            ),
            ("POST", "/api/groups", '{"subject": "x"}'): (422, "invalid_input"),
            ("POST", f"/api/groups/{team}/subject", '{"subject": "' + "x" * 101 + '"}'): (
                422,
                "invalid_subject",
            ),
            ("POST", f"/api/groups/{SITI}/leave", None): (422, "not_a_group"),
            ("POST", f"/api/groups/{team}/invite", '{"reset": "yes"}'): (422, "invalid_input"),
            ("POST", "/api/groups/join", '{"inviteLink": "https://evil.example/x"}'): (
                422,
                "invalid_invite_link",
            ),
            (
                "POST",
                "/api/contacts/check",
                '{"numbers": [' + ",".join(['"+628111222333"'] * 1001) + "]}",
            ): (422, "too_many_numbers"),
            ("GET", "/api/contacts/120363000000000001@g.us", None): (422, "invalid_recipient"),
        }
        for (method, path, body), (status, code) in bad.items():
            answer = acme.request(
                method, path, content=body, headers={"content-type": "application/json"}
            )
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), path
    with served.client(mint("globex")) as globex:
        for path in (f"/api/groups/{team}/leave", f"/api/groups/{team}/subject"):
            other = globex.post(path, json={"subject": "Ours"} if "subject" in path else None)
            assert (other.status_code, other.json()["error"]["code"]) == (404, "not_in_group")
        assert globex.get("/api/groups").json() == {"groups": []}
        phone = served.phones.phone("acme")
        member = served.call(lambda: phone.add_to_group("Theirs", [CONTACT]))
    with served.client(mint("acme")) as acme:
        refused = acme.post(f"/api/groups/{member}/participants/add", json={"participants": [AGUS]})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_group_admin")
