"""What a media download answers: its headers and the byte range asked for (RFC 9110)."""

from __future__ import annotations

import re
from urllib.parse import quote

from .._errors import WagateError

__all__ = ["INLINE_TYPES", "RangeNotSatisfiable", "byte_range", "media_headers"]


class RangeNotSatisfiable(WagateError, code="range_not_satisfiable", status_code=416):
    """A ``Range`` header that names no byte of the media.

    Its answer carries ``Content-Range: bytes */<size>``, as RFC 9110 asks.
    """

    def __init__(self, message: str, *, size: int, tenant: str | None = None) -> None:
        super().__init__(message, tenant=tenant)
        self.size = size

    def details(self) -> dict[str, int]:
        """``size``: the media's length in bytes."""
        return {"size": self.size}


_SPEC = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")

INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/3gpp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
    }
)
"""The types a browser may show in the page; every other is a download (an HTML or
SVG file sent by a contact must never run as the dashboard's own page)."""


def byte_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> tuple[int, int] | None:
    """The span ``(start, stop)`` a ``Range`` header asks of ``size`` bytes, or ``None``.

    ``None`` means the whole file: no header, one this server ignores (several
    ranges, another unit, a malformed one, as RFC 9110 allows), or an
    ``If-Range`` that does not match ``etag``.

    Raises:
        RangeNotSatisfiable: a single range that names no byte of the file.
    """
    if header is None or (if_range is not None and (etag is None or if_range.strip() != etag)):
        return None
    match = _SPEC.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable(f"the range {header!r} is empty", size=size)
        return max(0, size - count), size
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # an invalid range: ignored, the whole file is sent
    if start >= size:
        raise RangeNotSatisfiable(
            f"the range {header!r} starts past the media's {size:,} bytes", size=size
        )
    return start, stop


def media_headers(
    mime_type: str, file_name: str | None, etag: str | None
) -> tuple[tuple[str, str], ...]:
    """The headers of a media download, but its length and range."""
    disposition = "inline" if mime_type in INLINE_TYPES else "attachment"
    if file_name:
        ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "'")
        ascii_name = "".join(c if c.isprintable() and c not in "\\/" else "_" for c in ascii_name)
        disposition += f"; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"
    headers = [
        ("Content-Type", mime_type),
        ("Content-Disposition", disposition),
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", "private, max-age=86400"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; sandbox"),
    ]
    if etag is not None:
        headers.append(("ETag", etag))
    return tuple(headers)
