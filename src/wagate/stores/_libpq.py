"""How wagate talks to PostgreSQL: its connection options, and how it words failures.

URLs without passwords, libpq errors on one line, the keywords every connection
of wagate's is opened with, and the lock taken while tables are created.  Shared
by the PostgreSQL stores, the cluster's leases and the engine's database; it
needs no psycopg, so a module may import it before it knows the extra is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CREATE_LOCK", "KEEPALIVES", "connect_options", "display_url", "failure", "one_line"]

CREATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
"""Taken, with the tables' name, in the transaction that creates tables: two processes
creating them at once would race in the catalog."""

KEEPALIVES: Mapping[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""TCP keepalives, so that a server that vanishes mid-query is noticed instead of waited on."""


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


def failure(exc: BaseException) -> str:
    """Why a call failed, on one line: ``"timed out"`` for a timeout, else the error's words."""
    return "timed out" if isinstance(exc, TimeoutError) else one_line(exc)


def connect_options(
    timeout: float, application_name: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The keywords wagate gives psycopg's ``connect``: autocommit, a name, a timeout.

    Args:
        timeout: Seconds to wait for the server (libpq waits at least 2, in whole seconds).
        application_name: What the server's ``pg_stat_activity`` shows for the connection.
        extra: More libpq keywords, such as :data:`KEEPALIVES`.
    """
    return {
        "autocommit": True,
        "connect_timeout": max(2, round(timeout)),
        "application_name": application_name,
        **(extra or {}),
    }
