"""The WhatsApp engine's own database: a SQLite file or a PostgreSQL database.

neonize (whatsmeow) keeps every linked device's keys there, several accounts
per database; wagate keeps tenant -> account in its session store.  This module
checks a database before the engine touches it (the engine's own messages are
terse, and some mistakes are fatal to it), finds the stored device of an
account (resuming one that is not stored kills the process), and forgets a
device on logout.  Python reads the tables itself because neonize's
``get_all_devices`` opens a database handle per call and never closes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import anyio.to_thread

from .._errors import InvalidInput, StoreError
from .._store import check_integrity
from ..stores._libpq import display_url, one_line

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_DATABASE", "EngineDatabase"]

DEFAULT_DATABASE = Path("wagate-data") / "whatsapp.db"
"""The engine database when none is given, relative to the working directory."""

_SQLITE_HEADER = b"SQLite format 3\x00"
_DEVICE_JID = re.compile(r"(\d{1,20})(?:\.\d+)?(?::\d{1,3})?@(s\.whatsapp\.net|lid)")
_PG_SCHEMES = ("postgresql://", "postgres://")
_PG_CONNECT_TIMEOUT = 5


class EngineDatabase:
    """Where the engine keeps device keys, and what wagate needs to do with it.

    Attributes:
        kind: ``"sqlite"`` or ``"postgres"``.
        name: What neonize is given (an absolute file path, or a URL).
        shown: How the database is named in messages: never with a password.
    """

    def __init__(self, kind: Literal["sqlite", "postgres"], name: str, shown: str) -> None:
        self.kind = kind
        self.name = name
        self.shown = shown
        self._psycopg_url = name

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_argument(cls, database: str | os.PathLike[str] | None) -> EngineDatabase:
        """Check ``database`` and return it; SQLite files are prepared (0600, dir 0700).

        Raises:
            InvalidInput: ``database`` is neither a path nor a ``postgresql://`` URL.
            StoreError: the SQLite file cannot be used (missing or read-only
                directory, not a SQLite database, damaged); it is never deleted.
        """
        if database is None:
            directory = Path.cwd() / DEFAULT_DATABASE.parent
            try:
                directory.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the WhatsApp engine's data directory {directory}: "
                    f"{exc.strerror}; pass database=... with a writable location"
                ) from None
            return cls._sqlite(Path.cwd() / DEFAULT_DATABASE)
        if isinstance(database, str) and database.startswith(_PG_SCHEMES):
            return cls._postgres(database)
        if not isinstance(database, (str, os.PathLike)):
            raise InvalidInput(
                "database must be a SQLite file path or a 'postgresql://' URL, "
                f"got {type(database).__name__}"
            )
        raw = os.fspath(database)
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput("database must be a non-empty SQLite file path or URL")
        if raw.startswith("postgres"):
            raise InvalidInput(
                f"database {raw!r} looks like a PostgreSQL URL but is not one: "
                "write it as postgresql://user:password@host:port/dbname"
            )
        return cls._sqlite(Path(raw).expanduser())

    @classmethod
    def _sqlite(cls, path: Path) -> EngineDatabase:
        path = path.absolute()
        text = str(path)
        # neonize builds "file:<path>?_foreign_keys=on": these would change the URI.
        if "?" in text or "#" in text:
            raise InvalidInput(f"the engine database path {text!r} must not contain '?' or '#'")
        _check_sqlite_file(path)
        return cls("sqlite", text, text)

    @classmethod
    def _postgres(cls, url: str) -> EngineDatabase:
        try:
            import psycopg  # noqa: PLC0415 - the postgres extra
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415
        except ImportError:
            raise InvalidInput(
                "a PostgreSQL engine database needs psycopg: pip install 'wagate[postgres]'"
            ) from None

        try:
            shown = display_url(conninfo_to_dict(url))
        except psycopg.Error:
            raise InvalidInput(
                "the PostgreSQL URL of the engine database is malformed; check its syntax"
            ) from None
        db = cls("postgres", _engine_url(url), shown)
        db._psycopg_url = url
        return db

    # ------------------------------------------------------------------ checks
    def check_sync(self) -> None:
        """Re-check a SQLite file before the engine opens it (it may have changed).

        A cheap check (directory, permissions, header): the full integrity check
        reads every page and is made once, when the driver is created.

        Raises:
            StoreError: the file cannot be used.
        """
        if self.kind == "sqlite":
            _check_sqlite_file(Path(self.name), integrity=False)

    async def check(self) -> None:
        """Check that the engine will be able to open the database.

        Raises:
            StoreError: the SQLite file is unusable, or PostgreSQL cannot be reached.
        """
        if self.kind == "sqlite":
            await anyio.to_thread.run_sync(self.check_sync)
        else:
            await self._postgres_call(lambda conn: conn.execute("SELECT 1"))

    async def find_device(self, jid: str) -> str | None:
        """Return the stored device JID for an account, or ``None`` when it is not stored.

        ``jid`` is a device JID (``628123:12@s.whatsapp.net``), matched exactly; a
        JID without a device number matches the one device of that number.

        Raises:
            StoreError: the database cannot be read.
        """
        match = _DEVICE_JID.fullmatch(jid)
        if match is None:
            return None
        pattern = f"{match.group(1)}:%@{match.group(2)}"
        exact = "SELECT jid FROM whatsmeow_device WHERE jid = {p}"
        by_user = "SELECT jid FROM whatsmeow_device WHERE jid = {p} OR jid LIKE {p} LIMIT 2"
        plain = f"{match.group(1)}@{match.group(2)}"

        def lookup(execute: Callable[[str, tuple[str, ...]], list[Any]]) -> str | None:
            rows = execute(exact, (jid,))
            if rows:
                return str(rows[0][0])
            rows = execute(by_user, (plain, pattern))
            return str(rows[0][0]) if len(rows) == 1 else None

        if self.kind == "sqlite":
            return await anyio.to_thread.run_sync(self._sqlite_lookup, lookup)
        found: str | None = await self._postgres_call(lambda conn: _pg_lookup(conn, lookup))
        return found

    async def delete_device(self, jid: str) -> bool:
        """Forget a device and its keys; return whether it was stored.

        Raises:
            StoreError: the database cannot be written.
        """
        if self.kind == "sqlite":
            return await anyio.to_thread.run_sync(self._sqlite_delete, jid)

        def delete(conn: Any) -> bool:
            try:
                cur = conn.execute("DELETE FROM whatsmeow_device WHERE jid = %s", (jid,))
            except _undefined_table():
                return False
            return bool(cur.rowcount)

        deleted: bool = await self._postgres_call(delete)
        return deleted

    # ------------------------------------------------------------------ SQLite
    def _sqlite_connect(self, *, readonly: bool) -> sqlite3.Connection:
        path = Path(self.name)
        uri = path.as_uri() + ("?mode=ro" if readonly else "")
        conn = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _sqlite_lookup(
        self, lookup: Callable[[Callable[[str, tuple[str, ...]], list[Any]]], str | None]
    ) -> str | None:
        path = Path(self.name)
        if not path.exists() or path.stat().st_size == 0:
            return None
        try:
            with contextlib.closing(self._sqlite_connect(readonly=True)) as conn:
                if not _sqlite_has_devices_table(conn):
                    return None
                return lookup(lambda q, args: conn.execute(q.format(p="?"), args).fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot read the WhatsApp engine database {self.name}: {exc}"
            ) from None

    def _sqlite_delete(self, jid: str) -> bool:
        path = Path(self.name)
        if not path.exists() or path.stat().st_size == 0:
            return False
        try:
            with contextlib.closing(self._sqlite_connect(readonly=False)) as conn:
                if not _sqlite_has_devices_table(conn):
                    return False
                # The key tables reference the device row ON DELETE CASCADE.
                cur = conn.execute("DELETE FROM whatsmeow_device WHERE jid = ?", (jid,))
                return cur.rowcount > 0
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot write the WhatsApp engine database {self.name}: {exc}"
            ) from None

    # ------------------------------------------------------------------ PostgreSQL
    async def _postgres_call(self, fn: Callable[[Any], Any]) -> Any:
        import psycopg  # noqa: PLC0415 - the postgres extra

        def call() -> Any:
            try:
                with psycopg.connect(
                    self._psycopg_url,
                    autocommit=True,
                    connect_timeout=_PG_CONNECT_TIMEOUT,
                    application_name="wagate-engine-check",
                ) as conn:
                    return fn(conn)
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot use the WhatsApp engine database {self.shown}: {one_line(exc)}"
                ) from None

        return await anyio.to_thread.run_sync(call)

    def __repr__(self) -> str:
        return f"<EngineDatabase {self.kind} {self.shown}>"


def _check_sqlite_file(path: Path, *, integrity: bool = True) -> None:
    directory = path.parent
    if not directory.is_dir():
        raise StoreError(
            f"cannot use {path} as the WhatsApp engine database: "
            f"directory {directory} does not exist; create it first"
        )
    if path.is_dir():
        raise StoreError(f"cannot use {path} as the WhatsApp engine database: it is a directory")
    # SQLite writes a journal next to the file: the directory must be writable too.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(
            f"cannot use {path} as the WhatsApp engine database: "
            f"directory {directory} is not writable"
        )
    if not path.exists():
        try:
            # The file holds the account's keys: private from its first byte.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(
                f"cannot create the WhatsApp engine database {path}: {exc.strerror}"
            ) from None
        else:
            os.close(fd)
            return
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(
            f"cannot use {path} as the WhatsApp engine database: "
            "the file is not readable and writable"
        )
    with open(path, "rb") as file:
        header = file.read(len(_SQLITE_HEADER))
    if not header:
        return
    if header != _SQLITE_HEADER:
        raise StoreError(
            f"{path} is not a SQLite database, so it cannot hold the WhatsApp engine's keys; "
            "it was left untouched: move it aside or choose another database path"
        )
    if not integrity:
        return
    try:
        with contextlib.closing(
            sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=10)
        ) as conn:
            check_integrity(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"the WhatsApp engine database {path} is damaged ({exc}); "
            "it was left untouched: restore it from a backup or move it aside"
        ) from None


def _sqlite_has_devices_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'whatsmeow_device'"
    ).fetchone()
    return row is not None


def _undefined_table() -> type[Exception]:
    import psycopg.errors  # noqa: PLC0415 - the postgres extra

    return psycopg.errors.UndefinedTable


def _pg_lookup(
    conn: Any, lookup: Callable[[Callable[[str, tuple[str, ...]], list[Any]]], str | None]
) -> str | None:
    try:
        return lookup(lambda q, args: conn.execute(q.format(p="%s"), args).fetchall())
    except _undefined_table():
        return None


def _engine_url(url: str) -> str:
    """The URL for the engine's PostgreSQL driver (Go's lib/pq), with safe defaults.

    lib/pq waits forever for a server that does not answer and insists on TLS by
    default; libpq (psycopg) prefers TLS.  Give it a connect timeout and libpq's
    TLS default, so that one URL behaves the same for wagate and for the engine.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("connect_timeout", str(_PG_CONNECT_TIMEOUT))
    query.setdefault("sslmode", "prefer")
    return urlunsplit(parts._replace(query=urlencode(query)))
