"""Flask: the REST API, SSE and the dashboard as a Blueprint, over a blocking gateway.

The gateway runs in the :class:`~wagate.SyncGateway`'s event-loop thread; each
route hands its work to that thread through the portal, so Flask stays plain
synchronous code on any WSGI server.  The routes, statuses and payloads are the
FastAPI integration's, byte for byte (both call ``_rest``).

**Socket.IO.** WSGI cannot hold websockets, so the blueprint's live updates use
Server-Sent Events (``GET /api/events``), which every WSGI server streams and
the dashboard falls back to.  For Socket.IO clients, :func:`serve_socketio` runs
the ASGI Socket.IO adapter *beside* Flask: a uvicorn server on its own port, on
the gateway's own event loop (so it shares the gateway's hub), started and
stopped with one call.

Example:
    ```python
    gateway = SyncGateway(lambda tenant: NeonizeDriver()).start()
    app = Flask(__name__)
    app.register_blueprint(blueprint(gateway, JWTAuthenticator(secret)))
    install_error_handlers(app)
    ```
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed

from .. import contract
from .._errors import WagateError
from .._pacing import RequestLimit
from .._sync import SyncGateway
from ..adapters.auth import DEFAULT_COOKIE, Authenticator
from ..adapters.sse import ServerSentEvents
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..metrics import Metrics
from . import STATIC_PREFIX, _rest, dashboard_html, static_reply
from ._serving import SocketIOServer, serve_socketio

__all__ = ["SocketIOServer", "blueprint", "install_error_handlers", "serve_socketio"]


def _json(reply: _rest.Reply) -> Response:
    response = Response(reply.content(), status=reply.status, mimetype="application/json")
    for name, value in reply.headers:
        response.headers[name] = value
    return response


def _stream(reply: _rest.FileReply) -> Response:
    # The chunks are read in the WSGI thread: the file never passes through the loop.
    body = iter(()) if request.method == "HEAD" else reply.blocking_chunks()
    response = Response(body, status=reply.status, direct_passthrough=True)
    for name, value in reply.headers:
        response.headers[name] = value
    return response


def _body_reader() -> Callable[[int], Awaitable[bytes]]:
    """Read this request's body in a worker thread of the gateway's loop, when asked to."""
    stream, length, method, path = (
        request.stream,
        request.content_length,
        request.method,
        request.path,
    )

    def read(most: int) -> bytes:
        limit = _rest.BodyLimit(length, most)
        # One read may return part of the body; the stream says it ended with an empty
        # read, and that the client left with ClientDisconnected.
        try:
            while chunk := stream.read(65536):
                limit.add(chunk)
        except ClientDisconnected:
            raise _rest.client_left(method, path) from None
        return limit.body()

    return lambda most: anyio.to_thread.run_sync(read, most)


def _view(gateway: SyncGateway, api: _rest.RestApi, route: _rest.Route) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        handle = functools.partial(api.handle, scheme=request.scheme, params=params)
        reply = gateway.portal.call(
            handle, request.method, route.path, request.headers, _body_reader(), request.args
        )
        return _stream(reply) if isinstance(reply, _rest.FileReply) else _json(reply)

    return view


def blueprint(
    gateway: SyncGateway,
    authenticator: Authenticator,
    *,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool | None = None,
    dashboard: bool = True,
    metrics: Metrics | None = None,
    request_limit: RequestLimit | None = None,
    name: str = "wagate",
    title: str = "wagate",
) -> Blueprint:
    """The REST routes, SSE, ``/openapi.json`` and the dashboard as a Flask ``Blueprint``.

    ``GET /openapi.json`` is the document the FastAPI app of the same options
    serves (:func:`wagate.contract.openapi`).

    Args:
        gateway: A started :class:`~wagate.SyncGateway`.
        authenticator: Turns tokens into principals.
        sse: The SSE transport for ``GET /api/events`` (default: one on the gateway).
        cookie_name: The cookie browsers send their token in (``None``: headers only).
        simulator: Add ``POST /api/simulator/scan`` and ``/receive`` (default: when
            the gateway is :attr:`~wagate.Gateway.simulated`).
        dashboard: Serve the dashboard page at ``GET /``.
        metrics: Serve ``GET /metrics`` (Prometheus) to scrapes bearing its token.
        request_limit: How many REST requests each principal may make (429 past
            it, with ``Retry-After``); none by default.
        name: The blueprint's name.
        title: The OpenAPI document's title.
    """
    api = _rest.RestApi(
        gateway.gateway,
        authenticator,
        cookie_name=cookie_name,
        simulator=simulator,
        request_limit=request_limit,
    )
    events = sse or ServerSentEvents(gateway.gateway, authenticator, cookie_name=cookie_name)
    routes = Blueprint(name, __name__)

    def rule(path: str, endpoint: str, view: Callable[..., Response], method: str) -> None:
        # No automatic OPTIONS answer: like the FastAPI routes, an unlisted method is a 405.
        routes.add_url_rule(path, endpoint, view, methods=[method], provide_automatic_options=False)

    for route in api.routes:
        rule(route.flask_path, route.name, _view(gateway, api, route), route.method)

    def get_events() -> Response:
        if request.method == "HEAD":
            # werkzeug adds HEAD to GET rules, and would iterate an endless stream for it.
            raise MethodNotAllowed(valid_methods=["GET"])
        refusal = api.refuse_stream(request.headers)
        if refusal is not None:
            return _json(refusal)
        status, headers, body = events.wsgi_response(gateway, request.environ)
        return Response(body, status=status, headers=headers, direct_passthrough=True)

    rule("/api/events", "events", get_events, "GET")

    def get_healthz() -> Response:
        return _json(api.healthz())

    def get_readyz() -> Response:
        return _json(gateway.portal.call(api.readyz))

    if metrics is not None:
        scraped = metrics
        if scraped.sse is None:
            scraped.sse = events  # its open streams are the SSE connections

        def get_metrics() -> Response:
            try:
                scraped.check(request.headers.get("authorization"))
            except WagateError as exc:
                return _json(_rest.reply_for(exc))
            body = gateway.portal.call(scraped.render)
            return Response(body, status=200, content_type=METRICS_TYPE)

        rule("/metrics", "metrics", get_metrics, "GET")

    rule("/healthz", "healthz", get_healthz, "GET")
    rule("/readyz", "readyz", get_readyz, "GET")
    document = _rest.encode_json(
        contract.openapi(simulator=api.simulator, cookie_name=cookie_name, title=title)
    )

    def get_openapi() -> Response:
        return Response(document, mimetype="application/json")

    rule("/openapi.json", "openapi", get_openapi, "GET")

    if dashboard:

        def get_dashboard() -> Response:
            return Response(dashboard_html(simulator=api.simulator), mimetype="text/html")

        rule("/", "dashboard", get_dashboard, "GET")

        def get_dashboard_asset(path: str) -> Response:
            asset = static_reply(path, request.headers.get("If-None-Match"))
            return Response(asset.body, status=asset.status, headers=list(asset.headers))

        rule(STATIC_PREFIX + "/<path:path>", "dashboard_asset", get_dashboard_asset, "GET")

    return routes


def install_error_handlers(app: Flask) -> None:
    """Answer unknown routes, wrong methods and crashes with JSON errors, never a trace."""

    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers: tuple[tuple[str, str], ...] = ()
        if status == 405:
            allowed: Any = getattr(exc, "valid_methods", None)
            if allowed:
                headers = (("Allow", ", ".join(allowed)),)
        method, path, detail = request.method, request.path, exc.description
        return _json(
            _rest.http_error_reply(status, method=method, path=path, detail=detail, headers=headers)
        )

    def crash(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        return _json(_rest.crash_reply(request.method, request.path, exc))

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, crash)
