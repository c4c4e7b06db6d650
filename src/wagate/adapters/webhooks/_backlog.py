"""One endpoint's feed: events from the hub into its durable backlog, and out to its URL.

Each endpoint of a :class:`~wagate.adapters.webhooks.WebhookDispatcher` has an
:class:`EndpointWorker` with two tasks: the intake writes what the hub handed
over to the backlog in batches, and the sender posts the backlog, oldest first,
one event at a time.  What finally fails moves to the dead letters with its body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from ..._errors import WagateError
from ..._events import Event
from ..._telemetry import DEAD_LETTERS, DELIVERIES, TELEMETRY
from ._deadletters import BacklogEntry, DeadLetter, DeadLetterStore
from ._delivery import Delivery, Outcome, fresh_body, webhook_body
from ._endpoint import WebhookEndpoint
from ._signing import delivery_id

log = logging.getLogger("wagate.webhooks")

_BATCH = 100  # backlog entries read at a time


def _nothing() -> None:
    pass


class EndpointWorker:
    """One endpoint: what the hub handed over, the task keeping it, the task posting it.

    Args:
        endpoint: Where the events go.
        store: The store of the backlogs and dead letters.
        node: Whose backlog it is in the store.
        delivery: What posts (and paces the retries of the store, too).
        attempts: Tries per event, the first one included.
    """

    def __init__(
        self,
        endpoint: WebhookEndpoint,
        *,
        store: DeadLetterStore,
        node: str,
        delivery: Delivery,
        attempts: int,
    ) -> None:
        self.endpoint = endpoint
        self.store = store
        self.node = node
        self.delivery = delivery
        self.attempts = attempts
        self.incoming: list[Event] = []  # taken from the hub, not yet in the backlog
        self.arrived = anyio.Event()
        self.appended = 0  # how many writes to the backlog were made (wakes the sender)
        self.queued = anyio.Event()
        self.stop_listening: Callable[[], None] = _nothing
        self.lock = anyio.Lock()  # one post at a time: live events and replays
        self.scope = anyio.CancelScope()
        self.intake_scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.intake_done = anyio.Event()
        self.stopping = False
        self.delivered = 0
        self.dead = 0
        self.store_failures = 0

    def take(self, event: Event) -> None:
        """The hub's listener: keep the event for the backlog (never blocks, never drops)."""
        if self.endpoint.wants(event):
            self.incoming.append(event)
            self.arrived.set()

    async def post(
        self,
        kept: BacklogEntry | DeadLetter,
        attempts: int,
        *,
        tried: int = 0,
        replay: bool = False,
    ) -> tuple[Outcome, int]:
        """Post a kept body to the endpoint, never at the same time as another of its posts."""
        msg_id = delivery_id(kept.tenant, kept.seq, kept.event)
        async with self.lock:
            return await self.delivery.deliver(
                self.endpoint,
                fresh_body(kept.event, kept.body),
                attempts,
                msg_id,
                tried=tried,
                replay=replay,
            )

    # ------------------------------------------------------------------ stopping
    async def halt(self, close_timeout: float) -> None:
        """Stop taking events; give both tasks ``close_timeout`` s to finish, then cancel them."""
        self.stop_listening()
        self.stopping = True
        self.arrived.set()
        self.queued.set()
        with anyio.move_on_after(close_timeout):
            await self.intake_done.wait()
            await self.done.wait()
        for scope, done in ((self.intake_scope, self.intake_done), (self.scope, self.done)):
            scope.cancel()
            await done.wait()

    async def settle(self, remove: bool) -> None:
        """After :meth:`halt`: keep what never reached the backlog; bury the backlog if removed."""
        if self.incoming:
            log.error(
                "webhook %r: %d event(s) could not be written to the backlog",
                self.endpoint.name,
                len(self.incoming),
            )
            for event in self.incoming:
                await self._bury_event(event, "the backlog could not be written")
            self.incoming.clear()
        await self._leave_backlog(remove)

    async def _leave_backlog(self, remove: bool) -> None:
        name = self.endpoint.name
        try:
            left = await self.store.backlog(node=self.node, endpoint=name)
        except WagateError as exc:
            log.error("webhook %r: the backlog could not be read on stopping: %s", name, exc)  # noqa: TRY400
            return
        if not left:
            return
        if remove:
            for entry in left:
                await self._bury(entry, "the endpoint was removed before it was delivered")
            return
        if self.store.durable:
            log.info("webhook %r: %d event(s) stay in the backlog", name, len(left))
        else:
            log.warning(
                "webhook %r: %d event(s) wait in the backlog of an in-memory store, which "
                "ends with the process: use SQLiteDeadLetters to keep them across restarts",
                name,
                len(left),
            )

    # ------------------------------------------------------------------ the backlog
    async def _pause(self, failures: int, message: str, *args: object) -> None:
        """Log that the store failed (``message`` ends with the delay) and wait before retrying."""
        delay = self.delivery.delay(failures)
        log.error(message, self.endpoint.name, *args, delay)
        await anyio.sleep(delay)

    async def intake(self) -> None:
        """Write what the hub handed over to the endpoint's backlog, in batches."""
        try:
            with self.intake_scope:
                failures = 0
                while True:
                    while not self.incoming:
                        if self.stopping:
                            return
                        self.arrived = anyio.Event()
                        await self.arrived.wait()
                    count = len(self.incoming)
                    entries = await self._entries(self.incoming[:count])
                    try:
                        await self.store.append(entries)
                    except WagateError as exc:
                        failures += 1
                        await self._pause(
                            failures,
                            "webhook %r: could not write %d event(s) to the backlog (%s); "
                            "they are kept in memory, next try in %.1f s",
                            count,
                            exc,
                        )
                        continue
                    failures = 0
                    del self.incoming[:count]
                    self.appended += 1
                    self.queued.set()
        finally:
            self.intake_done.set()
            self.queued.set()

    async def _entries(self, events: list[Event]) -> list[BacklogEntry]:
        entries: list[BacklogEntry] = []
        for event in events:
            try:
                name, body = webhook_body(event)
            except Exception as exc:
                log.exception(  # the event's type and seq only: its text may be private
                    "webhook %r: could not encode %s (tenant %r, seq %d)",
                    self.endpoint.name,
                    type(event).__name__,
                    event.tenant,
                    event.seq,
                )
                await self._bury_event(event, f"could not encode the event: {exc}")
                continue
            entries.append(
                BacklogEntry(
                    node=self.node,
                    endpoint=self.endpoint.name,
                    tenant=event.tenant,
                    seq=event.seq,
                    event=name,
                    body=body,
                )
            )
        return entries

    async def send(self) -> None:
        """Post the endpoint's backlog, oldest first, one event at a time."""
        try:
            with self.scope:
                failures = 0
                while True:
                    seen = self.appended
                    try:
                        batch = await self.store.backlog(
                            node=self.node, endpoint=self.endpoint.name, limit=_BATCH
                        )
                    except WagateError as exc:
                        failures += 1
                        await self._pause(
                            failures,
                            "webhook %r: could not read the backlog (%s); next try in %.1f s",
                            exc,
                        )
                        continue
                    failures = 0
                    if not batch:
                        if self.intake_done.is_set() and self.appended == seen:
                            return  # stopping, and everything written was posted
                        while self.appended == seen and not self.intake_done.is_set():
                            self.queued = anyio.Event()
                            await self.queued.wait()
                        continue
                    for entry in batch:
                        await self._handle(entry)
        finally:
            self.done.set()

    async def _handle(self, entry: BacklogEntry) -> None:
        outcome, tries = await self.post(entry, self.attempts)
        if not outcome.ok:
            TELEMETRY.add(DELIVERIES, 1.0, "dead", tenant=entry.tenant)
            error = outcome.error or "failed"
            if not await self._bury(entry, error, tries, status=outcome.status):
                # It stays in the backlog, first in line: wait before posting it again.
                self.store_failures += 1
                await anyio.sleep(self.delivery.delay(self.store_failures))
            else:
                self.store_failures = 0
            return
        self.delivered += 1
        TELEMETRY.add(DELIVERIES, 1.0, "delivered", tenant=entry.tenant)
        try:
            await self.store.delivered(entry.id)
        except WagateError as exc:
            # It stays in the backlog and will be posted again: receivers deduplicate by id.
            log.error(  # noqa: TRY400
                "webhook %r: could not mark tenant %r seq %d delivered: %s",
                self.endpoint.name,
                entry.tenant,
                entry.seq,
                exc,
            )

    # ------------------------------------------------------------------ dead letters
    def _letter(
        self,
        kept: BacklogEntry | Event,
        *,
        event: str,
        body: bytes,
        error: str,
        attempts: int,
        status: int | None = None,
    ) -> DeadLetter:
        """A dead letter of this endpoint for the event (or backlog entry) ``kept``."""
        return DeadLetter(
            endpoint=self.endpoint.name,
            url=self.endpoint.url,
            tenant=kept.tenant,
            seq=kept.seq,
            event=event,
            body=body,
            error=error,
            attempts=attempts,
            status=status,
        )

    async def _bury(
        self, entry: BacklogEntry, error: str, attempts: int = 0, *, status: int | None = None
    ) -> bool:
        """Move ``entry`` from the backlog to the dead letters, with its body; say if it was."""
        letter = self._letter(
            entry, event=entry.event, body=entry.body, error=error, attempts=attempts, status=status
        )
        return await self._keep(letter, entry.id)

    async def _bury_event(self, event: Event, error: str) -> None:
        """Keep ``event``, which never reached the backlog, as a dead letter."""
        try:
            name, body = webhook_body(event)
        except Exception:  # noqa: BLE001 - keep what can be kept
            name, body = event.wire_name, b""
        await self._keep(self._letter(event, event=name, body=body, error=error, attempts=0), 0)

    async def _keep(self, letter: DeadLetter, entry_id: int) -> bool:
        TELEMETRY.add(DEAD_LETTERS, tenant=letter.tenant)
        log.warning(
            "webhook %r: tenant %r seq %d (%s) not delivered: %s; kept as a dead letter",
            letter.endpoint,
            letter.tenant,
            letter.seq,
            letter.event,
            letter.error,
        )
        with anyio.CancelScope(shield=True):
            try:
                await self.store.bury(entry_id, letter)
            except Exception:
                what = "it stays in the backlog, to be posted again" if entry_id else "it is lost"
                log.exception(
                    "webhook %r: could not keep the dead letter of tenant %r seq %d; %s",
                    letter.endpoint,
                    letter.tenant,
                    letter.seq,
                    what,
                )
                return False
        self.dead += 1
        return True
