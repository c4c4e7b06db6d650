"""The cost of a metrics scrape as tenants grow, and of the pacer on a send under its rate.

Run::

    .venv/bin/python benchmarks/operations.py                  # 10, 100, 1,000 tenants
    .venv/bin/python benchmarks/operations.py --tenants 10 100 --scrapes 20 --sends 2000

1. **Scrape.** One gateway in this process, with N simulated tenants linked
   (each sent one text and received one, so that every counter has series of
   its own per tenant).  A scrape is ``await Metrics.render()``: what
   ``GET /metrics`` does after checking the token (reading the sessions'
   states, building prometheus-client's families, writing the text).  It is
   timed ``--scrapes`` times at each N, with and without ``tenant_labels``; the
   figure is the median, and the ratio is against the smallest N, next to the
   ratio of the tenants themselves: growing no faster than linearly means the
   first ratio stays at or under the second.

2. **Pacer.** Two linked sessions of the same simulated phone setup, one paced
   by a ``Pacing`` far above the sends' rate (so that no send waits: the
   pacer's bookkeeping alone), one unpaced; ``send_text`` is timed in rounds
   that alternate between them, and the figure is the paced median over the
   unpaced one.

Nothing here asserts a timing; benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio

from wagate import Gateway, Pacing, Session
from wagate._telemetry import TELEMETRY
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.metrics import Metrics
from wagate.testing import link

CONTACT = "+628111222333"
TOKEN = "benchmark-token-0123456789"


def _drivers() -> tuple[dict[str, SimulatedPhone], Gateway]:
    phones: dict[str, SimulatedPhone] = {}

    def driver(tenant: str) -> SimulatedDriver:
        number = f"+62812{len(phones):07d}"
        phone = phones.setdefault(tenant, SimulatedPhone(number=number, name=tenant))
        return SimulatedDriver(phone=phone)

    return phones, Gateway(driver)


async def _link_all(gateway: Gateway, phones: dict[str, SimulatedPhone], count: int) -> None:
    for n in range(count):
        tenant = f"tenant-{n:05d}"
        session = await gateway.session(tenant)
        await link(session, phones[tenant])
        await session.send_text(CONTACT, "hello")
        phones[tenant].receive_message(CONTACT, "hi")


async def scrape(counts: list[int], scrapes: int) -> None:
    print(f"metrics scrape: median of {scrapes} renders, ratio against {counts[0]} tenants")
    header = ("tenants", "labels", "ms", "cost ratio", "tenant ratio", "bytes")
    print("{:>8} {:>7} {:>9} {:>11} {:>13} {:>10}".format(*header))
    base: dict[bool, float] = {}
    for count in counts:
        TELEMETRY.reset()  # this N's series only
        phones, gateway = _drivers()
        async with gateway:
            await _link_all(gateway, phones, count)
            for labels in (False, True):
                metrics = Metrics(gateway, token=TOKEN, tenant_labels=labels)
                body = await metrics.render()  # warm
                times = []
                for _ in range(scrapes):
                    started = time.perf_counter()
                    body = await metrics.render()
                    times.append(time.perf_counter() - started)
                median = statistics.median(times)
                base.setdefault(labels, median)
                print(
                    f"{count:>8} {'tenant' if labels else 'none':>7} {median * 1000:>9.2f} "
                    f"{median / base[labels]:>10.2f}x {count / counts[0]:>12.1f}x {len(body):>10,}"
                )


async def pacer(sends: int) -> None:
    fast = Pacing(per_minute=10_000_000, burst=1_000_000, daily_cap=None, queue_limit=1_000_000)
    phones = [SimulatedPhone(number="+628123450001"), SimulatedPhone(number="+628123450002")]
    async with (
        Session("paced", SimulatedDriver(phone=phones[0]), pacing=fast) as paced,
        Session("unpaced", SimulatedDriver(phone=phones[1])) as unpaced,
    ):
        await link(paced, phones[0])
        await link(unpaced, phones[1])
        times: dict[str, list[float]] = {"paced": [], "unpaced": []}
        rounds = 20
        per_round = max(1, sends // rounds)
        for n in range(rounds):
            order = [("paced", paced), ("unpaced", unpaced)]
            if n % 2:
                order.reverse()
            for name, session in order:
                started = time.perf_counter()
                for _ in range(per_round):
                    await session.send_text(CONTACT, "hello")
                times[name].append((time.perf_counter() - started) / per_round)
        p = statistics.median(times["paced"])
        u = statistics.median(times["unpaced"])
        print(f"\npacer: {rounds} rounds of {per_round} sends each way, under the rate")
        print(f"  unpaced send_text: {u * 1e6:8.1f} µs")
        print(f"  paced send_text:   {p * 1e6:8.1f} µs")
        print(f"  paced / unpaced:   {p / u:8.3f}x  (the pacer adds {100 * (p / u - 1):+.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--sends", type=int, default=4000)
    args = parser.parse_args()
    anyio.run(scrape, sorted(args.tenants), args.scrapes)
    anyio.run(pacer, args.sends)


if __name__ == "__main__":
    main()
