"""A media bot: every image a contact sends comes back with a caption.

Run it with ``python examples/media_bot.py``. A simulated phone links the
session, a contact sends two photos (and a text, which the bot answers with a
reply), and the bot echoes each image back, quoting it, with a caption naming
its size. Swap ``SimulatedDriver`` for ``NeonizeDriver()`` to run it on a real
account.
"""

from __future__ import annotations

import io

import anyio
from PIL import Image as Picture

from wagate import Image, Media, MessageReceived, MessageSent, Session, Text
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import link

CONTACT = "+628111222333"


def photo(color: tuple[int, int, int]) -> bytes:
    """A small JPEG, as a phone's camera would send (smaller)."""
    out = io.BytesIO()
    Picture.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


async def main() -> None:
    phone = SimulatedPhone(number="+628123456789", name="Budi")
    async with Session("acme", driver=SimulatedDriver(phone=phone)) as session:
        events = session.events()
        await link(session, phone, events)
        sent_photos = [photo((200, 30, 30)), photo((30, 30, 200))]
        for data in sent_photos:
            phone.send(CONTACT, Image(data, caption="my receipt"), push_name="Siti")
        phone.send(CONTACT, Text("did you get them?"), push_name="Siti")
        echoed = 0
        async for event in events:
            if isinstance(event, MessageReceived) and isinstance(event.content, Image):
                media = event.content.media
                assert isinstance(media, Media)  # received media is a descriptor
                await session.send(
                    event.chat,
                    Image(media, caption=f"got your image ({media.size} bytes)", reply_to=event.id),
                )
            elif isinstance(event, MessageReceived) and isinstance(event.content, Text):
                await session.send(event.chat, Text("yes, thanks!", reply_to=event.id))
            elif isinstance(event, MessageSent) and event.success:
                print(f"sent a {event.kind} to {event.to}: {event.text!r}")
                echoed += event.kind == "image"
                if echoed == len(sent_photos) and event.kind == "text":
                    break
        back = [m.content.media for m in phone.sent if isinstance(m.content, Image)]
        print("images echoed byte for byte:", back == sent_photos)


if __name__ == "__main__":
    anyio.run(main)
