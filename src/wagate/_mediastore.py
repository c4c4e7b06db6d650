"""Where media bytes live: the :class:`MediaStore` protocol, in memory and on disk.

A store keeps, per tenant and media id, the :class:`~wagate.Media` descriptor,
the engine's reference to download it again (``ref``, opaque bytes) and, once
fetched, the bytes themselves.  Ids are per tenant: a tenant asking for another
tenant's id finds nothing, exactly as for an id that never existed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import anyio
import attrs

from ._content import Media
from ._errors import MediaNotFound

__all__ = [
    "MEMORY_MEDIA",
    "FileMediaStore",
    "MediaStore",
    "MemoryMediaStore",
    "StoredMedia",
    "check_media_id",
    "new_media_id",
]

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_media_id() -> str:
    """A new unguessable media id (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def check_media_id(media_id: object, tenant: str | None = None) -> str:
    """``media_id`` if it has the form of a media id (so it can never name a path).

    Raises:
        MediaNotFound: it has not (no media can have that id).
    """
    if not isinstance(media_id, str) or not _ID.fullmatch(media_id):
        raise MediaNotFound(f"no media has the id {media_id!r}", tenant=tenant)
    return media_id


@attrs.frozen(kw_only=True)
class StoredMedia:
    """What a store holds of one media: its descriptor, the engine's ref, whether bytes are here."""

    media: Media
    ref: bytes | None = None
    has_data: bool = False


class MediaStore(Protocol):
    """Keeps media descriptors and bytes per tenant.

    Implementations must be safe to call from the event loop thread.
    """

    async def put(self, tenant: str, stored: StoredMedia, data: bytes | None = None) -> None:
        """Keep a descriptor (and the bytes, when given), replacing one with the same id."""

    async def get(self, tenant: str, media_id: str) -> StoredMedia | None:
        """The descriptor of one of ``tenant``'s media, or ``None``."""

    async def read(self, tenant: str, media_id: str) -> bytes | None:
        """The bytes of one of ``tenant``'s media, or ``None`` when not (yet) here."""

    def file(self, tenant: str, media_id: str) -> Path | None:
        """A file holding the bytes, to stream from, or ``None`` (a store without files)."""


class MemoryMediaStore:
    """Media kept in memory, the most recent ``max_items`` of all tenants (the default)."""

    def __init__(self, max_items: int = 1000) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, str], tuple[StoredMedia, bytes | None]] = OrderedDict()

    async def put(self, tenant: str, stored: StoredMedia, data: bytes | None = None) -> None:
        key = (tenant, stored.media.id)
        if data is None and key in self._items:
            data = self._items[key][1]
        self._items[key] = (attrs.evolve(stored, has_data=data is not None), data)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    async def get(self, tenant: str, media_id: str) -> StoredMedia | None:
        item = self._items.get((tenant, media_id))
        return None if item is None else item[0]

    async def read(self, tenant: str, media_id: str) -> bytes | None:
        item = self._items.get((tenant, media_id))
        return None if item is None else item[1]

    def file(self, tenant: str, media_id: str) -> Path | None:
        return None


class FileMediaStore:
    """Media on disk, under ``directory/<tenant>/``: it survives restarts.

    Args:
        directory: The media directory (``<data dir>/media`` for ``wagate serve``).
        retention: Seconds a media is kept after it was stored; older ones are
            removed as new ones come (default: 30 days).
    """

    def __init__(self, directory: str | os.PathLike[str], *, retention: float = 30 * 86400) -> None:
        if retention <= 0:
            raise ValueError("retention must be positive")
        self.directory = Path(directory)
        self.retention = retention

    def _paths(self, tenant: str, media_id: str) -> tuple[Path, Path]:
        check_media_id(media_id, tenant)
        base = self.directory / tenant
        return base / f"{media_id}.json", base / f"{media_id}.bin"

    async def put(self, tenant: str, stored: StoredMedia, data: bytes | None = None) -> None:
        meta, blob = self._paths(tenant, stored.media.id)
        await anyio.to_thread.run_sync(self._write, meta, blob, stored, data)

    def _write(self, meta: Path, blob: Path, stored: StoredMedia, data: bytes | None) -> None:
        meta.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if data is not None:
            part = blob.with_name(f"{blob.name}.{secrets.token_hex(4)}.part")
            part.write_bytes(data)
            part.replace(blob)
        record = {
            "media": attrs.asdict(stored.media),
            "ref": None if stored.ref is None else stored.ref.hex(),
            "stored": time.time(),
        }
        part = meta.with_name(f"{meta.name}.{secrets.token_hex(4)}.part")
        part.write_text(json.dumps(record), encoding="utf-8")
        part.replace(meta)
        self._prune(meta.parent)

    def _prune(self, folder: Path) -> None:
        horizon = time.time() - self.retention
        for old in folder.glob("*.json"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < horizon:
                    old.unlink()
                    old.with_suffix(".bin").unlink(missing_ok=True)

    async def get(self, tenant: str, media_id: str) -> StoredMedia | None:
        meta, blob = self._paths(tenant, media_id)
        try:
            record = json.loads(await anyio.Path(meta).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ref = record.get("ref")
        return StoredMedia(
            media=Media(**record["media"]),
            ref=None if ref is None else bytes.fromhex(ref),
            has_data=await anyio.Path(blob).exists(),
        )

    async def read(self, tenant: str, media_id: str) -> bytes | None:
        _, blob = self._paths(tenant, media_id)
        try:
            return await anyio.Path(blob).read_bytes()
        except OSError:
            return None

    def file(self, tenant: str, media_id: str) -> Path | None:
        _, blob = self._paths(tenant, media_id)
        return blob if blob.exists() else None


MEMORY_MEDIA = MemoryMediaStore()
"""The store of sessions and gateways given none: in memory, shared, bounded."""
