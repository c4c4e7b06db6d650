"""The project's automation: tests, lint, type checks and the docs build.

``python3 -m nox`` runs every session; ``python3 -m nox -s lint`` runs one
(``python3 -m nox -l`` lists them).  Arguments after ``--`` go to the tool, e.g.
``python3 -m nox -s tests -- -k hub -x``.

Every session installs from ``constraints.txt``, the committed pins of every
dependency and tool (pytest, mypy, ruff included), so that a fresh clone builds the
same environments on any day.  ``python3 -m nox -s lock`` refreshes it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "tests_core", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent

# Python 3.11 by name when the machine has it; otherwise the interpreter running nox,
# so that a machine with only one Python still runs every session (and none is skipped).
PYTHON = "3.11" if shutil.which("python3.11") else sys.executable

# Where the services for the PostgreSQL and Redis tests are, and whether their absence
# is a failure (CI) or a skip (a laptop without them).  See tests/conftest.py.
SERVICE_ENV = ("WAGATE_REQUIRE_SERVICES", "WAGATE_TEST_POSTGRES_URL", "WAGATE_TEST_REDIS_URL")

# The pins every session installs from; `nox -s lock` rewrites it.
CONSTRAINTS = ROOT / "constraints.txt"
LOCK_COMMAND = ("uv", "pip", "compile", "pyproject.toml", "--all-extras", "--universal")

LINT_PATHS = ("src", "tests", "examples", "benchmarks", "docs/hooks", "noxfile.py")


def _install(session: nox.Session, *args: str) -> None:
    session.install("-c", str(CONSTRAINTS), *args)


def _service_env() -> dict[str, str]:
    return {name: os.environ[name] for name in SERVICE_ENV if name in os.environ}


def _existing(paths: list[str] | tuple[str, ...]) -> list[str]:
    # Git does not keep empty directories: a fresh clone may lack one that has no files yet,
    # and ruff and mypy fail on a path that does not exist.
    return [path for path in paths if (ROOT / path).exists()]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite with every optional extra installed."""
    _install(session, "-e", ".[dev]")
    # The dashboard's browser tests drive Debian's chromium: install it when missing.
    session.run("bash", str(ROOT / "tests" / "browser_setup.sh"), external=True)
    # The Socket.IO recovery tests drive a stock socket.io-client under node.
    session.run("bash", str(ROOT / "tests" / "node_setup.sh"), external=True)
    session.run("pytest", *session.posargs, env=_service_env())


@nox.session(python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """Run the suite with no optional extra: tests of extras must skip cleanly."""
    _install(session, "-e", ".[test]")
    session.run("pytest", *session.posargs, env=_service_env())


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff (configured in pyproject.toml)."""
    _install(session, "ruff")
    paths = _existing(LINT_PATHS)
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check with ``mypy --strict`` over the paths pyproject.toml names."""
    _install(session, "-e", ".[dev]")
    config = nox.project.load_toml(ROOT / "pyproject.toml")
    paths = _existing(config["tool"]["mypy"]["files"])
    session.run("mypy", "--strict", *session.posargs, *paths)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with ``mkdocs build --strict`` (warnings are errors)."""
    _install(session, "-e", ".[docs]")
    # NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its successor on every build.
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(ROOT / "site"),
        *session.posargs,
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session(python=PYTHON, default=False)
def lock(session: nox.Session) -> None:
    """Refresh ``constraints.txt`` to the newest releases pyproject.toml allows.

    Not run by default: run it, then the whole suite, then commit the new file.
    """
    # uv from the current pins; the very first lock has none yet.
    if CONSTRAINTS.exists():
        _install(session, "uv")
    else:
        session.install("uv")
    session.run(*LOCK_COMMAND, "--upgrade", "-o", CONSTRAINTS.name, *session.posargs)
