"""Tenant isolation, as a property, for Socket.IO and SSE.

Random tenants, clients with random valid and invalid tokens, random join attempts
and random event streams: no client ever receives an event of a tenant it is not
granted, and every granted client receives every event of its tenants, in seq order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from test_isolation_support import (
    WRONG_SECRET,
    Phones,
    authenticator,
    serve,
    token,
    unsigned_token,
)
from test_socketio import Client
from wagate import Gateway
from wagate.adapters.socketio import SocketIOAdapter
from wagate.adapters.sse import ServerSentEvents

LINKED = ("t0", "t1", "t2")
"""Tenants with a linked session (they produce events)."""
GHOST = "ghost"
"""A tenant a token may grant that has no session (it never produces events)."""
POOL = (*LINKED, GHOST)
MARKER = "marker"
SENDER = "+628111222333"

CREDENTIALS = ("valid", "valid", "valid", "expired", "wrong_secret", "garbage", "alg_none", "none")


@attrs.frozen
class ClientPlan:
    """One client: its credentials, the tenants its token grants, what it asks for."""

    credentials: str
    granted: frozenset[str]
    ask: frozenset[str] | None
    joins: tuple[str, ...]


tenant_sets = st.frozensets(st.sampled_from(POOL), min_size=1, max_size=3)
client_plans = st.builds(
    ClientPlan,
    credentials=st.sampled_from(CREDENTIALS),
    granted=tenant_sets,
    ask=st.none() | tenant_sets,
    joins=st.lists(st.sampled_from(POOL), max_size=3).map(tuple),
)
event_plans = st.lists(st.sampled_from(LINKED), max_size=12)


def credential(plan_credentials: str, granted: frozenset[str]) -> str | None:
    """A token of the kind the plan names (``None``: no token at all)."""
    if plan_credentials == "valid":
        return token(granted)
    if plan_credentials == "expired":
        return token(granted, exp_in=-30)
    if plan_credentials == "wrong_secret":
        return token(granted, secret=WRONG_SECRET)
    if plan_credentials == "garbage":
        return "not.a.token"
    if plan_credentials == "alg_none":
        return unsigned_token(sorted(granted)[0])
    return None


def expected_texts(events: list[str]) -> dict[str, list[str]]:
    """Per tenant, the texts published in order (markers last)."""
    texts: dict[str, list[str]] = {tenant: [] for tenant in POOL}
    for index, tenant in enumerate(events):
        texts[tenant].append(f"e{index}")
    for tenant in LINKED:
        texts[tenant].append(MARKER)
    return texts


@contextlib.asynccontextmanager
async def linked_gateway() -> AsyncIterator[tuple[Gateway, Phones]]:
    """A gateway whose LINKED tenants are linked to simulated phones."""
    phones = Phones()
    async with Gateway(phones) as gateway:
        for tenant in LINKED:
            await phones.link(gateway, tenant)
        yield gateway, phones


def publish(phones: Phones, events: list[str]) -> None:
    """Produce the planned events, then one marker per linked tenant."""
    for index, tenant in enumerate(events):
        phones.phone(tenant).receive_message(sender=SENDER, text=f"e{index}")
    for tenant in LINKED:
        phones.phone(tenant).receive_message(sender=SENDER, text=MARKER)


def check_stream(
    received: list[tuple[str, dict[str, Any]]], members: set[str], texts: dict[str, list[str]]
) -> None:
    """The property: only member tenants, and all of their events in seq order."""
    foreign = [(name, data) for name, data in received if data.get("tenant", "") not in members]
    assert not foreign, f"received events of tenants it was not granted: {foreign}"
    for tenant in members:
        mine = [d for n, d in received if n == "message:received" and d["tenant"] == tenant]
        assert [d["text"] for d in mine] == texts[tenant]
        seqs = [d["seq"] for d in mine]
        assert seqs == sorted(set(seqs))


# ------------------------------------------------------------------ Socket.IO

REFUSALS = {
    "expired": "token_expired",
    "wrong_secret": "invalid_token",
    "garbage": "invalid_token",
    "alg_none": "invalid_token",
    "none": "missing_token",
}
"""The error code of a refused connection, by kind of credentials."""

Received = list[tuple[str, Any]]


def welcomed_to(tenants: set[str]) -> Callable[[Received], bool]:
    """Whether a socket got the connection:status of each of ``tenants``."""
    want = frozenset(tenants)
    return lambda ms: {d["tenant"] for n, d in ms if n == "connection:status"} >= want


def got_marker(tenant: str) -> Callable[[Received], bool]:
    """Whether a socket got ``tenant``'s marker message."""
    return lambda ms: any(
        n == "message:received" and d["tenant"] == tenant and d["text"] == MARKER for n, d in ms
    )


async def socketio_scenario(plans: list[ClientPlan], events: list[str]) -> None:
    texts = expected_texts(events)
    async with linked_gateway() as (gateway, phones):
        adapter = SocketIOAdapter(gateway, authenticator())
        async with adapter, serve(adapter.asgi_app()) as url:
            connected: list[tuple[Client, set[str]]] = []
            clients: list[Client] = []
            try:
                for plan in plans:
                    client = Client()
                    clients.append(client)
                    credentials = credential(plan.credentials, plan.granted)
                    auth: dict[str, Any] = {} if credentials is None else {"token": credentials}
                    if plan.ask is not None:
                        auth["tenants"] = sorted(plan.ask)
                    should_connect = plan.credentials == "valid" and (
                        plan.ask is None or plan.ask <= plan.granted
                    )
                    if not should_connect:
                        with pytest.raises(socketio.exceptions.ConnectionError):
                            await client.connect(url, auth)
                        error = client.connect_error["data"]["error"]
                        assert error["code"] == REFUSALS.get(plan.credentials, "forbidden")
                        continue
                    await client.connect(url, auth)
                    members = set(plan.ask if plan.ask is not None else plan.granted)
                    await client.wait_for(welcomed_to(members))
                    for tenant in plan.joins:
                        ack = await client.sio.call("join", tenant, timeout=5)
                        if tenant in plan.granted:
                            assert ack == {"ok": True, "tenant": tenant}
                            members.add(tenant)
                        else:
                            assert ack["error"]["code"] == "forbidden"
                    connected.append((client, members))
                publish(phones, events)
                for client, members in connected:
                    for tenant in members & set(LINKED):
                        await client.wait_for(got_marker(tenant))
                for client, members in connected:
                    received = [(n, d) for n, d in client.messages if n != "error"]
                    check_stream(received, members, texts)
                    errors = [d for n, d in client.messages if n == "error"]
                    assert all(e["error"]["code"] == "forbidden" for e in errors)
            finally:
                for client in clients:
                    await client.sio.disconnect()


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=st.lists(client_plans, min_size=1, max_size=4), events=event_plans)
def test_socketio_isolation(plans: list[ClientPlan], events: list[str]) -> None:
    """Socket.IO: nobody gets another tenant's event; granted clients get all theirs in order."""
    anyio.run(socketio_scenario, plans, events, backend="asyncio")


# ------------------------------------------------------------------ SSE


@attrs.frozen
class StreamPlan:
    """One SSE client: its credentials, the tenants its token grants, the tenant it asks for."""

    credentials: str
    granted: frozenset[str]
    tenant: str | None


stream_plans = st.builds(
    StreamPlan,
    credentials=st.sampled_from(CREDENTIALS),
    granted=tenant_sets,
    tenant=st.none() | st.sampled_from(POOL),
)


def expected_status(plan: StreamPlan) -> tuple[int, str | None]:
    """The status an SSE request gets, and the tenant it streams when 200."""
    if plan.credentials != "valid":
        return 401, None
    if plan.tenant is not None:
        return (200, plan.tenant) if plan.tenant in plan.granted else (403, None)
    if len(plan.granted) > 1:
        return 422, None  # tenant_required, as on the REST routes
    return 200, next(iter(plan.granted))


async def read_until_marker(
    lines: AsyncIterator[str], tenant: str, into: list[tuple[str, dict[str, Any]]]
) -> None:
    """Collect a stream's frames until the tenant's marker."""
    fields: dict[str, str] = {}
    async for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            data = json.loads(fields["data"])
            into.append((fields.get("event", "message"), data))
            if data.get("text") == MARKER and data.get("tenant") == tenant:
                return
        fields = {}


async def sse_scenario(plans: list[StreamPlan], events: list[str]) -> None:
    texts = expected_texts(events)
    async with linked_gateway() as (gateway, phones):
        sse = ServerSentEvents(gateway, authenticator())
        app = Starlette(routes=[Route("/events", sse.starlette_endpoint)])
        async with (
            serve(app) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
            contextlib.AsyncExitStack() as stack,
        ):
            streams: list[tuple[AsyncIterator[str], str, list[tuple[str, dict[str, Any]]]]] = []
            for plan in plans:
                credentials = credential(plan.credentials, plan.granted)
                headers = {} if credentials is None else {"Authorization": f"Bearer {credentials}"}
                params = {} if plan.tenant is None else {"tenant": plan.tenant}
                response = await stack.enter_async_context(
                    http.stream("GET", "/events", headers=headers, params=params)
                )
                status, tenant = expected_status(plan)
                assert response.status_code == status
                if tenant is None:
                    await response.aread()
                    assert response.json()["error"]["code"]
                    continue
                received: list[tuple[str, dict[str, Any]]] = []
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith("event: connection:status")
                streams.append((lines, tenant, received))
            publish(phones, events)
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for lines, tenant, received in streams:
                        if tenant in LINKED:
                            tg.start_soon(read_until_marker, lines, tenant, received)
            for _, tenant, received in streams:
                if tenant in LINKED:
                    check_stream(received, {tenant}, texts)


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=st.lists(stream_plans, min_size=1, max_size=4), events=event_plans)
def test_sse_isolation(plans: list[StreamPlan], events: list[str]) -> None:
    """SSE: nobody gets another tenant's event; granted streams get all theirs in order."""
    anyio.run(sse_scenario, plans, events, backend="asyncio")
