"""The documentation site builds, and what it says about the code matches the code.

These tests need the docs extra (mkdocs, mkdocstrings); without it (``nox -s
tests_core``) they are skipped.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import wagate
from wagate import Event, to_wire
from wagate._events import WireNaming

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytest.importorskip("mkdocs", reason="the docs extra (mkdocs) is not installed")
pytest.importorskip("griffe", reason="the docs extra (mkdocstrings) is not installed")


def _hook(name: str) -> ModuleType:
    """Import one of docs/hooks/*.py, as mkdocs does."""
    spec = importlib.util.spec_from_file_location(
        f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wire = _hook("wire_protocol")
reference = _hook("reference_complete")
metrics_table = _hook("metrics_table")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built by ``mkdocs build --strict`` (every warning fails it)."""
    directory = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return directory


@pytest.mark.timeout(300)
def test_the_site_builds_strictly(site: Path) -> None:
    """``mkdocs build --strict`` passes: no broken link, anchor, reference or stale page."""
    assert (site / "index.html").is_file()
    assert (site / "wire-protocol" / "index.html").is_file()


# ---------------------------------------------------------------------------------
# The wire protocol page


def _flat(data: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")


def _event_types() -> set[type[Event]]:
    found: set[type[Event]] = set()
    todo = [Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return found


def _sections(page: str) -> dict[str, str]:
    """The text under each ``### `name``` heading of the page."""
    parts = re.split(r"^### `([^`]+)`\s*$", page, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def _table_keys(text: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)


def test_the_committed_wire_protocol_page_is_what_the_code_generates() -> None:
    """docs/wire-protocol.md is current: regenerating it from to_wire changes nothing."""
    committed = (DOCS / "wire-protocol.md").read_text(encoding="utf-8")
    assert wire.splice(committed, wire.render()) == committed, (
        "docs/wire-protocol.md is out of date: run python docs/hooks/wire_protocol.py"
    )


def test_the_samples_cover_every_event_type() -> None:
    """The page is generated from at least one sample of every Event subclass there is."""
    sampled = {type(event) for event in wire.sample_events()}
    assert sampled == _event_types()


@pytest.mark.parametrize("naming", ["colon", "dash"])
def test_the_page_lists_every_message_and_key_that_to_wire_sends(naming: WireNaming) -> None:
    """Each message to_wire sends has a section whose key table lists exactly its keys."""
    sections = _sections((DOCS / "wire-protocol.md").read_text(encoding="utf-8"))
    sent: dict[str, set[str]] = {}
    for event in wire.sample_events():
        for message in to_wire(event, naming=naming):
            sent.setdefault(message.name, set()).update(_flat(message.data))
    for name, keys in sent.items():
        assert name in sections, f"the page has no section for {name!r}"
        assert set(_table_keys(sections[name])) == keys, name


def test_the_page_lists_the_snapshot_keys() -> None:
    """The current-state section lists exactly the keys of status_payload in every state."""
    page = (DOCS / "wire-protocol.md").read_text(encoding="utf-8")
    section = page.split("## The current state, first")[1].split("\n## ")[0]
    keys: set[str] = set()
    for _, status in wire.sample_statuses():
        keys.update(_flat(wagate.status_payload(status)))
    assert set(_table_keys(section)) == keys
    states = {status.state for _, status in wire.sample_statuses()}
    assert states == set(wagate.State)


def test_the_page_lists_every_disconnect_reason() -> None:
    """Every DisconnectReason has a row, with whether it is retried."""
    page = (DOCS / "wire-protocol.md").read_text(encoding="utf-8")
    for reason in wagate.DisconnectReason:
        retried = "yes" if reason.retryable else "no"
        assert f"| `{reason.value}` | {retried} |" in page


def test_the_error_codes_table_has_every_core_error() -> None:
    """Every WagateError subclass of the core appears with its code and HTTP status."""
    page = (DOCS / "wire-protocol.md").read_text(encoding="utf-8")
    todo: list[type[wagate.WagateError]] = [wagate.WagateError]
    while todo:
        error = todo.pop()
        todo.extend(error.__subclasses__())
        if error.__module__.startswith("wagate.adapters.webhooks._signing"):
            continue  # raised where webhooks are received, never sent to a client
        assert f"| `{error.code}` | {error.status_code} |" in page, error


@pytest.mark.timeout(300)
def test_the_built_wire_page_shows_every_message(site: Path) -> None:
    """The built page names every message of both namings."""
    html = (site / "wire-protocol" / "index.html").read_text(encoding="utf-8")
    for event in wire.sample_events():
        namings: tuple[WireNaming, ...] = ("colon", "dash")
        for naming in namings:
            for message in to_wire(event, naming=naming):
                assert f"<code>{message.name}</code>" in html


# ---------------------------------------------------------------------------------
# The operations page


def test_the_committed_metrics_table_is_what_the_code_generates() -> None:
    """docs/operations.md's table of metrics is current: regenerating it changes nothing."""
    committed = (DOCS / "operations.md").read_text(encoding="utf-8")
    assert metrics_table.splice(committed, metrics_table.render()) == committed, (
        "docs/operations.md is out of date: run python docs/hooks/metrics_table.py"
    )


def test_the_operations_page_lists_every_metric_a_scrape_sends() -> None:
    """Each metric of METRICS has a row, under the name, type and labels it is exported with."""
    from wagate._telemetry import METRICS

    page = (DOCS / "operations.md").read_text(encoding="utf-8")
    for metric in METRICS:
        labels = ", ".join(f"`{label}`" for label in metric.labels) or "—"
        row = re.search(
            rf"^\| `{metric.name}`[^|]* \| {metric.kind.value} \| {labels} \|", page, re.M
        )
        assert row is not None, metric.name


def test_a_metric_without_a_source_line_fails_the_table() -> None:
    """The hook refuses to render a declared metric that has no line saying where it comes from."""
    from wagate._telemetry import METRICS

    missing = METRICS[0].name
    sources = {k: v for k, v in metrics_table.SOURCES.items() if k != missing}
    with pytest.raises(metrics_table.StalePage, match=missing):
        metrics_table.render(sources)
    with pytest.raises(metrics_table.StalePage, match="wagate_gone_total"):
        metrics_table.render({**metrics_table.SOURCES, "wagate_gone_total": "a metric removed"})


# ---------------------------------------------------------------------------------
# The API reference


def _public_modules() -> list[str]:
    names = ["wagate"]
    for info in pkgutil.walk_packages(wagate.__path__, "wagate."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _rendered() -> dict[str, str]:
    """Module -> the reference page that renders it (``::: module``)."""
    pages: dict[str, str] = {}
    for page in sorted((DOCS / "reference").glob("*.md")):
        for identifier in reference.DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            pages.setdefault(identifier, page.name)
    return pages


def test_every_public_module_has_a_reference_page() -> None:
    """Each public module (no part starting with _) is rendered by a page of docs/reference."""
    rendered = _rendered()
    assert [name for name in _public_modules() if name not in rendered] == []


def test_every_reference_page_is_in_the_nav() -> None:
    """Each page of docs/reference is listed in mkdocs.yml's nav."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (DOCS / "reference").glob("*.md"):
        assert f"reference/{page.name}" in nav, page.name


def test_the_completeness_check_names_what_a_page_misses() -> None:
    """The reference hook reports a name of __all__ a grouped page leaves out, and a stray one."""
    page = "::: wagate.testing\n\n::: wagate.testing.link\n\n::: wagate.testing.nothing\n"
    problems = reference.missing_and_stale(page)
    assert "add '::: wagate.testing.wait_for' (it is in wagate.testing.__all__)" in problems
    assert "add '::: wagate.testing.collect' (it is in wagate.testing.__all__)" in problems
    assert "'::: wagate.testing.nothing' is not in wagate.testing.__all__" in problems


def test_the_reference_pages_are_complete() -> None:
    """No page of docs/reference misses (or invents) a name of its modules' __all__."""
    for page in sorted((DOCS / "reference").glob("*.md")):
        assert reference.missing_and_stale(page.read_text(encoding="utf-8")) == [], page.name


# ---------------------------------------------------------------------------------
# The home page


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_home_page_has_the_readmes_two_commands() -> None:
    """The commands on the home page are the README's Quickstart, word for word."""
    readme = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    home = _bash_blocks((DOCS / "index.md").read_text(encoding="utf-8"))
    assert readme[:2] == home[:2]
    assert "wagate serve --simulator" in home[0]
