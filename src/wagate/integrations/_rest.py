"""The REST API's logic, once, for every framework.

Each framework module (``fastapi``, ``flask``) only translates: request ->
:class:`RestApi` call -> response.  Everything a route decides (who is asking,
which tenant, what is valid, which status code) is decided here, so the two
integrations answer byte for byte the same.  The routes act through the
gateway's tenant commands (:meth:`~wagate.Gateway.command`), so in a cluster they
answer the same whichever process a request reaches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs

from .._commands import LOGOUT, RESTART, SEND_TEXT, STATUS, Param
from .._errors import (
    InternalError,
    InvalidInput,
    NoPendingQr,
    WagateError,
    error_response,
)
from .._events import (
    Connected,
    Disconnected,
    QrGenerated,
    State,
    status_payload,
    to_wire,
)
from .._gateway import Gateway
from .._hub import Overflow
from .._session import Session
from .._validate import echo
from ..adapters._headers import HeaderLookup
from ..adapters.auth import (
    DEFAULT_COOKIE,
    TENANT_HEADER,
    TENANT_QUERY,
    Authenticator,
    CrossSiteRequest,
    Principal,
    authenticate_request,
)
from ._route import Reply, Route, encode_json
from ._simulator import SIMULATOR_COMMANDS, SIMULATOR_RECEIVE, SIMULATOR_ROUTES, SIMULATOR_SCAN

__all__ = [
    "INTERNAL_ERROR",
    "MAX_BODY_BYTES",
    "ROUTES",
    "SIMULATOR_COMMANDS",
    "SIMULATOR_RECEIVE",
    "SIMULATOR_SCAN",
    "ApiError",
    "BodyLimit",
    "BodyTooLarge",
    "ClientLeft",
    "CrossSiteRequest",
    "Headers",
    "HttpError",
    "InvalidJson",
    "MethodNotAllowed",
    "NoRoute",
    "Reply",
    "RestApi",
    "Route",
    "SendFailed",
    "UnsupportedMediaType",
    "client_left",
    "crash_reply",
    "encode_json",
    "error_reply",
    "http_error_reply",
    "parse_json_body",
    "reply_for",
]

log = logging.getLogger("wagate")

MAX_BODY_BYTES = 1_048_576
"""The largest request body the REST routes read (1 MiB); larger ones get 413."""

JSON = dict[str, Any]


class ApiError(WagateError, code="bad_request", status_code=400):
    """A request the REST API refuses for a reason of HTTP itself."""


class UnsupportedMediaType(ApiError, code="unsupported_media_type", status_code=415):
    """The body is not ``application/json``."""


class InvalidJson(ApiError, code="invalid_json", status_code=400):
    """The body is not valid JSON."""


class BodyTooLarge(ApiError, code="body_too_large", status_code=413):
    """The body is larger than the API reads."""


class ClientLeft(ApiError, code="client_left", status_code=400):
    """The client closed the connection before sending the whole body (nobody reads the answer)."""


class NoRoute(ApiError, code="not_found", status_code=404):
    """No route answers the request's path."""


class MethodNotAllowed(ApiError, code="method_not_allowed", status_code=405):
    """The route does not answer the request's method."""


class HttpError(ApiError, code="http_error"):
    """Another refusal of the web framework itself; it keeps the framework's status."""

    def __init__(self, message: str, *, tenant: str | None = None, status_code: int = 400) -> None:
        super().__init__(message, tenant=tenant)
        vars(self).update(status_code=status_code)  # this instance's; the class keeps 400

    def details(self) -> dict[str, Any]:
        """``status_code``."""
        return {"status_code": self.status_code}


def client_left(method: str, path: str) -> ClientLeft:
    """The error for a client that left mid-body, noted in the log at debug level only.

    A client going away is no fault of the server's: logging it as an error would let
    anyone with a token fill the log with tracebacks.
    """
    error = ClientLeft("the client went away before sending the whole body")
    log.debug("%s %s: %s", method, path, error.message)
    return error


class SendFailed(WagateError, code="send_failed", status_code=502):
    """WhatsApp refused the message (HTTP 502); ``payload`` is its ``message:sent``."""

    def __init__(self, message: str, *, payload: JSON, tenant: str) -> None:
        super().__init__(message, tenant=tenant)
        self.payload = payload

    def details(self) -> dict[str, Any]:
        """``payload``."""
        return {"payload": self.payload}

    def extras(self) -> dict[str, Any]:
        """``sent``: the ``message:sent`` payload, beside the error."""
        return {"sent": self.payload}


def reply_for(exc: BaseException) -> Reply:
    """The reply for anything a route raised (:func:`~wagate.error_response`).

    An exception that is not a :class:`~wagate.WagateError` is answered 500
    ``internal_error``; log it where it is caught.
    """
    answer = error_response(exc)
    return Reply(answer.status, answer.body, answer.headers)


error_reply = reply_for
"""The former name of :func:`reply_for`."""


class BodyLimit:
    """Collects a request body's chunks, refusing one over :data:`MAX_BODY_BYTES` early.

    Args:
        length: The ``Content-Length`` the client announced, if any.

    Raises:
        BodyTooLarge: the announced length is over the limit.
    """

    def __init__(self, length: int | None) -> None:
        if length is not None and length > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body has {length:,} bytes; the limit is {MAX_BODY_BYTES:,}")
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Keep one more chunk.

        Raises:
            BodyTooLarge: the body is now over the limit.
        """
        self._size += len(chunk)
        if self._size > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body is over the limit of {MAX_BODY_BYTES:,} bytes")
        self._chunks.append(chunk)

    def body(self) -> bytes:
        """The whole body."""
        return b"".join(self._chunks)


def parse_json_body(content_type: str | None, body: bytes) -> object:
    """Decode a JSON request body, refusing other media types, oversized and bad JSON."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body has {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {echo(media) if media else 'no content type'})"
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        # A body of a million '[' is valid JSON syntax that no parser should recurse into.
        raise InvalidJson("the body is not valid JSON: it is nested too deeply") from None


Headers = HeaderLookup
"""A request's headers (or query), looked up by name (both frameworks' qualify)."""


def _field(body: object, param: Param) -> Any:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    name = param.wire
    if name not in body:
        raise InvalidInput(f"the body has no {name!r}")
    value = body[name]
    if not isinstance(value, param.type):
        kind = "a string" if param.type is str else f"a {param.type.__name__}"
        raise InvalidInput(f"{name!r} must be {kind}, got {type(value).__name__}")
    return value


class RestApi:
    """The REST routes' logic over a :class:`~wagate.Gateway`, for any framework.

    :meth:`handle` does everything a route decides (who is asking, which tenant,
    what is valid, the call, which status and body); a framework module only turns
    its request into ``handle``'s arguments and its :class:`Reply` into a response.

    Args:
        gateway: The gateway holding the tenants' sessions.
        authenticator: Turns a request's token into a principal.
        cookie_name: The cookie a browser's token is read from (``None``: headers only).
        simulator: Enable ``/api/simulator/*`` (only for simulated drivers); by
            default when the gateway is :attr:`~wagate.Gateway.simulated`.
        generate_wait: The most seconds ``POST /api/qr/generate`` waits for the new
            QR code before answering with the state reached so far.
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        *,
        cookie_name: str | None = DEFAULT_COOKIE,
        simulator: bool | None = None,
        generate_wait: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.generate_wait = generate_wait
        self.authenticator = authenticator
        self.cookie_name = cookie_name
        self.simulator = gateway.simulated if simulator is None else simulator
        """Whether the simulated-phone routes are served."""
        self.routes = tuple(r for r in ROUTES if self.simulator or not r.simulator)
        """The routes this API answers."""
        self._by_key = {(r.method, r.path): r for r in self.routes}
        if self.simulator:
            for name, handler in SIMULATOR_COMMANDS.items():
                gateway.commands.setdefault(name, handler)

    async def handle(
        self,
        method: str,
        path: str,
        headers: Headers,
        body: Callable[[], Awaitable[bytes]],
        query: Headers,
        *,
        scheme: str = "http",
    ) -> Reply:
        """Answer a request to one of :attr:`routes` (``path`` below the API's prefix).

        The body is read (``await body()``) only once the request is authenticated
        and only by a route that takes one.  Errors of wagate become their JSON
        reply; any other exception is the framework's to answer with a 500.
        """
        try:
            # HEAD answers as GET does (the framework drops the body).
            verb = "GET" if method.upper() == "HEAD" else method.upper()
            route = self._by_key.get((verb, path))
            if route is None:
                return http_error_reply(404, method=method, path=path)
            principal = self.principal(headers, method=method, scheme=scheme)
            tenant = self.tenant(principal, headers.get(TENANT_HEADER), query.get(TENANT_QUERY))
            arguments: dict[str, Any] = {}
            if route.body:
                payload = parse_json_body(headers.get("content-type"), await body())
                arguments = {p.name: _field(payload, p) for p in route.command.params}
            return await route.respond(self, tenant, arguments)
        except WagateError as exc:
            return reply_for(exc)

    # ------------------------------------------------------------------ who is asking
    def principal(
        self, headers: HeaderLookup, *, method: str = "GET", scheme: str = "http"
    ) -> Principal:
        """Authenticate a request by its ``Authorization`` header and cookie.

        :func:`~wagate.adapters.auth.authenticate_request`, the rule of every
        transport: a header and a cookie that disagree are refused, and a change
        authenticated by the cookie alone must come from the same site.

        Raises:
            AuthenticationError: no token, a bad one, or two that disagree.
            CrossSiteRequest: a cookie-authenticated change from another site.
        """
        return authenticate_request(
            self.authenticator,
            headers=headers,
            cookie_name=self.cookie_name,
            method=method,
            scheme=scheme,
        )

    def refuse_stream(self, headers: HeaderLookup) -> Reply | None:
        """The refusal of a ``GET /api/events`` request by the REST routes' rule, if any.

        Checked before the SSE transport's own: a cookie and a header that disagree
        are refused on the stream as on every route.
        """
        try:
            self.principal(headers)
        except WagateError as exc:
            return reply_for(exc)
        return None

    @staticmethod
    def tenant(principal: Principal, header: str | None = None, query: str | None = None) -> str:
        """The tenant a request acts on (:meth:`Principal.choose`, the rule of every transport).

        Raises:
            Forbidden: the tenant named is not granted.
            TenantRequired: the principal has several tenants and none was chosen.
        """
        return principal.choose(header, query)

    async def session(self, tenant: str) -> Session:
        """The tenant's session, created on first use."""
        return await self.gateway.session(tenant)

    # ------------------------------------------------------------------ routes
    async def status(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``GET /status``: the session's status."""
        return Reply(200, status_payload(await self.gateway.status(tenant)))

    async def qr(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``GET /api/qr``: the pending QR code, or 404 saying why there is none."""
        status = await self.gateway.status(tenant)
        if status.qr is None:
            why = {
                State.CONNECTED: "the session is connected: no QR code is needed",
                State.CONNECTING: "the session is connecting: the QR code is on its way",
                State.DISCONNECTED: "no login is in progress: POST /api/qr/generate to start one",
            }.get(status.state, "no QR code is pending")
            raise NoPendingQr(why, tenant=tenant)
        return Reply(200, {"tenant": tenant, **status_payload(status)["qr"]})

    async def generate(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``POST /api/qr/generate``: start a login, or replace the pending QR (202).

        Answers with the state the login reached: the new QR code as soon as the
        engine produces it (within :attr:`generate_wait` seconds), else ``connecting``.
        """
        # Only what happens from now on: the QR pending before the restart is stale.
        events = self.gateway.hub.subscribe(tenant, overflow=Overflow.GAP, initial=False)
        try:
            await self.gateway.restart(tenant)
            with anyio.move_on_after(self.generate_wait):
                async for event in events:
                    if isinstance(event, (QrGenerated, Connected, Disconnected)):
                        break
        finally:
            events.close()
        return Reply(202, status_payload(await self.gateway.status(tenant)))

    async def send(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``POST /api/send`` ``{to, text}``: send a text message."""
        sent = await self.gateway.send_text(tenant, arguments["to"], arguments["text"])
        payload = to_wire(sent)[0].data
        if not sent.success:
            raise SendFailed(
                sent.error or "WhatsApp refused the message", payload=payload, tenant=tenant
            )
        return Reply(200, payload)

    async def logout(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``POST /api/logout``: unlink the account."""
        await self.gateway.logout(tenant)
        return Reply(200, status_payload(await self.gateway.status(tenant)))


ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/status",
        command=STATUS,
        respond=RestApi.status,
        name="status",
        operation="get_status",
        summary="The session's status",
    ),
    Route(
        method="GET",
        path="/api/qr",
        command=STATUS,
        respond=RestApi.qr,
        name="qr",
        operation="get_qr",
        summary="The pending QR code",
        errors={404: "No QR code is pending; says why."},
    ),
    Route(
        method="POST",
        path="/api/qr/generate",
        command=RESTART,
        respond=RestApi.generate,
        name="generate",
        operation="post_generate",
        summary="Start a login, or replace the pending QR code",
        status=202,
        errors={409: "Already connected; log out first."},
    ),
    Route(
        method="POST",
        path="/api/send",
        command=SEND_TEXT,
        respond=RestApi.send,
        name="send",
        operation="post_send",
        summary="Send a text message",
        body=True,
        errors={
            409: "The session is not connected.",
            422: "A bad recipient, text or body.",
            502: "WhatsApp refused the message.",
        },
    ),
    Route(
        method="POST",
        path="/api/logout",
        command=LOGOUT,
        respond=RestApi.logout,
        name="logout",
        operation="post_logout",
        summary="Unlink the account",
        errors={409: "No account is linked."},
    ),
    *SIMULATOR_ROUTES,
)
"""Every REST route, each running one command (FastAPI and Flask register these)."""


def http_error_reply(
    status: int,
    *,
    method: str,
    path: str,
    detail: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """The reply for an error the framework itself raised (unknown route, wrong method...)."""
    error: WagateError
    if status == 404:
        error = NoRoute(f"no route {path}")
    elif status == 405:
        error = MethodNotAllowed(f"{method} is not allowed on {path}")
    elif status == 413:
        error = BodyTooLarge(detail or "the request was refused")
    else:
        error = HttpError(detail or "the request was refused", status_code=status)
    reply = reply_for(error)
    return attrs.evolve(reply, headers=reply.headers + headers)


INTERNAL_ERROR = reply_for(InternalError())
"""The reply to an unexpected exception: the details go to the log, never to the client."""


def crash_reply(method: str, path: str, exc: BaseException) -> Reply:
    """Log an unexpected exception of a request; :data:`INTERNAL_ERROR`, its reply."""
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return INTERNAL_ERROR
