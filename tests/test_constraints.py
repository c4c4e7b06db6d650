"""``constraints.txt`` pins every dependency, and every environment installs from it.

A requirement added to ``pyproject.toml`` without ``nox -s lock`` would be
installed at whatever version is newest that day: a fresh clone would build a
different environment next year.  These tests name the requirement that is not
pinned, or whose pin no longer satisfies it.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PINNED_TOOLS = ("pytest", "mypy", "ruff", "nox", "uv")


def _pins() -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for raw in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # one "==" each, maybe under a marker
        assert specifier.operator == "==", raw
        pins.setdefault(canonicalize_name(requirement.name), []).append(Version(specifier.version))
    return pins


def _requirements() -> list[Requirement]:
    # pyproject.toml's requirements as installed (`-e .`): the core's and every
    # extra's, the latter under an `extra == "..."` marker.
    lines = metadata.requires("wagate") or []
    return [req for req in map(Requirement, lines) if canonicalize_name(req.name) != "wagate"]


@pytest.mark.parametrize("requirement", _requirements(), ids=str)
def test_every_requirement_of_the_project_is_pinned(requirement: Requirement) -> None:
    versions = _pins().get(canonicalize_name(requirement.name))
    assert versions, f"{requirement} has no pin in constraints.txt: run `python3 -m nox -s lock`"
    for version in versions:
        assert requirement.specifier.contains(version, prereleases=True), (
            f"constraints.txt pins {requirement.name}=={version}, outside {requirement}: "
            "run `python3 -m nox -s lock`"
        )


def test_the_tools_are_pinned() -> None:
    pins = _pins()
    assert [tool for tool in PINNED_TOOLS if tool not in pins] == []


def test_every_nox_session_and_documented_install_uses_the_pins() -> None:
    noxfile = (ROOT / "noxfile.py").read_text("utf-8")
    # One place installs for the sessions, with the constraints; the only other is
    # the very first `lock`, before there are any pins.
    assert noxfile.count("session.install(") == 2
    assert 'session.install("-c", str(CONSTRAINTS), *args)' in noxfile
    for name in ("README.md", "docs/index.md", "docs/getting-started.md", ".ci/run"):
        text = (ROOT / name).read_text("utf-8")
        # From a checkout: `pip install "wagate[...]"` (an application's own) is not pinned.
        installs = re.findall(r"pip install [^\n&`]*-e [^\n&`]*|pip install -q[^\n&`]*", text)
        assert installs, name
        unpinned = [line for line in installs if "-c constraints.txt" not in line]
        assert unpinned == [], name
