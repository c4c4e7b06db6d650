"""uvicorn's websocket protocol with the frames of one loop turn written together.

uvicorn writes every websocket frame to the socket as it is sent: one system call
and, with Nagle's algorithm off, one TCP segment per frame, which the client must
read and wake up for one by one.  A Socket.IO server that fans events out sends
many small frames to each socket in one loop turn; written one at a time they cost
the server a system call each and the client a read each, and that is where most
of the CPU of a busy Socket.IO server goes.

:class:`WebSocketProtocol` is uvicorn's own ``websockets-sansio`` protocol whose
transport gathers what is written in one loop turn and writes it once, at the end
of the turn (``call_soon``): the same frames, byte for byte and in order, in fewer
segments (what Node's ``cork()`` does), and without ``permessage-deflate``.  Nothing
waits longer than the turn it was written in; closing the connection writes what is
gathered first.  Flow control is
uvicorn's: the real transport still pauses the protocol when its buffer is full.

``wagate serve`` uses it.  A host application that serves the Socket.IO adapter with
uvicorn passes it as ``ws``::

    import uvicorn
    from wagate.integrations.uvicorn import WebSocketProtocol

    uvicorn.run(app, ws=WebSocketProtocol)

Each connection also offers the application a :class:`Frames` writer in its ASGI
scope, through which the Socket.IO adapter writes a room broadcast's frame, made
once, to every socket of the room.

It needs the ``websockets`` package (uvicorn's ``standard`` extra, which wagate's
``fastapi`` extra installs).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from ..adapters._websocket import FRAMES_EXTENSION

__all__ = ["CoalescingTransport", "Frames", "WebSocketProtocol"]


class CoalescingTransport:
    """A transport whose writes of one loop turn reach the socket as one write.

    Every other call is the wrapped transport's; :meth:`close` and :meth:`abort`
    write (or drop, for ``abort``) what is gathered first.
    """

    __slots__ = ("_loop", "_parts", "_scheduled", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._parts: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Gather ``data``; it is written at the end of this loop turn."""
        if not data:
            return
        self._parts.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        """Gather every part of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Write what is gathered now, in one write."""
        self._scheduled = False
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        if not self.transport.is_closing():
            self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        """Write what is gathered, then close."""
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        """Drop what is gathered and close at once."""
        self._parts.clear()
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol over a :class:`CoalescingTransport`.

    It does not offer ``permessage-deflate`` (uvicorn does by default), as socket.io's
    own server has not since engine.io 4 (``perMessageDeflate: false``): compressing
    each small event frame costs both ends more CPU than it saves in bytes.  A
    subclass with ``compress = True`` offers it with uvicorn's settings.
    """

    compress: bool = False
    """Whether to offer ``permessage-deflate`` (uvicorn's ``ws_per_message_deflate``)."""

    raw_transport: asyncio.Transport
    """The connection's own transport, under the :class:`CoalescingTransport`."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if not (self.compress and config.ws_per_message_deflate):
            self.conn.available_extensions = []

    async def run_asgi(self) -> None:
        """Run the application, offering it this connection's :class:`Frames` writer."""
        self.scope["extensions"][FRAMES_EXTENSION] = Frames(self)
        await super().run_asgi()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the connection, wrapped so that one turn's frames are written together."""
        self.raw_transport = cast("asyncio.Transport", transport)
        wrapped = CoalescingTransport(self.raw_transport, self.loop)
        super().connection_made(cast("asyncio.Transport", wrapped))


class Frames:
    """A :class:`wagate.adapters._websocket.FrameWriter` over one :class:`WebSocketProtocol`.

    The Socket.IO adapter writes a broadcast's frame, made once, through it to every
    socket that is ready, and queues it the usual way on the others.
    """

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketProtocol) -> None:
        self.protocol = protocol

    def ready(self) -> bool:
        """Open (no close sent), not lost, and the transport's buffer not full."""
        protocol = self.protocol
        return (
            protocol.writable.is_set()
            and protocol.conn.state is State.OPEN
            and not protocol.raw_transport.is_closing()
        )

    def write(self, frame: bytes) -> None:
        """Write a whole frame, after everything this connection has written before."""
        self.protocol.transport.write(frame)
