"""Host-app integrations: FastAPI, Flask, and the dashboard page they serve.

- :mod:`wagate.integrations.fastapi`: an ``APIRouter`` or a whole app;
- :mod:`wagate.integrations.flask`: a ``Blueprint``.

Both serve the same routes, statuses and payloads (their logic is written once,
in ``_rest``), the dashboard page at ``/`` and its assets (the
``<wagate-connection>`` web component, its message tables and the vendored
Socket.IO client) under ``/wagate-static/``.
"""

from __future__ import annotations

import hashlib
import sys
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["STATIC_PREFIX", "StaticReply", "dashboard_html", "static_reply"]

STATIC_PREFIX = "/wagate-static"
"""Where the dashboard's assets are served, below the routes' own prefix."""

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@lru_cache(maxsize=2)
def dashboard_html(*, simulator: bool = False) -> str:
    """The dashboard page, with the simulated-phone panel when ``simulator`` is on."""
    page = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
    return page.replace("{{SIMULATOR}}", "true" if simulator else "false")


@attrs.frozen(kw_only=True)
class StaticReply:
    """A framework-neutral answer to ``GET /wagate-static/<path>``."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


@attrs.frozen(kw_only=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _walk(folder: Traversable, prefix: str) -> dict[str, _Asset]:
    assets: dict[str, _Asset] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            assets.update(_walk(entry, name + "/"))
            continue
        suffix = "." + entry.name.rpartition(".")[2]
        if suffix in _CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[name] = _Asset(body=body, content_type=_CONTENT_TYPES[suffix], etag=etag)
    return assets


@lru_cache(maxsize=1)
def _assets() -> dict[str, _Asset]:
    # Read once: a fixed set of names, so a path from a request is only ever a
    # dictionary key and never reaches the file system.
    return _walk(resources.files(__package__).joinpath("static"), "")


def static_reply(path: str, if_none_match: str | None = None) -> StaticReply:
    """The answer to ``GET /wagate-static/<path>``: the asset, a 304, or a JSON 404.

    Assets are revalidated on each use (``Cache-Control: no-cache`` with an
    ``ETag``), so an upgrade of wagate reaches browsers at once.
    """
    asset = _assets().get(path)
    if asset is None:
        body = b'{"error": {"code": "not_found", "message": "no such dashboard asset"}}'
        return StaticReply(status=404, body=body, headers=(("Content-Type", "application/json"),))
    headers = (
        ("ETag", asset.etag),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
    )
    if if_none_match is not None and asset.etag in {t.strip() for t in if_none_match.split(",")}:
        return StaticReply(status=304, body=b"", headers=headers)
    return StaticReply(
        status=200, body=asset.body, headers=(("Content-Type", asset.content_type), *headers)
    )
