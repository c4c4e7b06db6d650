"""Server-Sent Events: one tenant's events as ``text/event-stream``, resumable without loss.

Each event becomes frames of ``event:`` (the wire name), ``data:`` (the JSON
payload of :func:`wagate.to_wire`) and ``id:`` (the event's seq, on the last frame
of the event, so a resume never splits one)::

    event: message:received
    id: 42
    data: {"tenant":"acme","seq":42,"id":"3EB0...","from":"6281...@s.whatsapp.net",...}

A stream opens with the tenant's current state (:func:`~wagate.adapters.current_messages`:
``connection:status``, then a pending ``qr:generated``; the last of these frames
carries as ``id:`` the seq the state is current as of, :meth:`wagate.Hub.position`,
0 when there has been no event), then every live event.  So a client that saw
only the snapshot and reconnects resumes from it, and learns of what it missed.
A comment (``: ping``) is sent after 15 s without an event so proxies keep the
connection open.

**Resume.**  A client that reconnects with ``Last-Event-ID: <seq>`` (browsers do
it by themselves) gets exactly the events after that seq from the hub's replay
log, then the live ones.  When the log no longer holds them all (it keeps
``Hub(buffer=...)`` events per tenant for at most ``replay_age``), a
``stream:gap`` event ``{from, to, missed}`` says which seqs are lost, followed by
a fresh ``connection:status``; never a silent gap.  A client that falls behind
the live stream gets the same.  The ``Last-Event-ID`` header is checked:

- not a non-negative decimal integer of at most 18 digits (``abc``, ``-1``,
  ``1e309``, ``" "``...): **400** ``{"error": {"code": "invalid_last_event_id"}}``;
- ahead of the newest seq the server has for the tenant (a far-future id, or an
  id from before a restart that lost the log): the id is ignored and the stream
  starts afresh with the current state, as if none was sent.

In a cluster (:mod:`wagate.cluster`) the replay log is shared by every process,
so a client resumes on whichever process it reconnects to.

**Authentication.**  The token is read from ``Authorization: Bearer`` or a
cookie (``wagate_token`` by default); from a query parameter only when the host
app names one (``query_param="token"``), because URLs end up in logs.  A
principal granted several tenants picks one with the ``X-Wagate-Tenant`` header
or ``?tenant=``, as on the REST routes (:meth:`~wagate.adapters.auth.Principal.choose`:
none chosen is a 422 ``tenant_required``).  The stream ends when the token
expires.  Errors are JSON ``{"error": {"code", "message"}}`` with the status of
the error's class (401, 403, 422, 400 for a malformed ``Last-Event-ID``).

**A client that leaves** frees its stream at once: on ASGI when the server
reports ``http.disconnect``; on WSGI servers that give the app the client's
socket (werkzeug, gunicorn) as soon as the connection is closed or reset, else
at the next write (a heartbeat at the latest).

**Cost.**  Each event is encoded once per :class:`ServerSentEvents` (a cache
keyed by the event), not once per client; a stream is a cursor into the hub's
per-tenant log.  The exception is ``qr:generated``, encoded for each client so
that ``expiresIn`` counts from when it is sent (a resume after the code expired
reads ``expiresIn: 0, expired: true``).

Example (Starlette / FastAPI):
    ```python
    sse = ServerSentEvents(gateway, JWTAuthenticator(secret))
    app = Starlette(routes=[Route("/api/events", sse.starlette_endpoint)])
    ```

Example (Flask, with a :class:`wagate.SyncGateway`):
    ```python
    @app.get("/api/events")
    def events():
        status, headers, body = sse.wsgi_response(sync_gateway, request.environ)
        return Response(body, status=status, headers=headers)
    ```
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .._errors import InvalidInput, SessionClosed, WagateError
from .._events import Event, WireNaming
from .._gateway import Gateway
from .._hub import Overflow, Subscription
from .._validate import echo
from ._headers import HeaderLookup
from ._sse_asgi import _streaming_response
from ._sse_encoder import (
    DEFAULT_HEARTBEAT,
    HEARTBEAT_FRAME,
    SSE_HEADERS,
    SSEEncoder,
    _refusal,
    error_body,
)
from ._sse_stream import EventStream
from ._sse_wsgi import _TENANT_ENVIRON, _client_socket, _query_value, _WSGIStream
from .auth import (
    DEFAULT_COOKIE,
    TENANT_HEADER,
    TENANT_QUERY,
    Authenticator,
    Principal,
    authenticate_request,
    headers_from_environ,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from .._sync import SyncGateway

__all__ = [
    "DEFAULT_HEARTBEAT",
    "HEARTBEAT_FRAME",
    "EventStream",
    "InvalidLastEventId",
    "SSEEncoder",
    "ServerSentEvents",
    "error_body",
    "parse_last_event_id",
]

log = logging.getLogger("wagate")

_LAST_EVENT_ID = re.compile(r"[0-9]{1,18}")


# A header of HTTP itself, like a malformed request.
class InvalidLastEventId(InvalidInput, code="invalid_last_event_id", status_code=400):
    """The ``Last-Event-ID`` header is not a seq (a non-negative integer of at most 18 digits)."""


def parse_last_event_id(value: str | bytes | None) -> int | None:
    """The seq a client resumes after, from its ``Last-Event-ID`` header.

    Returns ``None`` when there is none (absent or empty).

    Raises:
        InvalidLastEventId: anything but a non-negative decimal integer of at most
            18 digits (``abc``, ``-1``, ``1e309``, ``1.5``...).
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value == "":
        return None
    text = value.strip()
    if not _LAST_EVENT_ID.fullmatch(text):
        raise InvalidLastEventId(
            f"Last-Event-ID {echo(text)} is not an event id: send the id of the last event "
            "received (a non-negative integer), or none to start from the current state"
        )
    return int(text)


class ServerSentEvents:
    """The SSE transport of a gateway: authentication, resume, and encode-once fan-out.

    Args:
        gateway: The gateway whose tenants' events are streamed.
        authenticator: Turns the request's token into a principal.
        naming: ``"colon"`` or ``"dash"`` event names.
        heartbeat: Seconds without an event before a ``: ping`` comment.
        cookie_name: The cookie holding the token (``None``: do not read cookies).
        query_param: A query parameter that may hold the token; off unless named.
        batch: The most events one chunk (one write) carries.
        retry_ms: When set, each stream starts with ``retry: <ms>``, the browser's
            reconnect delay.
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        *,
        naming: WireNaming = "colon",
        heartbeat: float = DEFAULT_HEARTBEAT,
        cookie_name: str | None = DEFAULT_COOKIE,
        query_param: str | None = None,
        batch: int = 64,
        retry_ms: int | None = None,
    ) -> None:
        if not heartbeat > 0:
            raise InvalidInput(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
        if batch < 1:
            raise InvalidInput("batch must be at least 1")
        if retry_ms is not None and retry_ms < 0:
            raise InvalidInput("retry_ms must not be negative")
        self.gateway = gateway
        self.authenticator = authenticator
        self.encoder = SSEEncoder(naming)
        self.heartbeat = float(heartbeat)
        self.cookie_name = cookie_name
        self.query_param = query_param
        self.batch = batch
        self.retry_ms = retry_ms
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()

    @property
    def open_streams(self) -> int:
        """How many streams are open now (read it in the event loop thread)."""
        return sum(not stream.closed for stream in self._streams)

    # ------------------------------------------------------------------ neutral steps
    def authorize(
        self,
        *,
        authorization: str | None = None,
        cookie_header: str | None = None,
        query_string: str | bytes | None = None,
        headers: HeaderLookup | None = None,
    ) -> Principal:
        """Authenticate a request (:func:`~wagate.adapters.auth.authenticate_request`).

        Args:
            authorization: Its ``Authorization`` header, when ``headers`` is not given.
            cookie_header: Its ``Cookie`` header, when ``headers`` is not given.
            query_string: Its query string (read only for :attr:`query_param`).
            headers: All its headers.

        Raises:
            AuthenticationError: no token, or a bad one.
        """
        if headers is None:
            given = {"authorization": authorization, "cookie": cookie_header}
            headers = {name: value for name, value in given.items() if value is not None}
        return authenticate_request(
            self.authenticator,
            headers=headers,
            query=query_string,
            cookie_name=self.cookie_name,
            query_param=self.query_param,
        )

    @staticmethod
    def choose_tenant(
        principal: Principal, requested: str | None, *, header: str | None = None
    ) -> str:
        """The tenant to stream, by the rule of every transport (:meth:`Principal.choose`).

        Args:
            principal: Who is asking.
            requested: The ``?tenant=`` of the request.
            header: Its ``X-Wagate-Tenant`` header, which wins over ``requested``.

        Raises:
            Forbidden: the tenant named is not granted.
            TenantRequired: none was named and the principal has several.
        """
        return principal.choose(header, requested)

    @staticmethod
    def _resume_after(principal: Principal, tenant: str, last_event_id: str | None) -> int | None:
        """Check that ``principal`` may see ``tenant``; the seq the stream resumes after."""
        principal.check(tenant)
        return parse_last_event_id(last_event_id)

    def open(self, principal: Principal, tenant: str, last_event_id: str | None) -> EventStream:
        """Open a stream for ``tenant``.

        It starts with the current state (or the replay after ``last_event_id``),
        then carries live events.  Call it in the event loop thread.  In a cluster
        use :meth:`aopen`, which reads the replay log every process shares.

        Raises:
            Forbidden: the principal may not see ``tenant``.
            InvalidLastEventId: ``last_event_id`` is malformed.
            SessionClosed: the gateway is closed.
        """
        after = self._resume_after(principal, tenant, last_event_id)
        hub = self.gateway.hub
        resumed = None if after is None else hub.resume_nowait(tenant, after)
        return self._stream(principal, tenant, resumed)

    async def aopen(
        self, principal: Principal, tenant: str, last_event_id: str | None
    ) -> EventStream:
        """:meth:`open`, resuming from the replay log of the whole cluster when there is one.

        It raises what :meth:`open` raises.
        """
        after = self._resume_after(principal, tenant, last_event_id)
        hub = self.gateway.hub
        if after is not None:
            return self._stream(principal, tenant, await hub.resume(tenant, after))
        if hub.backplane is None:
            return self._stream(principal, tenant, None)
        # In a cluster this process may not have seen the tenant's newest events: ask
        # the shared log which seq the snapshot is current as of.  Subscribed first,
        # so that what is published meanwhile is delivered after the snapshot.
        subscription = hub.subscribe(tenant, overflow=Overflow.GAP, initial=False, label="sse")
        try:
            position = await hub.aposition(tenant)
        except BaseException:
            subscription.close()
            raise
        return self._fresh(principal, tenant, subscription, position)

    def _head(self) -> bytes:
        return f"retry: {self.retry_ms}\n\n".encode() if self.retry_ms is not None else b""

    def _stream(
        self,
        principal: Principal,
        tenant: str,
        resumed: tuple[list[Event], Subscription] | None,
    ) -> EventStream:
        # No await from here to the subscription: the replay (or snapshot) and the
        # live stream meet exactly, with nothing lost or repeated between them.
        hub = self.gateway.hub
        if resumed is None:
            subscription = hub.subscribe(tenant, overflow=Overflow.GAP, initial=False, label="sse")
            return self._fresh(principal, tenant, subscription, hub.position(tenant))
        replayed, subscription = resumed
        stream = EventStream(self, tenant, subscription, b"", expires_at=principal.expires_at)
        stream._first = self._head() + b"".join(stream._encode(event) for event in replayed)
        stream._first = stream._first or None
        self._streams.add(stream)
        return stream

    def _fresh(
        self, principal: Principal, tenant: str, subscription: Subscription, position: int
    ) -> EventStream:
        # The snapshot's last frame carries the seq it is current as of, so that a
        # client that saw nothing else resumes from there instead of afresh.
        first = self._head() + self.encoder.snapshot(self.gateway, tenant, position)
        stream = EventStream(self, tenant, subscription, first, expires_at=principal.expires_at)
        self._streams.add(stream)
        return stream

    # ------------------------------------------------------------------ ASGI (Starlette)
    async def starlette_endpoint(self, request: Request) -> Response:
        """A Starlette / FastAPI endpoint: ``Route("/api/events", sse.starlette_endpoint)``.

        Query: ``tenant`` (for principals granted several).  Headers:
        ``Authorization``, ``Cookie``, ``Last-Event-ID``, ``X-Wagate-Tenant``.
        """
        from starlette.responses import Response  # noqa: PLC0415 - the sse extra

        try:
            principal = self.authorize(headers=request.headers, query_string=request.url.query)
            tenant = self.choose_tenant(
                principal,
                request.query_params.get(TENANT_QUERY),
                header=request.headers.get(TENANT_HEADER),
            )
            stream = await self.aopen(principal, tenant, request.headers.get("last-event-id"))
        except WagateError as exc:
            status, headers, body = _refusal(exc)
            return Response(body, status_code=status, headers=dict(headers))
        return _streaming_response(stream)

    # ------------------------------------------------------------------ WSGI (Flask)
    def wsgi_response(
        self, sync: SyncGateway, environ: Mapping[str, Any]
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        """Answer a WSGI request with ``(status, headers, body)``.

        The body is a blocking iterator of frames (with ``close()``) driven through
        ``sync``'s portal.

        Use it in a Flask view (``Response(body, status=status, headers=headers)``)
        or through :meth:`wsgi_app`.
        """
        try:
            principal = self.authorize(
                headers=headers_from_environ(environ), query_string=environ.get("QUERY_STRING")
            )
            tenant = self.choose_tenant(
                principal, _query_value(environ, TENANT_QUERY), header=environ.get(_TENANT_ENVIRON)
            )
            portal = sync.portal
            stream = portal.call(self.aopen, principal, tenant, environ.get("HTTP_LAST_EVENT_ID"))
        except WagateError as exc:
            status, headers, body = _refusal(exc)
            return status, headers, [body]
        except RuntimeError:
            status, headers, body = _refusal(SessionClosed("the gateway is not running"))
            return status, headers, [body]
        return 200, list(SSE_HEADERS.items()), _WSGIStream(portal, stream, _client_socket(environ))

    def wsgi_app(self, sync: SyncGateway) -> Callable[..., Iterable[bytes]]:
        """A WSGI application serving the stream.

        Mount it with werkzeug's ``DispatcherMiddleware``, or call it from any WSGI
        framework.
        """

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            status, headers, body = self.wsgi_response(sync, environ)
            start_response(f"{status} {HTTPStatus(status).phrase}", headers)
            return body

        return app
