"""PostgresStore's bad input: foreign or malformed URLs, bad table names, unreachable servers.

Every failure is a clear :class:`wagate.StoreError` (or ``InvalidInput``) that names the
server and never the password, and none of them hangs: a silent server fails after the
connect timeout.  The contract itself is tested in test_store.py.
"""

from __future__ import annotations

import socket
import urllib.parse

import pytest

from wagate import InvalidInput, StoreError

pytest.importorskip("psycopg")

from wagate.stores.postgres import PostgresStore

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/x", "postgresql://"),
        ("postgresql://u:secret@[bad/x", "malformed"),
        ("postgresql://", "names no database"),
        ("postgresql://u:secret@127.0.0.1:5432", "names no database"),
    ],
)
def test_postgres_refuses_a_malformed_url_without_echoing_it(
    url: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign, malformed or database-less URL is refused at once, without its password."""
    monkeypatch.delenv("PGDATABASE", raising=False)
    with pytest.raises(InvalidInput, match=message) as caught:
        PostgresStore(url)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("table", ["", "Sessions", "a-b", "x; drop", "t" * 64])
def test_postgres_refuses_a_bad_table_name(table: str) -> None:
    """A table name that is not a plain lower-case identifier is refused."""
    with pytest.raises(InvalidInput, match="table name"):
        PostgresStore("postgresql://postgres@127.0.0.1/test", table=table)


async def test_postgres_closed_port_is_a_clear_store_error() -> None:
    """A URL to a port where nothing listens fails open() with StoreError naming the server."""
    port = _closed_port()
    store = PostgresStore(f"postgresql://wagate:secret@127.0.0.1:{port}/x", connect_timeout=2)
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as caught:
        await store.open()
    assert "secret" not in str(caught.value)
    assert "refused" in str(caught.value).lower()


async def test_postgres_server_that_never_answers_times_out(postgres_url: str) -> None:
    """A server that accepts the connection but never speaks fails open() after the timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        store = PostgresStore(f"postgresql://wagate@127.0.0.1:{port}/x", connect_timeout=2)
        with pytest.raises(StoreError, match="cannot connect"):
            await store.open()


async def test_postgres_unknown_role_or_database_is_a_clear_store_error(postgres_url: str) -> None:
    """A login the server refuses (unknown role, missing database) fails open() clearly."""
    parts = urllib.parse.urlsplit(postgres_url)
    host = f"{parts.hostname}:{parts.port or 5432}"
    no_role = PostgresStore(f"postgresql://no_such_role_x:secret@{host}/test", connect_timeout=2)
    with pytest.raises(StoreError, match="no_such_role_x") as caught:
        await no_role.open()
    assert "secret" not in str(caught.value)
    no_db = PostgresStore(urllib.parse.urlunsplit(parts._replace(path="/no_such_db_x")))
    with pytest.raises(StoreError, match="no_such_db_x"):
        await no_db.open()
