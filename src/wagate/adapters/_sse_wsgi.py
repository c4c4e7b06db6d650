"""The WSGI side of :mod:`wagate.adapters.sse`: a blocking iterator over a stream.

It is driven through the gateway's portal, and watches the client's socket so that
a stream is freed as soon as the client leaves.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .auth import TENANT_HEADER

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from ._sse_stream import EventStream


_TENANT_ENVIRON = "HTTP_" + TENANT_HEADER.upper().replace("-", "_")

_CLIENT_SOCKETS = ("werkzeug.socket", "gunicorn.socket")
"""Where WSGI servers put the client's connection in the environ."""


def _client_socket(environ: Mapping[str, Any]) -> socket.socket | None:
    for key in _CLIENT_SOCKETS:
        sock = environ.get(key)
        if isinstance(sock, socket.socket):
            return sock
    return None


async def _until_client_leaves(sock: socket.socket) -> None:
    """Return once the client has closed or reset its connection.

    A WSGI server hears of a client that left only when a write fails: without
    this, an idle stream would hold its subscription until the next heartbeat.
    The bytes are peeked, never read, so the server's own reads are untouched.
    """
    while True:
        try:
            await anyio.wait_readable(sock)
        except (NotImplementedError, OSError):  # an event loop that cannot watch sockets
            await anyio.sleep_forever()  # then the next write tells, as without a socket
        try:
            # The plain socket's recv, also for TLS: the TCP state is what matters here.
            data = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return  # reset
        if not data:
            return  # closed
        # The client sent more (a pipelined request): it is there; the next write will tell.
        await anyio.sleep_forever()


def _query_value(environ: Mapping[str, Any], name: str) -> str | None:
    from urllib.parse import parse_qsl  # noqa: PLC0415

    for key, value in parse_qsl(str(environ.get("QUERY_STRING") or "")):
        if key == name:
            return value
    return None


class _WSGIStream:
    """A blocking iterator over an :class:`EventStream`, for WSGI servers' threads."""

    def __init__(
        self, portal: BlockingPortal, stream: EventStream, client: socket.socket | None = None
    ) -> None:
        self._portal = portal
        self._stream = stream
        self._client = client
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            chunk = self._portal.call(self._next_chunk)
        except RuntimeError:  # the portal (the gateway's loop) has stopped
            chunk = None
        if chunk is None:
            self.close()
            raise StopIteration
        return chunk

    async def _next_chunk(self) -> bytes | None:
        client = self._client
        if client is None:
            return await self._stream.next_chunk()
        chunk: bytes | None = None
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await _until_client_leaves(client)
                self._stream.close()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            chunk = await self._stream.next_chunk()
            tg.cancel_scope.cancel()
        return chunk

    def close(self) -> None:
        """Called by the WSGI server when the client goes away or the body ends."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(RuntimeError):
            self._portal.call(self._stream.close)
