"""Fan-out of events to subscribers, with bounded buffers and a replay log.

Design: each tenant has one append-only :class:`EventLog` of its recent events, and
the hub has one more log of every tenant's events.  A subscriber is a cursor
into one log, so publishing is O(1) whatever the number of subscribers, and the
same entries serve ``Last-Event-ID`` replay.  A subscriber's buffer is bounded by
the log's capacity: when the log must drop entries that a subscriber has not
read yet, that subscriber *lags*, and its overflow policy decides what it sees
(:attr:`Overflow.RAISE`: :class:`~wagate.SubscriberLagged`; :attr:`Overflow.GAP`: a
:class:`~wagate.Gap` event naming exactly the missed seqs).  Nothing is skipped
silently, and a slow subscriber never blocks the publisher or the others.

Every new subscriber first receives the tenant's current state (the last
``Connecting``/``QrGenerated``/``Connected``/``Disconnected``, and a pending
``PairingCode``), so a page that opens late or reloads shows the truth at once.

**Several processes.**  A hub given a :class:`Backplane` hands each event of its
own sessions to it, and the backplane brings the other processes' events in
through :meth:`Hub.deliver`; so subscribers see every tenant's events whichever
process runs the session.  :attr:`Hub.local` keeps the events of this process's
own sessions only, for what must happen once per event cluster-wide (webhooks,
python-socketio's Redis manager).  :mod:`wagate.cluster` has the Redis backplane.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from datetime import timedelta

from ._errors import SessionClosed
from ._events import STATE_EVENTS, Event, Gap, PairingCode, QrGenerated, utcnow
from ._subscription import EventLog, Overflow, Subscription

__all__ = ["Backplane", "Hub", "Overflow", "Subscription"]

log = logging.getLogger("wagate")


class Backplane(abc.ABC):
    """Carries a hub's events to the hubs of other processes: the seam a cluster plugs into.

    The hub calls :meth:`publish` with each event of a session of this process;
    the backplane delivers the other processes' events with :meth:`Hub.deliver`
    and keeps a replay log that every process reads (:meth:`history`).
    :class:`wagate.cluster.Cluster` has the Redis one.
    """

    @abc.abstractmethod
    def publish(self, event: Event) -> bool:
        """Send an event of this process's session to every process, in seq order per tenant.

        Never blocks.  Returns ``False`` when this process may no longer emit for
        the tenant (it lost the tenant's lease): the event is then dropped, here too.
        """

    @abc.abstractmethod
    async def history(self, tenant: str, after_seq: int) -> list[Event] | None:
        """The tenant's events after ``after_seq`` from the shared replay log, oldest first.

        The list starts with a :class:`~wagate.Gap` when some of them are lost; it is
        ``None`` when the log holds nothing as new as ``after_seq``.
        """

    async def newest(self, tenant: str) -> int | None:
        """The seq of the tenant's newest event in the shared log (``None``: not known).

        What a snapshot sent now is current as of, even on a process that has not
        seen the tenant's events itself.  The default knows nothing.
        """
        del tenant
        return None


def with_gap(
    tenant: str, after_seq: int, first_kept: int, missed: int | None, kept: list[Event]
) -> list[Event]:
    """A replay: ``kept``, after a :class:`Gap` for the seqs between ``after_seq`` and ``kept``.

    ``missed`` is how many events were lost there (``None``: unknown); with
    ``missed == 0`` the seqs in between were skipped (a jump), never events, and
    no gap is put first.
    """
    if missed == 0:
        return kept
    gap = Gap(
        tenant=tenant,
        seq=first_kept - 1,
        at=utcnow(),
        first_seq=after_seq + 1,
        last_seq=first_kept - 1,
        missed=missed,
    )
    return [gap, *kept]


class Hub:
    """Fan-out of every tenant's events to subscribers, with a replay log.

    Args:
        buffer: Events kept per tenant (the replay log) and the most a tenant
            subscriber may fall behind before it lags.
        all_buffer: The same for subscribers of every tenant.
        replay_age: How old an event may be and still be replayed on resume.
        backplane: Carries events to and from other processes (a cluster's).
    """

    def __init__(
        self,
        *,
        buffer: int = 1024,
        all_buffer: int = 8192,
        replay_age: timedelta = timedelta(hours=1),
        backplane: Backplane | None = None,
    ) -> None:
        if buffer < 1 or all_buffer < 1:
            raise ValueError("buffer sizes must be at least 1")
        self._buffer = buffer
        self._logs: dict[str, EventLog] = {}
        self._all = EventLog(all_buffer)
        self._current: dict[str, tuple[Event, ...]] = {}
        self.replay_age = replay_age
        self._closed = False
        self.backplane = backplane
        self._delivered: dict[str, int] = {}
        self._listeners: dict[str | None, list[Callable[[Event], None]]] = {}
        self.local: Hub = (
            self
            if backplane is None
            else Hub(buffer=buffer, all_buffer=all_buffer, replay_age=replay_age)
        )
        """The events of this process's own sessions only (the hub itself without a backplane)."""

    def _log(self, tenant: str) -> EventLog:
        log = self._logs.get(tenant)
        if log is None:
            log = self._logs[tenant] = EventLog(self._buffer, track=True)
        return log

    def begin(self, tenant: str, next_seq: int) -> None:
        """Say that ``tenant``'s events in this hub start at ``next_seq``.

        A session calls it as it starts, so that a client last seen before a
        restart is told that what happened in between is unknown (its seqs may have
        been skipped), and a client that saw ``next_seq - 1`` misses nothing.
        """
        log = self._log(tenant)
        if log.origin is None:
            log.origin = next_seq

    def position(self, tenant: str) -> int:
        """The seq a client that sees ``tenant``'s current state now has seen up to.

        The newest event's seq; before any event, the seq before the first one the
        session will publish (:meth:`begin`); 0 when the hub knows nothing.  A
        snapshot sent with this id resumes with nothing lost.
        """
        log = self._logs.get(tenant)
        if log is None:
            return 0
        if log.entries:
            return log.entries[-1].seq
        return max(0, (log.origin or 1) - 1)

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to its tenant's subscribers and to every-tenant subscribers.

        Never blocks and never fails because of a subscriber.
        """
        if self._closed:
            raise SessionClosed("the hub is closed", tenant=event.tenant)
        if self.backplane is not None:
            if not self.backplane.publish(event):
                return
            self.local.publish(event)
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        """Deliver ``event`` to this process's subscribers (the backplane's way in).

        With a backplane, an event of a tenant at or below the newest seq already
        delivered is a copy and is dropped.  Does nothing once the hub is closed.
        """
        if self._closed:
            return
        tenant = event.tenant
        if self.backplane is not None:
            if event.seq <= self._delivered.get(tenant, 0):
                return
            self._delivered[tenant] = event.seq
        if isinstance(event, STATE_EVENTS):
            kept = self._current.get(tenant, ())
            # A pairing code outlives the QR codes of its login (a new one replaces the last).
            pairing = (
                kept[1:]
                if isinstance(event, QrGenerated) and kept[:1] and isinstance(kept[0], QrGenerated)
                else ()
            )
            self._current[tenant] = (event, *pairing)
        elif isinstance(event, PairingCode):
            current = self._current.get(tenant, ())
            if current and isinstance(current[0], QrGenerated):
                self._current[tenant] = (current[0], event)
        self._log(tenant).append(event)
        self._all.append(event)
        for listener in (*self._listeners.get(tenant, ()), *self._listeners.get(None, ())):
            try:
                listener(event)
            except Exception:
                log.exception(
                    "hub listener %r failed on tenant %r seq %d", listener, tenant, event.seq
                )

    def current(self, tenant: str) -> tuple[Event, ...]:
        """The events that describe ``tenant``'s current state (empty if none yet)."""
        return self._current.get(tenant, ())

    def restore_current(self, tenant: str, events: tuple[Event, ...]) -> None:
        """Take ``events`` as ``tenant``'s current state unless this hub knows a newer one.

        A cluster's new process learns the state other processes published before it
        started this way.
        """
        known = self._current.get(tenant)
        if events and (not known or known[0].seq < events[0].seq):
            self._current[tenant] = events

    def subscribe(
        self,
        tenant: str | None = None,
        *,
        overflow: Overflow = Overflow.RAISE,
        initial: bool = True,
        label: str = "api",
    ) -> Subscription:
        """Subscribe to one tenant (or, with ``None``, to every tenant).

        ``label`` names the transport reading it, for the dropped-events metric.

        The subscription first yields the current state, then live events in order.
        With ``initial=False`` it yields only the events published from now on (for
        a transport that sends its own snapshot, or resumes from :meth:`replay`).
        """
        if self._closed:
            raise SessionClosed("the hub is closed", tenant=tenant)
        stream = self._all if tenant is None else self._log(tenant)
        return Subscription(stream, self._state(tenant) if initial else (), overflow, label=label)

    def _state(self, tenant: str | None) -> list[Event]:
        if tenant is None:
            return [e for events in self._current.values() for e in events]
        return list(self.current(tenant))

    def listen(
        self, listener: Callable[[Event], None], tenant: str | None = None
    ) -> tuple[list[Event], Callable[[], None]]:
        """Call ``listener`` with each event of ``tenant`` (or every tenant) from now on.

        For a consumer that keeps every event itself, such as a webhook endpoint's
        durable backlog: the hub buffers nothing for it, so nothing can overflow.
        ``listener`` runs inside :meth:`deliver`, in order, and must be quick; what
        it raises is logged.

        Returns:
            The current state (what a subscriber would receive first) and a
            function that stops the calls.
        """
        if self._closed:
            raise SessionClosed("the hub is closed", tenant=tenant)
        state = self._state(tenant)
        listeners = self._listeners.setdefault(tenant, [])
        listeners.append(listener)

        def stop() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return state, stop

    def last_seq(self, tenant: str) -> int | None:
        """The seq of ``tenant``'s newest event in the log (``None`` if it has none)."""
        log = self._logs.get(tenant)
        if log is None or not log.entries:
            return None
        return log.entries[-1].seq

    async def aposition(self, tenant: str) -> int:
        """:meth:`position`, or the backplane's newest seq when that is newer.

        In a cluster, a process that has seen none of a tenant's events still
        answers with the seq the tenant's state is current as of.  If the shared log
        cannot be read, this hub's position is used.
        """
        position = self.position(tenant)
        if self.backplane is None:
            return position
        try:
            shared = await self.backplane.newest(tenant)
        except Exception as exc:  # noqa: BLE001 - the local position is the fallback
            log.warning("tenant %r: the shared replay log is unavailable (%s)", tenant, exc)
            return position
        return position if shared is None else max(position, shared)

    def replay(self, tenant: str, after_seq: int) -> list[Event]:
        """The tenant's events with ``seq > after_seq``, oldest first.

        When the log no longer holds every such event (pruned by size or by
        ``replay_age``), the list starts with a :class:`Gap` naming what is lost:
        with its exact count, or with ``missed=None`` when ``after_seq`` is from
        before this hub's first event of the tenant (a restart: nobody knows).
        """
        log = self._logs.get(tenant)
        top = self.position(tenant)
        if log is None or top <= after_seq:
            return []
        horizon = utcnow() - self.replay_age
        kept: list[Event] = []
        aged = 0
        for event in log.since(log.base):
            if event.seq <= after_seq:
                continue
            if event.at < horizon:
                aged += 1
            else:
                kept.append(event)
        first_kept = kept[0].seq if kept else top + 1
        missed: int | None
        if log.origin is not None and after_seq < log.origin - 1:
            missed = None
        else:
            lost = log.lost_after(after_seq)
            missed = None if lost is None else lost + aged
        return with_gap(tenant, after_seq, first_kept, missed, kept)

    def resume_nowait(
        self, tenant: str, after_seq: int, *, overflow: Overflow = Overflow.GAP
    ) -> tuple[list[Event], Subscription] | None:
        """Replay ``tenant``'s events after ``after_seq`` from this hub, then carry live ones.

        Returns the replayed events (a :class:`Gap` first when some are lost) and a
        subscription to what follows, with nothing lost or repeated between them;
        ``None`` when ``after_seq`` is ahead of :meth:`position` (start afresh).
        """
        if after_seq > self.position(tenant):
            return None
        replayed = self.replay(tenant, after_seq)
        return replayed, self.subscribe(tenant, overflow=overflow, initial=False)

    async def resume(
        self, tenant: str, after_seq: int, *, overflow: Overflow = Overflow.GAP
    ) -> tuple[list[Event], Subscription] | None:
        """:meth:`resume_nowait`, reading the backplane's shared replay log when there is one.

        So a client resumes on any process of a cluster, whichever process it was
        connected to before.  If the shared log cannot be read, this hub's is used.
        """
        if self.backplane is None:
            return self.resume_nowait(tenant, after_seq, overflow=overflow)
        subscription = self.subscribe(tenant, overflow=overflow, initial=False)
        try:
            shared = await self.backplane.history(tenant, after_seq)
        except Exception as exc:  # noqa: BLE001 - the local log is the fallback
            log.warning("tenant %r: the shared replay log is unavailable (%s)", tenant, exc)
            shared = None
        except BaseException:
            subscription.close()
            raise
        if shared is None:
            if after_seq > self.position(tenant):
                subscription.close()
                return None
            replayed = self.replay(tenant, after_seq)
        else:
            # This hub may hold newer events than the shared log (its own, not yet sent).
            newest_shared = shared[-1].seq if shared else after_seq
            tail = self.replay(tenant, max(after_seq, newest_shared))
            replayed = [*shared, *(e for e in tail if not isinstance(e, Gap))]
        if replayed:
            subscription.floor = replayed[-1].seq
        return replayed, subscription

    def subscribers(self, tenant: str | None = None) -> int:
        """How many subscribers read ``tenant`` (or every tenant, with ``None``)."""
        log = self._all if tenant is None else self._logs.get(tenant)
        return 0 if log is None else len(log.readers())

    def forget(self, tenant: str) -> None:
        """Drop a tenant's current state (after logout), keeping its log for replay."""
        self._current.pop(tenant, None)

    def close(self) -> None:
        """End every subscription once it has read what was published."""
        self._closed = True
        for events in (*self._logs.values(), self._all):
            for subscriber in events.readers():
                subscriber.finish()
        if self.local is not self:
            self.local.close()
