"""Session stores: where a gateway remembers its tenants between runs.

A store keeps, per tenant, the linked WhatsApp account (JID, phone, name), the
last state, and the *seq high-water mark*: a number at least as high as every
event seq the tenant's session has issued.  A session reserves seqs in blocks
ahead of use, so a process that dies without warning never hands out a seq
twice after it restarts.  The WhatsApp engine's own keys are not here; they
live in the driver's database.

With a store, ``async with Gateway(...)`` reconnects every tenant that was
linked when the last process stopped, without a new QR code; ``logout()``
clears the tenant's account (its seq mark stays, so seqs are never reused).

Stores shipped with wagate:

| store | for |
| --- | --- |
| :class:`~wagate.MemoryStore` | tests and notebooks: forgets on exit |
| :class:`~wagate.SQLiteStore` | one server process (stdlib ``sqlite3``; one process per file) |
| ``wagate.stores.postgres.PostgresStore`` | several processes (the ``postgres`` extra) |

:func:`store_for` picks one from a location string, as a command line gives it.
Writing a store means implementing :class:`~wagate.SessionStore`'s abstract
methods.
"""

from __future__ import annotations

import os

from .._errors import InvalidInput
from .._store import SessionStore, SQLiteStore

__all__ = ["store_for"]


def store_for(location: str | os.PathLike[str]) -> SessionStore:
    """Return the store for ``location``: a ``postgresql://`` URL or a SQLite file path.

    Example:
        ```python
        store_for("./wagate-data/sessions.db")          # SQLiteStore
        store_for("postgresql://wagate@db/wagate")      # PostgresStore
        ```

    Raises:
        InvalidInput: ``location`` is empty, or a PostgreSQL URL is malformed, or
            names PostgreSQL without the ``postgres`` extra installed.
    """
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore  # noqa: PLC0415 - an optional extra
        except ImportError:
            raise InvalidInput(
                "a PostgreSQL store needs psycopg: pip install 'wagate[postgres]'"
            ) from None
        return PostgresStore(location)
    if not os.fspath(location):
        raise InvalidInput("a session store location must not be empty")
    return SQLiteStore(location)
