"""Outbound pacing: sends over the rate wait in order, past the bounds they are refused.

No timing is asserted: the tests look at order, at who waits, and at what is
refused, with rates fast enough that a paced test still takes a fraction of a
second, and a hand-moved clock for the daily cap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate import Gateway, Pacing, RateLimited, Session, Text
from wagate._pacing import DAY, Pacer, RequestLimit, RequestLimiter
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import link

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "options",
    [
        {"per_minute": 0},
        {"per_minute": -5},
        {"per_minute": math.nan},
        {"per_minute": math.inf},
        {"per_minute": True},
        {"per_minute": "20"},
        {"burst": 0},
        {"burst": 1.5},
        {"jitter": -0.1},
        {"jitter": 2},
        {"daily_cap": 0},
        {"daily_cap": -1},
        {"queue_limit": 0},
        {"max_wait": 0},
    ],
    ids=str,
)
def test_a_rate_of_zero_or_less_or_not_a_number_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        Pacing(**options)  # type: ignore[arg-type]


def test_the_defaults_are_the_documented_ones() -> None:
    pacing = Pacing()
    assert (pacing.per_minute, pacing.burst, pacing.daily_cap, pacing.queue_limit) == (
        20.0,
        5,
        1000,
        100,
    )
    assert pacing.interval == 3.0


async def test_sends_over_the_rate_wait_and_leave_in_the_order_made(
    phone: SimulatedPhone,
) -> None:
    # 100 ms a slot: the twelve sends reach the pacer long before the third slot,
    # even on a loaded machine (at 10 ms a slot, CI once saw all but one already gone)
    pacing = Pacing(per_minute=600, burst=2, jitter=0, daily_cap=100)
    async with Session("acme", SimulatedDriver(phone=phone, seed=1), pacing=pacing) as session:
        await link(session, phone)
        pacer = session.pacer
        assert pacer is not None
        waiting: list[int] = []

        async def send(n: int) -> None:
            await session.send_text(CONTACT, f"message {n}")

        async with anyio.create_task_group() as tg:
            for n in range(12):
                tg.start_soon(send, n)
                await anyio.lowlevel.checkpoint()  # made in this order
            await anyio.lowlevel.checkpoint()
            waiting.append(pacer.waiting)
        assert waiting[0] >= 8  # all but the burst (and maybe one more) had to wait
        assert [m.text for m in phone.sent] == [f"message {n}" for n in range(12)]
        assert pacer.waiting == 0
        assert pacer.sent_today() == 12


async def test_a_send_under_the_rate_does_not_wait(phone: SimulatedPhone) -> None:
    pacing = Pacing(per_minute=1, burst=3, daily_cap=None, max_wait=10)
    async with Session("acme", SimulatedDriver(phone=phone, seed=1), pacing=pacing) as session:
        await link(session, phone)
        with anyio.fail_after(5):  # a paced send would wait a minute
            for n in range(3):
                sent = await session.send(CONTACT, Text(f"burst {n}"))
                assert sent.id
        with pytest.raises(RateLimited) as refused:
            await session.send_text(CONTACT, "one too many, past max_wait")
        assert refused.value.status_code == 429


async def test_past_the_queue_bound_a_send_is_refused_and_the_queue_goes_on(
    phone: SimulatedPhone,
) -> None:
    pacing = Pacing(per_minute=600, burst=1, jitter=0, daily_cap=None, queue_limit=3)
    async with Session("acme", SimulatedDriver(phone=phone, seed=1), pacing=pacing) as session:
        await link(session, phone)
        refused: list[RateLimited] = []

        async def send(n: int) -> None:
            try:
                await session.send_text(CONTACT, f"queued {n}")
            except RateLimited as exc:
                refused.append(exc)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(send, n)
                await anyio.lowlevel.checkpoint()
        # one goes at once, three wait, two find the queue full
        assert len(refused) == 2
        assert all(r.code == "rate_limited" and r.retry_after > 0 for r in refused)
        assert "queue" in refused[0].message
        assert [m.text for m in phone.sent] == [f"queued {n}" for n in range(4)]


async def test_the_daily_cap_refuses_until_the_oldest_send_is_a_day_old() -> None:
    now = [1000.0]
    pacer = Pacer(Pacing(per_minute=60_000, burst=5, daily_cap=5), clock=lambda: now[0])
    for _ in range(5):
        await pacer.turn("acme")
        now[0] += 1
    with pytest.raises(RateLimited, match="daily cap") as refused:
        await pacer.turn("acme")
    assert refused.value.retry_after == pytest.approx(DAY - 5)
    assert refused.value.http_headers() == (("Retry-After", str(math.ceil(DAY - 5))),)
    now[0] = 1000.0 + DAY + 0.5  # the first send is now more than a day old
    await pacer.turn("acme")
    assert pacer.sent_today() == 5


async def test_a_cancelled_wait_is_not_counted_as_sent() -> None:
    pacer = Pacer(Pacing(per_minute=60, burst=1, jitter=0, daily_cap=10))
    await pacer.turn()
    with anyio.move_on_after(0.05):
        await pacer.turn()  # would wait a second
    assert pacer.sent_today() == 1
    assert pacer.waiting == 0


async def test_the_gateway_paces_each_tenant_apart() -> None:
    phones: dict[str, SimulatedPhone] = {}

    def driver(tenant: str) -> SimulatedDriver:
        phones[tenant] = SimulatedPhone(number=f"+62811{len(phones):07d}", name=tenant)
        return SimulatedDriver(phone=phones[tenant])

    pacing = Pacing(per_minute=1, burst=1, daily_cap=None, max_wait=1)
    async with Gateway(driver, pacing=pacing) as gateway:
        for tenant in ("acme", "globex"):
            await link(await gateway.session(tenant), phones[tenant])
            assert (await gateway.send_text(tenant, CONTACT, "first")).success
        with pytest.raises(RateLimited):
            await gateway.send_text("acme", CONTACT, "second")
        assert [m.text for m in phones["globex"].sent] == ["first"]


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    pacing = Pacing(per_minute=1, burst=1, daily_cap=None, max_wait=1)
    with serve(request.param, gateway_options={"pacing": pacing}) as running:
        running.link(mint("acme"))
        yield running


def test_rest_answers_429_with_retry_after(served: Served) -> None:
    with served.client(mint("acme")) as acme:
        first = acme.post("/api/send", json={"to": CONTACT, "text": "first"})
        assert first.status_code == 200, first.text
        second = acme.post(
            "/api/messages", json={"to": CONTACT, "content": {"type": "text", "text": "x"}}
        )
        assert second.status_code == 429, second.text
        assert second.json()["error"]["code"] == "rate_limited"
        retry = int(second.headers["Retry-After"])
        assert retry >= 1
        assert second.json()["retryAfter"] == retry


@pytest.mark.parametrize("options", [{"per_minute": 0}, {"per_minute": -1}, {"burst": 0}], ids=str)
def test_a_request_limit_of_zero_or_less_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        RequestLimit(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_requests_over_a_principals_limit_answer_429_and_others_go_on(framework: str) -> None:
    limit = RequestLimit(per_minute=1, burst=3)
    with serve(framework, request_limit=limit) as served:
        with served.client(mint("acme")) as acme:
            answers = [acme.get("/status") for _ in range(4)]
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            refused = answers[-1]
            assert refused.json()["error"]["code"] == "rate_limited"
            assert int(refused.headers["Retry-After"]) >= 1
        with served.client(mint("globex")) as globex:
            assert globex.get("/status").status_code == 200  # its own limit
        with served.client(None) as anyone:
            assert anyone.get("/healthz").status_code == 200  # probes are not limited
            assert anyone.get("/status").status_code == 401  # nor counted before auth


def test_the_limiter_forgets_idle_principals_past_its_bound() -> None:
    now = [0.0]
    limiter = RequestLimiter(RequestLimit(per_minute=60, burst=1), clock=lambda: now[0], most=2)
    limiter.check("a")
    limiter.check("b")
    now[0] = 5.0  # both idle again
    limiter.check("c")
    limiter.check("a")  # a fresh schedule: not refused
    with pytest.raises(RateLimited):
        limiter.check("a")
