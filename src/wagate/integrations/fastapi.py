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
    BodyLimit,
    Reply,
    RestApi,
    Route,
    client_left,
    http_error_reply,
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
    limit = BodyLimit(int(length) if length is not None and length.isdigit() else None)
    try:
        async for chunk in request.stream():
            limit.add(chunk)
    except ClientDisconnect:
        raise client_left(request.method, request.url.path) from None
    return limit.body()


_RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "qr": QrBody,
    "send": MessageSentBody,
    "simulator_receive": SimulatedReceived,
}
"""Each route's answer, by route name (the others answer a :class:`StatusBody`)."""
_REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "send": SendRequest,
    "simulator_receive": SimulatedMessage,
}
"""The body of each route that reads one, by route name (tests/test_commands.py checks
that its fields are the command's parameters)."""


def _responses(route: Route) -> dict[int | str, dict[str, Any]]:
    errors: dict[int | str, dict[str, Any]] = {**_AUTH, **(_BODY if route.body else {})}
    for status, why in route.errors.items():
        errors[status] = {"model": SendFailedBody if status == 502 else ErrorBody}
        errors[status]["description"] = why
    return errors


def _endpoint(api: RestApi, route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        reply = await api.handle(
            request.method,
            route.path,
            request.headers,
            lambda: _read_body(request),
            request.query_params,
            scheme=request.url.scheme,
        )
        return _send(reply)

    return endpoint


def router(
    gateway: Gateway,
    authenticator: Authenticator,
    *,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool | None = None,
    dashboard: bool = True,
) -> APIRouter:
    """The REST routes (and SSE, and the dashboard) as an ``APIRouter``.

    Args:
        gateway: The gateway (the host app's lifespan enters it).
        authenticator: Turns tokens into principals.
        sse: The SSE transport for ``GET /api/events`` (default: one on ``gateway``).
        cookie_name: The cookie browsers send their token in (``None``: headers only).
        simulator: Add ``POST /api/simulator/scan`` and ``/receive`` (default: when
            the gateway is :attr:`~wagate.Gateway.simulated`).
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

    for route in api.routes:
        routes.add_api_route(
            route.path,
            _endpoint(api, route),
            methods=[route.method],
            name=route.operation,
            status_code=route.status,
            response_model=_RESPONSE_MODELS.get(route.name, StatusBody),
            responses=_responses(route),
            openapi_extra=_extra(_REQUEST_MODELS.get(route.name)),
            summary=route.summary,
            tags=[route.tag],
        )

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

    if dashboard:

        @routes.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def get_dashboard() -> Response:
            return HTMLResponse(dashboard_html(simulator=api.simulator))

        @routes.get(STATIC_PREFIX + "/{path:path}", include_in_schema=False)
        async def get_dashboard_asset(path: str, request: Request) -> Response:
            asset = static_reply(path, request.headers.get("if-none-match"))
            return Response(asset.body, status_code=asset.status, headers=dict(asset.headers))

    # HEAD answers as GET does without the body, as on Flask (werkzeug adds HEAD to
    # every GET rule); not on the event stream, which has no end to measure.
    for served in list(routes.routes):
        if (
            isinstance(served, APIRoute)
            and served.methods == {"GET"}
            and served.path != "/api/events"
        ):
            routes.add_api_route(
                served.path,
                served.endpoint,
                methods=["HEAD"],
                include_in_schema=False,
                response_class=served.response_class,
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
    simulator: bool | None = None,
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
        simulator: Add the simulated-phone routes (default: when the gateway is
            :attr:`~wagate.Gateway.simulated`).
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
