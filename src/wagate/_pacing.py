"""Outbound pacing: how fast a tenant's account sends, so that WhatsApp does not ban it.

WhatsApp bans accounts whose sending looks automated: bursts, a steady machine
beat, hundreds of messages a day from a young number.  A :class:`Pacer` stands
in each session's send path.  Sends under the rate go at once; sends over it
wait their turn, in the order they were made (never dropped), with a random
jitter between them; a send that would wait too long, that finds too many
waiting before it, or that is past the day's cap is refused at once with
:class:`~wagate.RateLimited`, which says when to try again (HTTP 429 with
``Retry-After``).

The pacer lives with the session, so in a cluster the process that owns the
tenant paces it, whichever process the send came through.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable

import anyio
import attrs

from ._errors import RateLimited

__all__ = ["DAY", "Pacer", "Pacing", "Rate", "RequestLimit", "RequestLimiter"]

DAY = 86_400.0
"""The daily cap's window, in seconds (rolling: the last 24 hours)."""


def _positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be more than 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Pacing:
    """How fast one tenant's account may send.

    The defaults are conservative on purpose.  WhatsApp publishes no limits; what
    operators of unofficial gateways report is that an account sending more than
    a message every few seconds for long, or a few hundred to a thousand a day
    from a recently registered number, gets flagged.  So: 20 a minute sustained
    (one every 3 s) after a burst of 5, each paced send 0-50% of the interval
    later than the beat (a human rhythm, not a metronome), and 1,000 a day.

    Attributes:
        per_minute: Sustained sends per minute.
        burst: How many sends may go back to back before pacing starts.
        jitter: Each paced send waits up to this fraction of the interval more
            (``0``: none, ``1``: up to a whole interval).
        daily_cap: The most sends in any 24 hours (``None``: no cap).
        queue_limit: The most sends waiting their turn; one more is refused.
        max_wait: The longest a send waits; one that would wait longer is refused.

    Raises:
        ValueError: a rate, burst, cap, bound or wait of 0 or less, or not a number.
    """

    per_minute: float = 20.0
    burst: int = 5
    jitter: float = 0.5
    daily_cap: int | None = 1000
    queue_limit: int = 100
    max_wait: float = 300.0

    def __attrs_post_init__(self) -> None:
        _positive("per_minute", self.per_minute)
        _positive("max_wait", self.max_wait)
        for name in ("burst", "queue_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.daily_cap is not None and (
            not isinstance(self.daily_cap, int)
            or isinstance(self.daily_cap, bool)
            or self.daily_cap < 1
        ):
            raise ValueError(f"daily_cap must be at least 1 or None, got {self.daily_cap!r}")
        if not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    @property
    def interval(self) -> float:
        """Seconds between sends at the sustained rate."""
        return 60.0 / self.per_minute


class Rate:
    """A virtual schedule of one rate with a burst (the generic cell rate algorithm).

    Each use takes the next slot of the schedule at the moment it is made; a use
    under the rate (within the burst's tolerance) waits nothing.

    Args:
        interval: Seconds between uses at the sustained rate.
        burst: How many uses may go back to back.
    """

    __slots__ = ("interval", "next", "tolerance")

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.tolerance = (burst - 1) * interval
        self.next = -math.inf
        """The schedule's theoretical time of the next use."""

    def wait(self, now: float) -> float:
        """How long a use made at ``now`` waits for its slot."""
        return max(0.0, max(self.next, now) - self.tolerance - now)

    def take(self, now: float) -> None:
        """Take the next slot (after :meth:`wait` said how long it is away)."""
        self.next = max(self.next, now) + self.interval

    def idle(self, now: float) -> bool:
        """Whether the schedule is as if never used (a fresh one would answer the same)."""
        return self.next <= now - self.tolerance


class Pacer:
    """Paces one tenant's sends by :class:`Pacing` (a session holds one).

    The rate is a virtual schedule (the generic cell rate algorithm): each send
    takes the next slot at the moment it is made, so sends leave in the order
    they were made, and a send under the rate takes no time at all.

    Args:
        pacing: The limits.
        clock: Seconds, monotonic (default: :func:`time.monotonic`).
        rng: The jitter's randomness.
    """

    def __init__(
        self,
        pacing: Pacing,
        *,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pacing = pacing
        self._clock = clock or time.monotonic  # the event loop's clock, but cheaper to read
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._rate = Rate(pacing.interval, pacing.burst)
        self._waiting = 0
        self._sent: deque[float] = deque()

    @property
    def waiting(self) -> int:
        """How many sends wait their turn now."""
        return self._waiting

    def sent_today(self) -> int:
        """How many sends the last 24 hours hold (kept only when there is a daily cap)."""
        self._forget(self._clock())
        return len(self._sent)

    async def turn(self, tenant: str | None = None) -> None:
        """Wait for this send's turn: :meth:`take`, then :meth:`wait` when it must.

        Raises:
            RateLimited: as :meth:`take`.
        """
        slot = self.take(tenant)
        if slot is not None:
            await self.wait(slot)

    def take(self, tenant: str | None = None) -> float | None:
        """Take this send's slot; ``None`` when it may go now, else its slot to :meth:`wait` for.

        Synchronous, so that a send under the rate costs a few comparisons.

        Raises:
            RateLimited: the day's cap is reached, too many sends wait, or this one
                would wait longer than :attr:`Pacing.max_wait`.
        """
        pacing = self.pacing
        now = self._clock()
        sent = self._sent
        if sent and sent[0] <= now - DAY:
            self._forget(now)
        if pacing.daily_cap is not None and len(sent) >= pacing.daily_cap:
            raise RateLimited(
                f"the account sent {pacing.daily_cap:,} messages in the last 24 hours, "
                "its daily cap",
                retry_after=sent[0] + DAY - now,
                tenant=tenant,
            )
        rate = self._rate
        wait = rate.wait(now)
        counted = pacing.daily_cap is not None  # the day's sends are kept only for a cap
        if wait <= 0:
            rate.take(now)
            if counted:
                sent.append(now)
            return None
        if self._waiting >= pacing.queue_limit:
            raise RateLimited(
                f"{self._waiting} sends already wait their turn (the queue's bound)",
                retry_after=wait,
                tenant=tenant,
            )
        if wait > pacing.max_wait:
            raise RateLimited(
                f"this send would wait {wait:.0f} s for its turn, "
                f"more than the {pacing.max_wait:.0f} s a send may wait",
                retry_after=wait - pacing.max_wait,
                tenant=tenant,
            )
        rate.take(now)
        slot = now + wait
        if counted:
            sent.append(slot)
        self._waiting += 1  # from now: a send taken after this one sees it queued
        return slot

    async def wait(self, slot: float) -> None:
        """Sleep until ``slot`` (:meth:`take`'s), plus the jitter.

        A wait given up (cancelled) is not counted as a send of the day.
        """
        try:
            delay = slot - self._clock()
            delay += self._rng.uniform(0, self.pacing.jitter * self.pacing.interval)
            await anyio.sleep(max(0.0, delay))
        except BaseException:
            if slot in self._sent:
                self._sent.remove(slot)
            raise
        finally:
            self._waiting -= 1

    def _forget(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0] <= now - DAY:
            sent.popleft()


@attrs.frozen(kw_only=True)
class RequestLimit:
    """How many API requests one principal (a token's subject and tenants) may make.

    The defaults, 20 a second sustained after a burst of 200, let a dashboard
    and a busy integration through and stop one token from monopolising the
    server (a loop gone wrong, a leaked token).

    Attributes:
        per_minute: Sustained requests per minute.
        burst: How many may come back to back.

    Raises:
        ValueError: a rate or burst of 0 or less, or not a number.
    """

    per_minute: float = 1200.0
    burst: int = 200

    def __attrs_post_init__(self) -> None:
        _positive("per_minute", self.per_minute)
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or self.burst < 1:
            raise ValueError(f"burst must be a whole number of at least 1, got {self.burst!r}")


class RequestLimiter:
    """Refuses a principal's requests over its :class:`RequestLimit` (no waiting: 429).

    Args:
        limit: The limit of every principal.
        clock: Seconds, monotonic (default: :func:`time.monotonic`, callable from any thread).
        most: How many principals' schedules are kept; idle ones are forgotten first.
    """

    def __init__(
        self,
        limit: RequestLimit,
        *,
        clock: Callable[[], float] | None = None,
        most: int = 10_000,
    ) -> None:
        import threading  # noqa: PLC0415 - only a limiter needs it

        self.limit = limit
        self._clock = clock or time.monotonic
        self._most = most
        self._rates: dict[object, Rate] = {}
        self._lock = threading.Lock()  # Flask serves requests from many threads

    def check(self, who: object) -> None:
        """Count a request of ``who``.

        Raises:
            RateLimited: it is over the limit (``retry_after`` until its next slot).
        """
        now = self._clock()
        with self._lock:
            rate = self._rates.get(who)
            if rate is None:
                if len(self._rates) >= self._most:
                    self._forget(now)
                rate = self._rates[who] = Rate(60.0 / self.limit.per_minute, self.limit.burst)
            wait = rate.wait(now)
            if wait <= 0:
                rate.take(now)
                return
        raise RateLimited(
            f"too many requests: at most {self.limit.per_minute:g} a minute "
            f"after a burst of {self.limit.burst}",
            retry_after=wait,
        )

    def _forget(self, now: float) -> None:
        idle = [who for who, rate in self._rates.items() if rate.idle(now)]
        for who in idle or list(self._rates)[: len(self._rates) // 2]:
            del self._rates[who]
