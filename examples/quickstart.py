"""The quickstart: link a simulated phone, send and receive a message.

Run it with ``python examples/quickstart.py``. The QR code is drawn in the
terminal; the simulated phone scans it, as a person would with WhatsApp's
"Link a device". Swap ``SimulatedDriver`` for ``NeonizeDriver()`` to link a real
phone.
"""

from __future__ import annotations

import anyio

from wagate import Connected, MessageReceived, MessageSent, QrGenerated, Session
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone


async def main() -> None:
    phone = SimulatedPhone(number="+628123456789", name="Budi")
    async with Session("acme", driver=SimulatedDriver(phone=phone)) as session:
        await session.connect()
        async for event in session.events():
            match event:
                case QrGenerated():
                    print(event.terminal())
                    print(
                        f"Scan this QR code with WhatsApp (expires in {event.expires_in():.0f} s)"
                    )
                    phone.scan(event.code)  # the phone scans the code on screen
                case Connected():
                    print("linked", event.account.phone, event.account.name)
                    await session.send_text("+628111222333", "hello")
                    phone.receive_message(sender="+628111222333", text="hi", push_name="Siti")
                case MessageSent():
                    print(f"sent {event.text!r} to {event.to} (id {event.id})")
                case MessageReceived():
                    print(f"received {event.text!r} from {event.push_name} ({event.sender})")
                    break


if __name__ == "__main__":
    anyio.run(main)
