"""A cluster of real processes on one Redis and one PostgreSQL: spread, clients, kill -9, SIGSTOP.

Three ``wagate serve --simulator --redis ... --database postgresql://...``
processes (real subprocesses, the real console script) share 30 simulated
tenants.  Browsers' stand-ins (SSE over httpx, Socket.IO over websockets) are
connected to processes that do not hold their tenant.  Leases are 2 s, so a
takeover happens within about 3 s.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from test_cluster_support import (
    SENDER,
    Served,
    SSEClient,
    Tables,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
    link_over_rest,
    redis_log,
    rest,
    serve,
    wait_until,
)
from test_isolation_support import SECRET, token
from test_socketio import Client
from wagate.cluster._lease import rendezvous

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]

LEASE_TTL = 2.0
TAKEOVER_BOUND = LEASE_TTL * 1.5 + 8  # the design bound, plus room for a loaded machine


def holder_index(processes: list[Served], holders: dict[str, str | None], tenant: str) -> int:
    """The index of the process holding ``tenant``."""
    for index, process in enumerate(processes):
        if process.owns(holders.get(tenant)):
            return index
    raise AssertionError(f"{tenant} is held by {holders.get(tenant)}, no process of ours")


async def settled(tables: Tables, tenants: list[str], count: int) -> dict[str, str | None]:
    """Wait until ``count`` members are alive and every tenant is where rendezvous puts it."""

    def check() -> dict[str, str | None] | None:
        live = tables.live_members()
        holders = tables.holders()
        if len(live) != count:
            return None
        if any(holders.get(t) != rendezvous(t, live) for t in tenants):
            return None
        return holders

    result: dict[str, str | None] = await wait_until(check, timeout=60, step=0.2)
    return result


def socket_seqs(client: Client) -> list[int]:
    """The seqs of the events a Socket.IO client received (the welcome snapshot has none)."""
    return [data["seq"] for _, data in client.messages if isinstance(data, dict) and "seq" in data]


def socket_texts(client: Client) -> list[str]:
    """The texts of the ``message:received`` events a Socket.IO client received."""
    return [data["text"] for name, data in client.messages if name == "message:received"]


@pytest.mark.timeout(300)
async def test_three_processes_thirty_tenants_clients_elsewhere_and_a_kill_9(
    redis_url: str, cluster_database: str, cluster_name: str, tmp_path: Path
) -> None:
    """Clients on non-owners get every event in order; after kill -9 the tenants resume elsewhere.

    After the owner of about 10 tenants is killed: a command for one of them is
    answered at once with ``no_owner``; within the bound they are held by the
    survivors, Connected again without a QR code; SSE clients that were on the
    killed process resume on a survivor with ``Last-Event-ID`` and miss nothing.
    """
    tables = Tables(cluster_database, cluster_name)
    tenants = [f"tenant-{i:02d}" for i in range(30)]
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=50)
    sockets: list[Client] = []
    async with (
        serve(redis_url, cluster_database, cluster_name, tmp_path, count=3) as processes,
        httpx.AsyncClient(limits=limits) as client,
        anyio.create_task_group() as streams,
    ):
        await wait_until(lambda: len(tables.live_members()) == 3, timeout=30)
        urls = [p.url for p in processes]
        limiter = anyio.CapacityLimiter(6)

        async def link_one(index: int, tenant: str) -> None:
            async with limiter:
                await link_over_rest(client, urls[index % 3], urls[(index + 1) % 3], tenant)

        async with anyio.create_task_group() as tg:
            for index, tenant in enumerate(tenants):
                tg.start_soon(link_one, index, tenant)
        holders = await settled(tables, tenants, 3)
        owner = {t: holder_index(processes, holders, t) for t in tenants}
        assert sorted(set(owner.values())) == [0, 1, 2], "every process holds tenants"

        # An SSE client and a Socket.IO client per tenant, each on a process that does
        # not hold the tenant.
        sse: dict[str, SSEClient] = {}
        sse_at: dict[str, int] = {}
        sio: dict[str, Client] = {}
        for tenant in tenants:
            sse_at[tenant] = (owner[tenant] + 1) % 3
            sse[tenant] = SSEClient(tenant)
            await streams.start(sse[tenant].run, client, urls[sse_at[tenant]])
            sio[tenant] = Client()
            sockets.append(sio[tenant])
            await sio[tenant].connect(urls[(owner[tenant] + 2) % 3], {"token": token(tenant)})
        for tenant in tenants:
            await sse[tenant].wait_for(lambda fs: any(f.name == "connection:status" for f in fs))
            await sio[tenant].wait_for(lambda ms: any(n == "connection:status" for n, _ in ms))
            # Their welcome says where the tenant stands, though its session is elsewhere.
            first = next(f for f in sse[tenant].frames if f.name == "connection:status")
            assert first.data["state"] == "connected", first

        # Traffic through any process: two messages in, one out, per tenant.
        rng = random.Random(7)

        async def traffic(tenant: str, texts: list[str], send: bool, via: list[int]) -> None:
            async with limiter:
                for text in texts:
                    at = urls[rng.choice(via)]
                    body = {"from": SENDER, "text": text}
                    reply = await rest(client, "POST", f"{at}/api/simulator/receive", tenant, body)
                    assert reply.status_code == 200, reply.text
                if send:
                    not_owner = urls[(owner[tenant] + 1 + rng.randrange(2)) % 3]
                    body = {"to": SENDER, "text": f"{tenant} out"}
                    reply = await rest(client, "POST", f"{not_owner}/api/send", tenant, body)
                    assert reply.status_code == 200, reply.text
                    assert reply.json()["success"] is True

        async with anyio.create_task_group() as tg:
            for tenant in tenants:
                tg.start_soon(
                    traffic, tenant, [f"{tenant} in 1", f"{tenant} in 2"], True, [0, 1, 2]
                )
        for tenant in tenants:
            expected = [f"{tenant} in 1", f"{tenant} in 2"]
            await sse[tenant].wait_for(lambda fs: any(f.name == "message:sent" for f in fs))
            await sio[tenant].wait_for(lambda ms: any(n == "message:sent" for n, _ in ms))
            assert sse[tenant].texts() == expected
            assert socket_texts(sio[tenant]) == expected
            seqs = sse[tenant].event_seqs()
            assert seqs == sorted(set(seqs)), seqs
            on_socket = socket_seqs(sio[tenant])
            assert on_socket == sorted(on_socket), on_socket

        # kill -9 the process holding the most tenants.
        victim = max(range(3), key=lambda i: sum(1 for t in tenants if owner[t] == i))
        moved = [t for t in tenants if owner[t] == victim]
        survivors = [i for i in range(3) if i != victim]
        os.kill(processes[victim].pid, signal.SIGKILL)
        await processes[victim].process.wait()
        # Its tenants have no owner until their leases run out: a typed error, at once.
        reply = await rest(
            client,
            "POST",
            f"{urls[survivors[0]]}/api/send",
            moved[0],
            {"to": SENDER, "text": "while nobody holds it"},
        )
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "no_owner"

        def all_moved() -> dict[str, str | None] | None:
            holders = tables.holders()
            ok = all(any(processes[i].owns(holders.get(t)) for i in survivors) for t in moved)
            return holders if ok else None

        with anyio.fail_after(TAKEOVER_BOUND):
            await wait_until(all_moved, timeout=TAKEOVER_BOUND, step=0.1)

        # Connected again, without a QR code, as clients on the survivors see it.
        watched = [t for t in moved if sse_at[t] != victim]
        for tenant in watched:
            await sse[tenant].wait_for(_connected_after_kill)
            assert not any(f.name == "qr:generated" for f in sse[tenant].frames)

        # More traffic while the SSE clients that were on the killed process are away.
        async with anyio.create_task_group() as tg:
            for tenant in tenants:
                tg.start_soon(traffic, tenant, [f"{tenant} after"], False, survivors)
        # They come back on a survivor with Last-Event-ID.
        for tenant in tenants:
            if sse_at[tenant] != victim:
                continue
            await sse[tenant].ended.wait()
            again = SSEClient(tenant)
            again.frames = list(sse[tenant].frames)
            last = sse[tenant].last_id
            assert last is not None
            sse[tenant] = again
            resume = functools.partial(again.run, last_event_id=last)
            await streams.start(resume, client, urls[survivors[0]])
        for tenant in tenants:
            await sse[tenant].wait_for(_has_text(f"{tenant} after"))
            frames = sse[tenant].frames
            assert not any(f.name == "stream:gap" for f in frames)
            assert sse[tenant].texts() == [f"{tenant} in 1", f"{tenant} in 2", f"{tenant} after"]
            # Nothing missed: from its first event on, the client has every event of the
            # tenant's log in Redis (the ground truth), in order.
            seqs = sse[tenant].event_seqs()
            logged = [seq for seq, _, _, _ in redis_log(redis_url, cluster_name, tenant)]
            assert seqs == sorted(set(seqs))
            assert seqs == [s for s in logged if seqs[0] <= s <= seqs[-1]], (tenant, seqs, logged)

        # Every tenant answers connected, from any survivor.
        for tenant in tenants:
            reply = await rest(client, "GET", f"{urls[survivors[1]]}/status", tenant)
            assert reply.json()["state"] == "connected", (tenant, reply.text)
        assert tables.check_no_overlap() >= len(tenants) + len(moved)
        for socket in sockets:
            with contextlib.suppress(Exception):
                await socket.sio.disconnect()
        streams.cancel_scope.cancel()


@pytest.mark.timeout(180)
async def test_clients_elsewhere_see_owner_lost_at_once_after_a_kill_9_then_connected(
    redis_url: str, cluster_database: str, cluster_name: str, tmp_path: Path
) -> None:
    """Kill -9 a tenant's owner: clients on the other process get Disconnected(owner_lost).

    They get it when the owner is seen gone, while its lease still runs (so before
    any takeover), with ``willRetry`` true; then Connected once a survivor holds it.
    """
    lease = 8.0  # long enough that "before the takeover" cannot be a coincidence
    tables = Tables(cluster_database, cluster_name)
    async with (
        serve(redis_url, cluster_database, cluster_name, tmp_path, count=2, lease_ttl=lease) as (
            processes
        ),
        httpx.AsyncClient() as client,
        anyio.create_task_group() as streams,
    ):
        await wait_until(lambda: len(tables.live_members()) == 2, timeout=30)
        tenants = [f"tenant-{i}" for i in range(4)]
        for tenant in tenants:
            await link_over_rest(client, processes[0].url, processes[1].url, tenant)
        holders = await settled(tables, tenants, 2)
        victim = holder_index(processes, holders, tenants[0])
        survivor = processes[1 - victim]
        tenant = tenants[0]
        dead_member = holders[tenant]
        watcher = SSEClient(tenant)
        await streams.start(watcher.run, client, survivor.url)
        socket = Client()
        await socket.connect(survivor.url, {"token": token(tenant)})
        await watcher.wait_for(lambda fs: any(f.name == "connection:status" for f in fs))
        await socket.wait_for(lambda ms: any(n == "connection:status" for n, _ in ms))
        assert next(f for f in watcher.frames if f.name == "connection:status").data["state"] == (
            "connected"
        )

        os.kill(processes[victim].pid, signal.SIGKILL)
        await processes[victim].process.wait()
        await watcher.wait_for(_owner_lost, timeout=lease)
        # Seen before the lease ran out: the dead process still holds the tenant.
        assert tables.holders()[tenant] == dead_member
        at = next(i for i, f in enumerate(watcher.frames) if f.name == "whatsapp:disconnected")
        lost, status = watcher.frames[at : at + 2]
        assert (lost.data["reason"], lost.data["willRetry"]) == ("owner_lost", True)
        assert status.name == "connection:status" and status.id == lost.data["seq"]
        assert (status.data["status"], status.data["reason"]) == ("disconnected", "owner_lost")
        await socket.wait_for(
            lambda ms: any(
                n == "whatsapp:disconnected" and d["reason"] == "owner_lost" for n, d in ms
            ),
            timeout=lease,
        )
        # A client that connects now is told the same, though no process holds the tenant.
        late = SSEClient(tenant)
        await streams.start(late.run, client, survivor.url)
        await late.wait_for(lambda fs: any(f.name == "connection:status" for f in fs))
        welcome = next(f for f in late.frames if f.name == "connection:status").data
        assert (welcome["state"], welcome["reason"], welcome["willRetry"]) == (
            "disconnected",
            "owner_lost",
            True,
        )

        # The takeover: Connected again, after the owner_lost, with higher seqs.
        await watcher.wait_for(_connected_after_owner_lost, timeout=TAKEOVER_BOUND + lease)
        await socket.wait_for(
            lambda ms: _connected_after_owner_lost([_Named(n, d) for n, d in ms]),
            timeout=TAKEOVER_BOUND + lease,
        )
        assert survivor.owns(tables.holders()[tenant])
        seqs = watcher.event_seqs()
        assert seqs == sorted(set(seqs)), seqs
        logged = [seq for seq, _, _, _ in redis_log(redis_url, cluster_name, tenant)]
        assert seqs == [s for s in logged if seqs[0] <= s <= seqs[-1]], (seqs, logged)
        # Only the tenants of the killed process were reported lost, each once.
        for other in tenants[1:]:
            reasons = [
                data.get("reason")
                for _, _, name, data in redis_log(redis_url, cluster_name, other)
                if name == "whatsapp:disconnected"
            ]
            expected = 1 if holders[other] == dead_member else 0
            assert reasons.count("owner_lost") == expected, (other, reasons)
        with contextlib.suppress(Exception):
            await socket.sio.disconnect()
        streams.cancel_scope.cancel()


class _Named:
    """A Socket.IO message shaped like an SSE frame (``name``, ``data``)."""

    def __init__(self, name: str, data: Any) -> None:
        self.name = name
        self.data = data if isinstance(data, dict) else {}


def _owner_lost(frames: list[Any]) -> bool:
    return any(
        f.name == "whatsapp:disconnected" and f.data.get("reason") == "owner_lost" for f in frames
    )


def _connected_after_owner_lost(frames: list[Any]) -> bool:
    lost = next(
        i
        for i, f in enumerate(frames)
        if f.name == "whatsapp:disconnected" and f.data.get("reason") == "owner_lost"
    )
    return any(f.name == "whatsapp:connected" for f in frames[lost + 1 :])


def _texts(frames: list[Any]) -> list[str]:
    return [f.data["text"] for f in frames if f.name == "message:received"]


def _has_text(text: str) -> Callable[[list[Any]], bool]:
    return lambda frames: text in _texts(frames)


def _connected_after_kill(frames: list[Any]) -> bool:
    # The takeover's own events: Connecting then Connected, after the last message seen.
    last_message = max(
        (i for i, f in enumerate(frames) if f.name.startswith("message:")), default=-1
    )
    return any(f.name == "whatsapp:connected" for f in frames[last_message + 1 :])


# ---------------------------------------------------------------------------------
# SIGSTOP: a paused owner is fenced

# The app `wagate serve` runs, plus a control channel on stdin that reaches inside
# the process (as a bug or a slow thread would): make a contact write to the
# tenant's simulated phone *here*, and write the tenant's row with a given token.
NODE = r"""
import json, os, socket, sys

import anyio, anyio.to_thread, uvicorn

from wagate import LeaseLost, State, WagateError
from wagate.cli import build_serve_app


async def handle(gateway, command):
    cluster = gateway.cluster
    tenant = command.get("tenant")
    if command["op"] == "owned":
        return {"owned": cluster.owned}
    if command["op"] == "receive":
        session = gateway.get(tenant)
        if session is None:
            return {"result": "no session"}
        try:
            session.driver.phone.receive_message("+628111222333", command["text"])
        except WagateError as exc:
            return {"result": exc.code}
        return {"result": "given to the session"}
    if command["op"] == "write":
        view = cluster.store.fenced(tenant, cluster.leases.guard, (tenant, command["token"]))
        try:
            await view.save(tenant, account=None, state=State.DISCONNECTED)
        except LeaseLost as exc:
            return {"result": exc.code}
        return {"result": "written"}
    return {"error": "unknown op"}


async def main(redis_url, database, name, data_dir):
    app = build_serve_app(
        simulator=True,
        data_dir=data_dir,
        secret=os.environ["WAGATE_SECRET"],
        database=database,
        redis=redis_url,
        cluster_name=name,
        lease_ttl=2.0,
    )
    gateway = app.state.wagate_gateway
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.05)
        print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            print(json.dumps(await handle(gateway, json.loads(line))), flush=True)
        server.should_exit = True


anyio.run(main, *sys.argv[1:])
"""


class Node:
    """A node process and its control channel."""

    def __init__(self, process: anyio.abc.Process, url: str, lines: BufferedByteReceiveStream):
        self.process = process
        self.url = url
        self.pid = process.pid
        self._lines = lines

    def owns(self, member: str | None) -> bool:
        """Whether ``member`` is (an incarnation of) this process."""
        return member is not None and member.split(":")[-2] == str(self.pid)

    async def send(self, command: dict[str, Any]) -> None:
        """Queue a command (read even while the process is stopped)."""
        assert self.process.stdin is not None
        await self.process.stdin.send((json.dumps(command) + "\n").encode())

    async def answer(self) -> dict[str, Any]:
        """The next answer."""
        with anyio.fail_after(30):
            line = await self._lines.receive_until(b"\n", 1 << 20)
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return its answer."""
        await self.send(command)
        return await self.answer()


@contextlib.asynccontextmanager
async def nodes(
    redis_url: str, database: str, name: str, directory: Path, count: int
) -> AsyncIterator[list[Node]]:
    """Start ``count`` node processes at once."""
    env = {**os.environ, "WAGATE_SECRET": SECRET}
    started: list[anyio.abc.Process] = []
    log = directory / "nodes.log"
    try:
        with log.open("wb") as stderr:
            for i in range(count):
                started.append(
                    await anyio.open_process(
                        [
                            sys.executable,
                            "-c",
                            NODE,
                            redis_url,
                            database,
                            name,
                            str(directory / f"d{i}"),
                        ],
                        env=env,
                        stderr=stderr,
                    )
                )
        result = []
        for process in started:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            with anyio.fail_after(90):
                port = json.loads(await lines.receive_until(b"\n", 4096))["port"]
            result.append(Node(process, f"http://127.0.0.1:{port}", lines))
        yield result
    finally:
        with anyio.CancelScope(shield=True):
            for process in started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                if process.stdin is not None:
                    with contextlib.suppress(Exception):
                        await process.stdin.aclose()
            for process in started:
                with anyio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await process.aclose()


@pytest.mark.timeout(240)
async def test_a_paused_owner_is_fenced_and_never_writes_or_emits_for_a_tenant_it_lost(
    redis_url: str, cluster_database: str, cluster_name: str, tmp_path: Path
) -> None:
    """SIGSTOP past the lease: the tenant moves; after SIGCONT the old owner cannot write or emit.

    While it is paused, a command for its tenant from another process ends with a
    typed error (``owner_timeout``), not a hang.
    """
    tables = Tables(cluster_database, cluster_name)
    tenants = [f"tenant-{i}" for i in range(6)]
    async with (
        nodes(redis_url, cluster_database, cluster_name, tmp_path, 3) as processes,
        httpx.AsyncClient() as client,
        anyio.create_task_group() as tg,
    ):
        await wait_until(lambda: len(tables.live_members()) == 3, timeout=30)
        urls = [p.url for p in processes]
        for index, tenant in enumerate(tenants):
            await link_over_rest(client, urls[index % 3], urls[(index + 1) % 3], tenant)
        holders = await settled(tables, tenants, 3)
        held = {i: [t for t in tenants if processes[i].owns(holders.get(t))] for i in range(3)}
        paused_index = max(held, key=lambda i: len(held[i]))
        paused = processes[paused_index]
        tenant = held[paused_index][0]
        old_token = tables.tokens()[tenant]
        other = urls[(paused_index + 1) % 3]
        watcher = SSEClient(tenant)
        await tg.start(watcher.run, client, other)
        await watcher.wait_for(lambda fs: any(f.name == "connection:status" for f in fs))

        os.kill(paused.pid, signal.SIGSTOP)
        try:
            # The owner is silent but its lease has not run out: a command waits for it,
            # then ends with a typed error instead of hanging.
            reply = await rest(
                client, "POST", f"{other}/api/send", tenant, {"to": SENDER, "text": "paused"}
            )
            assert reply.status_code in (503, 504), reply.text
            assert reply.json()["error"]["code"] in ("owner_timeout", "no_owner")

            def moved() -> bool:
                holder = tables.holders().get(tenant)
                return holder is not None and not paused.owns(holder)

            await wait_until(moved, timeout=TAKEOVER_BOUND)
            await watcher.wait_for(_connected_after_kill)
            # Queued while it is stopped, run as soon as it continues: a contact writes to
            # its (stale) phone of the tenant, and a write with its old token.
            await paused.send({"op": "receive", "tenant": tenant, "text": "stale owner"})
            await paused.send({"op": "write", "tenant": tenant, "token": old_token})
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        received = await paused.answer()
        written = await paused.answer()
        assert written == {"result": "lease_lost"}
        assert received["result"] in ("given to the session", "not_linked", "no session")

        async def given_up() -> bool:
            return tenant not in (await paused.ask({"op": "owned"}))["owned"]

        await wait_until(given_up, timeout=20)
        reply = await rest(
            client,
            "POST",
            f"{paused.url}/api/simulator/receive",
            tenant,
            {"from": SENDER, "text": "after the pause"},
        )
        assert reply.status_code == 200, reply.text
        await watcher.wait_for(lambda fs: "after the pause" in _texts(fs))
        assert "stale owner" not in _texts(watcher.frames)
        log = redis_log(redis_url, cluster_name, tenant)
        assert not any(data.get("text") == "stale owner" for _, _, _, data in log)
        tokens = [token for _, token, _, _ in log]
        assert tokens == sorted(tokens), "an event of an older lease came after a newer one"
        assert tables.account(tenant) is not None, "the stale write changed the stored session"
        reply = await rest(client, "GET", f"{paused.url}/status", tenant)
        assert reply.json()["state"] == "connected"
        assert tables.check_no_overlap() >= len(tenants) + 1
        tg.cancel_scope.cancel()


@pytest.mark.timeout(180)
async def test_workers_share_one_port_as_one_cluster(
    redis_url: str, cluster_database: str, cluster_name: str, tmp_path: Path
) -> None:
    """``wagate serve --workers 2`` runs two members behind one port; any request works."""
    tables = Tables(cluster_database, cluster_name)
    async with (
        serve(redis_url, cluster_database, cluster_name, tmp_path, "--workers", "2") as served,
        httpx.AsyncClient() as client,
    ):
        await wait_until(lambda: len(tables.live_members()) == 2, timeout=60)
        pids = {member.split(":")[-2] for member in tables.live_members()}
        assert str(served[0].pid) not in pids  # the workers are the parent's children
        url = served[0].url
        await link_over_rest(client, url, url, "acme")
        for i in range(6):  # each request lands on either worker
            body = {"from": SENDER, "text": f"m{i}"}
            reply = await rest(client, "POST", f"{url}/api/simulator/receive", "acme", body)
            assert reply.status_code == 200, reply.text
        reply = await rest(client, "POST", f"{url}/api/send", "acme", {"to": SENDER, "text": "x"})
        assert reply.json()["success"] is True
        reply = await rest(client, "GET", f"{url}/status", "acme")
        assert reply.json()["state"] == "connected"
