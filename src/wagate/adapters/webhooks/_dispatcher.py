"""The webhook dispatcher: endpoints added and removed, their workers, replay of dead letters.

Public through :mod:`wagate.adapters.webhooks`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import attrs

from ..._errors import InvalidInput, SessionClosed, WagateError
from ..._events import utcnow
from ..._gateway import Gateway
from ..._hub import Hub
from ..._lifecycle import ClosingStack
from ..._session import Backoff
from ..._validate import validate_tenant
from ._backlog import EndpointWorker
from ._deadletters import DeadLetter, DeadLetterStore, MemoryDeadLetters
from ._delivery import Delivery, new_client
from ._endpoint import WebhookEndpoint, check_label, shown

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

log = logging.getLogger("wagate.webhooks")


def _check_attempts(attempts: object) -> None:
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
        raise InvalidInput(f"attempts must be an integer from 1 to 100, got {attempts!r}")


@attrs.frozen(kw_only=True)
class ReplayReport:
    """What :meth:`WebhookDispatcher.replay` did.

    Attributes:
        delivered: Dead letters delivered (and removed from the store).
        failed: Dead letters still kept: those that failed again, and those of the
            same endpoint behind them (not sent, to keep the order).
        skipped: Dead letters of endpoints this dispatcher does not have.
    """

    delivered: int = 0
    failed: int = 0
    skipped: int = 0


class WebhookDispatcher(ClosingStack):
    """Posts every event of its endpoints' tenants to their URLs, signed, in order.

    Each endpoint has a **durable backlog** in ``dead_letters`` (the store's
    database): every event meant for it is written there as it happens, and a
    worker posts the backlog one event at a time, oldest first.  So order is
    kept per endpoint, a slow or dead endpoint holds up neither the sessions nor
    the other endpoints, and an endpoint that is down for hours finds every
    event waiting when it is back; with a persistent store
    (:class:`SQLiteDeadLetters`, or
    :class:`~wagate.stores.postgres.PostgresDeadLetters` in a cluster) the
    backlog survives a restart too, and the next dispatcher on the store posts
    it first.

    A failed post is retried with exponential backoff on timeouts, connection
    errors, 5xx, 408 and 429; other answers (4xx, and any redirect, which is
    never followed) fail at once.  What still fails becomes a
    :class:`DeadLetter`, body included; :meth:`replay` posts those again, in order.

    Each request carries the Standard Webhooks headers (``webhook-id``: ``tenant:seq``,
    the same on every try and replay; ``webhook-timestamp``; ``webhook-signature``)
    beside wagate's own, and ``Wagate-Attempt`` / ``Wagate-Replay``.  Deliveries are
    at least once: receivers deduplicate by ``webhook-id``.

    Each endpoint first receives its tenants' current state (as every
    subscriber does), then every new event.

    In a cluster (:mod:`wagate.cluster`) run one dispatcher with the same
    endpoints in every process: each posts only the events of its own sessions
    (:attr:`wagate.Hub.local`), so an event is posted once cluster-wide, by the
    process that holds its tenant.  Give each process its own ``node`` name,
    the same after a restart, when they share one store.

    The host owns the dispatcher: use it as an async context manager inside the
    gateway's (with a :class:`~wagate.SyncGateway`, enter it through
    ``sync_gateway.portal.wrap_async_context_manager``).  On exit each endpoint
    gets ``close_timeout`` seconds to post what is waiting; what remains stays in
    the backlog for the next dispatcher on the same store.

    Args:
        source: The gateway (or hub) whose events are posted.
        endpoints: The endpoints to start with; see :meth:`add`.
        dead_letters: The store of the backlogs and of failed deliveries
            (default: in memory, which a restart loses).  The dispatcher opens
            it on start and closes it on exit.
        attempts: Tries per event, the first one included.
        backoff: The delay between tries (a ``Retry-After`` of 408/429/5xx
            answers is honoured up to ``backoff.maximum``).
        timeout: Seconds one try may take in all, from connecting to the answer.
        close_timeout: Seconds each endpoint gets to drain on exit or removal.
        client: An ``httpx.AsyncClient`` to post with (proxies, TLS settings);
            the dispatcher then never closes it.  Redirects are never followed.
        node: Whose backlogs these are in the store: one dispatcher per node
            name at a time (processes sharing a store need names of their own).

    Raises:
        InvalidInput: a number is out of range, the node name is invalid or two
            endpoints share a name.
    """

    def __init__(
        self,
        source: Gateway | Hub,
        endpoints: Iterable[WebhookEndpoint] = (),
        *,
        dead_letters: DeadLetterStore | None = None,
        attempts: int = 6,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
        close_timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        node: str = "main",
    ) -> None:
        if not isinstance(source, (Gateway, Hub)):
            raise InvalidInput(f"source must be a Gateway or a Hub, got {type(source).__name__}")
        _check_attempts(attempts)
        for label, value in (("timeout", timeout), ("close_timeout", close_timeout)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
                or (label == "timeout" and value == 0)
            ):
                raise InvalidInput(f"{label} must be a finite number of seconds > 0, got {value!r}")
        check_label(node, "a node name")
        self.source = source
        self.dead_letters: DeadLetterStore = (
            dead_letters if dead_letters is not None else MemoryDeadLetters()
        )
        """The store of backlogs and failed deliveries: ``await dead_letters.letters()``."""
        self.attempts = attempts
        self.backoff = backoff if backoff is not None else Backoff()
        self.timeout = float(timeout)
        self.close_timeout = float(close_timeout)
        self.node = node
        """The name this dispatcher's backlogs have in the store."""
        self._client = client
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._delivery: Delivery | None = None
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._workers: dict[str, EndpointWorker] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._replay_lock = anyio.Lock()
        self._closing = False
        self._closed = anyio.Event()
        for endpoint in endpoints:
            self._remember(endpoint)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        if self._stack is not None or self._closing:
            raise RuntimeError("a WebhookDispatcher can be entered once")
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.dead_letters)
            if self._client is None:
                self._client = await stack.enter_async_context(new_client(self.timeout))
            self._delivery = Delivery(
                self._client, timeout=self.timeout, backoff=self.backoff, rng=self._rng
            )
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            self._stack = stack
            for endpoint in self._endpoints.values():
                self._start(endpoint)
        except BaseException:
            for worker in self._workers.values():
                worker.stop_listening()
            self._workers.clear()
            if self._tg is not None:
                self._tg.cancel_scope.cancel()
            await stack.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """Let each endpoint drain for ``close_timeout`` s; the rest stays in its backlog.

        Safe to call twice.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            async with anyio.create_task_group() as tg:
                for worker in list(self._workers.values()):
                    tg.start_soon(self._stop, worker, False)
        finally:
            self._closed.set()

    def _check_open(self) -> tuple[anyio.abc.TaskGroup, Delivery]:
        if self._closing:
            raise SessionClosed("the webhook dispatcher is closed")
        if self._tg is None or self._delivery is None:
            raise RuntimeError(
                "the webhook dispatcher is not started: use 'async with WebhookDispatcher(...)'"
            )
        return self._tg, self._delivery

    # ------------------------------------------------------------------ endpoints
    @property
    def endpoints(self) -> tuple[WebhookEndpoint, ...]:
        """The endpoints, in the order they were added."""
        return tuple(self._endpoints.values())

    def _remember(self, endpoint: WebhookEndpoint) -> None:
        if not isinstance(endpoint, WebhookEndpoint):
            raise InvalidInput(f"expected a WebhookEndpoint, got {type(endpoint).__name__}")
        if endpoint.name in self._endpoints:
            raise InvalidInput(
                f"there is already an endpoint named {shown(endpoint.name)!r}: "
                "give each endpoint its own name"
            )
        self._endpoints[endpoint.name] = endpoint

    def add(self, endpoint: WebhookEndpoint) -> None:
        """Start posting to ``endpoint``: its backlog first, then its tenants' state and events.

        May be called before the dispatcher starts, too.

        Raises:
            InvalidInput: an endpoint of the same name exists.
            SessionClosed: the dispatcher (or its gateway) is closed.
        """
        if self._closing:
            raise SessionClosed("the webhook dispatcher is closed")
        self._remember(endpoint)
        if self._tg is not None:
            try:
                self._start(endpoint)
            except BaseException:
                del self._endpoints[endpoint.name]
                raise

    async def remove(self, name: str) -> None:
        """Stop posting to the endpoint called ``name``.

        It gets ``close_timeout`` seconds to post its backlog; what remains becomes
        dead letters (which :meth:`replay` skips while it is gone).

        Raises:
            InvalidInput: there is no endpoint of that name.
        """
        endpoint = self._endpoints.pop(name, None) if isinstance(name, str) else None
        if endpoint is None:
            raise InvalidInput(f"there is no endpoint named {name!r}")
        worker = self._workers.get(name)
        if worker is not None:
            await self._stop(worker, True)

    def _start(self, endpoint: WebhookEndpoint) -> None:
        tg, delivery = self._check_open()
        # In a cluster every process's hub has every event; each is posted once, by
        # the process whose session produced it (the hub's local events).
        hub = self.source.hub.local if isinstance(self.source, Gateway) else self.source.local
        worker = EndpointWorker(
            endpoint,
            store=self.dead_letters,
            node=self.node,
            delivery=delivery,
            attempts=self.attempts,
        )
        state, worker.stop_listening = hub.listen(worker.take, endpoint.tenant)
        for event in state:
            worker.take(event)
        self._workers[endpoint.name] = worker
        tg.start_soon(worker.intake)
        tg.start_soon(worker.send)

    async def _stop(self, worker: EndpointWorker, remove: bool) -> None:
        await worker.halt(self.close_timeout)
        if self._workers.get(worker.endpoint.name) is worker:
            del self._workers[worker.endpoint.name]
        with anyio.CancelScope(shield=True):
            await worker.settle(remove)

    # ------------------------------------------------------------------ replay
    async def replay(
        self, endpoint: str | None = None, *, tenant: str | None = None, attempts: int = 1
    ) -> ReplayReport:
        """Post the dead letters again, oldest first, each signed anew.

        Letters go to the endpoint of the same name as configured now, one at a
        time and never at the same time as that endpoint's live events.  A letter
        delivered is removed from the store; at the first one that fails again, the
        endpoint's replay stops (keeping order) and the letter records the new error.

        Args:
            endpoint: Only this endpoint's letters (default: every endpoint's).
            tenant: Only this tenant's letters.
            attempts: Tries per letter, with the dispatcher's backoff between them.

        Raises:
            InvalidInput: ``attempts`` is out of range or ``tenant`` is invalid.
            SessionClosed: the dispatcher is closed.
            StoreError: the dead-letter store failed (letters already delivered
                may then be posted again by the next replay).
        """
        self._check_open()
        _check_attempts(attempts)
        if tenant is not None:
            validate_tenant(tenant)
        delivered = failed = skipped = 0
        errors: list[WagateError] = []
        async with self._replay_lock:
            letters = await self.dead_letters.letters(endpoint=endpoint, tenant=tenant)
            groups: dict[str, list[DeadLetter]] = {}
            for letter in letters:
                groups.setdefault(letter.endpoint, []).append(letter)

            async def replay_group(name: str, group: list[DeadLetter]) -> None:
                try:
                    await replay_letters(name, group)
                except WagateError as exc:  # the store failed: report it once, plainly
                    errors.append(exc)

            async def replay_letters(name: str, group: list[DeadLetter]) -> None:
                nonlocal delivered, failed, skipped
                worker = self._workers.get(name)
                if worker is None:
                    log.warning(
                        "replay: %d dead letter(s) of endpoint %r skipped: no such endpoint now",
                        len(group),
                        name,
                    )
                    skipped += len(group)
                    return
                for index, letter in enumerate(group):
                    outcome, tries = await worker.post(
                        letter, attempts, tried=letter.attempts, replay=True
                    )
                    if outcome.ok:
                        await self.dead_letters.remove(letter.id)
                        worker.delivered += 1
                        delivered += 1
                        continue
                    await self.dead_letters.update(
                        attrs.evolve(
                            letter,
                            url=worker.endpoint.url,
                            error=outcome.error or "failed",
                            attempts=letter.attempts + tries,
                            status=outcome.status,
                            failed_at=utcnow(),
                        )
                    )
                    failed += len(group) - index
                    log.warning(
                        "replay to %r stopped at tenant %r seq %d: %s; %d letter(s) kept",
                        name,
                        letter.tenant,
                        letter.seq,
                        outcome.error,
                        len(group) - index,
                    )
                    return

            async with anyio.create_task_group() as tg:
                for name, group in groups.items():
                    tg.start_soon(replay_group, name, group)
        if errors:
            raise errors[0]
        return ReplayReport(delivered=delivered, failed=failed, skipped=skipped)
