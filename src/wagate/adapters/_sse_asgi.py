"""The ASGI side of :mod:`wagate.adapters.sse`: the Starlette streaming response.

It writes an :class:`~wagate.adapters.sse.EventStream`, sends its heartbeats and
ends it when the client leaves.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

import anyio

from ._sse_encoder import HEARTBEAT_FRAME, SSE_HEADERS
from ._sse_stream import EventStream

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send


def _streaming_response(stream: EventStream) -> Response:
    response: Response = _response_class()(stream, headers=dict(SSE_HEADERS))
    return response


@functools.cache
def _response_class() -> type[Any]:
    from starlette.responses import StreamingResponse  # noqa: PLC0415 - the sse extra

    class SSEResponse(StreamingResponse):
        """Streams an :class:`EventStream` (made once, on first use: Starlette is optional)."""

        # Three tasks: one writes events as they come (waiting without a timer, the
        # cheap path), one sends a heartbeat after `heartbeat` idle seconds and ends
        # the stream when the token expires, one watches for the client leaving (so
        # an idle stream frees its subscription at once, not at the next write).
        # uvicorn writes each body message whole, so the two writers never mix bytes.
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            stream = self.body_iterator
            assert isinstance(stream, EventStream)
            heartbeat = stream._sse.heartbeat
            last_write = anyio.current_time()

            async def write(body: bytes, more: bool = True) -> None:
                nonlocal last_write
                await send({"type": "http.response.body", "body": body, "more_body": more})
                last_write = anyio.current_time()

            try:
                async with anyio.create_task_group() as tg:

                    async def events() -> None:
                        with contextlib.suppress(OSError):  # the client left mid-write
                            while (chunk := await stream.next_chunk(heartbeat=False)) is not None:
                                await write(chunk)
                            await write(b"", more=False)
                        tg.cancel_scope.cancel()

                    async def beats() -> None:
                        while not stream.closed:
                            remaining = stream._remaining()
                            wait = heartbeat - (anyio.current_time() - last_write)
                            if remaining is not None:
                                if remaining <= 0:
                                    stream.close()  # ends events()
                                    return
                                wait = min(wait, remaining)
                            if wait > 0:
                                await anyio.sleep(wait)
                            else:
                                with contextlib.suppress(OSError):
                                    await write(HEARTBEAT_FRAME)

                    await send(
                        {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                    )
                    tg.start_soon(events)
                    tg.start_soon(beats)
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()
            finally:
                stream.close()

    return SSEResponse
