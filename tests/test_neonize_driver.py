"""NeonizeDriver in a real Session, offline: the real dial failure, reconnects, input, databases.

Nothing here calls the engine beyond starting and stopping a client whose dial
fails, which is the engine's normal path; tests that make the engine do more
(and so risk its process-killing faults) run in subprocesses, in
test_neonize_process.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from wagate import (
    Account,
    Backoff,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    InvalidInput,
    InvalidRecipient,
    NotConnected,
    PairingFailed,
    Session,
    SessionStateError,
    StoreError,
)
from wagate.drivers import ConnectionEnded, IncomingMessage
from wagate.drivers._neonize_engine import WHATSAPP_ENDPOINT, engine
from wagate.drivers.neonize import NeonizeDriver

pytestmark = pytest.mark.anyio

WAIT = 90.0


class RecordingSink:
    """A DriverSink that keeps what a driver reports."""

    def __init__(self) -> None:
        self.qr_codes: list[tuple[str, float]] = []
        self.accounts: list[Account] = []
        self.messages: list[IncomingMessage] = []
        self.updates: list[tuple[type[Event], dict[str, Any]]] = []

    def qr(self, code: str, valid_for: float) -> None:
        self.qr_codes.append((code, valid_for))

    def connected(self, account: Account) -> None:
        self.accounts.append(account)

    def message(self, message: IncomingMessage) -> None:
        self.messages.append(message)

    def update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        self.updates.append((kind, dict(fields)))


def forget_dial_health() -> None:
    """Make the next connect a real engine dial (not the probe that follows a failed dial)."""
    engine().dial_result(WHATSAPP_ENDPOINT, ok=True)


# -------------------------------------------------------------------------- reconnects


async def test_real_dial_failure_is_network_and_backoff_grows_to_its_cap(tmp_path: Path) -> None:
    """Offline the dial fails: Disconnected(network, will_retry), retry_in doubling to its cap."""
    forget_dial_health()
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    backoff = Backoff(initial=0.01, maximum=0.04, multiplier=2, jitter=0)
    disconnects: list[Disconnected] = []
    attempts: list[int] = []
    async with Session("acme", driver=driver, backoff=backoff) as session:
        await session.connect()
        with anyio.fail_after(WAIT):
            async for event in session.events():
                if isinstance(event, Connecting):
                    attempts.append(event.attempt)
                elif isinstance(event, Disconnected):
                    disconnects.append(event)
                    if len(disconnects) == 6:
                        break
        with anyio.fail_after(5):  # closing while retrying does not wait for anything
            await session.aclose()
        assert session.status.reason is DisconnectReason.CLOSED
    assert [d.reason for d in disconnects] == [DisconnectReason.NETWORK] * 6
    assert all(d.will_retry for d in disconnects)
    assert [d.retry_in for d in disconnects] == [0.01, 0.02, 0.04, 0.04, 0.04, 0.04]
    assert attempts == [1, 2, 3, 4, 5, 6]
    assert "failed to dial whatsapp web websocket" in (disconnects[0].detail or "")
    # Later attempts probe the endpoint instead of redialling the engine (each
    # engine connect leaves a database handle open).
    assert all("web.whatsapp.com:443" in (d.detail or "") for d in disconnects[1:])


async def test_driver_run_returns_network_for_the_real_dial_and_aclose_is_prompt(
    tmp_path: Path,
) -> None:
    """Driver.run returns ConnectionEnded(network) with the engine's words and reports nothing."""
    forget_dial_health()
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    sink = RecordingSink()
    with anyio.fail_after(WAIT):
        ended = await driver.run(sink, resume=None)
    assert isinstance(ended, ConnectionEnded)
    assert ended.reason is DisconnectReason.NETWORK
    assert "dial" in (ended.detail or "")
    assert not sink.qr_codes
    assert not sink.accounts
    assert not driver.connected
    with anyio.fail_after(5):
        await driver.aclose()
    with anyio.fail_after(5):
        closed = await driver.run(sink, resume=None)
    assert closed.reason is DisconnectReason.CLOSED


async def test_many_sessions_share_one_engine_database(tmp_path: Path) -> None:
    """Several drivers on one SQLite database all connect (and fail offline) side by side."""
    database = tmp_path / "engine.db"
    async with anyio.create_task_group() as tg:
        results: list[ConnectionEnded] = []

        async def one() -> None:
            driver = NeonizeDriver(database=database)
            try:
                results.append(await driver.run(RecordingSink(), resume=None))
            finally:
                await driver.aclose()

        for _ in range(5):
            tg.start_soon(one)
    assert [r.reason for r in results] == [DisconnectReason.NETWORK] * 5


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("to", ["not a number", "+", "1" * 30, "@s.whatsapp.net"])
async def test_bad_recipients_are_refused_before_the_engine(tmp_path: Path, to: str) -> None:
    """Malformed recipients raise InvalidRecipient from the session and from the driver itself."""
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    async with Session("acme", driver=driver) as session:
        with pytest.raises(InvalidRecipient):
            await session.send_text(to, "halo")
        with pytest.raises(InvalidRecipient):
            await driver.send_text(to, "halo")


async def test_a_group_jid_is_a_valid_recipient_but_sending_needs_a_connection(
    tmp_path: Path,
) -> None:
    """'628123@g.us' is valid; unconnected, the session says NotConnected, the driver errs."""
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    async with Session("acme", driver=driver) as session:
        with pytest.raises(NotConnected):
            await session.send_text("628123@g.us", "halo")
        with pytest.raises(Exception, match="not connected") as info:
            await driver.send_text("628123@g.us", "halo")
    assert type(info.value).__name__ == "DriverError"


async def test_pairing_code_needs_a_login_in_progress(tmp_path: Path) -> None:
    """Without a QR login, the session refuses (state) and the driver raises PairingFailed."""
    driver = NeonizeDriver(database=tmp_path / "engine.db")
    async with Session("acme", driver=driver) as session:
        with pytest.raises(SessionStateError):
            await session.request_pairing_code("+628123456789")
    with pytest.raises(PairingFailed):
        await driver.request_pairing_code("+628123456789")


def test_driver_arguments_are_checked() -> None:
    """A non-string device name, a malformed proxy or database argument: InvalidInput at once."""
    with pytest.raises(InvalidInput):
        NeonizeDriver(database="postgres_but_not_a_url.db")
    with pytest.raises(InvalidInput):
        NeonizeDriver(database="", device_name="x")
    with pytest.raises(InvalidInput):
        NeonizeDriver(device_name="")
    with pytest.raises(InvalidInput):
        NeonizeDriver(proxy="ftp://127.0.0.1:21")
    with pytest.raises(InvalidInput):
        NeonizeDriver(database="/tmp/with?query.db")


# -------------------------------------------------------------------------- databases


def test_default_database_is_private_under_wagate_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path the engine database is ./wagate-data/whatsapp.db: dir 0700, file 0600."""
    monkeypatch.chdir(tmp_path)
    driver = NeonizeDriver()
    path = tmp_path / "wagate-data" / "whatsapp.db"
    assert driver.database.name == str(path)
    assert stat.S_IMODE((tmp_path / "wagate-data").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_database_in_a_missing_directory_is_a_clear_store_error(tmp_path: Path) -> None:
    """A path in a directory that does not exist: StoreError naming it; nothing is created."""
    missing = tmp_path / "nowhere" / "deeper"
    with pytest.raises(StoreError, match="does not exist") as info:
        NeonizeDriver(database=missing / "engine.db")
    assert str(missing) in str(info.value)
    assert not missing.exists()


def test_database_that_is_a_directory_is_a_clear_store_error(tmp_path: Path) -> None:
    """A path naming a directory: StoreError."""
    with pytest.raises(StoreError, match="directory"):
        NeonizeDriver(database=tmp_path)


def test_database_in_a_read_only_directory_is_a_clear_store_error(tmp_path: Path) -> None:
    """A read-only directory (a real one: a read-only mount when root): StoreError, not writable."""
    directory = tmp_path / "ro"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            with pytest.raises(StoreError, match="not writable"):
                NeonizeDriver(database=directory / "engine.db")
        finally:
            directory.chmod(0o700)
        return
    # root writes anywhere: make the directory a read-only mount, in a user namespace.
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: no way to make a read-only directory")
    code = (
        "from wagate import StoreError\n"
        "from wagate.drivers.neonize import NeonizeDriver\n"
        "try:\n"
        f"    NeonizeDriver(database={str(directory / 'engine.db')!r})\n"
        "except StoreError as exc:\n"
        "    print('StoreError:', exc)\n"
    )
    script = (
        f"mount --bind {directory} {directory} && "
        f"mount -o remount,bind,ro {directory} && "
        f'exec "$0" -c "$1"'
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, sys.executable, code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "StoreError" not in result.stdout:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()[-200:]}")
    assert "StoreError:" in result.stdout
    assert "not writable" in result.stdout
    assert str(directory) in result.stdout


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a database at all\n" * 40, id="foreign"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 4000, id="damaged"),
    ],
)
def test_corrupt_engine_database_is_refused_and_left_untouched(
    tmp_path: Path, content: bytes
) -> None:
    """A file that is not (or no longer) a SQLite database: StoreError naming it; bytes intact."""
    path = tmp_path / "engine.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        NeonizeDriver(database=path)
    assert str(path) in str(info.value)
    assert "untouched" in str(info.value)
    assert path.read_bytes() == content


async def test_database_damaged_after_construction_is_reported_by_run(tmp_path: Path) -> None:
    """If the file goes bad later, run() returns network naming the database; nothing deleted."""
    path = tmp_path / "engine.db"
    driver = NeonizeDriver(database=path)
    path.write_bytes(b"garbage" * 100)
    forget_dial_health()
    with anyio.fail_after(WAIT):
        ended = await driver.run(RecordingSink(), resume=None)
    await driver.aclose()
    assert ended.reason is DisconnectReason.NETWORK
    assert str(path) in (ended.detail or "")
    assert path.read_bytes() == b"garbage" * 100


# -------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def engine_pg_url(new_postgres_database: Callable[[str], str]) -> str:
    """A throwaway PostgreSQL database for the engine's tables (dropped at the end of the run)."""
    return new_postgres_database("wagate_engine")


@pytest.mark.postgres
async def test_postgres_engine_database_gets_the_engines_tables(engine_pg_url: str) -> None:
    """With a postgresql:// URL the engine keeps its tables in PostgreSQL (here, a throwaway db)."""
    import psycopg

    forget_dial_health()
    driver = NeonizeDriver(database=engine_pg_url)
    assert driver.database.kind == "postgres"
    with anyio.fail_after(WAIT):
        ended = await driver.run(RecordingSink(), resume=None)
    await driver.aclose()
    assert ended.reason is DisconnectReason.NETWORK
    assert "dial" in (ended.detail or "")
    with psycopg.connect(engine_pg_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert "whatsmeow_device" in tables


@pytest.mark.postgres
async def test_postgres_resume_of_an_unknown_account_starts_a_new_login(
    engine_pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Resuming a JID the PostgreSQL engine database does not hold: a warning and a fresh login."""
    forget_dial_health()
    driver = NeonizeDriver(database=engine_pg_url)
    ghost = Account(jid="628999999999:4@s.whatsapp.net", phone="+628999999999")
    with anyio.fail_after(WAIT):
        ended = await driver.run(RecordingSink(), resume=ghost)
    await driver.aclose()
    assert ended.reason is DisconnectReason.NETWORK
    assert any("is not stored in the engine database" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
async def test_postgres_url_to_a_closed_port_is_a_clear_error_without_a_hang(
    postgres_url: str,
) -> None:
    """An engine database on a port where nothing listens: network, naming the database, at once."""
    pytest.importorskip("psycopg")  # the driver checks PostgreSQL's device table with it
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://wagate:secret-password@127.0.0.1:{port}/engine"
    driver = NeonizeDriver(database=url)
    forget_dial_health()
    with anyio.fail_after(WAIT):
        ended = await driver.run(RecordingSink(), resume=None)
    await driver.aclose()
    assert ended.reason is DisconnectReason.NETWORK
    detail = ended.detail or ""
    assert f"127.0.0.1:{port}/engine" in detail
    assert "secret-password" not in detail
    assert "refused" in detail.lower() or "connect" in detail.lower()


def test_postgres_url_that_is_malformed_is_invalid_input() -> None:
    """A postgresql:// URL libpq cannot parse: InvalidInput, without echoing it."""
    pytest.importorskip("psycopg")
    with pytest.raises(InvalidInput):
        NeonizeDriver(database="postgresql://user:pw@host:notaport/db?=bad")
