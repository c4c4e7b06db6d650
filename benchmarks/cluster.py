"""A cluster on Redis and PostgreSQL: backplane throughput, failover after kill -9, latency.

Run it (Redis and PostgreSQL on 127.0.0.1, as the tests use them)::

    .venv/bin/python -P benchmarks/cluster.py
    .venv/bin/python -P benchmarks/cluster.py --events 20000 --rounds 5 --lease-ttl 2

(``-P`` keeps ``benchmarks/`` itself off ``sys.path``, so its modules never shadow
the standard library's.)

Three figures, measured in one run:

1. **Throughput**: events per second from a publisher to a subscriber, through
   the in-memory hub of one process, and through the Redis backplane (an owner
   member publishes, a member that shares nothing with it in memory receives),
   side by side.  The events are ``message:received``-sized; one tenant, and
   then many tenants.
2. **Failover after kill -9**: three ``wagate serve --simulator --redis ...``
   processes hold linked tenants; the owner of some is killed with SIGKILL.  The
   clock runs from the kill until an SSE client on a survivor has seen every
   moved tenant Connected again (no QR code).  The median of ``--rounds`` kills
   (a new process replaces the killed one each time).  The design bound is
   ``lease_ttl * 1.5`` plus the resume.
3. **Latency**: from an event's creation in the owner process (its ``at``) to
   its arrival at an SSE client connected to another process, p50 and p99.

Each database and Redis prefix is made for the run and removed after it.
Nothing here asserts a timing (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import secrets
import signal
import statistics
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import jwt
import psycopg
import redis
from anyio.streams.buffered import BufferedByteReceiveStream

from wagate import Gateway, Hub, MessageReceived, Overflow
from wagate.cli import simulated_phone_number
from wagate.cluster import Cluster
from wagate.cluster._lease import rendezvous
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

WAGATE = str(Path(sys.executable).parent / "wagate")
SECRET = secrets.token_urlsafe(48)
SENDER = "+628111222333"
AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def token(tenant: str) -> str:
    now = int(time.time())
    return jwt.encode({"tenant": tenant, "exp": now + 3600}, SECRET, algorithm="HS256")


def headers(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant)}"}


def message(tenant: str, seq: int) -> MessageReceived:
    return MessageReceived(
        tenant=tenant,
        seq=seq,
        at=datetime.now(timezone.utc),
        id=f"3EB0{seq:016X}",
        chat="628111222333@s.whatsapp.net",
        sender="628111222333@s.whatsapp.net",
        push_name="Budi",
        text=f"message number {seq} with some words in it, as a chat message has",
        is_group=False,
        timestamp=AT,
    )


def simulated(tenant: str) -> SimulatedDriver:
    phone = SimulatedPhone(number=simulated_phone_number(tenant), name=tenant)
    return SimulatedDriver(phone=phone)


# ---------------------------------------------------------------------------------
# A throwaway database and prefix


@contextlib.contextmanager
def database(postgres_url: str) -> Any:
    name = f"wagate_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(postgres_url)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def forget(redis_url: str, name: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# ---------------------------------------------------------------------------------
# 1. Throughput


async def drain(subscription: Any, count: int) -> None:
    received = 0
    async for _ in subscription:
        received += 1
        if received == count:
            return


async def through_memory(events: int, tenants: int) -> float:
    hub = Hub(buffer=events + 1, all_buffer=events + 1)
    subscription = hub.subscribe(None, initial=False)
    batch = [message(f"t{i % tenants}", i // tenants + 1) for i in range(events)]
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(drain, subscription, events)
        for event in batch:
            hub.publish(event)
    return events / (time.perf_counter() - start)


async def through_redis(redis_url: str, db: str, events: int, tenants: int) -> float:
    name = f"bench{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"name": name, "lease_ttl": 10.0, "outbox": events + 1}
    try:
        async with (
            Gateway(simulated, cluster=Cluster(redis_url, db, **options)) as owner,
            Gateway(simulated, cluster=Cluster(redis_url, db, **options)) as other,
        ):
            assert isinstance(owner.cluster, Cluster)
            names = [f"t{i}" for i in range(tenants)]
            for tenant in names:
                await owner.cluster.claim(tenant)  # the owner may publish for them
            subscription = other.hub.subscribe(None, initial=False, overflow=Overflow.GAP)
            batch = [message(f"t{i % tenants}", i // tenants + 1) for i in range(events)]
            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, subscription, events)
                for index, event in enumerate(batch):
                    owner.hub.publish(event)
                    if index % 512 == 0:
                        await anyio.lowlevel.checkpoint()
            return events / (time.perf_counter() - start)
    finally:
        forget(redis_url, name)


# ---------------------------------------------------------------------------------
# Processes


class Served:
    def __init__(self, process: anyio.abc.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.pid = process.pid

    def owns(self, member: str | None) -> bool:
        return member is not None and member.split(":")[-2] == str(self.pid)


async def start(redis_url: str, db: str, name: str, ttl: float, directory: Path) -> Served:
    env = {**os.environ, "WAGATE_SECRET": SECRET}
    command = [
        WAGATE, "serve", "--simulator", "--port", "0", "--data-dir", str(directory),
        "--redis", redis_url, "--database", db, "--cluster-name", name,
        "--lease-ttl", str(ttl), "--log-level", "warning",
    ]  # fmt: skip
    process = await anyio.open_process(command, env=env, stderr=None)
    assert process.stdout is not None
    lines = BufferedByteReceiveStream(process.stdout)
    with anyio.fail_after(120):
        while True:
            line = (await lines.receive_until(b"\n", 65536)).decode()
            if "serving on " in line:
                return Served(process, line.split("serving on ")[1].split()[0])


async def stop(served: Served) -> None:
    with contextlib.suppress(ProcessLookupError):
        served.process.terminate()
    with anyio.move_on_after(10):
        await served.process.wait()
    if served.process.returncode is None:
        served.process.kill()
        await served.process.wait()
    await served.process.aclose()


LIVE = "SELECT member FROM {name}_members WHERE NOT evicted AND expires_at > clock_timestamp()"


def rows(db: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db, autocommit=True) as conn:
        try:
            return [tuple(r) for r in conn.execute(query).fetchall()]
        except psycopg.errors.UndefinedTable:
            return []


async def wait_for(check: Any, timeout: float = 60) -> Any:
    with anyio.fail_after(timeout):
        while not (value := check()):  # noqa: ASYNC110 - other processes' state has no push
            await anyio.sleep(0.05)
        return value


async def settle(db: str, name: str, tenants: list[str], members: int) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        live = [r[0] for r in rows(db, LIVE.format(name=name))]
        held = dict(rows(db, f"SELECT tenant, member FROM {name}_leases"))
        if len(live) != members or any(held.get(t) != rendezvous(t, live) for t in tenants):
            return None
        return held

    result: dict[str, str] = await wait_for(check)
    return result


async def link(client: httpx.AsyncClient, base: str, tenant: str) -> None:
    reply = await client.post(f"{base}/api/qr/generate", headers=headers(tenant), timeout=30)
    assert reply.status_code == 202, reply.text
    reply = await client.post(f"{base}/api/simulator/scan", headers=headers(tenant), timeout=30)
    assert reply.json()["state"] == "connected", reply.text


class Stream:
    """An SSE stream that notes when each event arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []

    async def run(
        self,
        client: httpx.AsyncClient,
        base: str,
        tenant: str,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with contextlib.suppress(httpx.HTTPError):
            async with client.stream(
                "GET", f"{base}/api/events", headers=headers(tenant), timeout=None
            ) as response:
                task_status.started()
                name = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        self.arrivals.append((time.time(), name, json.loads(line[6:])))


@contextlib.asynccontextmanager
async def cluster_of_processes(
    redis_url: str, db: str, name: str, ttl: float, directory: Path, *, count: int
) -> AsyncIterator[list[Served]]:
    served: list[Served] = []
    try:
        async with anyio.create_task_group() as tg:

            async def one(i: int) -> None:
                served.append(await start(redis_url, db, name, ttl, directory / f"p{i}"))

            for i in range(count):
                tg.start_soon(one, i)
        yield served
    finally:
        with anyio.CancelScope(shield=True):
            for s in served:
                await stop(s)


# ---------------------------------------------------------------------------------
# 2. Failover and 3. latency


async def failover_and_latency(
    redis_url: str, db: str, ttl: float, *, rounds: int, tenants_count: int, samples: int
) -> tuple[list[float], list[float]]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    tenants = [f"tenant-{i:02d}" for i in range(tenants_count)]
    directory = Path(f"/tmp/wagate-bench-{name}")
    failovers: list[float] = []
    latencies: list[float] = []
    try:
        async with (
            cluster_of_processes(redis_url, db, name, ttl, directory, count=3) as served,
            httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as client,
            anyio.create_task_group() as tg,
        ):
            await wait_for(lambda: len(rows(db, LIVE.format(name=name))) == 3)
            for tenant in tenants:
                await link(client, served[0].url, tenant)
            held = await settle(db, name, tenants, 3)

            # Latency: messages made in the owner, read by an SSE client of another process.
            tenant = tenants[0]
            owner = next(s for s in served if s.owns(held[tenant]))
            elsewhere = next(s for s in served if s is not owner)
            stream = Stream()
            await tg.start(stream.run, client, elsewhere.url, tenant)
            for i in range(samples):
                body = {"from": SENDER, "text": f"latency {i}"}
                await client.post(
                    f"{owner.url}/api/simulator/receive", headers=headers(tenant), json=body
                )
                if i % 50 == 0:
                    await anyio.sleep(0.01)
            await wait_for(
                lambda: sum(1 for _, n, _ in stream.arrivals if n == "message:received") >= samples
            )
            for arrived, event, data in stream.arrivals:
                if event == "message:received":
                    at = datetime.fromisoformat(data["at"].replace("Z", "+00:00")).timestamp()
                    latencies.append((arrived - at) * 1000)

            for round_ in range(rounds):
                victim = max(served, key=lambda s: sum(1 for t in tenants if s.owns(held[t])))
                moved = [t for t in tenants if victim.owns(held[t])]
                survivor = next(s for s in served if s is not victim)
                streams = {t: Stream() for t in moved}
                for t in moved:
                    await tg.start(streams[t].run, client, survivor.url, t)
                # Each stream has its snapshot before the kill.
                await wait_for(functools.partial(all_started, streams))
                marks = {t: len(streams[t].arrivals) for t in moved}
                killed = time.monotonic()
                os.kill(victim.pid, signal.SIGKILL)
                await wait_for(functools.partial(reconnected, streams, marks), timeout=ttl * 4 + 60)
                failovers.append(time.monotonic() - killed)
                qr = sum(1 for t in moved for _, n, _ in streams[t].arrivals if n == "qr:generated")
                took = failovers[-1]
                print(f"  round {round_ + 1}: {len(moved)} tenants in {took:.2f} s, QR codes: {qr}")
                await victim.process.wait()
                served.remove(victim)
                served.append(await start(redis_url, db, name, ttl, directory / f"r{round_}"))
                held = await settle(db, name, tenants, 3)
            tg.cancel_scope.cancel()
    finally:
        forget(redis_url, name)
    return failovers, latencies


def all_started(streams: dict[str, Stream]) -> bool:
    return all(stream.arrivals for stream in streams.values())


def reconnected(streams: dict[str, Stream], marks: dict[str, int]) -> bool:
    """Every stream saw its tenant Connected again after its mark."""
    return all(
        any(name == "whatsapp:connected" for _, name, _ in stream.arrivals[marks[tenant] :])
        for tenant, stream in streams.items()
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--redis", default=os.environ.get("WAGATE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("WAGATE_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput run")
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 rounds")
    parser.add_argument(
        "--tenants", type=int, default=12, help="linked tenants in the failover runs"
    )
    parser.add_argument("--samples", type=int, default=500, help="latency samples")
    parser.add_argument("--lease-ttl", type=float, default=2.0)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    print(f"wagate cluster benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs")
    with database(args.postgres) as db:
        print(f"\n1. throughput ({args.events:,} events, publisher -> subscriber)")
        for tenants in (1, 100):
            memory = await through_memory(args.events, tenants)
            backplane = await through_redis(args.redis, db, args.events, tenants)
            print(
                f"  {tenants:>3} tenant(s): in-memory hub {memory:>12,.0f} events/s | "
                f"Redis backplane {backplane:>10,.0f} events/s | ratio {memory / backplane:,.0f}x"
            )
        print(f"\n2. failover after kill -9 (lease {args.lease_ttl} s, {args.tenants} tenants)")
        failovers, latencies = await failover_and_latency(
            args.redis,
            db,
            args.lease_ttl,
            rounds=args.rounds,
            tenants_count=args.tenants,
            samples=args.samples,
        )
        print(
            f"  median {statistics.median(failovers):.2f} s over {len(failovers)} kills "
            f"(min {min(failovers):.2f}, max {max(failovers):.2f}; "
            f"bound lease*1.5 = {args.lease_ttl * 1.5:.1f} s + resume)"
        )
        print(f"\n3. latency: event in the owner -> SSE client elsewhere ({len(latencies)} events)")
        print(
            f"  p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )


def main(argv: Sequence[str] | None = None) -> int:
    anyio.run(run, parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
