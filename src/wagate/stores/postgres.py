"""A session store in PostgreSQL (psycopg 3), for gateways on several machines.

Needs the ``postgres`` extra: ``pip install 'wagate[postgres]'``.

Example:
    ```python
    from wagate import Gateway
    from wagate.stores.postgres import PostgresStore

    store = PostgresStore("postgresql://wagate@db.internal/wagate")
    async with Gateway(make_driver, store=store) as gateway:
        ...
    ```
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .._errors import InvalidInput, LeaseLost, StoreError
from .._events import Account, State
from .._store import SessionStore, StoredSession, session_values, stored_session
from ..adapters.webhooks._deadletters import (
    BACKLOG_COLUMNS,
    LETTER_COLUMNS,
    BacklogEntry,
    DeadLetter,
    DeadLetterStore,
    backlog_depth_of,
    backlog_entry,
    backlog_selection,
    backlog_where,
    dead_letter,
    entry_values,
    letter_selection,
    letter_values,
    update_values,
)
from ._libpq import CREATE_LOCK, KEEPALIVES, connect_options, display_url, one_line

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["PostgresDeadLetters", "PostgresStore"]

_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_COLUMNS = sql.SQL("tenant, account_jid, account_phone, account_name, state, seq")


def _checked_url(url: object) -> tuple[str, str]:
    """Return ``url`` and how it is shown (without its password), or raise InvalidInput."""
    if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput("a PostgreSQL store needs a 'postgresql://' URL")
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        # psycopg's message quotes the URL, password included: say less.
        raise InvalidInput("the PostgreSQL URL is malformed; check its syntax") from None
    if not params.get("dbname") and not os.environ.get("PGDATABASE"):
        # libpq would pick a default database (the user's name): tables would appear
        # wherever that happens to be.
        raise InvalidInput(
            "the PostgreSQL URL names no database; add one, e.g. "
            "postgresql://wagate@db.example/wagate"
        )
    return url, display_url(params)


def _checked_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _TABLE.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is invalid: use up to 63 lower-case letters, digits and '_'"
        )
    return name


class _Link:
    """One psycopg connection, used from worker threads one call at a time.

    It creates its tables when it connects, and is reopened once when the server
    dropped it (every statement the stores run is safe to run once more).
    """

    def __init__(
        self,
        url: str,
        *,
        what: str,
        display_url: str,
        tables: str,
        connect_timeout: float,
        setup: Sequence[sql.Composed],
        check: Sequence[sql.Composed],
    ) -> None:
        if connect_timeout <= 0:
            raise InvalidInput("connect_timeout must be positive")
        self._url = url
        self.what = what
        self.display_url = display_url
        self.tables = tables
        self.connect_timeout = connect_timeout
        self._setup = tuple(setup)
        self._check = tuple(check)
        self._conn: psycopg.Connection[Any] | None = None
        self._opened = False
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._url, **connect_options(self.connect_timeout, "wagate", KEEPALIVES)
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the PostgreSQL {self.what} {self.display_url}: {one_line(exc)}"
            ) from None
        try:
            with conn.transaction():
                conn.execute(CREATE_LOCK, (self.tables,))
                for statement in self._setup:
                    conn.execute(statement)
            for statement in self._check:
                conn.execute(statement)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(
                f"the PostgreSQL {self.what} {self.display_url} (table {self.tables}) "
                f"is not usable: {one_line(exc)}"
            ) from None
        return conn

    def open(self) -> None:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
            self._opened = True

    def close(self) -> None:
        with self._lock:
            self._opened = False
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def run(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        with self._lock:
            if not self._opened:
                raise StoreError(f"{self.what} {self.display_url} is not open")
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                try:
                    return fn(self._conn)
                except psycopg.OperationalError as exc:
                    if attempt == 1 and self._conn.broken:
                        self._conn.close()
                        self._conn = None
                        continue
                    raise StoreError(f"{self.what} {self.display_url}: {one_line(exc)}") from None
                except psycopg.Error as exc:
                    raise StoreError(f"{self.what} {self.display_url}: {one_line(exc)}") from None
            raise AssertionError("unreachable")  # pragma: no cover


class _OnLink:
    """Opening, closing and calling a store's one :class:`_Link`, from worker threads."""

    _link: _Link

    async def open(self) -> None:
        """Connect, and create the store's tables if they are missing."""
        await anyio.to_thread.run_sync(self._link.open)

    async def close(self) -> None:
        """Close the connection."""
        await anyio.to_thread.run_sync(self._link.close)

    async def _run(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        return await anyio.to_thread.run_sync(self._link.run, fn)


class PostgresStore(_OnLink, SessionStore):
    """A store in one PostgreSQL table, created if missing.

    Several gateway processes may share one database (give each its own
    ``table`` to keep them apart); the store itself does not decide which process
    owns a tenant: a cluster (:mod:`wagate.cluster`) does, and writes through
    :meth:`fenced` views.  Each call runs in a worker thread on one connection,
    which is reopened once if the server dropped it.

    Args:
        url: A ``postgresql://`` (or ``postgres://``) URL, as libpq reads it.
        table: The table's name: lower-case letters, digits and ``_``.
        connect_timeout: Seconds to wait for the server before giving up
            (libpq waits at least 2).

    Raises:
        InvalidInput: the URL or table name is malformed (raised at once).

    Raises on :meth:`open`:
        StoreError: the server cannot be reached in time, refuses the login, or
            the database does not exist; the message names the server, never the
            password.
    """

    def __init__(
        self,
        url: str,
        *,
        table: str = "wagate_sessions",
        connect_timeout: float = 10.0,
    ) -> None:
        url, self.display_url = _checked_url(url)
        self.table = _checked_name(table, "table name")
        self.connect_timeout = connect_timeout
        ident = sql.Identifier(table)
        self._sql_create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " tenant TEXT PRIMARY KEY,"
            " account_jid TEXT, account_phone TEXT, account_name TEXT,"
            " state TEXT NOT NULL DEFAULT 'disconnected',"
            " seq BIGINT NOT NULL DEFAULT 0,"
            " updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ).format(ident)
        self._sql_check = sql.SQL("SELECT {} FROM {} LIMIT 0").format(_COLUMNS, ident)
        self._sql_load_all = sql.SQL("SELECT {} FROM {} ORDER BY tenant").format(_COLUMNS, ident)
        self._sql_load = sql.SQL("SELECT {} FROM {} WHERE tenant = %s").format(_COLUMNS, ident)
        self._sql_save = sql.SQL(
            "INSERT INTO {} (tenant, account_jid, account_phone, account_name, state)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant) DO UPDATE SET"
            " account_jid = excluded.account_jid, account_phone = excluded.account_phone,"
            " account_name = excluded.account_name, state = excluded.state, updated_at = now()"
        ).format(ident)
        self._sql_reserve = sql.SQL(
            "INSERT INTO {0} AS s (tenant, seq) VALUES (%s, %s) ON CONFLICT (tenant)"
            " DO UPDATE SET seq = GREATEST(s.seq, excluded.seq)"
        ).format(ident)
        self._sql_release = sql.SQL(
            "UPDATE {} SET seq = %s WHERE tenant = %s AND seq = %s AND %s < seq"
        ).format(ident)
        self._sql_delete = sql.SQL(
            "UPDATE {} SET account_jid = NULL, account_phone = NULL, account_name = NULL,"
            " state = 'disconnected', updated_at = now() WHERE tenant = %s"
        ).format(ident)
        self._link = _Link(
            url,
            what="session store",
            display_url=self.display_url,
            tables=table,
            connect_timeout=connect_timeout,
            setup=(self._sql_create,),
            check=(self._sql_check,),
        )

    # ------------------------------------------------------------------ SessionStore
    async def load_all(self) -> list[StoredSession]:
        """Every tenant the store knows, in tenant order."""
        rows = await self._run(lambda c: c.execute(self._sql_load_all).fetchall())
        return [stored_session(tuple(r)) for r in rows]

    async def load(self, tenant: str) -> StoredSession | None:
        """One tenant, or ``None`` if unknown."""
        row = await self._run(lambda c: c.execute(self._sql_load, (tenant,)).fetchone())
        return None if row is None else stored_session(tuple(row))

    async def save(self, tenant: str, *, account: Account | None, state: State) -> None:
        """Remember ``tenant``'s account and state (creating the row if needed)."""
        values = session_values(tenant, account, state)
        await self._run(lambda c: c.execute(self._sql_save, values))

    async def reserve_seq(self, tenant: str, upto: int) -> None:
        """Raise ``tenant``'s seq high-water mark to ``upto`` (never lowers it)."""
        await self._run(lambda c: c.execute(self._sql_reserve, (tenant, upto)))

    async def release_seq(self, tenant: str, reserved: int, last: int) -> None:
        """Lower the high-water mark from ``reserved`` to ``last``, if it is still ``reserved``."""
        params = (last, tenant, reserved, last)
        await self._run(lambda c: c.execute(self._sql_release, params))

    async def delete(self, tenant: str) -> None:
        """Forget ``tenant``'s account; the seq high-water mark stays."""
        await self._run(lambda c: c.execute(self._sql_delete, (tenant,)))

    # ------------------------------------------------------------------ fencing
    def fenced(self, tenant: str, guard: sql.Composable, params: Sequence[Any]) -> SessionStore:
        """A view of this store whose writes of ``tenant`` succeed only while ``guard`` holds.

        ``guard`` is an SQL condition (with ``params``), such as "this process's
        lease of the tenant is still the current one", checked in the same
        statement as each write; so a process that lost the tenant can never
        write for it, however late its write arrives.  Reads are the store's.

        Raises (from the view's writes):
            LeaseLost: the guard did not hold; nothing was written.
        """
        return _FencedView(self, tenant, guard, tuple(params))

    async def _write_fenced(
        self, tenant: str, statement: sql.Composed, params: tuple[Any, ...]
    ) -> None:
        def write(conn: psycopg.Connection[Any]) -> int:
            return conn.execute(statement, params).rowcount

        if await self._run(write) != 1:
            raise LeaseLost(
                "this process no longer holds the tenant's lease; the write was refused",
                tenant=tenant,
            )

    def __repr__(self) -> str:
        return f"<PostgresStore {self.display_url} table={self.table}>"


class _FencedView(SessionStore):
    """A :class:`PostgresStore` whose writes of one tenant are guarded (see ``fenced``)."""

    def __init__(
        self, store: PostgresStore, tenant: str, guard: sql.Composable, params: tuple[Any, ...]
    ) -> None:
        self.store = store
        self.tenant = tenant
        self._guard = params
        ident = sql.Identifier(store.table)
        self._save = sql.SQL(
            "INSERT INTO {0} (tenant, account_jid, account_phone, account_name, state)"
            " SELECT %s, %s, %s, %s, %s WHERE {1} ON CONFLICT (tenant) DO UPDATE SET"
            " account_jid = excluded.account_jid, account_phone = excluded.account_phone,"
            " account_name = excluded.account_name, state = excluded.state, updated_at = now()"
            " WHERE {1}"
        ).format(ident, guard)
        self._reserve = sql.SQL(
            "INSERT INTO {0} AS s (tenant, seq) SELECT %s, %s WHERE {1} ON CONFLICT (tenant)"
            " DO UPDATE SET seq = GREATEST(s.seq, excluded.seq) WHERE {1}"
        ).format(ident, guard)
        self._release = sql.SQL(
            "UPDATE {0} SET seq = %s WHERE tenant = %s AND seq = %s AND %s < seq AND {1}"
        ).format(ident, guard)
        self._delete = sql.SQL(
            "INSERT INTO {0} (tenant) SELECT %s WHERE {1} ON CONFLICT (tenant) DO UPDATE SET"
            " account_jid = NULL, account_phone = NULL, account_name = NULL,"
            " state = 'disconnected', updated_at = now() WHERE {1}"
        ).format(ident, guard)

    def _check(self, tenant: str) -> None:
        if tenant != self.tenant:
            raise InvalidInput(f"this view of the store writes tenant {self.tenant!r} only")

    async def load_all(self) -> list[StoredSession]:
        return await self.store.load_all()

    async def load(self, tenant: str) -> StoredSession | None:
        return await self.store.load(tenant)

    async def save(self, tenant: str, *, account: Account | None, state: State) -> None:
        self._check(tenant)
        values = session_values(tenant, account, state)
        await self.store._write_fenced(tenant, self._save, (*values, *self._guard, *self._guard))

    async def reserve_seq(self, tenant: str, upto: int) -> None:
        self._check(tenant)
        params = (tenant, upto, *self._guard, *self._guard)
        await self.store._write_fenced(tenant, self._reserve, params)

    async def release_seq(self, tenant: str, reserved: int, last: int) -> None:
        self._check(tenant)
        # No row changed is no error: the mark moved on, or the lease did.
        params = (last, tenant, reserved, last, *self._guard)
        await self.store._run(lambda c: c.execute(self._release, params))

    async def delete(self, tenant: str) -> None:
        self._check(tenant)
        await self.store._write_fenced(tenant, self._delete, (tenant, *self._guard, *self._guard))

    def __repr__(self) -> str:
        return f"<fenced view of {self.store!r} for tenant {self.tenant!r}>"


class PostgresDeadLetters(_OnLink, DeadLetterStore):
    """Webhook backlogs and dead letters in PostgreSQL: the store for a cluster.

    Two tables, created if missing: ``<prefix>_webhook_backlog`` (each endpoint's
    events not yet delivered) and ``<prefix>_dead_letters``.  Every process of a
    cluster may use the same database; give each dispatcher its own ``node``
    name (see :class:`~wagate.adapters.webhooks.WebhookDispatcher`), the same
    one after a restart, so that it takes over the backlog it left.

    Example:
        ```python
        from wagate.adapters.webhooks import WebhookDispatcher
        from wagate.stores.postgres import PostgresDeadLetters

        store = PostgresDeadLetters("postgresql://wagate@db.internal/wagate")
        async with WebhookDispatcher(gateway, endpoints, dead_letters=store, node="web-1"):
            ...
        ```

    Args:
        url: A ``postgresql://`` (or ``postgres://``) URL, as libpq reads it.
        prefix: What the tables' names start with: lower-case letters, digits and ``_``.
        connect_timeout: Seconds to wait for the server before giving up.

    Raises:
        InvalidInput: the URL or prefix is malformed (raised at once).

    Raises on :meth:`open`:
        StoreError: the server cannot be reached in time, refuses the login, or
            the database does not exist; the message names the server, never the
            password.
    """

    def __init__(self, url: str, *, prefix: str = "wagate", connect_timeout: float = 10.0) -> None:
        url, self.display_url = _checked_url(url)
        self.prefix = _checked_name(prefix, "table prefix")
        if len(prefix) > 40:
            raise InvalidInput(f"table prefix {prefix!r} is too long: at most 40 characters")
        letters = sql.Identifier(f"{prefix}_dead_letters")
        backlog = sql.Identifier(f"{prefix}_webhook_backlog")
        queue = sql.Identifier(f"{prefix}_webhook_backlog_queue")
        create = (
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, endpoint TEXT NOT NULL,"
                " url TEXT NOT NULL, tenant TEXT NOT NULL, seq BIGINT NOT NULL,"
                " event TEXT NOT NULL, body BYTEA NOT NULL, error TEXT NOT NULL,"
                " attempts INTEGER NOT NULL, status INTEGER, failed_at TEXT NOT NULL)"
            ).format(letters),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, node TEXT NOT NULL,"
                " endpoint TEXT NOT NULL, tenant TEXT NOT NULL, seq BIGINT NOT NULL,"
                " event TEXT NOT NULL, body BYTEA NOT NULL, queued_at TEXT NOT NULL)"
            ).format(backlog),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (node, endpoint, id)").format(
                queue, backlog
            ),
        )
        self._letters = letters
        self._backlog = backlog
        self._insert_letter = sql.SQL(
            "INSERT INTO {} (endpoint, url, tenant, seq, event, body, error, attempts, status,"
            " failed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(letters)
        self._insert_entry = sql.SQL(
            "INSERT INTO {} (node, endpoint, tenant, seq, event, body, queued_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(backlog)
        self._delete_entry = sql.SQL("DELETE FROM {} WHERE id = %s").format(backlog)
        self._link = _Link(
            url,
            what="dead-letter store",
            display_url=self.display_url,
            tables=f"{prefix}_dead_letters",
            connect_timeout=connect_timeout,
            setup=create,
            check=(),
        )

    async def _select(
        self, columns: str, table: sql.Identifier, selection: tuple[str, list[Any]]
    ) -> list[Any]:
        """The rows of ``table`` that ``selection`` (what follows ``FROM``) picks."""
        tail, params = selection
        query = sql.SQL("SELECT {} FROM {}{}").format(sql.SQL(columns), table, sql.SQL(tail))
        rows: list[Any] = await self._run(lambda c: c.execute(query, params).fetchall())
        return rows

    async def add(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter`` and return it with the ``id`` the store gave it."""
        values = letter_values(letter)

        def insert(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute(self._insert_letter, values).fetchone()
            assert row is not None
            return int(row[0])

        return attrs.evolve(letter, id=await self._run(insert))

    async def letters(
        self, *, endpoint: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return the letters kept, oldest first, optionally of one endpoint and/or tenant."""
        rows = await self._select(
            LETTER_COLUMNS, self._letters, letter_selection(endpoint, tenant, limit, "%s")
        )
        return [dead_letter(row) for row in rows]

    async def update(self, letter: DeadLetter) -> None:
        """Replace the letter with ``letter.id`` (after a failed replay); no-op if gone."""
        query = sql.SQL(
            "UPDATE {} SET url = %s, error = %s, attempts = %s, status = %s, failed_at = %s"
            " WHERE id = %s"
        ).format(self._letters)
        values = update_values(letter)
        await self._run(lambda c: c.execute(query, values))

    async def remove(self, letter_id: int) -> bool:
        """Forget a letter (after it was delivered); return whether it was there."""
        query = sql.SQL("DELETE FROM {} WHERE id = %s").format(self._letters)
        count = await self._run(lambda c: c.execute(query, (letter_id,)).rowcount)
        return bool(count)

    async def append(self, entries: Sequence[BacklogEntry]) -> None:
        """Add ``entries`` to the end of their endpoints' backlogs, at once."""
        rows = [entry_values(entry) for entry in entries]

        def insert(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(self._insert_entry, rows)

        if rows:
            await self._run(insert)

    async def backlog(
        self, *, node: str | None = None, endpoint: str | None = None, limit: int | None = None
    ) -> list[BacklogEntry]:
        """Return the backlog, oldest first, optionally of one node and/or endpoint."""
        rows = await self._select(
            BACKLOG_COLUMNS, self._backlog, backlog_selection(node, endpoint, limit, "%s")
        )
        return [backlog_entry(row) for row in rows]

    async def backlog_depth(
        self, *, node: str | None = None, endpoint: str | None = None
    ) -> tuple[int, datetime | None]:
        """How many entries a backlog holds, and its oldest's time: one aggregate query."""
        rows = await self._select(
            "COUNT(*), MIN(queued_at)", self._backlog, backlog_where(node, endpoint, "%s")
        )
        return backlog_depth_of(rows[0])

    async def delivered(self, entry_id: int) -> None:
        """Drop the backlog entry ``entry_id`` (it was delivered)."""
        await self._run(lambda c: c.execute(self._delete_entry, (entry_id,)))

    async def bury(self, entry_id: int, letter: DeadLetter) -> DeadLetter:
        """Replace backlog entry ``entry_id`` by ``letter`` in one transaction."""
        values = letter_values(letter)

        def move(conn: psycopg.Connection[Any]) -> int:
            with conn.transaction():
                row = conn.execute(self._insert_letter, values).fetchone()
                conn.execute(self._delete_entry, (entry_id,))
            assert row is not None
            return int(row[0])

        return attrs.evolve(letter, id=await self._run(move))

    def __repr__(self) -> str:
        return f"<PostgresDeadLetters {self.display_url} prefix={self.prefix}>"
