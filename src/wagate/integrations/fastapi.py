"""FastAPI: the REST API, SSE, Socket.IO and the dashboard for a host app's gateway.

Two ways in:

- :func:`create_app` builds a whole FastAPI app whose lifespan runs the gateway
  and the Socket.IO adapter (what ``wagate serve`` runs);
- :func:`router` gives an ``APIRouter`` to include in your own app, whose lifespan
  enters the gateway (and :func:`install_error_handlers` makes 404/405/500 JSON).

Every route acts for the tenant of the authenticated principal (from
``Authorization: Bearer`` or the token cookie), never for a tenant named in the
request; a principal granted several tenants chooses among them with the
``X-Wagate-Tenant`` header or ``?tenant=``.

Example:
    ```python
    gateway = Gateway(lambda tenant: NeonizeDriver(), store=SQLiteStore("wagate.db"))
    app = create_app(gateway, JWTAuthenticator(os.environ["WAGATE_SECRET"]))
    ```
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .._errors import InvalidInput, WagateError
from .._gateway import Gateway
from .._validate import MAX_TEXT_LENGTH
from ..adapters.auth import DEFAULT_COOKIE, TENANT_HEADER, TENANT_QUERY, Authenticator
from ..adapters.socketio import SocketIOAdapter
from ..adapters.sse import ServerSentEvents
from . import STATIC_PREFIX, dashboard_html, static_reply
from ._rest import (
    INTERNAL_ERROR,
    MAX_BODY_BYTES,
    BodyTooLarge,
    Reply,
    RestApi,
    client_left,
    http_error_reply,
    parse_json_body,
    reply_for,
)

__all__ = ["create_app", "install_error_handlers", "router"]

log = logging.getLogger("wagate")


# ---------------------------------------------------------------------- OpenAPI models
class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="A stable machine-readable error code.")
    message: str = Field(description="What happened and what to do.")


class ErrorBody(_Model):
    """Every error response."""

    error: ErrorDetail


class User(BaseModel):
    """The linked WhatsApp account."""

    id: str
    name: str | None
    phone: str


class PendingQr(BaseModel):
    """A QR code waiting to be scanned."""

    qrCode: str = Field(description="A data:image/png;base64 URL of the QR image.")
    qr: str = Field(description="The raw payload the phone reads.")
    expiresIn: float = Field(description="Seconds until the code expires, as of this answer.")
    expired: bool = Field(description="Whether the code had expired when this answer was made.")
    expiresAt: str = Field(description="When the code expires (ISO 8601, UTC).")


class StatusBody(_Model):
    """A session's status."""

    tenant: str
    status: Literal["connected", "disconnected", "connecting"]
    state: Literal["disconnected", "connecting", "awaiting_scan", "connected"]
    user: User | None
    timestamp: str
    qr: PendingQr | None = None
    reason: str | None = None
    willRetry: bool | None = None
    retryIn: float | None = None


class QrBody(PendingQr):
    """The pending QR code."""

    tenant: str


class SendRequest(BaseModel):
    """A text message to send."""

    to: str = Field(
        min_length=1,
        description=(
            "An international number (+628123456789; spaces, dots, dashes and brackets "
            "allowed) or a JID (628123456789@s.whatsapp.net, 1203...@g.us)."
        ),
        examples=["+628123456789"],
    )
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        description="1 to 65,536 characters, not only white space, no NUL character.",
        examples=["Halo!"],
    )


class MessageSentBody(_Model):
    """The ``message:sent`` payload."""

    tenant: str
    seq: int = Field(description="The event's position in the tenant's stream.")
    at: str = Field(description="When the event happened (ISO 8601, UTC).")
    id: str | None = Field(description="WhatsApp's message id (null when the send failed).")
    to: str = Field(description="The recipient JID.")
    message: str = Field(description="The text sent.")
    success: bool
    error: str | None = Field(description="Why WhatsApp refused the message, when it did.")
    timestamp: str


class SendFailedBody(ErrorBody):
    """WhatsApp refused the message."""

    sent: MessageSentBody


class SimulatedMessage(BaseModel):
    """A message a contact writes to the simulated account."""

    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", min_length=1, description="The contact's number or JID.")
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)


class SimulatedReceived(BaseModel):
    """The message the simulated phone received."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(description="The message id.")
    sender: str = Field(alias="from", description="The contact, as given.")
    text: str


_E = {"model": ErrorBody}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {**_E, "description": "No token, or a bad or expired one, or two that disagree."},
    403: {**_E, "description": "The token does not grant the chosen tenant."},
    422: {
        **_E,
        "description": "The token grants several tenants and none was chosen "
        "(tenant_required); or bad input.",
    },
    503: {**_E, "description": "The gateway is shutting down."},
}
_BODY: dict[int | str, dict[str, Any]] = {
    400: {**_E, "description": "The body is not valid JSON."},
    413: {**_E, "description": "The body is larger than 1 MiB."},
    415: {**_E, "description": "The body is not application/json."},
}

_TENANT_CHOICE: list[dict[str, Any]] = [
    {
        "name": TENANT_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "For a token granting several tenants: the one to act on.",
    },
    {
        "name": TENANT_QUERY,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": f"Same as the {TENANT_HEADER} header (which wins when both are sent).",
    },
]


def _extra(body: type[BaseModel] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": _TENANT_CHOICE}
    if body is not None:
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body.model_json_schema()}},
        }
    return extra


def _send(reply: Reply) -> Response:
    return Response(
        reply.content(),
        status_code=reply.status,
        headers=dict(reply.headers),
        media_type="application/json",
    )


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body has {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyTooLarge(f"the body is over the limit of {MAX_BODY_BYTES:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise client_left(request.method, request.url.path) from None
    return b"".join(chunks)


def router(
    gateway: Gateway,
    authenticator: Authenticator,
    *,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool = False,
    dashboard: bool = True,
) -> APIRouter:
    """The REST routes (and SSE, and the dashboard) as an ``APIRouter``.

    Args:
        gateway: The gateway (the host app's lifespan enters it).
        authenticator: Turns tokens into principals.
        sse: The SSE transport for ``GET /api/events`` (default: one on ``gateway``).
        cookie_name: The cookie browsers send their token in (``None``: headers only).
        simulator: Add ``POST /api/simulator/scan`` and ``/receive``.
        dashboard: Serve the dashboard page at ``GET /``.
    """
    api = RestApi(gateway, authenticator, cookie_name=cookie_name, simulator=simulator)
    events = sse or ServerSentEvents(gateway, authenticator, cookie_name=cookie_name)
    # Declared for /openapi.json (clients and fuzzers learn how to authenticate); they
    # never refuse a request themselves: RestApi authenticates, the same way on Flask.
    schemes = [
        Security(
            HTTPBearer(
                auto_error=False,
                scheme_name="bearer",
                bearerFormat="JWT",
                description="A token granting the tenant(s): 'Authorization: Bearer <token>'.",
            )
        )
    ]
    if cookie_name:
        schemes.append(
            Security(
                APIKeyCookie(
                    name=cookie_name,
                    auto_error=False,
                    scheme_name="cookie",
                    description="The same token in a cookie, for browsers.",
                )
            )
        )
    routes = APIRouter(dependencies=schemes)

    async def run(
        request: Request, action: Callable[[str, object], Awaitable[Reply]], *, body: bool
    ) -> Response:
        try:
            principal = api.principal(
                request.headers, method=request.method, scheme=request.url.scheme
            )
            tenant = api.tenant(
                principal,
                request.headers.get(TENANT_HEADER),
                request.query_params.get(TENANT_QUERY),
            )
            payload = (
                parse_json_body(request.headers.get("content-type"), await _read_body(request))
                if body
                else None
            )
            return _send(await action(tenant, payload))
        except WagateError as exc:
            return _send(reply_for(exc))

    @routes.get(
        "/status",
        response_model=StatusBody,
        responses=_AUTH,
        openapi_extra=_extra(),
        summary="The session's status",
        tags=["wagate"],
    )
    async def get_status(request: Request) -> Response:
        return await run(request, lambda t, _: api.status(t), body=False)

    @routes.get(
        "/api/qr",
        response_model=QrBody,
        responses={**_AUTH, 404: {**_E, "description": "No QR code is pending; says why."}},
        openapi_extra=_extra(),
        summary="The pending QR code",
        tags=["wagate"],
    )
    async def get_qr(request: Request) -> Response:
        return await run(request, lambda t, _: api.qr(t), body=False)

    @routes.post(
        "/api/qr/generate",
        status_code=202,
        response_model=StatusBody,
        responses={**_AUTH, 409: {**_E, "description": "Already connected; log out first."}},
        openapi_extra=_extra(),
        summary="Start a login, or replace the pending QR code",
        tags=["wagate"],
    )
    async def post_generate(request: Request) -> Response:
        return await run(request, lambda t, _: api.generate(t), body=False)

    @routes.post(
        "/api/send",
        response_model=MessageSentBody,
        responses={
            **_AUTH,
            **_BODY,
            409: {**_E, "description": "The session is not connected."},
            422: {**_E, "description": "A bad recipient, text or body."},
            502: {"model": SendFailedBody, "description": "WhatsApp refused the message."},
        },
        openapi_extra=_extra(SendRequest),
        summary="Send a text message",
        tags=["wagate"],
    )
    async def post_send(request: Request) -> Response:
        return await run(request, api.send, body=True)

    @routes.post(
        "/api/logout",
        response_model=StatusBody,
        responses={**_AUTH, 409: {**_E, "description": "No account is linked."}},
        openapi_extra=_extra(),
        summary="Unlink the account",
        tags=["wagate"],
    )
    async def post_logout(request: Request) -> Response:
        return await run(request, lambda t, _: api.logout(t), body=False)

    @routes.get(
        "/api/events",
        response_class=Response,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
            400: {**_E, "description": "A malformed Last-Event-ID."},
            401: _AUTH[401],
            403: _AUTH[403],
            422: {**_E, "description": "The token grants several tenants and none was chosen."},
            503: _AUTH[503],
        },
        openapi_extra={"parameters": _TENANT_CHOICE},
        summary="The tenant's events as Server-Sent Events",
        tags=["wagate"],
    )
    async def get_events(request: Request) -> Response:
        try:
            # The REST routes' rule first: a cookie and a header that disagree are refused.
            api.principal(request.headers)
        except WagateError as exc:
            return _send(reply_for(exc))
        return await events.starlette_endpoint(request)

    if simulator:

        @routes.post(
            "/api/simulator/scan",
            response_model=StatusBody,
            responses={
                **_AUTH,
                404: {**_E, "description": "No QR code is pending."},
                409: {**_E, "description": "This tenant's phone is not simulated."},
            },
            openapi_extra=_extra(),
            summary="The simulated phone scans the pending QR code",
            tags=["simulator"],
        )
        async def post_sim_scan(request: Request) -> Response:
            return await run(request, lambda t, _: api.simulator_scan(t), body=False)

        @routes.post(
            "/api/simulator/receive",
            response_model=SimulatedReceived,
            responses={
                **_AUTH,
                **_BODY,
                409: {**_E, "description": "No account is linked."},
                422: {**_E, "description": "A bad sender, text or body."},
            },
            openapi_extra=_extra(SimulatedMessage),
            summary="A contact writes to the simulated account",
            tags=["simulator"],
        )
        async def post_sim_receive(request: Request) -> Response:
            return await run(request, api.simulator_receive, body=True)

    if dashboard:

        @routes.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def get_dashboard() -> Response:
            return HTMLResponse(dashboard_html(simulator=simulator))

        @routes.get(STATIC_PREFIX + "/{path:path}", include_in_schema=False)
        async def get_dashboard_asset(path: str, request: Request) -> Response:
            asset = static_reply(path, request.headers.get("if-none-match"))
            return Response(asset.body, status_code=asset.status, headers=dict(asset.headers))

    # HEAD answers as GET does without the body, as on Flask (werkzeug adds HEAD to
    # every GET rule); not on the event stream, which has no end to measure.
    for route in list(routes.routes):
        if isinstance(route, APIRoute) and route.methods == {"GET"} and route.path != "/api/events":
            routes.add_api_route(
                route.path,
                route.endpoint,
                methods=["HEAD"],
                include_in_schema=False,
                response_class=route.response_class,
            )
    return routes


def install_error_handlers(app: FastAPI) -> None:
    """Answer unknown routes, wrong methods, invalid requests and crashes with JSON errors.

    A stack trace never reaches a client: unexpected exceptions are logged and
    answered ``500 {"error": {"code": "internal_error", ...}}``.
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = tuple((getattr(exc, "headers", None) or {}).items())
        return _send(
            http_error_reply(
                exc.status_code,
                method=request.method,
                path=request.url.path,
                detail=str(exc.detail),
                headers=headers,
            )
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        return _send(reply_for(InvalidInput("the request is invalid")))

    async def wagate_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WagateError)
        return _send(reply_for(exc))

    async def client_gone(request: Request, exc: Exception) -> Response:
        # A host app's own route reading a body the client never finished sending.
        return _send(reply_for(client_left(request.method, request.url.path)))

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _send(INTERNAL_ERROR)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(WagateError, wagate_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, crash)


def create_app(
    gateway: Gateway,
    authenticator: Authenticator,
    *,
    socketio: SocketIOAdapter | bool = True,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool = False,
    dashboard: bool = True,
    title: str = "wagate",
    extra_routes: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """A whole FastAPI app: REST, SSE, Socket.IO at ``/socket.io`` and the dashboard.

    Its lifespan enters the gateway (restoring linked tenants) and the Socket.IO
    adapter, and closes them on shutdown.

    Args:
        gateway: The gateway to serve (entered by the app's lifespan).
        authenticator: Turns tokens into principals.
        socketio: ``True`` for a default adapter, an adapter of your own, or
            ``False`` for none (the dashboard then falls back to SSE).
        sse: The SSE transport (default: one on ``gateway``).
        cookie_name: The cookie browsers send their token in.
        simulator: Add the simulated-phone routes.
        dashboard: Serve the dashboard at ``/``.
        title: The OpenAPI title.
        extra_routes: Called with the app to add routes before the catch-alls.
    """
    adapter: SocketIOAdapter | None
    if socketio is True:
        adapter = SocketIOAdapter(gateway, authenticator, cookie_name=cookie_name)
    elif socketio is False:
        adapter = None
    else:
        adapter = socketio

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(gateway)
            if adapter is not None:
                await stack.enter_async_context(adapter)
            yield

    # No redirect from /status/ to /status: a wrong path is a 404, as on Flask.
    app = FastAPI(title=title, lifespan=lifespan, version=_version(), redirect_slashes=False)
    install_error_handlers(app)
    app.include_router(
        router(
            gateway,
            authenticator,
            sse=sse,
            cookie_name=cookie_name,
            simulator=simulator,
            dashboard=dashboard,
        )
    )
    if extra_routes is not None:
        extra_routes(app)
    if adapter is not None:
        app.mount("/socket.io", adapter.asgi_app(socketio_path=""))
    app.state.wagate_gateway = gateway
    app.state.wagate_socketio = adapter
    return app


def _version() -> str:
    from .._version import __version__  # noqa: PLC0415

    return __version__
