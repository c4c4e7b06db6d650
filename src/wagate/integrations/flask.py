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
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

import anyio
import anyio.to_thread
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed

from .._errors import WagateError
from .._sync import SyncGateway
from ..adapters.auth import DEFAULT_COOKIE, Authenticator
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
from ._serving import listening_socket

__all__ = ["SocketIOServer", "blueprint", "install_error_handlers", "serve_socketio"]

log = logging.getLogger("wagate")


def _json(reply: Reply) -> Response:
    response = Response(reply.content(), status=reply.status, mimetype="application/json")
    for name, value in reply.headers:
        response.headers[name] = value
    return response


def _body_reader() -> Callable[[], Awaitable[bytes]]:
    """Read this request's body in a worker thread of the gateway's loop, when asked to."""
    stream, length, method, path = (
        request.stream,
        request.content_length,
        request.method,
        request.path,
    )

    def read() -> bytes:
        limit = BodyLimit(length)
        # One read may return part of the body; the stream says it ended with an empty
        # read, and that the client left with ClientDisconnected.
        try:
            while chunk := stream.read(65536):
                limit.add(chunk)
        except ClientDisconnected:
            raise client_left(method, path) from None
        return limit.body()

    return lambda: anyio.to_thread.run_sync(read)


def _view(gateway: SyncGateway, api: RestApi, route: Route) -> Callable[[], Response]:
    def view() -> Response:
        handle = functools.partial(api.handle, scheme=request.scheme)
        reply = gateway.portal.call(
            handle, request.method, route.path, request.headers, _body_reader(), request.args
        )
        return _json(reply)

    return view


def blueprint(
    gateway: SyncGateway,
    authenticator: Authenticator,
    *,
    sse: ServerSentEvents | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    simulator: bool | None = None,
    dashboard: bool = True,
    name: str = "wagate",
) -> Blueprint:
    """The REST routes, SSE and the dashboard as a Flask ``Blueprint``.

    Args:
        gateway: A started :class:`~wagate.SyncGateway`.
        authenticator: Turns tokens into principals.
        sse: The SSE transport for ``GET /api/events`` (default: one on the gateway).
        cookie_name: The cookie browsers send their token in (``None``: headers only).
        simulator: Add ``POST /api/simulator/scan`` and ``/receive`` (default: when
            the gateway is :attr:`~wagate.Gateway.simulated`).
        dashboard: Serve the dashboard page at ``GET /``.
        name: The blueprint's name.
    """
    api = RestApi(gateway.gateway, authenticator, cookie_name=cookie_name, simulator=simulator)
    events = sse or ServerSentEvents(gateway.gateway, authenticator, cookie_name=cookie_name)
    routes = Blueprint(name, __name__)

    def rule(path: str, endpoint: str, view: Callable[[], Response], method: str) -> None:
        # No automatic OPTIONS answer: like the FastAPI routes, an unlisted method is a 405.
        routes.add_url_rule(path, endpoint, view, methods=[method], provide_automatic_options=False)

    for route in api.routes:
        rule(route.path, route.name, _view(gateway, api, route), route.method)

    def get_events() -> Response:
        if request.method == "HEAD":
            # werkzeug adds HEAD to GET rules, and would iterate an endless stream for it.
            raise MethodNotAllowed(valid_methods=["GET"])
        try:
            # The REST routes' rule first: a cookie and a header that disagree are refused.
            api.principal(request.headers)
        except WagateError as exc:
            return _json(reply_for(exc))
        status, headers, body = events.wsgi_response(gateway, request.environ)
        return Response(body, status=status, headers=headers, direct_passthrough=True)

    rule("/api/events", "events", get_events, "GET")

    if dashboard:

        def get_dashboard() -> Response:
            return Response(dashboard_html(simulator=api.simulator), mimetype="text/html")

        rule("/", "dashboard", get_dashboard, "GET")

        def get_dashboard_asset(path: str) -> Response:
            asset = static_reply(path, request.headers.get("If-None-Match"))
            return Response(asset.body, status=asset.status, headers=list(asset.headers))

        routes.add_url_rule(
            STATIC_PREFIX + "/<path:path>",
            "dashboard_asset",
            get_dashboard_asset,
            methods=["GET"],
            provide_automatic_options=False,
        )

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
        return _json(
            http_error_reply(
                status,
                method=request.method,
                path=request.path,
                detail=exc.description,
                headers=headers,
            )
        )

    def crash(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return _json(INTERNAL_ERROR)

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, crash)


class SocketIOServer:
    """A running Socket.IO server beside Flask; :meth:`close` stops it."""

    def __init__(
        self, gateway: SyncGateway, server: Any, adapter: Any, sock: socket.socket
    ) -> None:
        self._gateway = gateway
        self._server = server
        self._socket = sock
        self._stopped: Future[None] | None = None
        self.adapter = adapter
        """The :class:`~wagate.adapters.socketio.SocketIOAdapter` it serves."""
        self.port: int = sock.getsockname()[1]
        """The port it listens on (the one the OS chose, with ``port=0``)."""

    def close(self) -> None:
        """Stop the server and wait until it has stopped (safe twice)."""
        self._server.should_exit = True
        if self._stopped is not None:
            self._stopped.result()
        self._socket.close()


def serve_socketio(
    gateway: SyncGateway,
    authenticator: Authenticator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cors_allowed_origins: str | list[str] | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    startup_timeout: float = 30.0,
) -> SocketIOServer:
    """Serve Socket.IO for a Flask app's gateway, beside Flask, on its own port.

    The server (uvicorn) runs on the gateway's own event loop, so it shares the
    gateway's hub; it is listening when this returns.

    Example:
        ```python
        sockets = serve_socketio(gateway, authenticator, cors_allowed_origins=[flask_origin])
        print(sockets.port)  # give it to the browser
        ...
        sockets.close()
        ```

    Args:
        gateway: The started :class:`~wagate.SyncGateway` the blueprint uses.
        authenticator: Turns tokens into principals.
        host: The address to listen on.
        port: The port (0: one the OS picks; read it from ``.port``).
        cors_allowed_origins: The Flask site's origin(s), so browsers may connect.
        cookie_name: The cookie browsers send their token in.
        startup_timeout: Seconds to wait for the server to start.

    Raises:
        OSError: the address cannot be listened on (e.g. the port is taken).
    """
    import uvicorn  # noqa: PLC0415

    from ..adapters.socketio import SocketIOAdapter  # noqa: PLC0415

    adapter = SocketIOAdapter(
        gateway.gateway,
        authenticator,
        cookie_name=cookie_name,
        cors_allowed_origins=cors_allowed_origins,
    )
    # Bound here, in the caller's thread: a taken port is an OSError for the caller,
    # not an exit of a server task inside the gateway's loop.
    sock = listening_socket(host, port)
    config = uvicorn.Config(adapter.asgi_app(), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    handle = SocketIOServer(gateway, server, adapter, sock)
    handle._stopped = gateway.portal.start_task_soon(server.serve, [sock])

    async def wait_started() -> None:
        with anyio.fail_after(startup_timeout):
            # uvicorn has no started event to wait on, only the flag.
            while not server.started:
                if handle._stopped is not None and handle._stopped.done():
                    raise RuntimeError(
                        f"the Socket.IO server on {host}:{handle.port} stopped while starting"
                    )
                await anyio.sleep(0.01)

    try:
        gateway.portal.call(wait_started)
    except BaseException:
        server.should_exit = True
        sock.close()
        raise
    return handle
