"""Helpers of the cluster tests: a throwaway database, cluster names, members, processes, clients.

(No tests here; the name keeps it next to the tests that use it.)

Everything talks to the real Redis and PostgreSQL of ``conftest.py``'s fixtures.
Each test run gets its own PostgreSQL database (dropped at the end) and each test
its own cluster name, which prefixes its Redis keys and its tables; the keys are
deleted after the test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import psycopg
import pytest
import redis
import redis.asyncio
from anyio.streams.buffered import BufferedByteReceiveStream

from test_isolation_support import SECRET, token
from test_isolation_support import wait_until as _wait_until
from wagate import Event, Gateway, Overflow, Pacing, QrGenerated
from wagate.cli import simulated_phone_number
from wagate.cluster import Cluster
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.integrations._rest import SIMULATOR_COMMANDS

WAGATE = str(Path(sys.executable).parent / "wagate")
SENDER = "+628111222333"
LEASE_TTL = 4.0
"""The lease of in-process members: short, yet long enough for a loaded test machine.

Tests that wait for a lease to run out use 2 s."""


# ---------------------------------------------------------------------------------
# Databases, names and keys


@pytest.fixture(scope="session", name="cluster_database")
def cluster_database_fixture(new_postgres_database: Callable[[str], str]) -> str:
    """The PostgreSQL database of this test run's clusters (dropped at its end); its URL."""
    return new_postgres_database("wagate_cluster")


@pytest.fixture(name="cluster_name")
def cluster_name_fixture(redis_url: str) -> Iterator[str]:
    """A cluster name of this test only; its Redis keys are deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def with_port(url: str, port: int) -> str:
    """``url`` pointing at 127.0.0.1:``port`` (a proxy) instead of its own server."""
    parts = urllib.parse.urlsplit(url)
    who = parts.netloc.rpartition("@")[0]
    netloc = f"{who}@127.0.0.1:{port}" if who else f"127.0.0.1:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def server_port(url: str, default: int) -> int:
    """The port of the server ``url`` names."""
    return urllib.parse.urlsplit(url).port or default


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------
# In-process members


def simulated(tenant: str) -> SimulatedDriver:
    """A tenant's simulated driver; its phone number is the tenant's, so it resumes anywhere."""
    phone = SimulatedPhone(number=simulated_phone_number(tenant), name=tenant)
    return SimulatedDriver(phone=phone)


@contextlib.asynccontextmanager
async def member(
    redis_url: str, database: str, name: str, *, pacing: Pacing | None = None, **options: Any
) -> AsyncIterator[Gateway]:
    """One gateway of the cluster ``name`` in this process (the simulator commands on)."""
    options.setdefault("lease_ttl", LEASE_TTL)
    options.setdefault("connect_timeout", 3.0)
    options.setdefault("command_timeout", 5.0)
    cluster = Cluster(redis_url, database, name=name, **options)
    gateway = Gateway(simulated, cluster=cluster, pacing=pacing)
    gateway.commands.update(SIMULATOR_COMMANDS)
    async with gateway:
        yield gateway


def cluster_of(gateway: Gateway) -> Cluster:
    """The gateway's cluster."""
    assert isinstance(gateway.cluster, Cluster)
    return gateway.cluster


async def next_event(
    events: AsyncIterator[Event], predicate: Callable[[Event], bool], timeout: float = 10
) -> Event:
    """The first event of ``events`` that satisfies ``predicate``."""
    with anyio.fail_after(timeout):
        async for event in events:
            if predicate(event):
                return event
    raise AssertionError("the stream ended")


async def link(gateway: Gateway, tenant: str) -> None:
    """Log ``tenant`` in (QR, scan by its simulated phone), through whichever process holds it."""
    events = gateway.hub.subscribe(tenant, overflow=Overflow.GAP, initial=False)
    try:
        await gateway.restart(tenant)
        await next_event(events, lambda e: isinstance(e, QrGenerated))
    finally:
        events.close()
    status = await gateway.command(tenant, "simulator.scan")
    assert status.connected, status


async def wait_until(check: Callable[[], Any], timeout: float = 15, step: float = 0.05) -> Any:
    """Wait until ``await check()`` (or ``check()``) is truthy; return it (cluster pace)."""
    return await _wait_until(check, timeout, step)


# ---------------------------------------------------------------------------------
# What PostgreSQL and Redis hold


class Tables:
    """Reads the cluster's tables, as an auditor would."""

    def __init__(self, database: str, name: str) -> None:
        self.database = database
        self.name = name

    def _rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database, autocommit=True) as conn:
            try:
                return [tuple(row) for row in conn.execute(query, params).fetchall()]
            except psycopg.errors.UndefinedTable:
                return []  # no member has created the tables yet

    def live_members(self) -> list[str]:
        """The members alive now."""
        return [
            row[0]
            for row in self._rows(
                f"SELECT member FROM {self.name}_members"
                " WHERE NOT evicted AND expires_at > clock_timestamp()"
            )
        ]

    def holders(self) -> dict[str, str | None]:
        """Tenant -> the member holding its lease, when that member is alive."""
        rows = self._rows(
            f"SELECT l.tenant, CASE WHEN m.expires_at > clock_timestamp() AND NOT m.evicted"
            f" THEN l.member END FROM {self.name}_leases l"
            f" LEFT JOIN {self.name}_members m ON m.member = l.member"
        )
        return {row[0]: row[1] for row in rows}

    def tokens(self) -> dict[str, int]:
        """Tenant -> its lease's current token."""
        return {
            row[0]: int(row[1])
            for row in self._rows(f"SELECT tenant, token FROM {self.name}_leases")
        }

    def history(self) -> list[tuple[str, int, str, Any, Any]]:
        """(tenant, token, member, from, until) of every holding, by tenant and token."""
        return self._rows(
            f"SELECT tenant, token, member, acquired_at, ended_at FROM {self.name}_lease_history"
            " ORDER BY tenant, token"
        )

    def account(self, tenant: str) -> str | None:
        """The JID the session store has for ``tenant``."""
        rows = self._rows(
            f"SELECT account_jid FROM {self.name}_sessions WHERE tenant = %s",
            tenant,
        )
        return rows[0][0] if rows else None

    def check_no_overlap(self) -> int:
        """Assert that no two holdings of a tenant overlap; return how many holdings there were."""
        history = self.history()
        by_tenant: dict[str, list[tuple[str, int, str, Any, Any]]] = {}
        for row in history:
            by_tenant.setdefault(row[0], []).append(row)
        for tenant, rows in by_tenant.items():
            tokens = [row[1] for row in rows]
            assert tokens == sorted(set(tokens)), (tenant, tokens)
            for before, after in itertools.pairwise(rows):
                assert before[4] is not None, f"{tenant}: holding {before[1]} never ended"
                assert before[4] <= after[3], (
                    f"{tenant}: holdings {before[1]} and {after[1]} overlap"
                )
        return len(history)


def redis_log(redis_url: str, name: str, tenant: str) -> list[tuple[int, int, str, dict[str, Any]]]:
    """The tenant's replay log in Redis: (seq, token, event name, payload), oldest first."""
    client = redis.Redis.from_url(redis_url)
    try:
        entries: Any = client.xrange(f"{name}:log:{tenant}")
    finally:
        client.close()
    return [
        (
            int(entry_id.decode().partition("-")[0]),
            int(fields[b"k"]),
            fields[b"n"].decode(),
            json.loads(fields[b"d"]),
        )
        for entry_id, fields in entries
    ]


# ---------------------------------------------------------------------------------
# `wagate serve` processes


class Served:
    """One ``wagate serve`` process of a cluster."""

    def __init__(self, process: anyio.abc.Process, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.pid = process.pid

    def owns(self, member: str | None) -> bool:
        """Whether ``member`` is (an incarnation of) this process."""
        return member is not None and member.split(":")[-2] == str(self.pid)

    def stderr(self) -> str:
        """What the process logged so far."""
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def serve(
    redis_url: str,
    database: str,
    name: str,
    directory: Path,
    *extra: str,
    lease_ttl: float = 2.0,
    count: int = 1,
) -> AsyncIterator[list[Served]]:
    """Run ``count`` ``wagate serve --simulator --redis ... --database ...`` at once."""
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "WAGATE_REDIS_URL"}
    env["WAGATE_SECRET"] = SECRET
    command = [
        WAGATE,
        "serve",
        "--simulator",
        "--port",
        "0",
        "--data-dir",
        str(directory / "data"),
        "--redis",
        redis_url,
        "--database",
        database,
        "--cluster-name",
        name,
        "--lease-ttl",
        str(lease_ttl),
        "--log-level",
        "warning",
        *extra,
    ]
    started: list[tuple[anyio.abc.Process, Path]] = []
    try:
        for _ in range(count):
            log = directory / f"serve-{uuid.uuid4().hex[:6]}.log"
            with log.open("wb") as stderr:
                started.append((await anyio.open_process(command, env=env, stderr=stderr), log))
        served: list[Served] = []
        for process, log in started:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            with anyio.fail_after(90):
                while True:
                    line = (await lines.receive_until(b"\n", 65536)).decode()
                    if "serving on " in line:
                        served.append(Served(process, line.split("serving on ")[1].split()[0], log))
                        break
        yield served
    finally:
        with anyio.CancelScope(shield=True):
            for process, _ in started:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGCONT)  # a test may have paused it
                        process.terminate()
            for process, _ in started:
                with anyio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await process.aclose()


def auth(tenant: str) -> dict[str, str]:
    """The Authorization header of a token for ``tenant``."""
    return {"Authorization": f"Bearer {token(tenant)}"}


async def rest(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    tenant: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """A REST call for ``tenant``."""
    return await client.request(method, url, headers=auth(tenant), json=body, timeout=30)


async def link_over_rest(
    client: httpx.AsyncClient, generate_at: str, scan_at: str, tenant: str
) -> None:
    """Log ``tenant`` in through the REST API of two (possibly different) processes."""
    reply = await rest(client, "POST", f"{generate_at}/api/qr/generate", tenant)
    assert reply.status_code == 202, reply.text
    if reply.json()["state"] != "awaiting_scan":
        await wait_until(
            lambda: _state_is(client, generate_at, tenant, "awaiting_scan"), timeout=20
        )
    reply = await rest(client, "POST", f"{scan_at}/api/simulator/scan", tenant)
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "connected", reply.text


async def _state_is(client: httpx.AsyncClient, base: str, tenant: str, state: str) -> bool:
    reply = await rest(client, "GET", f"{base}/status", tenant)
    return reply.status_code == 200 and reply.json()["state"] == state


# ---------------------------------------------------------------------------------
# An SSE client


class Frame:
    """One SSE event: its name, id and JSON payload."""

    def __init__(self, name: str, event_id: int | None, data: dict[str, Any]) -> None:
        self.name = name
        self.id = event_id
        self.data = data

    def __repr__(self) -> str:
        return f"<{self.name} id={self.id} {self.data.get('text') or self.data.get('state') or ''}>"


class SSEClient:
    """Reads ``/api/events`` of a process as a browser would; run :meth:`run` in a task."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.frames: list[Frame] = []
        self.ended = anyio.Event()
        self.status: int | None = None
        self._changed = anyio.Event()

    @property
    def last_id(self) -> int | None:
        """The id of the last event received (what ``Last-Event-ID`` resumes after)."""
        ids = [f.id for f in self.frames if f.id is not None]
        return ids[-1] if ids else None

    async def run(
        self,
        client: httpx.AsyncClient,
        base: str,
        *,
        last_event_id: int | None = None,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream until the server ends it (or the task is cancelled)."""
        headers = auth(self.tenant)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.ended = anyio.Event()
        started = False
        try:
            async with client.stream(
                "GET", f"{base}/api/events", headers=headers, timeout=httpx.Timeout(None)
            ) as response:
                self.status = response.status_code
                task_status.started()
                started = True
                name, event_id, data = "", None, ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("id: "):
                        event_id = int(line[4:])
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and name:
                        self.frames.append(Frame(name, event_id, json.loads(data)))
                        name, event_id, data = "", None, ""
                        self._changed.set()
                        self._changed = anyio.Event()
        except (httpx.HTTPError, OSError):
            pass  # the server went away (killed): the stream just ends
        finally:
            if not started:
                task_status.started()
            self.ended.set()
            self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Frame]], bool], timeout: float = 20) -> None:
        """Wait until the frames satisfy ``predicate``."""
        with anyio.fail_after(timeout):
            while not predicate(self.frames):
                changed = self._changed
                await changed.wait()

    def texts(self) -> list[str]:
        """The texts of the ``message:received`` events, in order."""
        return [f.data["text"] for f in self.frames if f.name == "message:received"]

    def event_seqs(self) -> list[int]:
        """The ids (seqs) of the events received, in order."""
        return [f.id for f in self.frames if f.id is not None]


# ---------------------------------------------------------------------------------
# A TCP proxy a test can cut


class Proxy:
    """A TCP proxy on 127.0.0.1 (a port from the OS) to a server; :meth:`cut` and :meth:`restore`.

    Cutting drops every connection through it and hangs up on new ones at once,
    as a server that went down would; restoring forwards new connections again.
    (The port stays bound: a port let go could be taken meanwhile, even by a
    client's own connection attempt to it.)
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.down = False
        self._connections: set[anyio.CancelScope] = set()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Proxy:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._serve, listener)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)

    def cut(self) -> None:
        """Drop every connection, and hang up on new ones until :meth:`restore`."""
        self.down = True
        for scope in list(self._connections):
            scope.cancel()

    async def restore(self) -> None:
        """Forward new connections again."""
        self.down = False

    async def _serve(self, listener: anyio.abc.Listener[Any]) -> None:
        async with listener:
            await listener.serve(self._pipe)

    async def _pipe(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            if self.down:
                return
            with anyio.CancelScope() as scope:
                self._connections.add(scope)
                try:
                    try:
                        server = await anyio.connect_tcp("127.0.0.1", self.target_port)
                    except OSError:
                        return
                    async with server, anyio.create_task_group() as tg:

                        async def copy(
                            source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream
                        ) -> None:
                            with contextlib.suppress(
                                anyio.EndOfStream, anyio.BrokenResourceError, OSError
                            ):
                                async for chunk in source:
                                    await sink.send(chunk)
                            tg.cancel_scope.cancel()

                        tg.start_soon(copy, client, server)
                        tg.start_soon(copy, server, client)
                finally:
                    self._connections.discard(scope)
