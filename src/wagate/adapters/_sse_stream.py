"""One client's stream of SSE frames: a cursor into the hub's per-tenant log.

Part of :mod:`wagate.adapters.sse`, which re-exports :class:`EventStream`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .._events import Event, Gap
from .._hub import Subscription
from ._sse_encoder import HEARTBEAT_FRAME

if TYPE_CHECKING:
    from typing_extensions import Self

    from .sse import ServerSentEvents


class EventStream:
    """One client's stream of SSE frames; made by :meth:`ServerSentEvents.open`.

    Iterate it (``async for chunk in stream``) or call :meth:`next_chunk`; each
    chunk is ``bytes`` holding whole frames.  It ends when the gateway closes,
    when the credentials expire, or on :meth:`close`.  Use it from the event loop
    thread (WSGI servers go through a portal).
    """

    def __init__(
        self,
        sse: ServerSentEvents,
        tenant: str,
        subscription: Subscription,
        first: bytes,
        *,
        expires_at: datetime | None,
    ) -> None:
        self._sse = sse
        self.tenant = tenant
        self._subscription = subscription
        self._first: bytes | None = first
        self._expires_at = expires_at

    def _encode(self, event: Event) -> bytes:
        if isinstance(event, Gap):
            # The client lost events: tell it, then tell it where the tenant stands.
            return self._sse.encoder.event(event) + self._sse.encoder.snapshot(
                self._sse.gateway, self.tenant
            )
        return self._sse.encoder.event(event)

    def _drain(self, chunks: list[bytes]) -> list[bytes]:
        size = sum(map(len, chunks))
        batch = self._sse.batch
        encoder = self._sse.encoder
        while len(chunks) < batch and size < 65536:
            events = self._subscription.receive_many(batch - len(chunks))
            if not events:
                break
            size += encoder.extend(chunks, events, self._encode)
        return chunks

    def _remaining(self) -> float | None:
        if self._expires_at is None:
            return None
        return (self._expires_at - datetime.now(timezone.utc)).total_seconds()

    async def next_chunk(self, *, heartbeat: bool = True) -> bytes | None:
        """The next frames to send: events, or a heartbeat; ``None`` at the end.

        Args:
            heartbeat: Return :data:`HEARTBEAT_FRAME` after ``heartbeat`` seconds
                without an event, and end the stream when the credentials expire.
                With ``False`` it waits for events without a time limit: the caller
                sends heartbeats and calls :meth:`close` on expiry (cheaper: no
                timer per wait).
        """
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._subscription.closed:
            return None
        chunks = self._drain([])
        if chunks:
            return b"".join(chunks)
        if not heartbeat:
            return await self._wait(shielded=False)
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            self.close()
            return None
        timeout = self._sse.heartbeat if remaining is None else min(self._sse.heartbeat, remaining)
        with anyio.move_on_after(timeout):
            return await self._wait(shielded=True)
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            self.close()
            return None
        return HEARTBEAT_FRAME

    async def _wait(self, *, shielded: bool) -> bytes | None:
        # Called only when nothing is buffered: the subscription then waits before
        # taking an event, so a wait cancelled by a timeout never drops one.
        try:
            event = await self._subscription.__anext__()
        except StopAsyncIteration:
            self.close()
            return None
        # Let the loop run once so that a burst being published goes out in one write
        # rather than one write per event.  The event is held meanwhile: under a
        # timeout the pause is shielded; without one (the ASGI response) only the
        # end of the response cancels it, and then the client is gone, or resumes
        # from its last id.
        if shielded:
            await anyio.lowlevel.cancel_shielded_checkpoint()
        else:
            await anyio.lowlevel.checkpoint()
        return b"".join(self._drain([self._encode(event)]))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        """Stop the stream and unsubscribe (safe twice)."""
        self._first = None
        self._subscription.close()

    @property
    def closed(self) -> bool:
        """Whether the stream has ended."""
        return self._subscription.closed
