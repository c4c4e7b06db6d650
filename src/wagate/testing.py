"""Helpers for host applications' own tests, built on the simulator.

Example:
    ```python
    from wagate.testing import link, wait_for

    async def test_my_app_replies() -> None:
        driver = SimulatedDriver()
        async with Session("acme", driver=driver) as session:
            events = session.events()
            await link(session, driver.phone, events)
            driver.phone.receive_message("+628111222333", "ping")
            received = await wait_for(events, MessageReceived)
            assert received.text == "ping"
    ```
"""

from __future__ import annotations

from typing import TypeVar, overload

import anyio

from ._events import Connected, Event, QrGenerated
from ._hub import Subscription
from ._session import Session
from .drivers.simulator import SimulatedPhone

__all__ = ["collect", "link", "wait_for"]

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)


@overload
async def wait_for(events: Subscription, kind: type[E], *, timeout: float = 5.0) -> E: ...


@overload
async def wait_for(
    events: Subscription, kind: type[E], kind2: type[E2], *, timeout: float = 5.0
) -> E | E2: ...


async def wait_for(
    events: Subscription,
    kind: type[Event],
    kind2: type[Event] | None = None,
    *,
    timeout: float = 5.0,
) -> Event:
    """Read ``events`` until an event of one of ``kinds`` arrives, and return it.

    Raises:
        TimeoutError: none arrived within ``timeout`` seconds.
        LookupError: the stream ended first.
    """
    kinds: tuple[type[Event], ...] = (kind,) if kind2 is None else (kind, kind2)
    with anyio.fail_after(timeout):
        async for event in events:
            if isinstance(event, kinds):
                return event
    raise LookupError(f"the event stream ended before any {[k.__name__ for k in kinds]}")


async def collect(events: Subscription, count: int, *, timeout: float = 5.0) -> list[Event]:
    """Read exactly ``count`` events from ``events``.

    Raises:
        TimeoutError: fewer arrived within ``timeout`` seconds.
    """
    out: list[Event] = []
    with anyio.fail_after(timeout):
        async for event in events:
            out.append(event)
            if len(out) == count:
                return out
    raise LookupError(f"the event stream ended after {len(out)} of {count} events")


async def link(
    session: Session,
    phone: SimulatedPhone,
    events: Subscription | None = None,
    *,
    timeout: float = 5.0,
) -> Connected:
    """Connect ``session`` and scan its first QR code with ``phone``; return ``Connected``.

    Pass ``events`` (a subscription made before) to keep reading the same stream
    afterwards.
    """
    stream = events if events is not None else session.events()
    await session.connect()
    first = await wait_for(stream, QrGenerated, Connected, timeout=timeout)
    if isinstance(first, Connected):
        return first
    phone.scan(first.code)
    return await wait_for(stream, Connected, timeout=timeout)
