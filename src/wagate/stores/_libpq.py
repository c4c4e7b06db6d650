"""How wagate words PostgreSQL in messages: URLs without passwords, libpq errors on one line.

Shared by the PostgreSQL store, the cluster's leases and the engine's database;
it needs no psycopg, so a module may import it before it knows the extra is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["display_url", "one_line"]


def display_url(params: Mapping[str, Any]) -> str:
    """The URL's parts (as ``conninfo_to_dict`` gives them) without its password."""
    user = params.get("user")
    who = f"{user}@" if user else ""
    host = params.get("host")
    where = f"{host}:{params.get('port') or 5432}" if host else "(local socket)"
    return f"postgresql://{who}{where}/{params.get('dbname') or ''}"


def one_line(exc: BaseException) -> str:
    """An error's message on one line (libpq's span several indented lines)."""
    return " ".join(str(exc).split()) or type(exc).__name__
