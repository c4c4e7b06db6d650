"""The dead-letter store contract (backlogs and dead letters): memory, SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest

from wagate import InvalidInput, StoreError
from wagate.adapters.callbacks import (
    BacklogEntry,
    DeadLetter,
    DeadLetterStore,
    MemoryDeadLetters,
    SQLiteDeadLetters,
)

pytestmark = pytest.mark.anyio


def letter(seq: int, *, endpoint: str = "crm", tenant: str = "acme") -> DeadLetter:
    return DeadLetter(
        endpoint=endpoint,
        url="https://crm.example.com/hook",
        tenant=tenant,
        seq=seq,
        event="message:received",
        body=f'{{"seq":{seq},"text":"h\u00e9llo \U0001f600"}}'.encode(),
        error="HTTP 500 Internal Server Error",
        attempts=6,
        status=500,
        failed_at=datetime(2025, 6, 15, 9, 30, seq, 123456, tzinfo=timezone.utc),
    )


def entry(seq: int, *, endpoint: str = "crm", node: str = "main") -> BacklogEntry:
    return BacklogEntry(
        node=node,
        endpoint=endpoint,
        tenant="acme",
        seq=seq,
        event="message:received",
        body=f'{{"seq":{seq},"text":"h\u00e9llo"}}'.encode(),
        queued_at=datetime(2025, 6, 15, 9, 30, seq % 60, 123456, tzinfo=timezone.utc),
    )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeadLetterStore]:
    """Each store implementation, opened."""
    made: DeadLetterStore
    if request.param == "memory":
        made = MemoryDeadLetters()
    elif request.param == "sqlite":
        made = SQLiteDeadLetters(tmp_path / "dl.db")
    else:
        make: Callable[[str], str] = request.getfixturevalue("new_postgres_database")
        from wagate.stores.postgres import PostgresDeadLetters  # needs psycopg

        made = PostgresDeadLetters(make("wagate_dead_letters"))
    async with made:
        yield made


async def test_a_backlog_keeps_order_per_endpoint_and_node(store: DeadLetterStore) -> None:
    """Appended entries come back oldest first, intact, and filtered by node and endpoint."""
    await store.append([entry(1), entry(2, endpoint="tickets"), entry(3)])
    await store.append([entry(4, node="web-2"), entry(5)])
    await store.append([])
    everything = await store.backlog()
    assert [e.seq for e in everything] == [1, 2, 3, 4, 5]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert everything[0] == attrs.evolve(entry(1), id=everything[0].id)
    assert [e.seq for e in await store.backlog(node="main", endpoint="crm")] == [1, 3, 5]
    assert [e.seq for e in await store.backlog(node="main", endpoint="crm", limit=2)] == [1, 3]
    assert [e.seq for e in await store.backlog(node="web-2")] == [4]
    assert [e.seq for e in await store.backlog(endpoint="tickets")] == [2]


async def test_a_backlogs_depth_counts_it_and_names_its_oldest(store: DeadLetterStore) -> None:
    """backlog_depth() agrees with the backlog itself, per node and endpoint, and when empty."""
    assert await store.backlog_depth() == (0, None)
    await store.append([entry(7), entry(2, endpoint="tickets"), entry(3), entry(4, node="web-2")])
    assert await store.backlog_depth() == (4, entry(2).queued_at)
    assert await store.backlog_depth(node="main", endpoint="crm") == (2, entry(3).queued_at)
    assert await store.backlog_depth(node="web-2") == (1, entry(4).queued_at)
    assert await store.backlog_depth(endpoint="nowhere") == (0, None)
    for node, endpoint in (("main", "crm"), ("main", "tickets"), (None, None)):
        entries = await store.backlog(node=node, endpoint=endpoint)
        depth, oldest = await store.backlog_depth(node=node, endpoint=endpoint)
        assert depth == len(entries)
        assert oldest == min(e.queued_at for e in entries)


async def test_delivered_and_buried_entries_leave_the_backlog(store: DeadLetterStore) -> None:
    """delivered() drops an entry; bury() turns one into a dead letter in the same step."""
    await store.append([entry(1), entry(2), entry(3)])
    first, second, third = await store.backlog()
    await store.delivered(first.id)
    await store.delivered(first.id)  # gone already: nothing happens
    kept = await store.bury(second.id, letter(2))
    assert kept.id > 0
    assert await store.backlog() == [third]
    assert await store.letters() == [attrs.evolve(letter(2), id=kept.id)]
    await store.bury(0, letter(9))  # no entry: the letter is just kept
    assert [x.seq for x in await store.letters()] == [2, 9]


async def test_a_sqlite_backlog_survives_reopening(tmp_path: Path) -> None:
    """A SQLite store's backlog is still there, in order, after closing and opening the file."""
    path = tmp_path / "dl.db"
    async with SQLiteDeadLetters(path) as first:
        await first.append([entry(1), entry(2)])
    async with SQLiteDeadLetters(path) as second:
        assert [e.seq for e in await second.backlog(node="main", endpoint="crm")] == [1, 2]


async def test_letters_come_back_as_added_in_order_with_ids(store: DeadLetterStore) -> None:
    """Added letters are listed oldest first, intact, each with a new ascending id."""
    added = [await store.add(letter(seq)) for seq in (3, 1, 2)]
    ids = [a.id for a in added]
    assert ids == sorted(ids)
    assert all(i > 0 for i in ids)
    listed = await store.letters()
    assert listed == added
    assert listed[0] == attrs.evolve(letter(3), id=ids[0])


async def test_letters_filter_by_endpoint_tenant_and_limit(store: DeadLetterStore) -> None:
    """letters() narrows by endpoint and tenant and stops at limit, keeping the order."""
    await store.add(letter(1, endpoint="crm", tenant="acme"))
    await store.add(letter(2, endpoint="tickets", tenant="acme"))
    await store.add(letter(3, endpoint="crm", tenant="globex"))
    await store.add(letter(4, endpoint="crm", tenant="acme"))
    assert [x.seq for x in await store.letters(endpoint="crm")] == [1, 3, 4]
    assert [x.seq for x in await store.letters(tenant="acme")] == [1, 2, 4]
    assert [x.seq for x in await store.letters(endpoint="crm", tenant="acme")] == [1, 4]
    assert [x.seq for x in await store.letters(limit=2)] == [1, 2]
    assert await store.letters(endpoint="nobody") == []


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
async def test_a_bad_limit_is_refused(store: DeadLetterStore, limit: object) -> None:
    """The limit of letters() must be a positive integer."""
    with pytest.raises(InvalidInput):
        await store.letters(limit=limit)  # type: ignore[arg-type]


async def test_update_and_remove(store: DeadLetterStore) -> None:
    """update() replaces a letter's outcome; remove() forgets it and says whether it was there."""
    first = await store.add(letter(1))
    second = await store.add(letter(2))
    changed = attrs.evolve(first, error="HTTP 503 Service Unavailable", attempts=7, status=503)
    await store.update(changed)
    assert await store.letters() == [changed, second]
    assert await store.remove(first.id) is True
    assert await store.remove(first.id) is False
    await store.update(changed)  # gone: nothing happens
    assert await store.letters() == [second]


async def test_sqlite_letters_survive_reopening_and_the_file_is_private(tmp_path: Path) -> None:
    """A SQLite store keeps its letters across close and open, in a file only its owner reads."""
    path = tmp_path / "dl.db"
    async with SQLiteDeadLetters(path) as first:
        kept = await first.add(letter(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with SQLiteDeadLetters(path) as second:
        assert await second.letters() == [kept]
        assert (await second.add(letter(2))).id > kept.id


async def test_sqlite_refuses_a_missing_directory(tmp_path: Path) -> None:
    """Opening a store in a directory that does not exist raises StoreError naming it."""
    with pytest.raises(StoreError, match="does not exist"):
        async with SQLiteDeadLetters(tmp_path / "nowhere" / "dl.db"):
            pass


async def test_sqlite_leaves_a_file_that_is_not_a_database_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite is refused with StoreError and left as it was."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        async with SQLiteDeadLetters(path):
            pass
    assert path.read_bytes() == b"not a database, " * 100


async def test_sqlite_refuses_use_before_open(tmp_path: Path) -> None:
    """A SQLite store that is not open says so with StoreError."""
    with pytest.raises(StoreError, match="not open"):
        await SQLiteDeadLetters(tmp_path / "dl.db").letters()
