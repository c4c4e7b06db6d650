"""The SessionStore contract, run against MemoryStore, SQLiteStore and PostgresStore alike.

Also: sessions and gateways on each store (what is persisted, restore without a QR code,
logout), and PostgreSQL's bad inputs (closed port, unknown role, a server that never
answers).  PostgreSQL tests run in a throwaway database created for the test run.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from wagate import (
    Account,
    Connected,
    Disconnected,
    DisconnectReason,
    Gap,
    Gateway,
    InvalidInput,
    MemoryStore,
    QrGenerated,
    SessionStore,
    SQLiteStore,
    State,
    StoredSession,
    StoreError,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.stores import store_for
from wagate.testing import link, wait_for

pytestmark = pytest.mark.anyio

WAIT = 20.0
ACCOUNT = Account(jid="628123456789@s.whatsapp.net", phone="+628123456789", name="Budi 🚀")


# ------------------------------------------------------------------ PostgreSQL database


@pytest.fixture(scope="module")
def postgres_database(new_postgres_database: Callable[[str], str]) -> str:
    """A throwaway database for this module's tests (dropped at the end of the run)."""
    return new_postgres_database("wagate_test")


_tables = itertools.count(1)


def _postgres_store(url: str, **options: Any) -> SessionStore:
    module = pytest.importorskip("wagate.stores.postgres")  # skips without psycopg
    store: SessionStore = module.PostgresStore(url, **options)
    return store


StoreMaker = Callable[[], SessionStore]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreMaker:
    """Return a function making store objects that all see the same stored data."""
    if request.param == "memory":
        memory = MemoryStore()
        return lambda: memory
    if request.param == "sqlite":
        path = tmp_path / "sessions.db"
        return lambda: SQLiteStore(path)
    url: str = request.getfixturevalue("postgres_database")
    table = f"sessions_{next(_tables)}"
    return lambda: _postgres_store(url, table=table)


@pytest.fixture
async def store(make_store: StoreMaker) -> AsyncIterator[SessionStore]:
    """Open a store for the test and close it afterwards."""
    async with make_store() as opened:
        yield opened


# ------------------------------------------------------------------ the contract


async def test_a_new_store_knows_no_tenant(store: SessionStore) -> None:
    """A store that was never written holds no tenant."""
    assert await store.load_all() == []
    assert await store.load("acme") is None


async def test_save_round_trips_account_and_state(store: SessionStore) -> None:
    """What save() writes, load() reads back: account (with a non-ASCII name) and state."""
    await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
    loaded = await store.load("acme")
    assert loaded == StoredSession(tenant="acme", account=ACCOUNT, state=State.CONNECTED, seq=0)


async def test_save_without_name_or_account(store: SessionStore) -> None:
    """An account without a display name, and a tenant without an account, are kept as such."""
    nameless = Account(jid="628111@s.whatsapp.net", phone="+628111", name=None)
    await store.save("a", account=nameless, state=State.DISCONNECTED)
    await store.save("b", account=None, state=State.AWAITING_SCAN)
    a, b = await store.load("a"), await store.load("b")
    assert a is not None
    assert a.account == nameless
    assert b is not None
    assert b.account is None
    assert b.state is State.AWAITING_SCAN


async def test_save_overwrites_account_and_state(store: SessionStore) -> None:
    """A second save of a tenant replaces its account and state."""
    await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
    other = Account(jid="628999@s.whatsapp.net", phone="+628999", name="Sari")
    await store.save("acme", account=other, state=State.DISCONNECTED)
    loaded = await store.load("acme")
    assert loaded is not None
    assert (loaded.account, loaded.state) == (other, State.DISCONNECTED)


async def test_reserve_seq_only_ever_raises_the_mark(store: SessionStore) -> None:
    """reserve_seq raises the high-water mark and never lowers it; saves leave it alone."""
    await store.reserve_seq("acme", 1000)
    await store.reserve_seq("acme", 10)
    loaded = await store.load("acme")
    assert loaded is not None
    assert loaded.seq == 1000
    await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
    await store.reserve_seq("acme", 2000)
    loaded = await store.load("acme")
    assert loaded is not None
    assert (loaded.seq, loaded.account) == (2000, ACCOUNT)


async def test_reserve_seq_creates_an_unlinked_row(store: SessionStore) -> None:
    """Reserving seqs for an unknown tenant creates it, unlinked and disconnected."""
    await store.reserve_seq("fresh", 1000)
    assert await store.load_all() == [
        StoredSession(tenant="fresh", account=None, state=State.DISCONNECTED, seq=1000)
    ]


async def test_seq_marks_beyond_32_bits(store: SessionStore) -> None:
    """A seq high-water mark past 2**31 is stored exactly."""
    await store.reserve_seq("acme", 2**40 + 7)
    loaded = await store.load("acme")
    assert loaded is not None
    assert loaded.seq == 2**40 + 7


async def test_delete_forgets_the_account_but_keeps_the_seq_mark(store: SessionStore) -> None:
    """delete() unlinks the tenant; its seq mark stays so that seqs are never reused."""
    await store.reserve_seq("acme", 3000)
    await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
    await store.delete("acme")
    await store.delete("unknown")  # nothing to forget: no error, no row
    assert await store.load_all() == [
        StoredSession(tenant="acme", account=None, state=State.DISCONNECTED, seq=3000)
    ]


async def test_tenants_are_separate_and_listed_in_order(store: SessionStore) -> None:
    """Writes to one tenant never touch another; load_all lists tenants sorted."""
    for tenant in ("zeta", "alpha", "mid"):
        await store.save(tenant, account=None, state=State.DISCONNECTED)
    await store.save("alpha", account=ACCOUNT, state=State.CONNECTED)
    await store.reserve_seq("mid", 42)
    rows = await store.load_all()
    assert [r.tenant for r in rows] == ["alpha", "mid", "zeta"]
    assert [r.account for r in rows] == [ACCOUNT, None, None]
    assert [r.seq for r in rows] == [0, 42, 0]


async def test_tenant_names_are_data_not_sql(store: SessionStore) -> None:
    """A tenant id full of quotes and SQL is stored as plain data."""
    tenant = "x'); DROP TABLE wagate_sessions; --"
    await store.save(tenant, account=ACCOUNT, state=State.CONNECTED)
    loaded = await store.load(tenant)
    assert loaded is not None
    assert loaded.account == ACCOUNT


async def test_data_survives_closing_and_reopening(make_store: StoreMaker) -> None:
    """A store object opened after another was closed sees everything it wrote."""
    async with make_store() as first:
        await first.save("acme", account=ACCOUNT, state=State.CONNECTED)
        await first.reserve_seq("acme", 1000)
    async with make_store() as second:
        assert await second.load("acme") == StoredSession(
            tenant="acme", account=ACCOUNT, state=State.CONNECTED, seq=1000
        )


async def test_a_closed_database_store_raises_store_error(make_store: StoreMaker) -> None:
    """Using a SQL store after close() raises StoreError, not a driver's own exception."""
    store = make_store()
    if isinstance(store, MemoryStore):
        pytest.skip("a MemoryStore has nothing to open or close")
    async with store:
        pass
    with pytest.raises(StoreError, match="not open"):
        await store.load_all()


# ------------------------------------------------------------------ sessions on a store


def _driver(tenant: str) -> SimulatedDriver:
    return SimulatedDriver(phone=SimulatedPhone(number="+628123456789", name="Budi"))


async def test_a_linked_session_is_persisted_and_restored_without_qr(
    make_store: StoreMaker,
) -> None:
    """A gateway on the same store reconnects a linked tenant with no QR, seqs above the old."""
    async with Gateway(_driver, store=make_store()) as gateway:
        session = await gateway.session("acme")
        events = session.events()
        connected = await link(session, session.driver.phone, events, timeout=WAIT)  # type: ignore[attr-defined]
        assert connected.account.phone == "+628123456789"
        first_seqs = [e.seq for e in gateway.hub.replay("acme", 0)]

    async with make_store() as probe:
        stored = await probe.load("acme")
    assert stored is not None
    assert stored.account == connected.account
    assert stored.seq >= max(first_seqs)

    async with Gateway(_driver, store=make_store()) as gateway:
        assert gateway.tenants == ["acme"]
        restored = gateway.get("acme")
        assert restored is not None
        await wait_for(restored.events(), Connected, timeout=WAIT)
        history = [e for e in gateway.hub.replay("acme", 0) if not isinstance(e, Gap)]
        assert not any(isinstance(e, QrGenerated) for e in history)
        assert min(e.seq for e in history) > max(first_seqs)
        assert restored.account == connected.account


async def test_logout_clears_the_account_so_nothing_is_restored(make_store: StoreMaker) -> None:
    """After logout() the store holds no account for the tenant and no session is restored."""
    async with Gateway(_driver, store=make_store()) as gateway:
        session = await gateway.session("acme")
        events = session.events()
        await link(session, session.driver.phone, events, timeout=WAIT)  # type: ignore[attr-defined]
        await session.logout()
        high = max(e.seq for e in gateway.hub.replay("acme", 0))
    async with make_store() as probe:
        stored = await probe.load("acme")
    assert stored is not None
    assert stored.account is None
    assert stored.seq >= high
    async with Gateway(_driver, store=make_store()) as gateway:
        assert gateway.tenants == []


async def test_an_account_removed_from_the_phone_is_forgotten_on_restore(
    make_store: StoreMaker,
) -> None:
    """A stored account the engine can no longer resume ends logged_out and leaves the store."""
    async with make_store() as seed:
        other = Account(jid="628555@s.whatsapp.net", phone="+628555000111", name=None)
        await seed.save("acme", account=other, state=State.CONNECTED)
    async with Gateway(_driver, store=make_store()) as gateway:
        session = gateway.get("acme")
        assert session is not None
        ended = await wait_for(session.events(), Disconnected, timeout=WAIT)
        assert ended.reason is DisconnectReason.LOGGED_OUT
        assert not ended.will_retry
    async with make_store() as probe:
        stored = await probe.load("acme")
    assert stored is not None
    assert stored.account is None


# ------------------------------------------------------------------ choosing a store


def test_store_for_picks_sqlite_for_a_path(tmp_path: Path) -> None:
    """A file path gives a SQLiteStore on that file."""
    store = store_for(tmp_path / "s.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "s.db"


def test_store_for_picks_postgres_for_a_url() -> None:
    """A postgresql:// URL gives a PostgresStore (connecting only on open)."""
    module = pytest.importorskip("wagate.stores.postgres")
    store = store_for("postgresql://someone:secret@127.0.0.1:1/db")
    assert isinstance(store, module.PostgresStore)
    assert "secret" not in repr(store)


def test_store_for_refuses_an_empty_location() -> None:
    """An empty location is refused with InvalidInput."""
    with pytest.raises(InvalidInput):
        store_for("")


async def test_postgres_reconnects_after_the_server_drops_it(postgres_database: str) -> None:
    """When the server ends the store's connection, the next call reconnects transparently."""
    psycopg = pytest.importorskip("psycopg")
    async with _postgres_store(postgres_database, table="dropped") as store:
        await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            killed: Any = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'wagate' AND datname = current_database()"
            ).fetchall()
        assert killed
        loaded = await store.load("acme")
        assert loaded is not None
        assert loaded.account == ACCOUNT
