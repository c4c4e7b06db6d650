"""Probes: ``GET /healthz`` (alive) and ``GET /readyz`` (ready), unauthenticated, on both.

Readiness is checked for real: a gateway not started yet, a store that answers,
and a cluster whose Redis is cut (a TCP proxy on loopback) and comes back.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from test_cluster_support import (
    Proxy,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
    member,
    serve,
    server_port,
    with_port,
)
from test_contract_support import FRAMEWORKS
from test_contract_support import serve as serve_framework
from wagate import Gateway, MemoryStore
from wagate.drivers.simulator import SimulatedDriver


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_probes_answer_without_a_token(framework: str) -> None:
    with serve_framework(framework) as served, served.client(None) as client:
        alive = client.get("/healthz")
        assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"gateway": "ok", "store": "ok"}}
        assert client.head("/readyz").status_code == 200
        refused = client.post("/readyz")
        assert refused.status_code == 405


@pytest.mark.anyio
async def test_a_gateway_not_started_or_closing_is_not_ready() -> None:
    gateway = Gateway(lambda tenant: SimulatedDriver(), store=MemoryStore())
    before = await gateway.readiness()
    assert not before.ready
    assert before.checks["gateway"] == "not started, or closing"
    async with gateway:
        assert (await gateway.readiness()).ready
    after = await gateway.readiness()
    assert not after.ready
    with pytest.raises(ValueError, match="timeout"):
        await gateway.readiness(timeout=0)


@pytest.mark.anyio
@pytest.mark.redis
@pytest.mark.postgres
async def test_a_member_is_unready_while_its_redis_is_cut_and_ready_when_back(
    redis_url: str, cluster_database: str, cluster_name: str
) -> None:
    async with (
        Proxy(server_port(redis_url, 6379)) as proxy,
        member(with_port(redis_url, proxy.port), cluster_database, cluster_name) as a,
    ):
        ready = await a.readiness()
        assert ready.checks == {"gateway": "ok", "store": "ok", "redis": "ok"}
        proxy.cut()
        down = await a.readiness(timeout=1)
        assert not down.ready
        assert down.checks["redis"] != "ok"
        assert down.checks["store"] == "ok"
        await proxy.restore()
        with anyio.fail_after(30):
            while not (await a.readiness()).ready:  # noqa: ASYNC110 - polling a probe
                await anyio.sleep(0.2)


@pytest.mark.anyio
@pytest.mark.redis
@pytest.mark.postgres
async def test_readyz_of_a_served_cluster_answers_503_with_the_reason_then_200(
    redis_url: str, cluster_database: str, cluster_name: str, tmp_path: Path
) -> None:
    async with Proxy(server_port(redis_url, 6379)) as proxy:
        via = with_port(redis_url, proxy.port)
        async with (
            serve(via, cluster_database, cluster_name, tmp_path) as (served,),
            httpx.AsyncClient(base_url=served.url, timeout=10) as client,
        ):
            up = await client.get("/readyz")
            assert up.status_code == 200, up.text
            assert up.json()["checks"]["redis"] == "ok"
            proxy.cut()
            down = await client.get("/readyz")
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "unready"
            assert down.json()["checks"]["redis"] != "ok"
            assert (await client.get("/healthz")).status_code == 200  # alive all the same
            await proxy.restore()
            with anyio.fail_after(30):
                while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110
                    await anyio.sleep(0.2)
