"""A subscriber's side of the hub: the per-tenant event log and the cursors that read it.

Each tenant has one append-only :class:`EventLog` of its recent events (the hub
keeps one more of every tenant's); a :class:`Subscription` is a cursor into one
log, bounded by the log's capacity, and its :class:`Overflow` policy says what a
subscriber that falls behind gets.  :mod:`wagate._hub` publishes into the logs.
"""

from __future__ import annotations

import enum
import weakref
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from ._errors import SubscriberLagged
from ._events import Event, Gap, utcnow
from ._telemetry import DROPPED, TELEMETRY

if TYPE_CHECKING:
    from typing_extensions import Self


class Overflow(str, enum.Enum):
    """What a subscriber that falls behind its buffer gets."""

    RAISE = "raise"
    """Iteration raises :class:`~wagate.SubscriberLagged` (with the count missed)."""
    GAP = "gap"
    """A :class:`~wagate.Gap` event per tenant names the missed seqs; iteration goes on."""


_LOST_RUNS = 32
"""How many runs of trimmed seqs a tenant's log tells apart (a run ends where seqs jump)."""


class _Lost:
    """A run of consecutive seqs trimmed from a log (or several runs merged, inexact)."""

    __slots__ = ("count", "exact", "first", "last")

    def __init__(self, first: int, last: int, count: int, *, exact: bool) -> None:
        self.first = first
        self.last = last
        self.count = count
        self.exact = exact


class EventLog:
    """A bounded run of events that subscribers read with cursors.

    Positions count from 1 and never repeat; ``entries[0]`` is at ``base``.
    """

    __slots__ = ("base", "capacity", "entries", "lost", "origin", "subscribers", "waiter")

    def __init__(self, capacity: int, *, track: bool = False) -> None:
        # A list, not a deque: most tenants hold a handful of events, and a deque
        # starts at 64 slots.  Trimming is batched, so deleting its head is cheap.
        self.entries: list[Event] = []
        self.base = 1
        self.capacity = capacity
        self.subscribers: weakref.WeakSet[Subscription] | None = None  # made on first use
        self.waiter: anyio.Event | None = None
        # A tenant's log also remembers what it no longer holds, so that a resume
        # counts exactly the events it missed, even where seqs jump (after a crash):
        # `origin` is the first seq this log could hold (earlier ones: unknown), and
        # `lost` the trimmed events as runs of consecutive seqs.
        self.origin: int | None = None
        self.lost: list[_Lost] | None = [] if track else None

    def add(self, subscriber: Subscription) -> None:
        if self.subscribers is None:
            self.subscribers = weakref.WeakSet()
        self.subscribers.add(subscriber)

    def discard(self, subscriber: Subscription) -> None:
        if self.subscribers is not None:
            self.subscribers.discard(subscriber)

    def readers(self) -> list[Subscription]:
        return list(self.subscribers) if self.subscribers is not None else []

    @property
    def head(self) -> int:
        """The position the next entry will take."""
        return self.base + len(self.entries)

    def append(self, event: Event) -> None:
        if self.origin is None:
            self.origin = event.seq
        self.entries.append(event)
        # Trim in batches (at twice the capacity) so the O(subscribers) check of who
        # lags is paid once per `capacity` events, not per event.
        if len(self.entries) >= 2 * self.capacity:
            self._trim(len(self.entries) - self.capacity)
        self.wake()

    def wake(self) -> None:
        if self.waiter is not None:
            self.waiter.set()
            self.waiter = None

    async def wait(self) -> None:
        if self.waiter is None:
            self.waiter = anyio.Event()
        await self.waiter.wait()

    def _trim(self, count: int) -> None:
        cut = self.base + count  # positions below `cut` are dropped
        for subscriber in self.readers():
            if subscriber.position < cut:
                missed = self.entries[subscriber.position - self.base : count]
                subscriber.lagged(missed, cut)
        if self.lost is not None:
            for event in self.entries[:count]:
                self._note_lost(event.seq)
        del self.entries[:count]
        self.base = cut

    def _note_lost(self, seq: int) -> None:
        lost = self.lost
        assert lost is not None
        if lost and lost[-1].last + 1 == seq:
            lost[-1].last = seq
            lost[-1].count += 1
            return
        lost.append(_Lost(seq, seq, 1, exact=True))
        if len(lost) > _LOST_RUNS:  # many jumps: merge the oldest runs, keeping the count
            first, second = lost[0], lost[1]
            lost[:2] = [_Lost(first.first, second.last, first.count + second.count, exact=False)]

    def lost_after(self, seq: int) -> int | None:
        """How many trimmed events had a seq above ``seq`` (``None``: not known exactly)."""
        total = 0
        for run in self.lost or ():
            if run.last <= seq:
                continue
            if run.first > seq:
                total += run.count
            elif run.exact:
                total += run.last - seq
            else:
                return None
        return total

    def since(self, position: int) -> Iterable[Event]:
        start = position - self.base
        for i in range(max(start, 0), len(self.entries)):
            yield self.entries[i]


class Subscription:
    """A subscriber's view of a stream of events: an async iterator with a bounded buffer.

    Made by :meth:`Session.events`, :meth:`Gateway.events` and the hub.  Iterate it
    with ``async for``; it ends when its session or gateway closes (after every event
    published before the close has been delivered) or when :meth:`close` is called.
    Breaking out of the loop and dropping the iterator unsubscribes it.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_end",
        "_error",
        "_log",
        "_overflow",
        "_pending",
        "_since_checkpoint",
        "floor",
        "label",
        "position",
    )

    def __init__(
        self,
        log: EventLog,
        initial: Iterable[Event],
        overflow: Overflow,
        *,
        label: str = "api",
    ) -> None:
        self.label = label
        """Who reads it (``sse``, ``socketio``, ``webhooks``, ``api``): the metrics' transport."""
        self._log = log
        self._pending: deque[Event] = deque(initial)
        self._overflow = overflow
        self._error: SubscriberLagged | None = None
        self._closed = False
        self._end: int | None = None
        self._since_checkpoint = 0
        # Events of seq <= floor are skipped: a resume already replayed them.
        self.floor = 0
        self.position = log.head
        log.add(self)

    # -- called by the log -------------------------------------------------------
    def lagged(self, missed: list[Event], cut: int) -> None:
        """Record that ``missed`` will never be read by this subscriber."""
        self.position = cut
        if not missed:
            return
        TELEMETRY.add(DROPPED, len(missed), self.label)
        if self._overflow is Overflow.RAISE:
            if self._error is None:
                self._error = SubscriberLagged(
                    f"subscriber fell behind its buffer of {self._log.capacity} events "
                    "and was closed",
                    missed=len(missed),
                    last_seq=missed[0].seq - 1,
                    tenant=missed[0].tenant,
                )
            else:  # it has not read the error yet and keeps losing events
                self._error.missed += len(missed)
            return
        # One Gap per tenant, in the order the tenants' missed events began, counting
        # the events themselves (seqs may jump within the span).
        spans: dict[str, list[int]] = {}
        for event in missed:
            span = spans.setdefault(event.tenant, [event.seq, event.seq, 0])
            span[1] = event.seq
            span[2] += 1
        now = utcnow()
        for tenant, (first, last, count) in spans.items():
            self._pending.append(
                Gap(tenant=tenant, seq=last, at=now, first_seq=first, last_seq=last, missed=count)
            )

    # -- the iterator --------------------------------------------------------------
    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                self._unsubscribe()
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            log = self._log
            if self._end is not None and self.position >= self._end:
                self.close()
                raise StopAsyncIteration
            if self.position < log.head:
                # A consumer that never has to wait must still let others run and
                # see cancellation now and then: before taking an event, so a
                # cancellation here loses nothing.
                self._since_checkpoint += 1
                if self._since_checkpoint >= 64:
                    self._since_checkpoint = 0
                    await anyio.lowlevel.checkpoint()
                    continue
                event = self._step()
                if event is None:
                    continue
                return event
            self._since_checkpoint = 0
            await log.wait()

    def _step(self) -> Event | None:
        """Move past the log's next event: return it, or ``None`` if it is not above ``floor``."""
        log = self._log
        event = log.entries[self.position - log.base]
        self.position += 1
        if self.floor:
            if event.seq <= self.floor:
                return None
            self.floor = 0
        return event

    def receive_nowait(self) -> Event | None:
        """Return the next buffered event, or ``None`` when nothing is waiting.

        Raises:
            SubscriberLagged: the subscriber lagged under ``Overflow.RAISE``.
        """
        events = self.receive_many(1)
        return events[0] if events else None

    def receive_many(self, limit: int) -> list[Event]:
        """Return up to ``limit`` buffered events, oldest first; ``[]`` when none is waiting.

        The events :meth:`receive_nowait` would return one by one, in their order,
        taken from the log in one slice.

        Raises:
            SubscriberLagged: the subscriber lagged under ``Overflow.RAISE`` (after
                the events buffered before it were returned).
        """
        out: list[Event] = []
        pending = self._pending
        while pending and len(out) < limit:
            out.append(pending.popleft())
        if self._error is not None:
            if out:
                return out
            self._unsubscribe()
            raise self._error
        log = self._log
        while len(out) < limit and not self._closed:
            stop = min(log.head, self.position + limit - len(out))
            if self._end is not None:
                stop = min(stop, self._end)
            if stop <= self.position:
                break
            taken = log.entries[self.position - log.base : stop - log.base]
            self.position = stop
            if self.floor:
                floor = self.floor
                first = next((i for i, event in enumerate(taken) if event.seq > floor), None)
                if first is None:
                    continue
                self.floor = 0
                taken = taken[first:]
            out.extend(taken)
        return out

    @property
    def closed(self) -> bool:
        """Whether the subscription has ended."""
        return self._closed

    @property
    def backlog(self) -> int:
        """How many events are waiting to be read."""
        return len(self._pending) + max(0, self._log.head - self.position)

    def close(self) -> None:
        """Unsubscribe now; iteration ends at the next step."""
        self._closed = True
        self._pending.clear()
        self._unsubscribe()
        self._log.wake()

    def finish(self) -> None:
        """End after everything published so far has been read (used on close)."""
        self._end = self._log.head
        self._log.wake()

    def _unsubscribe(self) -> None:
        self._log.discard(self)

    async def aclose(self) -> None:
        """Unsubscribe (an async alias of :meth:`close`, for ``contextlib.aclosing``)."""
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # `async for ... break` drops the iterator without closing it: unsubscribe so
        # the log stops counting it as a reader.
        self._log.discard(self)
