"""The command registry: every command reaches every surface with the same parameters and result.

The registry (``wagate._commands.COMMANDS``, and the simulator's two) is walked, so
a command added there and missing from a surface fails here: on ``Session``,
``Gateway``, ``SyncGateway``, REST (FastAPI and Flask, through real servers) and
across a cluster (two members in this process, the call made on the non-owner).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import anyio
import pytest

from test_cluster_support import (
    SENDER,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
    cluster_of,
    member,
    next_event,
)
from test_contract_support import FRAMEWORKS, mint, serve
from wagate import (
    AlreadyConnected,
    Gateway,
    InviteNotFound,
    MediaNotFound,
    NotInGroup,
    Overflow,
    QrGenerated,
    Session,
    SyncGateway,
    Text,
    UnknownMessage,
    WagateError,
)
from wagate._commands import COMMANDS, Command
from wagate._sync import Blocking
from wagate.cli import simulated_phone_number
from wagate.drivers.simulator import SimulatedDriver
from wagate.integrations._rest import ROUTES, SIMULATOR_COMMANDS, SIMULATOR_SCAN

pytestmark = pytest.mark.timeout(90)

EVERY = (*COMMANDS, *(c for c in SIMULATOR_COMMANDS.values() if isinstance(c, Command)))
SAMPLES = {
    "to": SENDER,
    "text": "hello",
    "sender": SENDER,
    "phone": "+628123456789",
    "content": Text("hello", mentions=(SENDER,)),
    "message_id": "3EB0NEVERSEEN",
    "emoji": "\N{THUMBS UP SIGN}",
    "chat": SENDER,
    "message_ids": ["3EB0NEVERSEEN"],
    "media_id": "NeverSeenMedia0000000",
    "presence": "available",
    "state": "composing",
    "jid": "120363000000000001@g.us",
    "contact": SENDER,
    "subject": "Team",
    "description": "Who is on call",
    "participants": [SENDER],
    "reset": True,
    "invite_link": "https://chat.whatsapp.com/NOSUCHINVITE0000000000",
    "numbers": ["+628123456789", "+628111222333"],
}
"""An argument for each parameter name a command has (the walk's first group is the
simulator's first JID: the one ``create_group`` makes)."""
PERSON = {"jid": SENDER}
OVERRIDES = {name: PERSON for name in ("contact", "profile_picture", "block", "unblock")}
"""The commands whose ``jid`` is a person's, not the sample group's."""
_SAMPLE_OF = {"id": "media_id", "jid": "jid"}
"""The sample of each path parameter, by its name in the path."""
WITHOUT_ROUTE = {
    "connect",
}
"""The commands the REST API does not offer (yet): the API's paths are a contract."""


def _arguments(command: Command[..., Any], phone: str) -> list[Any]:
    samples = {**SAMPLES, "phone": phone, **OVERRIDES.get(command.name, {})}
    return [samples[p.name] for p in command.params]


def test_every_parameter_has_a_sample() -> None:
    """The walks below can call every command (a new parameter name needs a sample)."""
    assert {p.name for c in EVERY for p in c.params} <= set(SAMPLES)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_session_gateway_and_sync_gateway_have_the_command(command: Command[..., Any]) -> None:
    """Session implements it; Gateway and SyncGateway offer it with its parameters and result."""
    assert inspect.getattr_static(Session, command.name, None) is not None
    # status is a property of the session; download takes a Media or an id, the command an id.
    if command.name not in ("status", "download"):
        assert command.run is getattr(Session, command.name)
    method = getattr(Gateway, command.name)
    signature = inspect.signature(method)
    assert list(signature.parameters)[:2] == ["self", "tenant"]
    assert list(signature.parameters)[2:] == [p.name for p in command.params]
    assert signature.return_annotation == inspect.signature(command.run).return_annotation
    blocking = inspect.getattr_static(SyncGateway, command.name)
    assert isinstance(blocking, Blocking)
    assert blocking.method is method
    assert Gateway(lambda tenant: SimulatedDriver()).commands[command.name] is command


def test_every_command_has_a_rest_route_or_says_it_has_none() -> None:
    """Each command runs behind a REST route, but those listed as having none."""
    routed = {route.command.name for route in ROUTES}
    assert routed | WITHOUT_ROUTE == {c.name for c in EVERY}
    assert not routed & WITHOUT_ROUTE


def test_the_openapi_request_bodies_are_the_commands_parameters() -> None:
    """FastAPI's documented body of a route has exactly its command's parameters, by wire name."""
    pytest.importorskip("fastapi")
    from wagate.adapters.auth import JWTAuthenticator
    from wagate.integrations.fastapi import create_app

    app = create_app(
        Gateway(lambda tenant: SimulatedDriver()), JWTAuthenticator("s" * 32), simulator=True
    )
    paths = app.openapi()["paths"]
    for route in ROUTES:
        body = paths[route.path][route.method.lower()].get("requestBody")
        assert (body is not None) == route.body, route.name
        if body is not None:
            wire = set(body["content"]["application/json"]["schema"]["properties"])
            params = [p for p in route.command.params if p.name not in route.path_params]
            assert wire == {p.wire for p in params}, route.name


GROUP_WALK = (
    "create_group",
    "group",
    "set_group_subject",
    "set_group_description",
    "remove_participants",
    "add_participants",
    "promote_participants",
    "demote_participants",
    "group_invite_link",
    "leave_group",
)
"""The group commands, in an order in which each succeeds (the account made the group)."""
CONTACT_WALK = ("check_numbers", "contact", "profile_picture", "block", "unblock")


async def _walk(
    run: Callable[..., Awaitable[Any]],
    wait_for_qr: Callable[[], Awaitable[None]],
    phone: str = "+628123456789",
) -> set[str]:
    """Call every command once through ``run(command, *args)``; return the names reached.

    ``phone`` is the number of the tenant's simulated phone (its pairing code's).
    """
    reached = set()

    async def call(command: Command[..., Any], *, raises: type[WagateError] | None = None) -> None:
        if raises is not None:
            with pytest.raises(raises):
                await run(command, *_arguments(command, phone))
        else:
            result = await run(command, *_arguments(command, phone))
            assert isinstance(result, command.result), (command.name, result)
        reached.add(command.name)

    by_name = {c.name: c for c in EVERY}
    await call(by_name["connect"])
    await call(by_name["restart"])
    await wait_for_qr()
    await call(by_name["request_pairing_code"])
    await call(SIMULATOR_SCAN)
    await call(by_name["status"])
    await call(by_name["send_text"])
    await call(by_name["send"])
    for name in ("react", "edit", "revoke", "mark_read"):
        # An id the session never saw: the typed error comes back through every surface.
        await call(by_name[name], raises=UnknownMessage)
    await call(by_name["download"], raises=MediaNotFound)
    for name in ("set_presence", "send_chat_state", "subscribe_presence", "groups"):
        await call(by_name[name])
    await call(by_name["group"], raises=NotInGroup)
    for name in GROUP_WALK:
        await call(by_name[name])
    await call(by_name["group"], raises=NotInGroup)  # left
    await call(by_name["join_group"], raises=InviteNotFound)
    for name in CONTACT_WALK:
        await call(by_name[name])
    await call(by_name["simulator.receive"])
    await call(by_name["restart"], raises=AlreadyConnected)
    await call(by_name["logout"])
    return reached


@pytest.mark.anyio
async def test_every_command_runs_through_the_gateway_with_its_result_type() -> None:
    """Gateway.run reaches each command on the tenant's session and gives its typed result."""
    async with Gateway(lambda tenant: SimulatedDriver()) as gateway:
        gateway.commands.update(SIMULATOR_COMMANDS)
        events = gateway.hub.subscribe("acme", overflow=Overflow.GAP, initial=False)

        async def qr() -> None:
            await next_event(events, lambda e: isinstance(e, QrGenerated))

        async def run(command: Command[..., Any], *args: Any) -> Any:
            return await gateway.run(command, "acme", *args)

        assert await _walk(run, qr) == {c.name for c in EVERY}
        events.close()


def test_every_command_runs_through_the_sync_gateway() -> None:
    """SyncGateway.run reaches each command, blocking, with its typed result."""
    with SyncGateway(lambda tenant: SimulatedDriver()) as gateway:
        gateway.gateway.commands.update(SIMULATOR_COMMANDS)
        events = gateway.events("acme", timeout=10)

        async def qr() -> None:
            await anyio.to_thread.run_sync(
                lambda: next(e for e in events if isinstance(e, QrGenerated))
            )

        async def run(command: Command[..., Any], *args: Any) -> Any:
            return await anyio.to_thread.run_sync(lambda: gateway.run(command, "acme", *args))

        assert anyio.run(_walk, run, qr) == {c.name for c in EVERY}


@pytest.mark.anyio
@pytest.mark.redis
@pytest.mark.postgres
async def test_every_command_crosses_the_cluster_with_its_result_type(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    """From a non-owner, each command runs on the owner and its typed result comes back."""
    async with (
        member(redis_url, cluster_database, cluster_name) as a,
        member(redis_url, cluster_database, cluster_name) as b,
    ):
        await a.status("acme")  # someone takes the tenant
        other = b if "acme" in cluster_of(a).owned else a
        events = other.hub.subscribe("acme", overflow=Overflow.GAP, initial=False)

        async def qr() -> None:
            await next_event(events, lambda e: isinstance(e, QrGenerated))

        async def run(command: Command[..., Any], *args: Any) -> Any:
            return await other.run(command, "acme", *args)

        assert await _walk(run, qr, simulated_phone_number("acme")) == {c.name for c in EVERY}
        assert other.get("acme") is None  # every call ran on the owner
        events.close()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_route_answers_through_a_real_server(framework: str) -> None:
    """Each REST route of the table answers its success status on FastAPI and Flask."""
    order = [
        "generate",
        "qr",
        "pairing_code",
        "simulator_scan",
        "status",
        "send",
        "messages",
        "react",
        "edit",
        "revoke",
        "read",
        "media",
        "presence",
        "subscribe_presence",
        "chat_state",
        "groups",
        "group",
        *(name for name in GROUP_WALK if name != "group"),
        "join_group",
        *CONTACT_WALK,
        "simulator_receive",
        "logout",
    ]
    # Ids the session never saw: the typed refusal, through a real server.
    unknown = {
        "react": "unknown_message",
        "edit": "unknown_message",
        "revoke": "unknown_message",
        "read": "unknown_message",
        "media": "media_not_found",
        "group": "not_in_group",
        "join_group": "invite_not_found",
    }
    assert sorted(order) == sorted(route.name for route in ROUTES)
    by_name = {route.name: route for route in ROUTES}
    now = datetime.now(timezone.utc)
    with serve(framework) as served, served.client(mint("walker")) as client:
        for name in order:
            route = by_name[name]
            number = served.phones.phone("walker").number  # its pairing code's
            samples = {**SAMPLES, "phone": number, **OVERRIDES.get(route.command.name, {})}
            body = (
                {
                    p.wire: samples[p.name]
                    if p.codec is None
                    else p.codec.encode(samples[p.name], now)
                    for p in route.command.params
                    if p.name not in route.path_params
                }
                if route.body
                else None
            )
            path = route.path.format(**{n: samples[_SAMPLE_OF[n]] for n in route.path_params})
            answer = client.request(route.method, path, json=body)
            if name in unknown:
                assert answer.status_code == 404, (name, answer.text)
                assert answer.json()["error"]["code"] == unknown[name]
            else:
                assert answer.status_code == route.status, (name, answer.text)
