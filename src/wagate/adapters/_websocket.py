"""Websocket frames written once for many sockets: the server's side of RFC 6455, text only.

A server that wants to send the same message to many websockets can frame it once
(:func:`text_frame`) and write those bytes to each connection, if the connection
offers a :class:`FrameWriter` in its ASGI scope under :data:`FRAMES_EXTENSION`
(:class:`wagate.integrations.uvicorn.WebSocketProtocol` does).  Frames from a server
are not masked, so the bytes are the same for every connection.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["FRAMES_EXTENSION", "FrameWriter", "text_frame"]

FRAMES_EXTENSION = "wagate.websocket.frames"
"""The key of a :class:`FrameWriter` in an ASGI websocket scope's ``extensions``."""

_TEXT_FIN = 0x81  # FIN + opcode 1 (text)


class FrameWriter(Protocol):
    """Writes whole frames to one open websocket, after what it has written before."""

    def ready(self) -> bool:
        """Whether a frame written now goes straight out: open, not paused, nothing queued."""
        ...

    def write(self, frame: bytes) -> None:
        """Write one frame made by :func:`text_frame`."""
        ...


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked text frame carrying ``text``."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((_TEXT_FIN, size))
    elif size < 1 << 16:
        head = bytes((_TEXT_FIN, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((_TEXT_FIN, 127)) + size.to_bytes(8, "big")
    return head + payload
