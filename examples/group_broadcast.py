"""A group broadcast: make a group, fill it, and post one message to every group.

Run it with ``python examples/group_broadcast.py``. A simulated phone links the
session; its account is already in two groups its contacts made. The script
makes a third, adds people to it and prints WhatsApp's answer for each (one
number has no WhatsApp, one person lets only their contacts add them, one is in
already), sends the group's invite link to whoever refused for privacy, then
posts an announcement in every group the account may post in and prints how
each send went (the simulated WhatsApp refuses one). On a real account swap
``SimulatedDriver`` for ``NeonizeDriver()``: the calls are the same.
"""

from __future__ import annotations

import anyio

from wagate import ParticipantError, ParticipantResult, Session
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import link

ANNOUNCEMENT = "The shop opens at 9 tomorrow."
SITI = "+628111000001"
RINA = "+628111000002"
AGUS = "+628111000003"
NO_WHATSAPP = "+628111000004"
PRIVATE = "+628111000005"


def jid(number: str) -> str:
    """The user JID WhatsApp gives a phone number."""
    return f"{number.removeprefix('+')}@s.whatsapp.net"


def simulated_world(phone: SimulatedPhone) -> None:
    """Two groups the account is in, a number without WhatsApp, a private person."""
    phone.add_to_group("Family", [SITI, RINA])
    phone.add_to_group("Suppliers", [AGUS, SITI], announce=True)
    phone.not_on_whatsapp.add(NO_WHATSAPP)
    phone.add_only_by_contacts.add(jid(PRIVATE))


def answer(result: ParticipantResult) -> str:
    """WhatsApp's answer for one participant, in words."""
    if result.ok:
        return "added"
    why = result.error.value if result.error else "unknown"
    return f"refused, {why} ({result.code})"


async def main() -> None:
    phone = SimulatedPhone(number="+628123456789", name="Budi")
    simulated_world(phone)
    async with Session("acme", driver=SimulatedDriver(phone=phone)) as session:
        linked = await link(session, phone)
        print(f"linked {linked.account.phone} as {linked.account.name}")

        club = await session.create_group("Customers", [SITI])
        print(f"created {club.subject!r} ({club.jid}) with {club.participant_count} members")
        results = await session.add_participants(club.jid, [RINA, NO_WHATSAPP, PRIVATE, SITI])
        for result in results:
            print(f"  {result.jid}: {answer(result)}")

        private = [r.jid for r in results if r.error is ParticipantError.PRIVACY]
        if private:
            invite = await session.group_invite_link(club.jid)
            for person in private:
                await session.send_text(person, f"Join our customers' group: {invite}")
                print(f"  sent {invite} to {person}")

        phone.fail_next_send()  # WhatsApp refuses the next send, as it sometimes does
        for group in await session.groups():
            print(f"{group.subject} ({group.participant_count} members): ", end="")
            if group.announce and not group.is_admin:
                print("skipped, only its admins may post")
                continue
            sent = await session.send_text(group.jid, ANNOUNCEMENT)
            print(f"sent {sent.id}" if sent.success else f"failed: {sent.error}")


if __name__ == "__main__":
    anyio.run(main)
