"""What the adapters read request headers through, whatever the framework."""

from __future__ import annotations

from typing import Protocol

__all__ = ["HeaderLookup"]


class HeaderLookup(Protocol):
    """Anything with a ``get(name)`` for header values.

    Starlette's, Werkzeug's and ``http.server``'s headers qualify, and so does a dict.
    """

    def get(self, key: str, /) -> str | None:
        """Return the value of header ``key``, or ``None``."""
