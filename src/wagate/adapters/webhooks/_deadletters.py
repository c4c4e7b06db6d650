"""Each webhook endpoint's durable backlog, and the deliveries that finally failed.

:class:`DeadLetterStore` is the plug point; :class:`MemoryDeadLetters` lives as long
as the process and :class:`SQLiteDeadLetters` (stdlib ``sqlite3``) survives restarts
(:class:`wagate.stores.postgres.PostgresDeadLetters` is the one for a cluster).
Public through :mod:`wagate.adapters.webhooks`.

A store holds two tables: the **backlog** of each endpoint (every event accepted
for it and not yet delivered, oldest first: an outage of hours fills it, nothing
overflows) and the **dead letters** (what was given up on).  Both keep the JSON
body that was (or would have been) posted, never a signature or a secret: each
try signs the body again with a fresh timestamp.
"""

from __future__ import annotations

import abc
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ..._errors import InvalidInput, StoreError
from ..._events import utcnow
from ..._lifecycle import OpenClose
from ..._store import SQLiteFile, check_directory, make_private

if TYPE_CHECKING:
    from collections.abc import Sequence


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


@attrs.frozen(kw_only=True)
class BacklogEntry:
    """An event accepted for an endpoint and not yet delivered: one row of its backlog.

    Attributes:
        node: The dispatcher's node name (see ``WebhookDispatcher(node=...)``):
            the backlog of each endpoint is kept per node.
        endpoint: The name of the endpoint it is for.
        tenant: The tenant of the event.
        seq: The event's seq.
        event: The wire name of the event, e.g. ``"message:received"``.
        body: The JSON body, exactly as it is posted (unsigned).
        queued_at: When it entered the backlog (UTC).
        id: The store's id for it: ascending in the order entries were appended;
            0 until a store assigns one.
    """

    node: str
    endpoint: str
    tenant: str
    seq: int
    event: str
    body: bytes = attrs.field(repr=False)
    queued_at: datetime = attrs.field(factory=utcnow)
    id: int = 0


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInput(f"limit must be a positive integer or None, got {limit!r}")


class DeadLetterStore(OpenClose, abc.ABC):
    """The dead-letter store interface: endpoints' backlogs and dead letters.

    Use it as an async context manager.  A
    :class:`~wagate.adapters.webhooks.WebhookDispatcher` opens the store it is
    given when it starts and closes it when it stops.
    """

    durable: bool = True
    """Whether what the store holds survives the process (``False`` for memory)."""

    @abc.abstractmethod
    async def append(self, entries: Sequence[BacklogEntry]) -> None:
        """Add ``entries`` to the end of their endpoints' backlogs, in the order given, at once.

        Raises:
            StoreError: nothing was added.
        """

    @abc.abstractmethod
    async def backlog(
        self, *, node: str | None = None, endpoint: str | None = None, limit: int | None = None
    ) -> list[BacklogEntry]:
        """Return the backlog, oldest first, optionally of one node and/or endpoint.

        Raises:
            InvalidInput: ``limit`` is not a positive integer.
        """

    async def backlog_depth(
        self, *, node: str | None = None, endpoint: str | None = None
    ) -> tuple[int, datetime | None]:
        """How many entries a backlog holds, and when its oldest was queued (a metric's read).

        The stores on a database answer with one aggregate query; this default
        reads the backlog whole.
        """
        entries = await self.backlog(node=node, endpoint=endpoint)
        return len(entries), min((e.queued_at for e in entries), default=None)

    @abc.abstractmethod
    async def delivered(self, entry_id: int) -> None:
        """Drop the backlog entry ``entry_id`` (it was delivered); no-op if gone."""

    @abc.abstractmethod
    async def bury(self, entry_id: int, letter: DeadLetter) -> DeadLetter:
        """Replace backlog entry ``entry_id`` by ``letter`` in one step; return the letter kept.

        With ``entry_id`` 0 (or gone) the letter is just added.
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
    """Backlogs and dead letters kept in memory, for as long as the process lives (the default)."""

    durable = False

    def __init__(self) -> None:
        self._letters: dict[int, DeadLetter] = {}
        self._next_id = 1
        self._queues: dict[tuple[str, str], dict[int, BacklogEntry]] = {}
        self._next_entry = 1

    async def append(self, entries: Sequence[BacklogEntry]) -> None:
        for entry in entries:
            queue = self._queues.setdefault((entry.node, entry.endpoint), {})
            queue[self._next_entry] = attrs.evolve(entry, id=self._next_entry)
            self._next_entry += 1

    async def backlog(
        self, *, node: str | None = None, endpoint: str | None = None, limit: int | None = None
    ) -> list[BacklogEntry]:
        check_limit(limit)
        found: list[BacklogEntry] = []
        for (queue_node, queue_endpoint), queue in self._queues.items():
            if node not in (None, queue_node) or endpoint not in (None, queue_endpoint):
                continue
            for entry in queue.values():
                found.append(entry)
                if limit is not None and len(found) >= limit and None not in (node, endpoint):
                    break  # one queue, in id order: the rest is newer
        found.sort(key=lambda entry: entry.id)
        return found[:limit] if limit is not None else found

    def _take(self, entry_id: int) -> None:
        for queue in self._queues.values():
            if queue.pop(entry_id, None) is not None:
                return

    async def delivered(self, entry_id: int) -> None:
        self._take(entry_id)

    async def bury(self, entry_id: int, letter: DeadLetter) -> DeadLetter:
        kept = await self.add(letter)
        self._take(entry_id)
        return kept

    async def add(self, letter: DeadLetter) -> DeadLetter:
        kept = attrs.evolve(letter, id=self._next_id)
        self._next_id += 1
        self._letters[kept.id] = kept
        return kept

    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        check_limit(limit)
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
);
CREATE TABLE IF NOT EXISTS wagate_webhook_backlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    body BLOB NOT NULL,
    queued_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS wagate_webhook_backlog_queue
    ON wagate_webhook_backlog (node, endpoint, id);
"""

LETTER_COLUMNS = "id, endpoint, url, tenant, seq, event, body, error, attempts, status, failed_at"
BACKLOG_COLUMNS = "id, node, endpoint, tenant, seq, event, body, queued_at"
_INSERT_LETTER = (
    "INSERT INTO wagate_dead_letters (endpoint, url, tenant, seq, event, body,"
    " error, attempts, status, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def letter_values(letter: DeadLetter) -> tuple[Any, ...]:
    """The values of a dead letter's row, in the order of the insert statements."""
    return (
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


def update_values(letter: DeadLetter) -> tuple[Any, ...]:
    """The values of the stores' update of a letter: what a replay changes, then its id."""
    return (
        letter.url,
        letter.error,
        letter.attempts,
        letter.status,
        letter.failed_at.isoformat(),
        letter.id,
    )


def entry_values(entry: BacklogEntry) -> tuple[Any, ...]:
    """The values of a backlog entry's row (without its id)."""
    return (
        entry.node,
        entry.endpoint,
        entry.tenant,
        entry.seq,
        entry.event,
        entry.body,
        entry.queued_at.isoformat(),
    )


def backlog_entry(row: Sequence[Any]) -> BacklogEntry:
    """A backlog entry from its row (``id`` first, as selected by the stores)."""
    entry_id, node, endpoint, tenant, seq, event, body, queued_at = row
    return BacklogEntry(
        id=int(entry_id),
        node=node,
        endpoint=endpoint,
        tenant=tenant,
        seq=int(seq),
        event=event,
        body=bytes(body),
        queued_at=datetime.fromisoformat(queued_at),
    )


def _selection(
    columns: Sequence[tuple[str, str | None]], limit: int | None, placeholder: str
) -> tuple[str, list[Any]]:
    """What follows a store's ``SELECT ... FROM <table>``, and its parameters.

    The rows whose columns equal the values given (``None``: any), oldest first,
    at most ``limit`` of them.
    """
    check_limit(limit)
    where, params = _where(columns, placeholder)
    tail = where + " ORDER BY id"
    if limit is not None:
        tail += f" LIMIT {placeholder}"
        params.append(limit)
    return tail, params


def _where(columns: Sequence[tuple[str, str | None]], placeholder: str) -> tuple[str, list[Any]]:
    """`` WHERE`` the columns equal the values given (``None``: any), and its parameters."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in columns:
        if value is not None:
            where.append(f"{column} = {placeholder}")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def backlog_where(
    node: str | None, endpoint: str | None, placeholder: str
) -> tuple[str, list[Any]]:
    """What follows a store's ``SELECT COUNT(*) ... FROM`` its backlog (``backlog_depth``)."""
    return _where((("node", node), ("endpoint", endpoint)), placeholder)


def backlog_depth_of(row: Sequence[Any]) -> tuple[int, datetime | None]:
    """``(count, oldest queued_at)`` from a ``COUNT(*), MIN(queued_at)`` row."""
    count, oldest = row
    return int(count), datetime.fromisoformat(oldest) if oldest is not None else None


def backlog_selection(
    node: str | None, endpoint: str | None, limit: int | None, placeholder: str
) -> tuple[str, list[Any]]:
    """The end of the stores' ``SELECT`` of a backlog (see :meth:`DeadLetterStore.backlog`)."""
    return _selection((("node", node), ("endpoint", endpoint)), limit, placeholder)


def letter_selection(
    endpoint: str | None, tenant: str | None, limit: int | None, placeholder: str
) -> tuple[str, list[Any]]:
    """The end of the stores' ``SELECT`` of dead letters (see :meth:`DeadLetterStore.letters`)."""
    return _selection((("endpoint", endpoint), ("tenant", tenant)), limit, placeholder)


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """A dead letter from its row (``id`` first, as selected by the stores)."""
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


class SQLiteDeadLetters(SQLiteFile, DeadLetterStore):
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

    _what = "dead-letter store"

    def _open_sync(self) -> None:
        check_directory(self.path, "dead-letter store")
        make_private(self.path)  # message texts are private, and so are its -wal files
        conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"dead-letter store {self.path} is not a usable SQLite database ({exc}); "
                "it was left untouched: move it aside or point wagate at another file"
            ) from None
        self._conn = conn

    async def add(self, letter: DeadLetter) -> DeadLetter:
        values = letter_values(letter)
        letter_id = await self._run(lambda c: c.execute(_INSERT_LETTER, values).lastrowid)
        return attrs.evolve(letter, id=int(letter_id))

    async def append(self, entries: Sequence[BacklogEntry]) -> None:
        rows = [entry_values(entry) for entry in entries]

        def insert(conn: sqlite3.Connection) -> None:
            with conn:  # one transaction: all of them or none
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO wagate_webhook_backlog (node, endpoint, tenant, seq, event,"
                    " body, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

        if rows:
            await self._run(insert)

    async def backlog(
        self, *, node: str | None = None, endpoint: str | None = None, limit: int | None = None
    ) -> list[BacklogEntry]:
        tail, params = backlog_selection(node, endpoint, limit, "?")
        sql = f"SELECT {BACKLOG_COLUMNS} FROM wagate_webhook_backlog{tail}"  # noqa: S608 - constant columns
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [backlog_entry(row) for row in rows]

    async def backlog_depth(
        self, *, node: str | None = None, endpoint: str | None = None
    ) -> tuple[int, datetime | None]:
        """How many entries a backlog holds, and its oldest's time: one aggregate query."""
        where, params = backlog_where(node, endpoint, "?")
        sql = f"SELECT COUNT(*), MIN(queued_at) FROM wagate_webhook_backlog{where}"  # noqa: S608 - constant columns
        row = await self._run(lambda c: c.execute(sql, params).fetchone())
        return backlog_depth_of(row)

    async def delivered(self, entry_id: int) -> None:
        await self._run(
            lambda c: c.execute("DELETE FROM wagate_webhook_backlog WHERE id = ?", (entry_id,))
        )

    async def bury(self, entry_id: int, letter: DeadLetter) -> DeadLetter:
        values = letter_values(letter)

        def move(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                letter_id = conn.execute(_INSERT_LETTER, values).lastrowid
                conn.execute("DELETE FROM wagate_webhook_backlog WHERE id = ?", (entry_id,))
            return int(letter_id or 0)

        return attrs.evolve(letter, id=await self._run(move))

    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        tail, params = letter_selection(endpoint, tenant, limit, "?")
        sql = f"SELECT {LETTER_COLUMNS} FROM wagate_dead_letters{tail}"  # noqa: S608 - constant columns
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [dead_letter(row) for row in rows]

    async def update(self, letter: DeadLetter) -> None:
        values = update_values(letter)
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
