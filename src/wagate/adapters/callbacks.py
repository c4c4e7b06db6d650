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
payload Socket.IO and SSE carry.  Each request has a ``Wagate-Timestamp`` header
(Unix seconds) and a ``Wagate-Signature`` header, ``v1=`` followed by the hex
HMAC-SHA256 of ``timestamp + "." + body`` under the endpoint's secret; receivers
check both with :func:`verify_signature`.

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
    ```
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

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
from .._hub import Hub, Overflow, Subscription
from .._lifecycle import ClosingStack
from .._session import Backoff
from .._validate import validate_tenant
from .._version import __version__
from ._deadletters import DeadLetter, DeadLetterStore, MemoryDeadLetters, SQLiteDeadLetters

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

__all__ = [
    "DEFAULT_TOLERANCE",
    "MIN_SECRET_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
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
    "sign",
    "signature_headers",
    "verify_signature",
    "webhook_body",
]

log = logging.getLogger("wagate.webhooks")

TIMESTAMP_HEADER = "Wagate-Timestamp"
"""The request header holding the Unix time (seconds) at which a delivery was signed."""

SIGNATURE_HEADER = "Wagate-Signature"
"""The request header holding ``v1=<hex HMAC-SHA256 of timestamp + "." + body>``."""

MIN_SECRET_BYTES = 16
"""The shortest secret accepted, in bytes (make one with ``secrets.token_urlsafe(32)``)."""

DEFAULT_TOLERANCE = 300
"""How far (seconds) a signed timestamp may be from the receiver's clock by default."""

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
_MAX_TIMESTAMP_DIGITS = 12
_RESPONSE_READ_LIMIT = 64 * 1024


# ---------------------------------------------------------------------------------
# Signing and verifying


class SignatureError(WagateError):
    """A webhook request's signature is missing, malformed or wrong: reject the request."""

    code = "invalid_signature"


class StaleTimestamp(SignatureError):
    """A webhook request was signed too long ago (or in the future): possibly a replay.

    Attributes:
        age: Seconds between the signed timestamp and the receiver's clock
            (negative when the timestamp is in the future).
    """

    code = "stale_timestamp"

    def __init__(self, message: str, *, age: float) -> None:
        super().__init__(message)
        self.age = age


class HeaderLookup(Protocol):
    """Anything with a ``get(name)`` for header values.

    Starlette's, Werkzeug's and ``http.server``'s headers qualify, and so does a dict.
    """

    def get(self, key: str, /) -> str | None:
        """Return the value of header ``key``, or ``None``."""


def _secret_bytes(secret: object) -> bytes:
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
    elif isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
    else:
        raise InvalidInput(f"a webhook secret must be str or bytes, got {type(secret).__name__}")
    if len(raw) < MIN_SECRET_BYTES or not raw.strip():
        raise InvalidInput(
            f"a webhook secret must be at least {MIN_SECRET_BYTES} bytes; "
            "generate one with secrets.token_urlsafe(32)"
        )
    return raw


def _body_bytes(body: object) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise InvalidInput(f"the body must be the raw request bytes, got {type(body).__name__}")


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """Return the ``Wagate-Signature`` value for ``body`` signed at ``timestamp``.

    Args:
        secret: The endpoint's secret.
        body: The exact request body.
        timestamp: Unix time in whole seconds.

    Raises:
        InvalidInput: the secret is too short or not str/bytes.
    """
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise InvalidInput(f"timestamp must be a non-negative integer, got {timestamp!r}")
    return "v1=" + _digest(_secret_bytes(secret), timestamp, _body_bytes(body))


def signature_headers(
    secret: str | bytes, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """Return the timestamp and signature headers for posting ``body``.

    What the dispatcher sends; also handy to test a receiver.

    Args:
        secret: The endpoint's secret.
        body: The exact request body.
        timestamp: Unix time in whole seconds (default: now).
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, body, stamp)}


def _header(headers: object, name: str) -> str | None:
    value: object = None
    get = getattr(headers, "get", None)
    if callable(get):
        value = get(name)
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        for key, item in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                value = item
                break
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if not isinstance(value, str):
        raise SignatureError(f"the {name} header is not text")
    return value


def verify_signature(
    secret: str | bytes,
    headers: HeaderLookup | Mapping[str, str] | tuple[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that a webhook request was signed with ``secret``, recently.

    Use it on the raw body, before parsing it.

    Example:
        ```python
        @app.post("/wa-hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                verify_signature(SECRET, request.headers, body)
            except SignatureError as exc:
                return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, 401)
            event = json.loads(body)
            ...
        ```

    Args:
        secret: The endpoint's secret.
        headers: The request's headers (anything with ``get``, looked up
            case-insensitively), or the pair ``(timestamp, signature)`` of their values.
        body: The raw request body.
        tolerance: How many seconds the timestamp may differ from ``now``.
        now: The receiver's Unix time (default: the clock).

    Raises:
        SignatureError: a header is missing or malformed, or the signature does not match.
        StaleTimestamp: the timestamp is more than ``tolerance`` seconds old or ahead.
        InvalidInput: the secret or the tolerance is invalid.
    """
    key = _secret_bytes(secret)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not math.isfinite(tolerance)
        or tolerance <= 0
    ):
        raise InvalidInput(f"tolerance must be a positive number of seconds, got {tolerance!r}")
    if isinstance(headers, tuple):
        if len(headers) != 2:
            raise InvalidInput("give the headers, or the pair (timestamp, signature)")
        stamp_value, signature_value = headers
        if not isinstance(stamp_value, str) or not isinstance(signature_value, str):
            raise SignatureError("the timestamp and signature must be strings")
    else:
        stamp_value = _header(headers, TIMESTAMP_HEADER) or ""
        signature_value = _header(headers, SIGNATURE_HEADER) or ""
    if not stamp_value:
        raise SignatureError(f"the {TIMESTAMP_HEADER} header is missing")
    if not signature_value:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    stamp_text = stamp_value.strip()
    if not (
        stamp_text.isascii() and stamp_text.isdigit() and len(stamp_text) <= _MAX_TIMESTAMP_DIGITS
    ):
        raise SignatureError(f"the {TIMESTAMP_HEADER} header is not a Unix time in seconds")
    stamp = int(stamp_text)
    expected = _digest(key, stamp, _body_bytes(body))
    candidates = [part.strip() for part in signature_value.split(",")]
    versioned = [c[3:] for c in candidates if c.startswith("v1=")]
    if not versioned:
        raise SignatureError(f"the {SIGNATURE_HEADER} header has no v1= signature")
    # Compare against every candidate, so the time taken does not tell which matched.
    matched = False
    for candidate in versioned:
        matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), expected.encode())
    if not matched:
        raise SignatureError("the signature does not match the body and timestamp")
    age = (time.time() if now is None else now) - stamp
    if abs(age) > tolerance:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise StaleTimestamp(
            f"the request was signed {when}; at most {tolerance:g} s is accepted "
            "(a replayed request, or a clock out of sync)",
            age=age,
        )


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


def _letter_body(letter: DeadLetter) -> Callable[[], bytes]:
    """What to post for ``letter`` at each try: a QR code encoded anew, anything else as kept.

    A QR's ``expiresIn`` counts from the moment it is encoded, so the stored body of
    a ``qr:generated`` would promise a code that expired long ago; the event is
    decoded from its body and encoded again.  A body that does not decode (written
    by another version) is posted as it was kept.
    """
    if letter.event == QrGenerated.wire_name:
        try:
            event = from_wire(letter.event, json.loads(letter.body)["data"])
        except (ValueError, KeyError, TypeError, InvalidInput):
            pass
        else:
            return lambda: webhook_body(event)[1]
    return lambda: letter.body


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
    _secret_bytes(secret)


def _check_tenant(instance: object, attribute: attrs.Attribute[str | None], tenant: object) -> None:
    if tenant is not None:
        validate_tenant(tenant)


def _check_name(instance: object, attribute: attrs.Attribute[str], name: object) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_URL_LENGTH:
        raise InvalidInput(f"an endpoint name must be a non-empty string, got {name!r}")


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
    """One endpoint's FIFO: its subscription, what is being posted, its lock."""

    def __init__(self, endpoint: WebhookEndpoint, subscription: Subscription) -> None:
        self.endpoint = endpoint
        self.subscription = subscription
        self.lock = anyio.Lock()
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.inflight: Event | None = None
        self.tries = 0
        self.delivered = 0
        self.dead = 0


class WebhookDispatcher(ClosingStack):
    """Posts every event of its endpoints' tenants to their URLs, signed, in order.

    Each endpoint has its own worker reading its own bounded subscription of the
    gateway's hub, and posts one event at a time (first in, first out), so order
    is kept per endpoint and a slow or dead endpoint holds up neither the
    sessions nor the other endpoints.  A failed post is retried with exponential
    backoff on timeouts, connection errors, 5xx, 408 and 429; other answers
    (4xx, and any redirect, which is never followed) fail at once.  What still
    fails becomes a :class:`DeadLetter` in ``dead_letters``; :meth:`replay` posts
    those again, in order.  An endpoint that falls so far behind that its buffer
    overflows gets a ``stream:gap`` dead letter naming the seqs it missed: nothing
    is lost silently.

    Each endpoint first receives its tenants' current state (as every
    subscriber does), then every new event; receivers should treat
    ``(tenant, seq)`` as the delivery's identity (a delivery may repeat after a
    timeout whose request did arrive).

    In a cluster (:mod:`wagate.cluster`) run one dispatcher with the same
    endpoints in every process: each posts only the events of its own sessions
    (:attr:`wagate.Hub.local`), so an event is posted once cluster-wide, by the
    process that holds its tenant.

    The host owns the dispatcher: use it as an async context manager inside the
    gateway's (with a :class:`~wagate.SyncGateway`, enter it through
    ``sync_gateway.portal.wrap_async_context_manager``).  On exit each endpoint
    gets ``close_timeout`` seconds to take what is queued; what remains becomes
    dead letters.

    Args:
        source: The gateway (or hub) whose events are posted.
        endpoints: The endpoints to start with; see :meth:`add`.
        dead_letters: Where failed deliveries are kept (default: in memory).  The
            dispatcher opens it on start and closes it on exit.
        attempts: Tries per event, the first one included.
        backoff: The delay between tries (a ``Retry-After`` of 408/429/5xx
            answers is honoured up to ``backoff.maximum``).
        timeout: Seconds one try may take in all, from connecting to the answer.
        close_timeout: Seconds each endpoint gets to drain on exit or removal.
        client: An ``httpx.AsyncClient`` to post with (proxies, TLS settings);
            the dispatcher then never closes it.  Redirects are never followed.

    Raises:
        InvalidInput: a number is out of range or two endpoints share a name.
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
        self.source = source
        self.dead_letters: DeadLetterStore = (
            dead_letters if dead_letters is not None else MemoryDeadLetters()
        )
        """The store of failed deliveries: list them with ``await dead_letters.letters()``."""
        self.attempts = attempts
        self.backoff = backoff if backoff is not None else Backoff()
        self.timeout = float(timeout)
        self.close_timeout = float(close_timeout)
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
                worker.subscription.close()
            self._workers.clear()
            if self._tg is not None:
                self._tg.cancel_scope.cancel()
            await stack.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """Let each endpoint drain for ``close_timeout`` s, keep the rest as dead letters.

        Safe to call twice.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            async with anyio.create_task_group() as tg:
                for worker in list(self._workers.values()):
                    tg.start_soon(self._stop, worker)
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
        """Start posting to ``endpoint``, from its tenants' current state on.

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

        It gets ``close_timeout`` seconds to take what is queued; what remains
        becomes dead letters (which :meth:`replay` skips while it is gone).

        Raises:
            InvalidInput: there is no endpoint of that name.
        """
        endpoint = self._endpoints.pop(name, None) if isinstance(name, str) else None
        if endpoint is None:
            raise InvalidInput(f"there is no endpoint named {name!r}")
        worker = self._workers.get(name)
        if worker is not None:
            await self._stop(worker)

    def _start(self, endpoint: WebhookEndpoint) -> None:
        tg = self._check_open()
        # In a cluster every process's hub has every event; each is posted once, by
        # the process whose session produced it (the hub's local events).
        if isinstance(self.source, Gateway):
            subscription = self.source.events(endpoint.tenant, overflow=Overflow.GAP, local=True)
        else:
            subscription = self.source.local.subscribe(endpoint.tenant, overflow=Overflow.GAP)
        worker = _Worker(endpoint, subscription)
        self._workers[endpoint.name] = worker
        tg.start_soon(self._run, worker)

    async def _stop(self, worker: _Worker) -> None:
        worker.subscription.finish()
        with anyio.move_on_after(self.close_timeout):
            await worker.done.wait()
        if not worker.done.is_set():
            worker.scope.cancel()
            await worker.done.wait()
        leftover: list[Event] = [] if worker.inflight is None else [worker.inflight]
        while (event := worker.subscription.receive_nowait()) is not None:
            if worker.endpoint.wants(event):
                leftover.append(event)
        worker.subscription.close()
        if self._workers.get(worker.endpoint.name) is worker:
            del self._workers[worker.endpoint.name]
        for event in leftover:
            tries = worker.tries if event is worker.inflight else 0
            await self._bury(worker, event, "the dispatcher stopped before it was delivered", tries)
        worker.inflight = None

    # ------------------------------------------------------------------ the worker
    async def _run(self, worker: _Worker) -> None:
        try:
            with worker.scope:
                async for event in worker.subscription:
                    worker.inflight = event
                    worker.tries = 0
                    await self._handle(worker, event)
                    worker.inflight = None
        finally:
            worker.done.set()

    async def _handle(self, worker: _Worker, event: Event) -> None:
        if not worker.endpoint.wants(event):
            return
        if isinstance(event, Gap):
            log.error(
                "webhook %r fell behind: tenant %r seq %d-%d (%d events) were dropped "
                "before delivery",
                worker.endpoint.name,
                event.tenant,
                event.first_seq,
                event.last_seq,
                event.missed,
            )
            await self._bury(
                worker,
                event,
                f"the endpoint fell behind its buffer: {event.missed} event(s), "
                f"seq {event.first_seq} to {event.last_seq}, were dropped before delivery",
                0,
            )
            return
        try:
            _, body = webhook_body(event)
            encode = (lambda: webhook_body(event)[1]) if isinstance(event, QrGenerated) else None
        except Exception as exc:
            log.exception(  # the event's type and seq only: its text may be private
                "webhook %r: could not encode %s (tenant %r, seq %d)",
                worker.endpoint.name,
                type(event).__name__,
                event.tenant,
                event.seq,
            )
            await self._bury(worker, event, f"could not encode the event: {exc}", 0)
            return
        async with worker.lock:
            outcome, tries = await self._deliver(
                worker.endpoint, encode or (lambda: body), self.attempts, worker
            )
        if outcome.ok:
            worker.delivered += 1
            return
        await self._bury(worker, event, outcome.error or "failed", tries, status=outcome.status)

    async def _deliver(
        self,
        endpoint: WebhookEndpoint,
        body: Callable[[], bytes],
        attempts: int,
        live: _Worker | None = None,
    ) -> tuple[_Outcome, int]:
        """Post ``body()`` up to ``attempts`` times; return the last outcome and the tries made.

        ``body`` is called at each try: a QR code's body is encoded anew, so that its
        ``expiresIn`` counts from that try.

        ``live`` is the worker whose in-flight event this is (its try count is kept
        for the dead letter written if the dispatcher stops mid-way).
        """
        outcome = _Outcome(ok=False, error="not attempted")
        attempt = 0
        for attempt in range(1, attempts + 1):
            if live is not None:
                live.tries = attempt
            outcome = await self._post(endpoint, body())
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

    async def _post(self, endpoint: WebhookEndpoint, body: bytes) -> _Outcome:
        import httpx  # noqa: PLC0415 - the optional extra, loaded by __aenter__ already

        client = self._client
        assert client is not None
        headers = {
            "Content-Type": "application/json",
            **signature_headers(endpoint.secret, body),
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
        self, worker: _Worker, event: Event, error: str, attempts: int, *, status: int | None = None
    ) -> None:
        endpoint = worker.endpoint
        try:
            name, body = webhook_body(event)
        except Exception:  # noqa: BLE001 - keep what can be kept
            name, body = event.wire_name, b""
        letter = DeadLetter(
            endpoint=endpoint.name,
            url=endpoint.url,
            tenant=event.tenant,
            seq=event.seq,
            event=name,
            body=body,
            error=error,
            attempts=attempts,
            status=status,
        )
        if not isinstance(event, Gap):
            log.warning(
                "webhook %r: tenant %r seq %d (%s) not delivered: %s; kept as a dead letter",
                endpoint.name,
                event.tenant,
                event.seq,
                name,
                error,
            )
        worker.dead += 1
        with anyio.CancelScope(shield=True):
            try:
                await self.dead_letters.add(letter)
            except Exception:
                log.exception(
                    "webhook %r: could not keep the dead letter of tenant %r seq %d; it is lost",
                    endpoint.name,
                    event.tenant,
                    event.seq,
                )

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
                    async with worker.lock:
                        outcome, tries = await self._deliver(
                            worker.endpoint, _letter_body(letter), attempts
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
