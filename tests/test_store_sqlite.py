"""SQLiteStore's bad input: missing or read-only directories, damaged files, two processes.

Every failure is a :class:`wagate.StoreError` whose message names the file, and nothing
the user had is deleted or overwritten.  The second process is a real one.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from wagate import Account, SQLiteStore, State, StoreError, StoreLocked

pytestmark = pytest.mark.anyio

ACCOUNT = Account(jid="628123456789@s.whatsapp.net", phone="+628123456789", name="Budi")

# Opens the store given as argv[1] and says what happened; with "hold", keeps it open
# until killed.
OPENER = textwrap.dedent(
    """
    import sys, anyio, wagate

    async def main() -> None:
        try:
            async with wagate.SQLiteStore(sys.argv[1]) as store:
                print("opened", flush=True)
                if sys.argv[2:] == ["hold"]:
                    await anyio.sleep_forever()
        except wagate.StoreLocked as exc:
            print("locked:", exc, flush=True)
        except wagate.StoreError as exc:
            print("error:", exc, flush=True)

    anyio.run(main)
    """
)


async def _open_elsewhere(path: Path) -> str:
    result = await anyio.run_process([sys.executable, "-c", OPENER, str(path)], check=True)
    return result.stdout.decode().strip()


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


async def test_missing_directory_is_named_and_not_created(tmp_path: Path) -> None:
    """A store in a directory that does not exist fails, naming the file; nothing is created."""
    path = tmp_path / "absent" / "sessions.db"
    with pytest.raises(StoreError, match="does not exist") as caught:
        await SQLiteStore(path).open()
    assert str(path) in str(caught.value)
    assert not path.parent.exists()


async def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    """A path that is a directory fails with StoreError naming it."""
    (tmp_path / "sessions.db").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        await SQLiteStore(tmp_path / "sessions.db").open()


@pytest.fixture
def read_only_directory() -> Iterator[Path]:
    """Make a directory without write permission (mode 0555)."""
    directory = Path(tempfile.mkdtemp(prefix="wagate-ro-"))
    directory.chmod(0o555)
    try:
        yield directory
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)


async def _open_on_read_only_mount(directory: Path) -> str:
    """Open a store in ``directory`` from a child that sees it as a read-only filesystem.

    root may write into any directory whatever its mode, so for root the directory is
    made read-only for real: a read-only tmpfs mounted over it in a private mount
    namespace of the child (nothing outside the child sees the mount).
    """
    script = 'mount -t tmpfs -o ro,size=64k tmpfs "$1" && exec "$2" -c "$3" "$1/sessions.db"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    try:
        result = await anyio.run_process(
            [*command, str(directory), sys.executable, OPENER], check=False
        )
    except FileNotFoundError:
        pytest.skip("running as root without unshare(1): cannot make a read-only directory")
    said = result.stdout.decode().strip()
    if result.returncode != 0 or not said:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {result.stderr!r}")
    return said


async def test_read_only_directory_is_named(read_only_directory: Path) -> None:
    """A store in a directory the process may not write fails, naming the file and the cause."""
    path = read_only_directory / "sessions.db"
    if os.geteuid() == 0:
        said = await _open_on_read_only_mount(read_only_directory)
        assert said.startswith("error:")
        message = said
    else:
        with pytest.raises(StoreError) as caught:
            await SQLiteStore(path).open()
        message = str(caught.value)
    assert str(path) in message
    assert "not writable" in message
    assert os.listdir(read_only_directory) == []


async def test_a_file_that_is_not_sqlite_is_named_and_left_untouched(tmp_path: Path) -> None:
    """A file that is not a SQLite database fails with its name; its bytes stay as they were."""
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not a database\n" * 100)
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match="not a usable SQLite database") as caught:
        await SQLiteStore(path).open()
    assert str(path) in str(caught.value)
    after = _snapshot(tmp_path)
    assert after["sessions.db"] == before["sessions.db"]
    assert set(after) - set(before) <= {"sessions.db.lock"}


async def test_a_damaged_sqlite_file_is_refused_before_any_write(tmp_path: Path) -> None:
    """A SQLite file with damaged pages fails its integrity check and is not written to."""
    path = tmp_path / "sessions.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?)", [("x" * 200,)] * 2000)
    conn.close()
    data = bytearray(path.read_bytes())
    data[8192 : 8192 + 4096] = b"\xab" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="malformed") as caught:
        await SQLiteStore(path).open()
    assert str(path) in str(caught.value)
    assert path.read_bytes() == bytes(data)


async def test_a_foreign_table_of_the_same_name_is_refused(tmp_path: Path) -> None:
    """A database whose wagate_sessions table has other columns fails clearly at open."""
    path = tmp_path / "sessions.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE wagate_sessions (id INTEGER PRIMARY KEY, blob BLOB)")
    conn.close()
    with pytest.raises(StoreError, match="no such column"):
        await SQLiteStore(path).open()


async def test_the_database_file_is_private(tmp_path: Path) -> None:
    """The store's file is readable and writable by its owner only."""
    path = tmp_path / "sessions.db"
    async with SQLiteStore(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_write_ahead_log_is_private_too(tmp_path: Path) -> None:
    """SQLite's -wal and -shm files, which hold recent writes, are owner-only as well."""
    path = tmp_path / "sessions.db"
    old = os.umask(0o022)  # a usual umask, which would make new files world-readable
    try:
        async with SQLiteStore(path):
            sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
            assert all(sidecar.exists() for sidecar in sidecars)
            modes = {sidecar.name: stat.S_IMODE(sidecar.stat().st_mode) for sidecar in sidecars}
    finally:
        os.umask(old)
    assert modes == {"sessions.db-wal": 0o600, "sessions.db-shm": 0o600}


async def test_a_second_process_gets_store_locked(tmp_path: Path) -> None:
    """While one process has the store open, a second real process gets StoreLocked."""
    path = tmp_path / "sessions.db"
    async with SQLiteStore(path) as store:
        await store.save("acme", account=ACCOUNT, state=State.CONNECTED)
        said = await _open_elsewhere(path)
        assert said.startswith("locked:")
        assert str(path) in said
        assert "another process" in said
        assert await store.load("acme") is not None  # the holder is unaffected
    assert await _open_elsewhere(path) == "opened"


async def test_a_second_store_in_the_same_process_gets_store_locked(tmp_path: Path) -> None:
    """Two SQLiteStore objects on one file in one process: the second gets StoreLocked."""
    path = tmp_path / "sessions.db"
    async with SQLiteStore(path):
        with pytest.raises(StoreLocked):
            await SQLiteStore(path).open()


async def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """When the process holding the store is killed, the next one opens it at once."""
    path = tmp_path / "sessions.db"
    async with await anyio.open_process(
        [sys.executable, "-c", OPENER, str(path), "hold"]
    ) as holder:
        assert holder.stdout is not None
        with anyio.fail_after(30):
            said = await holder.stdout.receive()
        assert said.strip() == b"opened"
        assert (await _open_elsewhere(path)).startswith("locked:")
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    async with SQLiteStore(path) as store:
        assert await store.load_all() == []
