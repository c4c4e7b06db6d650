"""SSE frames: the encoder, the heartbeat, the stream's headers, a refusal's body.

Each event is encoded once and its frames shared by the tenant's clients.

Part of :mod:`wagate.adapters.sse`, which re-exports the public names.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from .._errors import InvalidInput, error_response
from .._events import Event, Gap, QrGenerated, WireMessage, WireNaming, to_wire
from .._gateway import Gateway
from . import current_messages

DEFAULT_HEARTBEAT = 15.0
"""Seconds without an event after which a stream sends a heartbeat comment."""

HEARTBEAT_FRAME = b": ping\n\n"
"""The heartbeat: an SSE comment, ignored by ``EventSource``."""

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def error_body(error: BaseException) -> bytes:
    """The JSON body ``{"error": {"code", "message"}}`` of :func:`~wagate.error_response`."""
    return json.dumps(error_response(error).body).encode()


def _refusal(error: BaseException) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of the answer refusing a stream."""
    answer = error_response(error)
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    return answer.status, [*headers, *answer.headers], json.dumps(answer.body).encode()


class SSEEncoder:
    """Turns wire messages into SSE frames; caches each event's frames.

    Framework-neutral: it makes ``bytes``.  The cache holds the frames of the most
    recent ``cache_size`` events, so the clients of a tenant share one encoding.
    Use it from one thread (the event loop's).

    Args:
        naming: ``"colon"`` (``qr:generated``...) or ``"dash"`` (``qr-code``...).
        cache_size: How many events' frames to keep.
    """

    def __init__(self, naming: WireNaming = "colon", *, cache_size: int = 4096) -> None:
        if naming not in ("colon", "dash"):
            raise InvalidInput(f"naming must be 'colon' or 'dash', got {naming!r}")
        if cache_size < 1:
            raise InvalidInput("cache_size must be at least 1")
        self.naming: WireNaming = naming
        self.cache_size = cache_size
        self._cache: OrderedDict[int, tuple[Event, bytes]] = OrderedDict()
        self.encoded = 0
        """How many events were encoded (cache misses); for tests and benchmarks."""

    @staticmethod
    def frames(messages: Iterable[WireMessage], event_id: int | None = None) -> bytes:
        """Encode messages as frames; ``event_id`` goes on the last one."""
        out: list[str] = []
        items = list(messages)
        for index, message in enumerate(items):
            data = json.dumps(message.data, separators=(",", ":"), ensure_ascii=False)
            out.append(f"event: {message.name}\n")
            if event_id is not None and index == len(items) - 1:
                out.append(f"id: {event_id}\n")
            out.append(f"data: {data}\n\n")
        return "".join(out).encode()

    def event(self, event: Event) -> bytes:
        """The frames of one event (encoded once, then served from the cache).

        A ``qr:generated`` is encoded anew each time, so that its ``expiresIn``
        counts from the moment it is sent.
        """
        key = id(event)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        encoded = self.frames(to_wire(event, naming=self.naming), event.seq)
        self.encoded += 1
        # Gaps are per subscriber, never shared; a QR's expiresIn counts from each
        # encoding (its image is cached on the event, so a new encoding is cheap).
        if not isinstance(event, (Gap, QrGenerated)):
            self._cache[key] = (event, encoded)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return encoded

    def extend(
        self,
        chunks: list[bytes],
        events: Iterable[Event],
        miss: Callable[[Event], bytes] | None = None,
    ) -> int:
        """Append the frames of each event to ``chunks``; return how many bytes they add.

        The loop of a stream's write: a cached event costs one lookup and no call.
        An event not in the cache (never a ``Gap`` nor a QR code) is encoded by
        ``miss``, by default :meth:`event`.
        """
        get = self._cache.get
        encode = self.event if miss is None else miss
        size = 0
        for event in events:
            hit = get(id(event))
            chunk = hit[1] if hit is not None and hit[0] is event else encode(event)
            chunks.append(chunk)
            size += len(chunk)
        return size

    def snapshot(self, gateway: Gateway, tenant: str, event_id: int | None = None) -> bytes:
        """The frames of :func:`~wagate.adapters.current_messages`, ``event_id`` on the last."""
        return self.frames(current_messages(gateway, tenant, naming=self.naming), event_id)
