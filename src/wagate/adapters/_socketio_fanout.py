"""A room broadcast that encodes an event once and queues it on every socket at once.

python-socketio's ``emit`` to a room encodes the packet once, but then starts one
task per socket and waits for all of them, so each event costs a task per socket
and at least one loop turn: a socket's writer wakes for every event on its own and
sends one frame per wake-up.  :class:`RoomBroadcast` puts the same Engine.IO packet
straight on each socket's outgoing queue, without a task or a wait, so that every
event read in one turn is queued before any writer runs; each writer then sends the
whole batch in one wake-up (and with :class:`wagate.integrations.uvicorn.
WebSocketProtocol`, in one write).

Better still, a socket that connected over a websocket whose server offers a
:class:`~wagate.adapters._websocket.FrameWriter` (``WebSocketProtocol`` does) gets
the broadcast as a websocket frame made once for the whole room and written
straight to its connection, whenever nothing is queued before it and its transport
is not paused; otherwise the packet is queued as above.  Either way the bytes on
the wire are python-socketio's own, in the same order.

It applies where python-socketio's emit would only queue packets on this process's
sockets: the default ``AsyncManager`` and the Engine.IO server it ships.  With a
pub/sub manager (the event must reach other processes through it), or a version of
python-engineio whose sockets look different, :meth:`RoomBroadcast.emit` is
python-socketio's ``emit``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from ._websocket import FRAMES_EXTENSION, FrameWriter, text_frame

__all__ = ["RoomBroadcast"]


class RoomBroadcast:
    """Emits to a room of one server, encoding once and queueing without tasks."""

    def __init__(self, server: Any, namespace: str) -> None:
        self.server = server
        self.namespace = namespace
        eio = getattr(server, "eio", None)
        sockets = getattr(eio, "sockets", None)
        self.direct = (
            type(server.manager) is socketio.AsyncManager
            and isinstance(sockets, dict)
            and hasattr(server.manager, "get_participants")
        )
        """Whether emits take the direct path (else python-socketio's ``emit``)."""
        self._frames: dict[str, FrameWriter] = {}
        self._dumps = server.packet_class.json.dumps
        self._prefix = str(packet.EVENT) + ("" if namespace == "/" else namespace + ",")

    def attach(self, sid: str, environ: Mapping[str, Any]) -> None:
        """Note the frame writer of socket ``sid``'s websocket, if its server offers one."""
        scope = environ.get("asgi.scope")
        extensions = scope.get("extensions") if isinstance(scope, Mapping) else None
        frames = extensions.get(FRAMES_EXTENSION) if isinstance(extensions, Mapping) else None
        if frames is not None and scope is not None and scope.get("type") == "websocket":
            self._frames[sid] = frames

    def detach(self, sid: str) -> None:
        """Forget socket ``sid`` (it disconnected)."""
        self._frames.pop(sid, None)

    async def emit(self, name: str, args: tuple[Any, ...], room: str) -> None:
        """Send the event ``name`` with ``args`` to every socket in ``room``."""
        if not self.direct:
            await self.server.emit(name, args, room=room, namespace=self.namespace)
            return
        # python-socketio's own encoding of an EVENT packet (the payloads are JSON, never
        # binary): the type, the namespace unless it is "/", the compact JSON.
        encoded = self._prefix + self._dumps([name, *args], separators=(",", ":"))
        message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        frame: bytes | None = None
        sockets = self.server.eio.sockets
        deadline = time.time() - self.server.eio.ping_timeout
        late = []
        for sid, eio_sid in self.server.manager.get_participants(self.namespace, room):
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if socket.last_ping and socket.last_ping < deadline:
                late.append(socket)  # gone quiet: engine.io's own send closes it
                continue
            frames = self._frames.get(sid)
            if frames is not None and socket.queue.empty() and frames.ready():
                if frame is None:
                    frame = text_frame(message.encode())
                frames.write(frame)
            else:
                socket.queue.put_nowait(message)
        for socket in late:
            await self.server.eio.send_packet(socket.sid, message)
