"""Callbacks and webhooks: every tenant's events delivered to your code or to HTTP endpoints.

**Callbacks** are built into the core: :meth:`wagate.Session.subscribe` (one
tenant) and :meth:`wagate.Gateway.subscribe` (one tenant, or every tenant with
``tenant=None``) take a plain or ``async`` function.  Each callback reads its own
bounded stream in seq order; one that raises is logged with its tenant and keeps
receiving; one that blocks holds up only itself.

**Webhooks** (the ``webhooks`` extra, on httpx): a :class:`WebhookDispatcher`
attached to a :class:`~wagate.Gateway` posts every event of the tenants each
:class:`WebhookEndpoint` asks for, as JSON::

    {"event": "message:received", "tenant": "acme", "seq": 42, "data": {...}}

``event`` and ``data`` are the first message of :func:`wagate.to_wire`, the same
payload Socket.IO and SSE carry.  Each request is signed the Standard Webhooks
way (``webhook-id``: ``tenant:seq``, the same on every try; ``webhook-timestamp``;
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``),
which the ``standardwebhooks`` library checks given :func:`standard_secret`, and
wagate's own way (``Wagate-Timestamp``; ``Wagate-Signature``: ``v1=`` and the hex
HMAC-SHA256 of ``timestamp + "." + body``), which :func:`verify_signature` checks.
Receivers deduplicate by ``webhook-id``.  Each endpoint's events wait in a
durable backlog in the dead-letter store until they are delivered or dead-lettered.

Example:
    ```python
    from wagate.adapters.callbacks import WebhookDispatcher, WebhookEndpoint, SQLiteDeadLetters

    async with Gateway(driver_factory) as gateway, WebhookDispatcher(
        gateway,
        [WebhookEndpoint(url="https://crm.example.com/wa", secret=CRM_SECRET, tenant="acme")],
        dead_letters=SQLiteDeadLetters("webhooks.db"),
    ) as webhooks:
        ...
        await webhooks.replay()  # once the endpoint is back up
    ```

On the receiving side:

    ```python
    verify_signature(SECRET, request.headers, await request.body())  # raises SignatureError
    # or: standardwebhooks.Webhook(standard_secret(SECRET)).verify(body, dict(request.headers))
    ```
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import attrs

from .._errors import InvalidInput, SessionClosed, WagateError
from .._events import (
    Connected,
    Connecting,
    Disconnected,
    Event,
    Gap,
    MessageReceived,
    MessageSent,
    PairingCode,
    QrGenerated,
    from_wire,
    to_wire,
    utcnow,
)
from .._gateway import Gateway
from .._hub import Hub
from .._lifecycle import ClosingStack
from .._session import Backoff
from .._validate import validate_tenant
from .._version import __version__
from ._deadletters import (
    BacklogEntry,
    DeadLetter,
    DeadLetterStore,
    MemoryDeadLetters,
    SQLiteDeadLetters,
)
from ._signing import (
    ATTEMPT_HEADER,
    DEFAULT_TOLERANCE,
    MIN_SECRET_BYTES,
    REPLAY_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    TIMESTAMP_HEADER,
    HeaderLookup,
    SignatureError,
    StaleTimestamp,
    delivery_id,
    sign,
    sign_standard,
    signature_headers,
    standard_secret,
    verify_signature,
)

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

__all__ = [
    "ATTEMPT_HEADER",
    "DEFAULT_TOLERANCE",
    "MIN_SECRET_BYTES",
    "REPLAY_HEADER",
    "SIGNATURE_HEADER",
    "STANDARD_ID_HEADER",
    "STANDARD_SIGNATURE_HEADER",
    "STANDARD_TIMESTAMP_HEADER",
    "TIMESTAMP_HEADER",
    "BacklogEntry",
    "DeadLetter",
    "DeadLetterStore",
    "HeaderLookup",
    "MemoryDeadLetters",
    "ReplayReport",
    "SQLiteDeadLetters",
    "SignatureError",
    "StaleTimestamp",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "delivery_id",
    "sign",
    "sign_standard",
    "signature_headers",
    "standard_secret",
    "verify_signature",
    "webhook_body",
]

log = logging.getLogger("wagate.webhooks")


_POSTED = frozenset(
    kind.wire_name
    for kind in (
        Connecting,
        QrGenerated,
        PairingCode,
        Connected,
        Disconnected,
        MessageReceived,
        MessageSent,
    )
)
_MAX_URL_LENGTH = 2048
_RESPONSE_READ_LIMIT = 64 * 1024
_BATCH = 100  # backlog entries read at a time


def webhook_body(event: Event) -> tuple[str, bytes]:
    """Return the wire name and the JSON body a webhook posts for ``event``.

    The body is ``{"event", "tenant", "seq", "data"}``, where ``event`` and ``data``
    are the first message of :func:`wagate.to_wire`.
    """
    message = to_wire(event)[0]
    envelope = {
        "event": message.name,
        "tenant": event.tenant,
        "seq": event.seq,
        "data": message.data,
    }
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return message.name, body.encode("utf-8")


def _fresh_body(name: str, body: bytes) -> Callable[[], bytes]:
    """What to post for a kept body (backlog, dead letter) at each try.

    A QR code is encoded anew: its ``expiresIn`` counts from the moment it is
    encoded, so the stored body of a ``qr:generated`` would promise a code that
    expired long ago; the event is decoded from its body and encoded again.
    Anything else, and a body that does not decode (written by another version),
    is posted as it was kept.
    """
    if name == QrGenerated.wire_name:
        try:
            event = from_wire(name, json.loads(body)["data"])
        except (ValueError, KeyError, TypeError, InvalidInput):
            pass
        else:
            return lambda: webhook_body(event)[1]
    return lambda: body


# ---------------------------------------------------------------------------------
# Endpoints


def _shown(value: str) -> str:
    return value if len(value) <= 80 else value[:80] + "..."


def _check_url(instance: object, attribute: attrs.Attribute[str], url: object) -> None:
    if not isinstance(url, str):
        raise InvalidInput(f"a webhook URL must be a string, got {type(url).__name__}")
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidInput(f"the webhook URL is {len(url)} characters long; the limit is 2048")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInput(
            f"the webhook URL {_shown(url)!r} contains white space or control characters"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"the webhook URL {_shown(url)!r} is malformed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            f"the webhook URL {_shown(url)!r} is not http(s): only http:// and https:// "
            "endpoints are accepted"
        )
    if not parts.hostname:
        raise InvalidInput(f"the webhook URL {_shown(url)!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "the webhook URL carries credentials (user:password@); remove them: "
            "the signature authenticates each delivery"
        )
    if port == 0:
        raise InvalidInput(f"the webhook URL {_shown(url)!r} has port 0")


def _check_secret(
    instance: object, attribute: attrs.Attribute[str | bytes], secret: object
) -> None:
    standard_secret(secret)  # type: ignore[arg-type]  # checks the type, the length, a whsec_ key


def _check_tenant(instance: object, attribute: attrs.Attribute[str | None], tenant: object) -> None:
    if tenant is not None:
        validate_tenant(tenant)


def _check_label(name: object, what: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_URL_LENGTH:
        raise InvalidInput(f"{what} must be a non-empty string, got {name!r}")


def _check_name(instance: object, attribute: attrs.Attribute[str], name: object) -> None:
    _check_label(name, "an endpoint name")


def _event_names(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInput(
            "events must be a collection of event names, e.g. {'message:received'}; "
            f"got {value!r}"
        )
    try:
        names = frozenset(value)
    except TypeError:
        raise InvalidInput(f"events must hold event names (strings), got {value!r}") from None
    unknown = sorted(repr(n) for n in names if n not in _POSTED)
    if unknown:
        raise InvalidInput(
            f"unknown event name(s) {', '.join(unknown)}; choose from {', '.join(sorted(_POSTED))}"
        )
    if not names:
        raise InvalidInput("events is empty: the endpoint would receive nothing (use None for all)")
    return names


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    """Where to post events, and with which secret.

    Example:
        ```python
        WebhookEndpoint(url="https://crm.example.com/wa", secret=os.environ["CRM_HOOK_SECRET"],
                        tenant="acme")
        ```

    Attributes:
        url: An ``http://`` or ``https://`` URL (no ``user:password@``).  Redirects
            are not followed: give the final URL.
        secret: The shared secret the deliveries are signed with (at least 16
            bytes; there is no default).  Never shown in ``repr``.
        tenant: The tenant whose events go there, or ``None`` for every tenant.
        name: How the endpoint is called in logs and dead letters (default: the
            URL; pass a name when the URL carries a token).  Unique per dispatcher.
        events: The wire names to post (e.g. ``{"message:received"}``), or
            ``None`` for every event.  A ``stream:gap`` dead letter is recorded
            whatever this says.

    Raises:
        InvalidInput: the URL is not http(s) or malformed, the secret is missing
            or short, the tenant id is invalid, an event name is unknown.
    """

    url: str = attrs.field(validator=_check_url)
    secret: str | bytes = attrs.field(repr=False, validator=_check_secret)
    tenant: str | None = attrs.field(default=None, validator=_check_tenant)
    name: str = attrs.field(validator=_check_name)
    events: frozenset[str] | None = attrs.field(default=None, converter=_event_names)

    @name.default
    def _default_name(self) -> str:
        return self.url

    def wants(self, event: Event) -> bool:
        """Whether ``event`` is posted to this endpoint (its tenant and its kind)."""
        if self.tenant is not None and event.tenant != self.tenant:
            return False
        return self.events is None or isinstance(event, Gap) or event.wire_name in self.events


# ---------------------------------------------------------------------------------
# Delivery


@attrs.frozen(kw_only=True)
class _Outcome:
    ok: bool
    retry: bool = False
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None


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


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 6:
        return float(text)
    return None  # an HTTP date, or garbage: keep our own backoff


class _Worker:
    """One endpoint: what the hub handed over, the task keeping it, the task posting it."""

    def __init__(self, endpoint: WebhookEndpoint) -> None:
        self.endpoint = endpoint
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

    def wake(self) -> None:
        self.arrived.set()
        self.queued.set()


def _nothing() -> None:
    pass


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
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
            raise InvalidInput(f"attempts must be an integer from 1 to 100, got {attempts!r}")
        for label, value in (("timeout", timeout), ("close_timeout", close_timeout)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
                or (label == "timeout" and value == 0)
            ):
                raise InvalidInput(f"{label} must be a finite number of seconds > 0, got {value!r}")
        _check_label(node, "a node name")
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
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._workers: dict[str, _Worker] = {}
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
                try:
                    import httpx  # noqa: PLC0415 - the optional extra, imported when used
                except ImportError:
                    raise ImportError(
                        "webhooks need httpx: install wagate with the 'webhooks' extra "
                        "(pip install 'wagate[webhooks]')"
                    ) from None
                self._client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        timeout=self.timeout,
                        follow_redirects=False,
                        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                        headers={"User-Agent": f"wagate/{__version__}"},
                    )
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

    def _check_open(self) -> anyio.abc.TaskGroup:
        if self._closing:
            raise SessionClosed("the webhook dispatcher is closed")
        if self._tg is None:
            raise RuntimeError(
                "the webhook dispatcher is not started: use 'async with WebhookDispatcher(...)'"
            )
        return self._tg

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
                f"there is already an endpoint named {_shown(endpoint.name)!r}: "
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
        tg = self._check_open()
        # In a cluster every process's hub has every event; each is posted once, by
        # the process whose session produced it (the hub's local events).
        hub = self.source.hub.local if isinstance(self.source, Gateway) else self.source.local
        worker = _Worker(endpoint)
        state, worker.stop_listening = hub.listen(worker.take, endpoint.tenant)
        for event in state:
            worker.take(event)
        self._workers[endpoint.name] = worker
        tg.start_soon(self._intake, worker)
        tg.start_soon(self._send, worker)

    async def _stop(self, worker: _Worker, remove: bool) -> None:
        worker.stop_listening()
        worker.stopping = True
        worker.wake()
        with anyio.move_on_after(self.close_timeout):
            await worker.intake_done.wait()
            await worker.done.wait()
        for scope, done in ((worker.intake_scope, worker.intake_done), (worker.scope, worker.done)):
            scope.cancel()
            await done.wait()
        if self._workers.get(worker.endpoint.name) is worker:
            del self._workers[worker.endpoint.name]
        with anyio.CancelScope(shield=True):
            if worker.incoming:
                log.error(
                    "webhook %r: %d event(s) could not be written to the backlog",
                    worker.endpoint.name,
                    len(worker.incoming),
                )
                for event in worker.incoming:
                    await self._bury_event(worker, event, "the backlog could not be written")
                worker.incoming.clear()
            await self._leave_backlog(worker, remove)

    async def _leave_backlog(self, worker: _Worker, remove: bool) -> None:
        name = worker.endpoint.name
        try:
            left = await self.dead_letters.backlog(node=self.node, endpoint=name)
        except WagateError as exc:
            log.error("webhook %r: the backlog could not be read on stopping: %s", name, exc)  # noqa: TRY400
            return
        if not left:
            return
        if remove:
            for entry in left:
                await self._bury(worker, entry, "the endpoint was removed before it was delivered")
            return
        if self.dead_letters.durable:
            log.info("webhook %r: %d event(s) stay in the backlog", name, len(left))
        else:
            log.warning(
                "webhook %r: %d event(s) wait in the backlog of an in-memory store, which "
                "ends with the process: use SQLiteDeadLetters to keep them across restarts",
                name,
                len(left),
            )

    # ------------------------------------------------------------------ the backlog
    async def _intake(self, worker: _Worker) -> None:
        """Write what the hub handed over to the endpoint's backlog, in batches."""
        try:
            with worker.intake_scope:
                failures = 0
                while True:
                    while not worker.incoming:
                        if worker.stopping:
                            return
                        worker.arrived = anyio.Event()
                        await worker.arrived.wait()
                    count = len(worker.incoming)
                    entries = await self._entries(worker, worker.incoming[:count])
                    try:
                        await self.dead_letters.append(entries)
                    except WagateError as exc:
                        failures += 1
                        delay = self.backoff.delay(failures, self._rng)
                        log.error(  # noqa: TRY400 - the store's message says it all
                            "webhook %r: could not write %d event(s) to the backlog (%s); "
                            "they are kept in memory, next try in %.1f s",
                            worker.endpoint.name,
                            count,
                            exc,
                            delay,
                        )
                        await anyio.sleep(delay)
                        continue
                    failures = 0
                    del worker.incoming[:count]
                    worker.appended += 1
                    worker.queued.set()
        finally:
            worker.intake_done.set()
            worker.queued.set()

    async def _entries(self, worker: _Worker, events: list[Event]) -> list[BacklogEntry]:
        entries: list[BacklogEntry] = []
        for event in events:
            try:
                name, body = webhook_body(event)
            except Exception as exc:
                log.exception(  # the event's type and seq only: its text may be private
                    "webhook %r: could not encode %s (tenant %r, seq %d)",
                    worker.endpoint.name,
                    type(event).__name__,
                    event.tenant,
                    event.seq,
                )
                await self._bury_event(worker, event, f"could not encode the event: {exc}")
                continue
            entries.append(
                BacklogEntry(
                    node=self.node,
                    endpoint=worker.endpoint.name,
                    tenant=event.tenant,
                    seq=event.seq,
                    event=name,
                    body=body,
                )
            )
        return entries

    async def _send(self, worker: _Worker) -> None:
        """Post the endpoint's backlog, oldest first, one event at a time."""
        try:
            with worker.scope:
                failures = 0
                while True:
                    seen = worker.appended
                    try:
                        batch = await self.dead_letters.backlog(
                            node=self.node, endpoint=worker.endpoint.name, limit=_BATCH
                        )
                    except WagateError as exc:
                        failures += 1
                        delay = self.backoff.delay(failures, self._rng)
                        log.error(  # noqa: TRY400
                            "webhook %r: could not read the backlog (%s); next try in %.1f s",
                            worker.endpoint.name,
                            exc,
                            delay,
                        )
                        await anyio.sleep(delay)
                        continue
                    failures = 0
                    if not batch:
                        if worker.intake_done.is_set() and worker.appended == seen:
                            return  # stopping, and everything written was posted
                        while worker.appended == seen and not worker.intake_done.is_set():
                            worker.queued = anyio.Event()
                            await worker.queued.wait()
                        continue
                    for entry in batch:
                        await self._handle(worker, entry)
        finally:
            worker.done.set()

    async def _handle(self, worker: _Worker, entry: BacklogEntry) -> None:
        msg_id = delivery_id(entry.tenant, entry.seq, entry.event)
        async with worker.lock:
            outcome, tries = await self._deliver(
                worker.endpoint, _fresh_body(entry.event, entry.body), self.attempts, msg_id
            )
        if not outcome.ok:
            error = outcome.error or "failed"
            if not await self._bury(worker, entry, error, tries, status=outcome.status):
                # It stays in the backlog, first in line: wait before posting it again.
                worker.store_failures += 1
                await anyio.sleep(self.backoff.delay(worker.store_failures, self._rng))
            else:
                worker.store_failures = 0
            return
        worker.delivered += 1
        try:
            await self.dead_letters.delivered(entry.id)
        except WagateError as exc:
            # It stays in the backlog and will be posted again: receivers deduplicate by id.
            log.error(  # noqa: TRY400
                "webhook %r: could not mark tenant %r seq %d delivered: %s",
                worker.endpoint.name,
                entry.tenant,
                entry.seq,
                exc,
            )

    # ------------------------------------------------------------------ posting
    async def _deliver(
        self,
        endpoint: WebhookEndpoint,
        body: Callable[[], bytes],
        attempts: int,
        msg_id: str,
        *,
        tried: int = 0,
        replay: bool = False,
    ) -> tuple[_Outcome, int]:
        """Post ``body()`` up to ``attempts`` times; return the last outcome and the tries made.

        ``body`` is called at each try: a QR code's body is encoded anew, so that its
        ``expiresIn`` counts from that try.

        ``tried`` is how many tries the delivery had before (a dead letter's), so
        ``Wagate-Attempt`` counts on across replays.
        """
        outcome = _Outcome(ok=False, error="not attempted")
        attempt = 0
        for attempt in range(1, attempts + 1):
            outcome = await self._post(
                endpoint, body(), msg_id, attempt=tried + attempt, replay=replay
            )
            if outcome.ok or not outcome.retry or attempt == attempts:
                break
            delay = self.backoff.delay(attempt, self._rng)
            if outcome.retry_after is not None:
                delay = min(max(delay, outcome.retry_after), self.backoff.maximum)
            log.info(
                "webhook %r: %s; try %d of %d in %.2f s",
                endpoint.name,
                outcome.error,
                attempt + 1,
                attempts,
                delay,
            )
            await anyio.sleep(delay)
        return outcome, attempt

    async def _post(
        self, endpoint: WebhookEndpoint, body: bytes, msg_id: str, *, attempt: int, replay: bool
    ) -> _Outcome:
        import httpx  # noqa: PLC0415 - the optional extra, loaded by __aenter__ already

        client = self._client
        assert client is not None
        headers = {
            "Content-Type": "application/json",
            **signature_headers(endpoint.secret, body, msg_id=msg_id),
            ATTEMPT_HEADER: str(attempt),
            REPLAY_HEADER: "true" if replay else "false",
        }
        try:
            with anyio.fail_after(self.timeout):
                async with client.stream(
                    "POST", endpoint.url, content=body, headers=headers, follow_redirects=False
                ) as response:
                    status = response.status_code
                    phrase = response.reason_phrase
                    location = response.headers.get("location")
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > _RESPONSE_READ_LIMIT:
                            break
        except (TimeoutError, httpx.TimeoutException):
            return _Outcome(ok=False, retry=True, error=f"timed out after {self.timeout:g} s")
        except httpx.TransportError as exc:
            return _Outcome(
                ok=False, retry=True, error=f"connection failed: {type(exc).__name__}: {exc}"
            )
        except Exception as exc:  # noqa: BLE001 - any other failure is this delivery's, not ours
            return _Outcome(ok=False, error=f"request failed: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return _Outcome(ok=True, status=status)
        if 300 <= status < 400:
            return _Outcome(
                ok=False,
                status=status,
                error=f"HTTP {status} {phrase}: a redirect to {location!r}, not followed; "
                "configure the endpoint with its final URL",
            )
        retry = status >= 500 or status in (408, 429)
        return _Outcome(
            ok=False,
            retry=retry,
            status=status,
            error=f"HTTP {status} {phrase}",
            retry_after=retry_after,
        )

    async def _bury(
        self,
        worker: _Worker,
        entry: BacklogEntry,
        error: str,
        attempts: int = 0,
        *,
        status: int | None = None,
    ) -> bool:
        """Move ``entry`` from the backlog to the dead letters, with its body; say if it was."""
        endpoint = worker.endpoint
        letter = DeadLetter(
            endpoint=endpoint.name,
            url=endpoint.url,
            tenant=entry.tenant,
            seq=entry.seq,
            event=entry.event,
            body=entry.body,
            error=error,
            attempts=attempts,
            status=status,
        )
        return await self._keep(worker, letter, entry.id)

    async def _bury_event(self, worker: _Worker, event: Event, error: str) -> None:
        """Keep ``event``, which never reached the backlog, as a dead letter."""
        try:
            name, body = webhook_body(event)
        except Exception:  # noqa: BLE001 - keep what can be kept
            name, body = event.wire_name, b""
        letter = DeadLetter(
            endpoint=worker.endpoint.name,
            url=worker.endpoint.url,
            tenant=event.tenant,
            seq=event.seq,
            event=name,
            body=body,
            error=error,
            attempts=0,
        )
        await self._keep(worker, letter, 0)

    async def _keep(self, worker: _Worker, letter: DeadLetter, entry_id: int) -> bool:
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
                await self.dead_letters.bury(entry_id, letter)
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
        worker.dead += 1
        return True

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
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
            raise InvalidInput(f"attempts must be an integer from 1 to 100, got {attempts!r}")
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
                    msg_id = delivery_id(letter.tenant, letter.seq, letter.event)
                    async with worker.lock:
                        outcome, tries = await self._deliver(
                            worker.endpoint,
                            _fresh_body(letter.event, letter.body),
                            attempts,
                            msg_id,
                            tried=letter.attempts,
                            replay=True,
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
