"""Where webhook deliveries that finally failed are kept: the dead-letter stores.

:class:`DeadLetterStore` is the plug point; :class:`MemoryDeadLetters` lives as long
as the process and :class:`SQLiteDeadLetters` (stdlib ``sqlite3``) survives restarts.
Public through :mod:`wagate.adapters.callbacks`.

A dead letter keeps the JSON body that was (or would have been) posted, never a
signature or a secret: a replay signs the body again with a fresh timestamp.
"""

from __future__ import annotations

import abc
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs

from .._errors import InvalidInput, StoreError
from .._events import utcnow
from .._lifecycle import OpenClose
from .._store import make_private, sqlite_call

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["DeadLetter", "DeadLetterStore", "MemoryDeadLetters", "SQLiteDeadLetters"]


@attrs.frozen(kw_only=True)
class DeadLetter:
    """A webhook delivery that failed after its last attempt (or was never attempted).

    Attributes:
        endpoint: The name of the endpoint it was meant for.
        url: The endpoint's URL at the time of the failure.
        tenant: The tenant of the event.
        seq: The event's seq (for a gap: the last missed seq).
        event: The wire name of the event, e.g. ``"message:received"`` (``"stream:gap"``
            when the endpoint fell behind and events were dropped before delivery).
        body: The JSON body, exactly as it is posted (unsigned).
        error: Why it failed, e.g. ``"HTTP 500 Internal Server Error"``.
        attempts: How many times it was posted (0 when it never was).
        status: The last HTTP status received, if any.
        failed_at: When it failed last (UTC).
        id: The store's id for it: ascending in the order letters were added;
            0 until a store assigns one.
    """

    endpoint: str
    url: str
    tenant: str
    seq: int
    event: str
    body: bytes = attrs.field(repr=False)
    error: str
    attempts: int
    status: int | None = None
    failed_at: datetime = attrs.field(factory=utcnow)
    id: int = 0


def _check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInput(f"limit must be a positive integer or None, got {limit!r}")


class DeadLetterStore(OpenClose, abc.ABC):
    """The dead-letter store interface.  Use it as an async context manager.

    A :class:`~wagate.adapters.callbacks.WebhookDispatcher` opens the store it is
    given when it starts and closes it when it stops.
    """

    @abc.abstractmethod
    async def add(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter`` and return it with the ``id`` the store gave it."""

    @abc.abstractmethod
    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return the letters kept, oldest first, optionally of one endpoint and/or tenant.

        Raises:
            InvalidInput: ``limit`` is not a positive integer.
        """

    @abc.abstractmethod
    async def update(self, letter: DeadLetter) -> None:
        """Replace the letter with ``letter.id`` (after a failed replay); no-op if gone."""

    @abc.abstractmethod
    async def remove(self, letter_id: int) -> bool:
        """Forget a letter (after it was delivered); return whether it was there."""


class MemoryDeadLetters(DeadLetterStore):
    """Dead letters kept in memory, for as long as the process lives (the default)."""

    def __init__(self) -> None:
        self._letters: dict[int, DeadLetter] = {}
        self._next_id = 1

    async def add(self, letter: DeadLetter) -> DeadLetter:
        kept = attrs.evolve(letter, id=self._next_id)
        self._next_id += 1
        self._letters[kept.id] = kept
        return kept

    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        _check_limit(limit)
        found = [
            letter
            for letter in self._letters.values()
            if (endpoint is None or letter.endpoint == endpoint)
            and (tenant is None or letter.tenant == tenant)
        ]
        return found[:limit] if limit is not None else found

    async def update(self, letter: DeadLetter) -> None:
        if letter.id in self._letters:
            self._letters[letter.id] = letter

    async def remove(self, letter_id: int) -> bool:
        return self._letters.pop(letter_id, None) is not None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS wagate_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    url TEXT NOT NULL,
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER,
    failed_at TEXT NOT NULL
)
"""

_COLUMNS = "id, endpoint, url, tenant, seq, event, body, error, attempts, status, failed_at"


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    letter_id, endpoint, url, tenant, seq, event, body, error, attempts, status, failed_at = row
    return DeadLetter(
        id=int(letter_id),
        endpoint=endpoint,
        url=url,
        tenant=tenant,
        seq=int(seq),
        event=event,
        body=bytes(body),
        error=error,
        attempts=int(attempts),
        status=None if status is None else int(status),
        failed_at=datetime.fromisoformat(failed_at),
    )


class SQLiteDeadLetters(DeadLetterStore):
    """Dead letters in a SQLite file, kept across restarts.

    Several processes may share one file (SQLite serialises their writes), but
    replay the letters from one of them only.

    Args:
        path: The database file; its directory must exist and be writable.  It
            may be the session store's file: the table names do not clash.

    Raises on :meth:`open`:
        StoreError: the directory is missing or read-only, or the file is not a
            SQLite database (it is never deleted or overwritten).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open_sync(self) -> None:
        directory = self.path.parent
        if not directory.is_dir():
            raise StoreError(
                f"cannot open dead-letter store {self.path}: directory {directory} does not exist"
            )
        if not os.access(directory, os.W_OK):
            raise StoreError(
                f"cannot open dead-letter store {self.path}: directory {directory} is not writable"
            )
        make_private(self.path)  # message texts are private, and so are its -wal files
        conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"dead-letter store {self.path} is not a usable SQLite database ({exc}); "
                "it was left untouched: move it aside or point wagate at another file"
            ) from None
        self._conn = conn

    async def open(self) -> None:
        if self._conn is None:
            await anyio.to_thread.run_sync(self._open_sync)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close)

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        label = f"dead-letter store {self.path}"
        return await sqlite_call(label, lambda: self._conn, self._lock, fn)

    async def add(self, letter: DeadLetter) -> DeadLetter:
        values = (
            letter.endpoint,
            letter.url,
            letter.tenant,
            letter.seq,
            letter.event,
            letter.body,
            letter.error,
            letter.attempts,
            letter.status,
            letter.failed_at.isoformat(),
        )
        letter_id = await self._run(
            lambda c: (
                c.execute(
                    "INSERT INTO wagate_dead_letters (endpoint, url, tenant, seq, event, body,"
                    " error, attempts, status, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                ).lastrowid
            )
        )
        return attrs.evolve(letter, id=int(letter_id))

    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        _check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        if endpoint is not None:
            where.append("endpoint = ?")
            params.append(endpoint)
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        sql = f"SELECT {_COLUMNS} FROM wagate_dead_letters"  # noqa: S608 - constant columns
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [_letter(row) for row in rows]

    async def update(self, letter: DeadLetter) -> None:
        values = (
            letter.url,
            letter.error,
            letter.attempts,
            letter.status,
            letter.failed_at.isoformat(),
            letter.id,
        )
        await self._run(
            lambda c: c.execute(
                "UPDATE wagate_dead_letters SET url = ?, error = ?, attempts = ?, status = ?,"
                " failed_at = ? WHERE id = ?",
                values,
            )
        )

    async def remove(self, letter_id: int) -> bool:
        count = await self._run(
            lambda c: (
                c.execute("DELETE FROM wagate_dead_letters WHERE id = ?", (letter_id,)).rowcount
            )
        )
        return bool(count)
