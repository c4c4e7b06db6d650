"""Shared fixtures: the anyio backend, and service URLs for PostgreSQL and Redis."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import shutil
import socket
import struct
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from wagate import Session
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone
from wagate.testing import link

# ---------------------------------------------------------------------------------
# Optional extras: a test module that imports an extra which is not installed (the
# `tests_core` session installs none) is left out of the run, and the report header
# says which modules and why.  What a module needs is read from its own imports (and
# those of the test helpers it imports), so the list cannot drift from the code.

_EXTRA_PACKAGES = {
    "aiohttp", "fastapi", "flask", "httpx", "jwt", "nbclient", "nbformat", "playwright",
    "psycopg", "redis", "schemathesis", "socketio", "standardwebhooks", "starlette", "uvicorn",
    "werkzeug",
}  # fmt: skip
_EXTRA_MODULES = {
    "wagate.adapters.socketio": "socketio",
    "wagate.integrations.fastapi": "fastapi",
    "wagate.integrations.flask": "flask",
    "wagate.integrations.uvicorn": "uvicorn",
    "wagate.stores.postgres": "psycopg",
    "wagate.cluster": "redis",
}
_TESTS = Path(__file__).parent


@functools.cache
def _needs(path: Path) -> frozenset[str]:
    """The optional packages a test module imports at module level, directly or not."""
    needed: set[str] = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            top = name.partition(".")[0]
            if top in _EXTRA_PACKAGES:
                needed.add(top)
            for module, package in _EXTRA_MODULES.items():
                if name == module or name.startswith(module + "."):
                    needed.add(package)
            helper = _TESTS / f"{top}.py"
            if top.startswith("test_") and helper.exists() and helper != path:
                needed |= _needs(helper)
    return frozenset(needed)


_LEFT_OUT: dict[str, list[str]] = {}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out test modules whose optional extras are not installed."""
    if collection_path.suffix != ".py" or collection_path.parent != _TESTS:
        return None
    if not collection_path.name.startswith("test_"):
        return None
    missing = sorted(m for m in _needs(collection_path) if importlib.util.find_spec(m) is None)
    if missing:
        _LEFT_OUT[collection_path.name] = missing
        return True
    return None


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """Say which test modules were left out for want of an extra."""
    return [
        f"left out (extra not installed): {name} needs {', '.join(missing)}"
        for name, missing in sorted(_LEFT_OUT.items())
    ]


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (the backend neonize needs)."""
    return "asyncio"


# ---------------------------------------------------------------------------------
# PostgreSQL and Redis: the URLs of the servers the tests talk to.
#
# A test that needs a server asks for `postgres_url` or `redis_url`.  When the server
# does not answer, the test is skipped with the reason, unless WAGATE_REQUIRE_SERVICES=1
# (set by .ci/run), which makes it fail instead: CI always runs those tests.  The probes
# speak just enough of each protocol to know a server is there, with the standard
# library only, so the fixtures work in the suite run without optional extras.

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE_PROBE_TIMEOUT = 3.0


def services_required() -> bool:
    """Whether a missing service fails the tests that need it (instead of skipping them)."""
    return os.environ.get("WAGATE_REQUIRE_SERVICES", "").strip().lower() in {"1", "true", "yes"}


def _service_missing(variable: str, url: str, why: str) -> NoReturn:
    message = f"{why} (set {variable} to point the tests at a server; url: {_redact(url)})"
    if services_required():
        pytest.fail(f"{message}; WAGATE_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _exchange(url: str, default_port: int, request: bytes) -> bytes:
    """Send ``request`` to the server of ``url`` and return the first bytes it answers."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    with socket.create_connection(
        (host, parts.port or default_port), timeout=SERVICE_PROBE_TIMEOUT
    ) as conn:
        conn.sendall(request)
        return conn.recv(64)


def _probe_postgres(url: str) -> str | None:
    """Return why PostgreSQL at ``url`` is unusable, or ``None`` when it answers."""
    if urllib.parse.urlsplit(url).scheme not in {"postgres", "postgresql"}:
        return "not a postgresql:// URL"
    # An SSLRequest: every PostgreSQL server answers it with one byte, 'S' or 'N'.
    try:
        reply = _exchange(url, 5432, struct.pack("!ii", 8, 80877103))
    except OSError as exc:
        return f"PostgreSQL does not answer: {exc}"
    if reply[:1] not in {b"S", b"N"}:
        return f"the server is not PostgreSQL (it answered {reply[:16]!r} to an SSLRequest)"
    return None


def _probe_redis(url: str) -> str | None:
    """Return why Redis at ``url`` is unusable, or ``None`` when it answers."""
    if urllib.parse.urlsplit(url).scheme not in {"redis", "rediss"}:
        return "not a redis:// URL"
    # An inline PING: Redis answers '+PONG', or an error ('-NOAUTH...') that still
    # proves a Redis server is there (the test itself logs in with the URL).
    try:
        reply = _exchange(url, 6379, b"PING\r\n")
    except OSError as exc:
        return f"Redis does not answer: {exc}"
    if reply[:1] not in {b"+", b"-"}:
        return f"the server is not Redis (it answered {reply[:16]!r} to PING)"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Return the URL of a PostgreSQL server that answers (``WAGATE_TEST_POSTGRES_URL``)."""
    url = os.environ.get("WAGATE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    why = _probe_postgres(url)
    if why is not None:
        _service_missing("WAGATE_TEST_POSTGRES_URL", url, why)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the URL of a Redis server that answers (``WAGATE_TEST_REDIS_URL``)."""
    url = os.environ.get("WAGATE_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    why = _probe_redis(url)
    if why is not None:
        _service_missing("WAGATE_TEST_REDIS_URL", url, why)
    return url


@pytest.fixture(scope="session")
def new_postgres_database(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Make throwaway PostgreSQL databases; each is dropped at the end of the run.

    Call it with a name prefix; it returns the new database's URL.  Needs psycopg
    (the ``postgres`` extra): without it, the test asking is skipped.
    """
    psycopg = pytest.importorskip("psycopg")
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        parts = urllib.parse.urlsplit(postgres_url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    try:
        yield make
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------
# Node: the Socket.IO recovery tests run a stock socket.io-client (tests/node, installed
# by tests/node_setup.sh).  Missing, it skips the tests, or fails them under
# WAGATE_REQUIRE_SERVICES=1, like the services above.

NODE_CLIENT = _TESTS / "node" / "recover.mjs"


@pytest.fixture(scope="session")
def node_socketio_client() -> list[str]:
    """The command that runs the stock socket.io-client script (``node recover.mjs``)."""
    node = shutil.which("node")
    installed = _TESTS / "node" / "node_modules" / "socket.io-client" / "package.json"
    if node is None:
        why = "node is not installed"
    elif not installed.exists():
        why = "socket.io-client is not installed in tests/node"
    else:
        return [node, str(NODE_CLIENT)]
    message = f"{why}: run 'bash tests/node_setup.sh'"
    if services_required():
        pytest.fail(f"{message}; WAGATE_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------------
# A linked session on the simulator (modules with their own ``phone``/``session`` keep theirs)


@pytest.fixture
def phone() -> SimulatedPhone:
    """The account's simulated phone (Budi's)."""
    return SimulatedPhone(number="+628123456789", name="Budi")


@pytest.fixture
async def session(phone: SimulatedPhone) -> AsyncIterator[Session]:
    """Tenant acme's session, linked to ``phone``."""
    async with Session("acme", SimulatedDriver(phone=phone, seed=1)) as s:
        await link(s, phone)
        yield s
