"""Where sessions are remembered: tenant -> linked account, last state, seq high-water mark.

:class:`SessionStore` is the plug point; :class:`MemoryStore` forgets on exit
(tests, notebooks) and :class:`SQLiteStore` (stdlib ``sqlite3``) is the default
for servers.  The WhatsApp engine's own keys live in the driver's database, not
here; this store only maps tenants to accounts.
"""

from __future__ import annotations

import abc
import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs

from ._errors import StoreError, StoreLocked
from ._events import Account, State
from ._lifecycle import OpenClose

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["MemoryStore", "SQLiteStore", "SessionStore", "StoredSession"]


@attrs.frozen(kw_only=True)
class StoredSession:
    """What a store remembers of one tenant.

    Attributes:
        tenant: The tenant id.
        account: The linked account, or ``None`` when not linked.
        state: The last state that was saved.
        seq: The seq high-water mark: every seq issued so far is at most this.
    """

    tenant: str
    account: Account | None = None
    state: State = State.DISCONNECTED
    seq: int = 0


READINESS_PROBE = "wagate.readiness-probe"
"""The tenant id a readiness check reads (no tenant has it: ids of tenants are theirs)."""


class SessionStore(OpenClose, abc.ABC):
    """The session store interface.  Use it as an async context manager."""

    @abc.abstractmethod
    async def load_all(self) -> list[StoredSession]:
        """Every tenant the store knows, in tenant order."""

    async def check(self) -> None:
        """Raise if the store does not answer (a readiness probe: one small read)."""
        await self.load(READINESS_PROBE)

    @abc.abstractmethod
    async def load(self, tenant: str) -> StoredSession | None:
        """One tenant, or ``None`` if unknown."""

    @abc.abstractmethod
    async def save(self, tenant: str, *, account: Account | None, state: State) -> None:
        """Remember ``tenant``'s account and state (creating the row if needed)."""

    @abc.abstractmethod
    async def reserve_seq(self, tenant: str, upto: int) -> None:
        """Raise ``tenant``'s seq high-water mark to ``upto`` (never lowers it)."""

    async def release_seq(self, tenant: str, reserved: int, last: int) -> None:
        """Lower ``tenant``'s high-water mark from ``reserved`` to ``last`` (a clean close).

        A session reserves seqs in blocks so that a crash never reuses one; when it
        closes cleanly it gives back what it did not use, so that the next run
        numbers on from ``last + 1``.  Only if the mark is still ``reserved``: a
        mark raised meanwhile (another process, a reservation in flight) stays.
        The default does nothing (the next run then skips the unused block).
        """
        del tenant, reserved, last

    @abc.abstractmethod
    async def delete(self, tenant: str) -> None:
        """Forget ``tenant``'s account (after logout); the seq high-water mark stays."""


class MemoryStore(SessionStore):
    """A store that lives as long as the process: for tests, notebooks and demos."""

    def __init__(self) -> None:
        self._rows: dict[str, StoredSession] = {}

    async def load_all(self) -> list[StoredSession]:
        return [self._rows[t] for t in sorted(self._rows)]

    async def load(self, tenant: str) -> StoredSession | None:
        return self._rows.get(tenant)

    async def save(self, tenant: str, *, account: Account | None, state: State) -> None:
        row = self._rows.get(tenant) or StoredSession(tenant=tenant)
        self._rows[tenant] = attrs.evolve(row, account=account, state=state)

    async def reserve_seq(self, tenant: str, upto: int) -> None:
        row = self._rows.get(tenant) or StoredSession(tenant=tenant)
        self._rows[tenant] = attrs.evolve(row, seq=max(row.seq, upto))

    async def release_seq(self, tenant: str, reserved: int, last: int) -> None:
        row = self._rows.get(tenant)
        if row is not None and row.seq == reserved and last < reserved:
            self._rows[tenant] = attrs.evolve(row, seq=last)

    async def delete(self, tenant: str) -> None:
        row = self._rows.get(tenant)
        if row is not None:
            self._rows[tenant] = attrs.evolve(row, account=None, state=State.DISCONNECTED)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS wagate_sessions (
    tenant TEXT PRIMARY KEY,
    account_jid TEXT,
    account_phone TEXT,
    account_name TEXT,
    state TEXT NOT NULL DEFAULT 'disconnected',
    seq INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


def check_integrity(conn: sqlite3.Connection) -> None:
    """Raise :class:`sqlite3.DatabaseError` unless SQLite finds ``conn``'s file sound."""
    check = conn.execute("PRAGMA quick_check").fetchone()
    if check is None or check[0] != "ok":
        raise sqlite3.DatabaseError(f"integrity check failed: {check}")


def stored_session(row: tuple[Any, ...]) -> StoredSession:
    """A ``wagate_sessions`` row (tenant, account fields, state, seq) as a value.

    A state this version does not know reads as ``disconnected``.
    """
    tenant, jid, phone, name, state, seq = row
    account = Account(jid=jid, phone=phone, name=name) if jid else None
    try:
        parsed = State(state)
    except ValueError:
        parsed = State.DISCONNECTED
    return StoredSession(tenant=tenant, account=account, state=parsed, seq=int(seq))


def session_values(
    tenant: str, account: Account | None, state: State
) -> tuple[str, str | None, str | None, str | None, str]:
    """What a store writes for a tenant (tenant, account jid, phone and name, state).

    The other way round from :func:`stored_session`.
    """
    if account is None:
        return (tenant, None, None, None, state.value)
    return (tenant, account.jid, account.phone, account.name, state.value)


def check_directory(path: Path, label: str) -> None:
    """Check that the directory of ``path`` exists and is writable, before SQLite opens it.

    Raises:
        StoreError: it does not (``label`` names the store, e.g. ``"session store"``).
    """
    directory = path.parent
    if not directory.is_dir():
        raise StoreError(f"cannot open {label} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise StoreError(f"cannot open {label} {path}: directory {directory} is not writable")


def make_private(path: Path) -> None:
    """Create ``path`` (if missing) readable by its owner only, before SQLite opens it.

    Private from its first byte, and so are its ``-wal`` and ``-shm`` files, which
    SQLite creates with the database file's mode.
    """
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)


class SQLiteFile:
    """A mixin for stores in one SQLite file: one connection, called from worker threads.

    A subclass names what it is (``_what``, for messages) and opens its file in
    ``_open_sync`` (run in a worker thread), which sets ``_conn``.
    """

    _what = "store"
    """What the file is, in messages (``"session store"``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open_sync(self) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        if self._conn is None:
            await anyio.to_thread.run_sync(self._open_sync)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close)

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` on the connection in a worker thread, one call at a time.

        Raises:
            StoreError: the store is not open, or SQLite failed.
        """
        label = f"{self._what} {self.path}"

        def call() -> Any:
            conn = self._conn
            if conn is None:
                raise StoreError(f"{label} is not open")
            with self._lock:
                try:
                    return fn(conn)
                except sqlite3.Error as exc:
                    raise StoreError(f"{label}: {exc}") from None

        return await anyio.to_thread.run_sync(call)


class SQLiteStore(SQLiteFile, SessionStore):
    """A store in one SQLite file, owned by one process at a time.

    Args:
        path: The database file; its directory must exist and be writable.

    Raises on :meth:`open`:
        StoreLocked: another process has the same file open as a store.
        StoreError: the directory is missing or read-only, or the file is not a
            SQLite database (it is never deleted or overwritten).
    """

    _what = "session store"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._lock_fd: int | None = None

    def _open_sync(self) -> None:
        check_directory(self.path, "session store")
        if self.path.is_dir():
            raise StoreError(
                f"cannot open session store {self.path}: it is a directory, not a file"
            )
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise StoreError(
                f"cannot open session store {self.path}: the file is not readable and writable"
            )
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open session store {self.path}: "
                f"cannot create its lock file {lock_path} ({exc.strerror})"
            ) from None
        try:
            import fcntl  # noqa: PLC0415 - POSIX only

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(
                f"session store {self.path} is already open in another process; "
                "run one gateway per store (or use PostgreSQL for several)"
            ) from None
        self._lock_fd = fd
        try:
            make_private(self.path)  # it maps tenants to accounts
            conn: sqlite3.Connection | None = None
            try:
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                # quick_check reads every page: a damaged file is refused here, before
                # anything is written to it (session stores are small).
                check_integrity(conn)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                conn.execute(f"SELECT {self._COLUMNS} FROM wagate_sessions LIMIT 0")  # noqa: S608
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                raise StoreError(
                    f"session store {self.path} is not a usable SQLite database ({exc}); "
                    "it was left untouched: move it aside or point wagate at another file"
                ) from None
            self._conn = conn
        except BaseException:
            self._release_lock()
            raise

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def close(self) -> None:
        await super().close()
        self._release_lock()

    _COLUMNS = "tenant, account_jid, account_phone, account_name, state, seq"

    async def load_all(self) -> list[StoredSession]:
        rows = await self._run(
            lambda c: c.execute(
                f"SELECT {self._COLUMNS} FROM wagate_sessions ORDER BY tenant"  # noqa: S608
            ).fetchall()
        )
        return [stored_session(r) for r in rows]

    async def load(self, tenant: str) -> StoredSession | None:
        row = await self._run(
            lambda c: c.execute(
                f"SELECT {self._COLUMNS} FROM wagate_sessions WHERE tenant = ?",  # noqa: S608
                (tenant,),
            ).fetchone()
        )
        return None if row is None else stored_session(row)

    async def save(self, tenant: str, *, account: Account | None, state: State) -> None:
        values = session_values(tenant, account, state)
        await self._run(
            lambda c: c.execute(
                "INSERT INTO wagate_sessions"
                " (tenant, account_jid, account_phone, account_name, state)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant) DO UPDATE SET"
                " account_jid = excluded.account_jid, account_phone = excluded.account_phone,"
                " account_name = excluded.account_name, state = excluded.state,"
                " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                values,
            )
        )

    async def reserve_seq(self, tenant: str, upto: int) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO wagate_sessions (tenant, seq) VALUES (?, ?) ON CONFLICT(tenant)"
                " DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (tenant, upto),
            )
        )

    async def release_seq(self, tenant: str, reserved: int, last: int) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE wagate_sessions SET seq = ? WHERE tenant = ? AND seq = ? AND ? < seq",
                (last, tenant, reserved, last),
            )
        )

    async def delete(self, tenant: str) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE wagate_sessions SET account_jid = NULL, account_phone = NULL,"
                " account_name = NULL, state = 'disconnected' WHERE tenant = ?",
                (tenant,),
            )
        )
