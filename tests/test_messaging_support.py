"""One of each message kind and update, for the transport tests to carry.

:func:`every_update` makes the simulated phone and the session produce a presence,
a "typing…", a received image, a reaction, an edit, a delete, a group the account is
added to, renamed, grown and then removed from, a sent text and its receipts; it
returns the
session's own events of that span, whose wire forms (``to_wire``) each transport
must deliver, in order, unchanged.
"""

from __future__ import annotations

import io
import json
from typing import Any

import anyio
from PIL import Image as PILImage

from wagate import (
    Event,
    Hub,
    Image,
    MessageStatus,
    Receipt,
    Session,
    Text,
    to_wire,
)
from wagate.drivers.simulator import SimulatedPhone

CONTACT = "+628111222333"
RICH_KINDS = (
    "message:received",
    "message:reaction",
    "message:edited",
    "message:revoked",
    "message:sent",
    "message:status",
    "presence:changed",
    "chat:state",
    "group:joined",
    "group:updated",
    "group:participants",
    "group:left",
)
"""The wire names :func:`every_update` produces (each at least once)."""


def png() -> bytes:
    """A small real PNG."""
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def wire(event: Event) -> tuple[str, Any]:
    """An event's wire name and JSON payload, as a transport carries it."""
    message = to_wire(event)[0]
    return message.name, json.loads(json.dumps(message.data))


async def every_update(session: Session, phone: SimulatedPhone, hub: Hub) -> list[Event]:
    """Make one of each rich event on ``session``; its events of that span, in order."""
    seen: list[Event] = []
    # Only what happens from now on (not the current state a new subscription starts with).
    events = hub.subscribe(session.tenant, initial=False)
    try:
        await session.subscribe_presence(CONTACT)
        phone.show_presence(CONTACT, "available")
        phone.type_in(CONTACT, "composing")
        image = phone.send(CONTACT, Image(png(), caption="the receipt"))
        phone.react(CONTACT, image, "\N{THUMBS UP SIGN}")
        typo = phone.send(CONTACT, Text("helo"), push_name="Siti")
        phone.edit(CONTACT, typo, "hello")
        phone.revoke(CONTACT, typo)
        team = phone.add_to_group("Team", [CONTACT], admins=(phone.number,))
        phone.rename_group(team, "Team A", by=CONTACT)
        await session.add_participants(team, ["+628111222444"])
        phone.change_participants(team, "remove", [phone.number], by=CONTACT)
        sent = await session.send(CONTACT, Text("thanks", reply_to=image))
        with anyio.fail_after(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, MessageStatus) and event.status is Receipt.DELIVERED:
                    phone.open_chat(CONTACT)
                if (
                    isinstance(event, MessageStatus)
                    and event.status is Receipt.READ
                    and sent.id in event.ids
                ):
                    break
    finally:
        events.close()
    names = {wire(e)[0] for e in seen}
    assert names >= set(RICH_KINDS), names
    return seen
