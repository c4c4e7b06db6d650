"""What a REST route is and what it answers, for the route tables (``_rest``, ``_simulator``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._commands import Command

if TYPE_CHECKING:
    from ._rest import RestApi

__all__ = ["CHUNK_SIZE", "FileReply", "Reply", "Respond", "Route", "encode_json"]

JSON = dict[str, Any]


@attrs.frozen
class Reply:
    """A framework-neutral response: status, JSON body, extra headers."""

    status: int
    body: JSON
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        """The body as the bytes every framework sends (compact UTF-8 JSON)."""
        return encode_json(self.body)


CHUNK_SIZE = 256 * 1024
"""How many bytes a streamed answer reads and sends at a time."""


@attrs.frozen
class FileReply:
    """A streamed answer: bytes ``start`` to ``stop`` (exclusive) of a file or of bytes.

    Every header (type, length, range, disposition) is decided by the REST API;
    a framework only streams :meth:`chunks` (or :meth:`blocking_chunks` in a
    WSGI thread) and, for ``HEAD``, sends the headers alone.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    start: int
    stop: int
    path: Path | None = None
    data: bytes | None = None

    def _slices(self, data: bytes) -> Iterator[bytes]:
        for offset in range(self.start, self.stop, CHUNK_SIZE):
            yield data[offset : min(offset + CHUNK_SIZE, self.stop)]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes, :data:`CHUNK_SIZE` at a time, read without blocking the loop."""
        if self.data is not None:
            for chunk in self._slices(self.data):
                yield chunk
            return
        assert self.path is not None
        async with await anyio.open_file(self.path, "rb") as file:
            await file.seek(self.start)
            remaining = self.stop - self.start
            while remaining > 0:
                chunk = await file.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    return  # the file shrank (retention removed it): the client sees it short
                remaining -= len(chunk)
                yield chunk

    def blocking_chunks(self) -> Iterator[bytes]:
        """The bytes, :data:`CHUNK_SIZE` at a time, read in the calling thread."""
        if self.data is not None:
            yield from self._slices(self.data)
            return
        assert self.path is not None
        with self.path.open("rb") as file:
            file.seek(self.start)
            remaining = self.stop - self.start
            while remaining > 0:
                chunk = file.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


def encode_json(body: object) -> bytes:
    """Encode a JSON body the one way both integrations send it."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


Respond = Callable[["RestApi", str, Mapping[str, Any]], Awaitable["Reply | FileReply"]]
"""How a route answers: ``await respond(api, tenant, arguments)``."""


@attrs.frozen(kw_only=True, eq=False)
class Route:
    """One REST route: the command it runs, how it answers, and what OpenAPI says of it."""

    method: str
    path: str
    command: Command[..., Any]
    """The command it runs (its parameters are the body's fields)."""
    name: str
    """Its name (the Flask endpoint's)."""
    operation: str
    """The name its OpenAPI operation id is made of (kept stable for clients)."""
    summary: str
    respond: Respond | None = None
    """How it answers; ``None``: it runs :attr:`command` and answers with its result
    (:func:`answer`: ``{}`` for none)."""
    key: str | None = None
    """The answer's key for a result that is a list or a text (``{"groups": [...]}``)."""
    status: int = 200
    """The status of a successful answer."""
    errors: Mapping[int, str] = attrs.field(factory=dict)
    """The error statuses it may answer besides those of every route, and why."""
    tag: str = "wagate"
    body: bool = False
    """Whether it reads a JSON body (of the command's parameters)."""
    form: bool = False
    """Whether it also reads a ``multipart/form-data`` body (a file upload)."""
    streams: bool = False
    """Whether it answers with streamed bytes (a :class:`FileReply`), not JSON."""
    path_params: tuple[str, ...] = ()
    """The names of the ``{name}`` segments of :attr:`path`, in order."""

    @property
    def flask_path(self) -> str:
        """:attr:`path` in Flask's spelling (``<name>`` for ``{name}``)."""
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", f"<{name}>")
        return path

    @property
    def simulator(self) -> bool:
        """Whether it exists only on a gateway of simulated phones."""
        return self.tag == "simulator"
