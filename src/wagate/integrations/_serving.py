"""The servers wagate starts: their listening sockets (``wagate serve``), Socket.IO beside Flask."""

from __future__ import annotations

import socket
from concurrent.futures import Future
from typing import Any

import anyio

from .._sync import SyncGateway
from ..adapters.auth import DEFAULT_COOKIE, Authenticator

__all__ = ["SocketIOServer", "listening_socket", "serve_socketio"]


def listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: one the OS picks).

    Connections accepted from it have Nagle's algorithm off (``TCP_NODELAY`` is
    inherited from the listener).  asyncio's own loop sets that only on sockets
    created with ``proto=IPPROTO_TCP``, which accepted sockets never are; without it
    a response written in two parts (headers, then body) waits for the client's
    delayed ACK, about 40 ms per request.

    Raises:
        OSError: the host does not resolve, or the address cannot be bound.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


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
    from .uvicorn import WebSocketProtocol  # noqa: PLC0415

    adapter = SocketIOAdapter(
        gateway.gateway,
        authenticator,
        cookie_name=cookie_name,
        cors_allowed_origins=cors_allowed_origins,
    )
    # Bound here, in the caller's thread: a taken port is an OSError for the caller,
    # not an exit of a server task inside the gateway's loop.
    sock = listening_socket(host, port)
    config = uvicorn.Config(
        adapter.asgi_app(), log_level="warning", lifespan="on", ws=WebSocketProtocol
    )
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
