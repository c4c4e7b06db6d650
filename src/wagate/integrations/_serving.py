"""Listening sockets for the servers wagate starts (``wagate serve``, Socket.IO beside Flask)."""

from __future__ import annotations

import socket

__all__ = ["listening_socket"]


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
