"""Presence and chat states: set, send, subscribe; what contacts show comes back as events.

Through ``Session`` with the simulator, and through REST on FastAPI and Flask; the
transports' carrying of the two event kinds is checked with the other kinds in
test_sse, test_socketio and test_webhooks (every kind is in the wire table).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate import (
    ChatState,
    ChatStateChanged,
    InvalidInput,
    InvalidRecipient,
    NotConnected,
    Presence,
    PresenceChanged,
    Session,
    to_wire,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import wait_for

SITI = "628111222333@s.whatsapp.net"


@pytest.mark.anyio
async def test_the_account_sets_its_presence_and_its_typing(
    session: Session, phone: SimulatedPhone
) -> None:
    await session.set_presence("unavailable")
    await session.set_presence("available")
    await session.send_chat_state(CONTACT, "composing")
    await session.send_chat_state(SITI, "recording")
    await session.send_chat_state(CONTACT, "paused")
    assert phone.presences == [Presence.UNAVAILABLE, Presence.AVAILABLE]
    assert phone.chat_states == [
        (SITI, ChatState.COMPOSING),
        (SITI, ChatState.RECORDING),
        (SITI, ChatState.PAUSED),
    ]


@pytest.mark.anyio
async def test_a_contacts_typing_arrives_as_chat_state_events(
    session: Session, phone: SimulatedPhone
) -> None:
    events = session.events()
    phone.type_in(CONTACT, "composing")
    typing = await wait_for(events, ChatStateChanged)
    assert (typing.chat, typing.sender, typing.state) == (SITI, SITI, ChatState.COMPOSING)
    group = "120363025246125486@g.us"
    phone.type_in(CONTACT, ChatState.RECORDING, chat=group)
    recording = await wait_for(events, ChatStateChanged)
    assert (recording.chat, recording.sender, recording.state) == (
        group,
        SITI,
        ChatState.RECORDING,
    )
    name, data = to_wire(recording)[0].name, to_wire(recording)[0].data
    assert name == "chat:state"
    assert (data["chat"], data["from"], data["state"]) == (group, SITI, "recording")
    events.close()


@pytest.mark.anyio
async def test_presence_comes_only_for_contacts_the_account_subscribed_to(
    session: Session, phone: SimulatedPhone
) -> None:
    events = session.events()
    seen = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    phone.show_presence(CONTACT, "available")  # not subscribed: WhatsApp sends nothing
    await session.subscribe_presence(CONTACT)
    assert phone.presence_subscriptions == {SITI}
    phone.show_presence(CONTACT, "unavailable", last_seen=seen)
    changed = await wait_for(events, PresenceChanged)
    assert (changed.jid, changed.presence, changed.last_seen) == (SITI, Presence.UNAVAILABLE, seen)
    message = to_wire(changed)[0]
    assert message.name == "presence:changed"
    assert message.data["lastSeen"] == "2026-12-07T08:00:00.000000Z"
    events.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.set_presence("away"), InvalidInput),
        (lambda s: s.set_presence(1), InvalidInput),
        (lambda s: s.send_chat_state(CONTACT, "shouting"), InvalidInput),
        (lambda s: s.send_chat_state("not a number", "composing"), InvalidRecipient),
        (lambda s: s.subscribe_presence("120363025246125486@g.us"), InvalidRecipient),
        (lambda s: s.subscribe_presence(""), InvalidRecipient),
    ],
)
async def test_bad_presence_input_is_refused_and_the_session_goes_on(
    session: Session, phone: SimulatedPhone, call: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(session)  # type: ignore[operator]
    await session.send_chat_state(CONTACT, "composing")
    assert phone.chat_states[-1] == (SITI, ChatState.COMPOSING)


@pytest.mark.anyio
async def test_presence_calls_while_disconnected_fail_as_sending_does(
    phone: SimulatedPhone,
) -> None:
    async with Session("acme", SimulatedDriver(phone=phone, seed=1)) as s:
        for call in (
            s.set_presence("available"),
            s.send_chat_state(CONTACT, "composing"),
            s.subscribe_presence(CONTACT),
        ):
            with pytest.raises(NotConnected):
                await call
        with pytest.raises(NotConnected):
            await s.send_text(CONTACT, "hello")


# -- REST ------------------------------------------------------------------------------


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve(request.param) as running:
        running.link(mint("acme"))
        yield running


def test_presence_and_chat_state_over_rest(served: Served) -> None:
    phone = served.phones.phone("acme")
    with served.client(mint("acme")) as client:
        for path, body in (
            ("/api/presence", {"presence": "available"}),
            ("/api/chats/state", {"chat": CONTACT, "state": "recording"}),
            ("/api/presence/subscribe", {"contact": CONTACT}),
        ):
            answer = client.post(path, json=body)
            assert (answer.status_code, answer.json()) == (200, {}), (path, answer.text)
        bad = [
            client.post("/api/presence", json={"presence": "away"}),
            client.post("/api/chats/state", json={"chat": CONTACT, "state": 3}),
            client.post("/api/chats/state", json={"chat": "x", "state": "paused"}),
            client.post("/api/presence/subscribe", json={}),
        ]
        for answer in bad:
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] in ("invalid_input", "invalid_recipient")
    assert phone.presences == [Presence.AVAILABLE]
    assert phone.chat_states == [(SITI, ChatState.RECORDING)]
    assert phone.presence_subscriptions == {SITI}


def test_presence_routes_refuse_other_tenants_and_no_token(served: Served) -> None:
    with served.client() as anonymous:
        answer = anonymous.post("/api/presence", json={"presence": "available"})
        assert answer.status_code == 401
    with served.client(mint("acme")) as client:
        answer = client.post(
            "/api/presence", json={"presence": "available"}, headers={"X-Wagate-Tenant": "globex"}
        )
        assert answer.status_code == 403, answer.text
    assert served.phones.phone("acme").presences == []
