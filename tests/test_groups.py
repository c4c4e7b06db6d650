"""Groups the account is in: listed and read through Session and REST.

The simulated phone's contacts make groups with the account in them; each call's
bad inputs (a person's JID, a group the account is not in, a disconnected
session) get their typed errors.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate import (
    Group,
    GroupInfo,
    GroupRole,
    NotAGroup,
    NotConnected,
    NotInGroup,
    Participant,
    Session,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

SITI = "628111222333@s.whatsapp.net"
AGUS = "628111222444@s.whatsapp.net"


@pytest.mark.anyio
async def test_the_groups_of_the_account_are_listed_and_read(
    session: Session, phone: SimulatedPhone
) -> None:
    family = phone.add_to_group("Family", [CONTACT, "+628111222444"], description="us")
    shop = phone.add_to_group("Shop", [CONTACT], admins=(phone.number,), announce=True, locked=True)
    listed = await session.groups()
    assert listed == [
        GroupInfo(jid=family, subject="Family", description="us", participant_count=3),
        GroupInfo(
            jid=shop,
            subject="Shop",
            participant_count=2,
            is_admin=True,
            announce=True,
            locked=True,
        ),
    ]
    group = await session.group(family)
    assert isinstance(group, Group)
    assert group.participants == (
        Participant(jid=SITI, role=GroupRole.SUPERADMIN),
        Participant(jid=AGUS, role=GroupRole.MEMBER),
        Participant(jid=phone.jid, role=GroupRole.MEMBER),
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("jid", "error"),
    [
        (SITI, NotAGroup),
        ("+628111222333", NotAGroup),
        ("", NotAGroup),
        ("120363999999999999@g.us", NotInGroup),
    ],
)
async def test_bad_group_ids_are_refused_and_the_session_goes_on(
    session: Session, phone: SimulatedPhone, jid: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await session.group(jid)
    assert await session.groups() == []
    await session.send_text(CONTACT, "still here")


@pytest.mark.anyio
async def test_group_calls_while_disconnected_fail_as_sending_does(phone: SimulatedPhone) -> None:
    async with Session("acme", SimulatedDriver(phone=phone, seed=1)) as s:
        with pytest.raises(NotConnected):
            await s.groups()
        with pytest.raises(NotConnected):
            await s.group("120363000000000001@g.us")


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve(request.param) as running:
        running.link(mint("acme"))
        running.link(mint("globex"))
        yield running


def test_groups_over_rest_and_only_the_tenants_own(served: Served) -> None:
    phone = served.phones.phone("acme")
    family = served.call(lambda: phone.add_to_group("Family", [CONTACT]))
    with served.client(mint("acme")) as acme:
        listed = acme.get("/api/groups")
        assert listed.status_code == 200, listed.text
        assert listed.json() == {
            "groups": [
                {
                    "jid": family,
                    "subject": "Family",
                    "description": None,
                    "participantCount": 2,
                    "isAdmin": False,
                    "announce": False,
                    "locked": False,
                }
            ]
        }
        group = acme.get(f"/api/groups/{family}")
        assert group.status_code == 200, group.text
        assert group.json()["participants"] == [
            {"jid": SITI, "role": "superadmin"},
            {"jid": phone.jid, "role": "member"},
        ]
        not_a_group = acme.get(f"/api/groups/{SITI}")
        assert (not_a_group.status_code, not_a_group.json()["error"]["code"]) == (
            422,
            "not_a_group",
        )
    with served.client(mint("globex")) as globex:
        assert globex.get("/api/groups").json() == {"groups": []}
        other = globex.get(f"/api/groups/{family}")
        assert (other.status_code, other.json()["error"]["code"]) == (404, "not_in_group")
