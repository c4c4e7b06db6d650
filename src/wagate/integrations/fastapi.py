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
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from .._errors import InvalidInput, WagateError
from .._gateway import Gateway
from .._pacing import RequestLimit
from ..adapters.auth import DEFAULT_COOKIE, Authenticator
from ..adapters.socketio import SocketIOAdapter
from ..adapters.sse import ServerSentEvents
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..metrics import Metrics
from . import STATIC_PREFIX, _rest, dashboard_html, static_reply
from ._openapi import (
    BEARER,
    COOKIE,
    EVENTS_OPERATION,
    EVENTS_PATH,
    EVENTS_RESPONSES,
    EVENTS_SUMMARY,
    PROBES,
    TENANT_CHOICE,
    operation,
    responses,
)

__all__ = ["create_app", "install_error_handlers", "router"]


def _probe(
    answer: Callable[[], _rest.Reply | Awaitable[_rest.Reply]],
) -> Callable[[], Awaitable[Response]]:
    async def probe() -> Response:
        reply = answer()
        return _send(reply if isinstance(reply, _rest.Reply) else await reply)

    return probe


def _send(reply: _rest.Reply | _rest.FileReply, method: str = "GET") -> Response:
    if isinstance(reply, _rest.FileReply):
        headers = dict(reply.headers)
        if method == "HEAD":
            return Response(status_code=reply.status, headers=headers)
        return StreamingResponse(reply.chunks(), status_code=reply.status, headers=headers)
    return Response(
        reply.content(),
        status_code=reply.status,
        headers=dict(reply.headers),
        media_type="application/json",
    )


async def _read_body(request: Request, most: int = _rest.MAX_BODY_BYTES) -> bytes:
    length = request.headers.get("content-length")
    limit = _rest.BodyLimit(int(length) if length is not None and length.isdigit() else None, most)
    try:
        async for chunk in request.stream():
            limit.add(chunk)
    except ClientDisconnect:
        raise _rest.client_left(request.method, request.url.path) from None
    return limit.body()


def _endpoint(api: _rest.RestApi, route: _rest.Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        reply = await api.handle(
            request.method,
            route.path,
            request.headers,
            functools.partial(_read_body, request),
            request.query_params,
            scheme=request.url.scheme,
            params=request.path_params,
        )
        return _send(reply, request.method)

    return endpoint


def router(
    gateway: Gateway,
    authenticator: Authenticator,
    *,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool | None = None,
    dashboard: bool = True,
    metrics: Metrics | None = None,
    request_limit: RequestLimit | None = None,
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
        metrics: Serve ``GET /metrics`` (Prometheus) to scrapes bearing its token.
        request_limit: How many REST requests each principal may make (429 past
            it, with ``Retry-After``); none by default.
    """
    api = _rest.RestApi(
        gateway,
        authenticator,
        cookie_name=cookie_name,
        simulator=simulator,
        request_limit=request_limit,
    )
    events = sse or ServerSentEvents(gateway, authenticator, cookie_name=cookie_name)
    # Declared for /openapi.json (clients and fuzzers learn how to authenticate); they
    # never refuse a request themselves: RestApi authenticates, the same way on Flask.
    # (wagate.contract.openapi() makes the same document without FastAPI.)
    schemes: list[Callable[..., Any]] = [
        HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT", description=BEARER)
    ]
    if cookie_name:
        schemes.append(
            APIKeyCookie(
                name=cookie_name, auto_error=False, scheme_name="cookie", description=COOKIE
            )
        )
    secured = [Security(scheme) for scheme in schemes]  # every route but the probes
    routes = APIRouter()

    for route in api.routes:
        routes.add_api_route(
            route.path,
            _endpoint(api, route),
            methods=[route.method],
            name=route.operation,
            status_code=route.status,
            response_model=None,
            responses=responses(route),
            openapi_extra=operation(route),
            summary=route.summary,
            tags=[route.tag],
            dependencies=secured,
            # Streamed bytes are no JSON: no application/json answer to document.
            response_class=Response if route.streams else JSONResponse,
        )

    @routes.get(
        EVENTS_PATH,
        name=EVENTS_OPERATION,
        response_class=Response,
        responses=EVENTS_RESPONSES,
        openapi_extra={"parameters": TENANT_CHOICE},
        summary=EVENTS_SUMMARY,
        tags=["wagate"],
        dependencies=secured,
    )
    async def get_events(request: Request) -> Response:
        refusal = api.refuse_stream(request.headers)
        return _send(refusal) if refusal else await events.starlette_endpoint(request)

    probes: dict[str, Callable[[], _rest.Reply | Awaitable[_rest.Reply]]] = {
        "/healthz": api.healthz,
        "/readyz": api.readyz,
    }
    for path, (summary, answers) in PROBES.items():
        routes.add_api_route(
            path,
            _probe(probes[path]),
            methods=["GET"],
            name=path.strip("/"),  # as wagate.contract.openapi() names it
            response_class=Response,
            responses=answers,
            summary=summary,
            tags=["health"],
        )

    if metrics is not None:
        scraped = metrics
        if scraped.sse is None:
            scraped.sse = events  # its open streams are the SSE connections

        @routes.get("/metrics", include_in_schema=False)
        async def get_metrics(request: Request) -> Response:
            try:
                scraped.check(request.headers.get("authorization"))
            except WagateError as exc:
                return _send(_rest.reply_for(exc))
            return Response(await scraped.render(), media_type=METRICS_TYPE)

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
            and served.path != EVENTS_PATH
        ):
            routes.add_api_route(
                served.path,
                served.endpoint,
                methods=["HEAD"],
                include_in_schema=False,
                response_class=served.response_class,
            )
    return routes


def _allowed(request: Request) -> list[str]:
    """Every method some route of the app takes on the request's path."""
    methods: list[str] = []
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\0"})
        if match is Match.PARTIAL:
            methods.extend(m for m in getattr(route, "methods", ()) or () if m not in methods)
    return methods


def install_error_handlers(app: FastAPI) -> None:
    """Answer unknown routes, wrong methods, invalid requests and crashes with JSON errors.

    A stack trace never reaches a client: unexpected exceptions are logged and
    answered ``500 {"error": {"code": "internal_error", ...}}``.
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = tuple((getattr(exc, "headers", None) or {}).items())
        if exc.status_code == 405:
            # Starlette names only the first route of the path; a path may have several.
            headers = (("Allow", ", ".join(_allowed(request))),)
        method, path, detail = request.method, request.url.path, str(exc.detail)
        return _send(
            _rest.http_error_reply(
                exc.status_code, method=method, path=path, detail=detail, headers=headers
            )
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        return _send(_rest.reply_for(InvalidInput("the request is invalid")))

    async def wagate_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WagateError)
        return _send(_rest.reply_for(exc))

    async def client_gone(request: Request, exc: Exception) -> Response:
        # A host app's own route reading a body the client never finished sending.
        return _send(_rest.reply_for(_rest.client_left(request.method, request.url.path)))

    async def crash(request: Request, exc: Exception) -> Response:
        return _send(_rest.crash_reply(request.method, request.url.path, exc))

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
    metrics: Metrics | None = None,
    request_limit: RequestLimit | None = None,
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
        metrics: Serve ``GET /metrics`` to scrapes bearing its token (see
            :class:`wagate.metrics.Metrics`; none by default).
        request_limit: How many REST requests each principal may make (429 past
            it, with ``Retry-After``); none by default.
        title: The OpenAPI title.
        extra_routes: Called with the app to add routes before the catch-alls.
    """
    adapter = socketio if isinstance(socketio, SocketIOAdapter) else None
    if socketio is True:
        adapter = SocketIOAdapter(gateway, authenticator, cookie_name=cookie_name)

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
    served = router(
        gateway,
        authenticator,
        sse=sse,
        cookie_name=cookie_name,
        simulator=simulator,
        dashboard=dashboard,
        metrics=metrics,
        request_limit=request_limit,
    )
    app.include_router(served)
    if extra_routes is not None:
        extra_routes(app)
    if adapter is not None:
        app.mount("/socket.io", adapter.asgi_app(socketio_path=""))
    if metrics is not None and metrics.socketio is None:
        metrics.socketio = adapter  # its sockets are the Socket.IO connections
    app.state.wagate_gateway = gateway
    app.state.wagate_socketio = adapter
    return app


def _version() -> str:
    from .._version import __version__  # noqa: PLC0415

    return __version__
