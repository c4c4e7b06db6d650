"""The dashboard's files: how both integrations serve them, and what they contain.

No browser here (``test_dashboard.py`` drives one): the routes over real
servers, and checks that the component's words, states and reasons agree with
the message tables and with wagate's own enums.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from wagate import DisconnectReason, State
from wagate.integrations import STATIC_PREFIX, dashboard_html, static_reply

STATIC = resources.files("wagate.integrations").joinpath("static")
DOCS = Path(__file__).parent.parent / "docs" / "dashboard.md"


def _source(name: str) -> str:
    return STATIC.joinpath(name).read_text("utf-8")


def _table(language: str) -> dict[str, str]:
    """The keys of one message table in i18n.js (``const en = {...};``)."""
    source = _source("i18n.js")
    block = source.split(f"const {language} = {{", 1)[1].split("\n};", 1)[0]
    return dict(re.findall(r'^  (\w+):\s*\n?\s*"([^"]*)"', block, flags=re.MULTILINE))


# ---------------------------------------------------------------------------------
# Served by both integrations


@pytest.fixture(params=["fastapi", "flask"])
def served_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of each integration, started for real with the simulator routes."""
    pytest.importorskip("httpx")
    pytest.importorskip(request.param)
    from test_contract_support import serve

    with serve(request.param) as served:
        yield served.url


def test_both_integrations_serve_the_page_and_its_assets(served_url: str) -> None:
    """``/`` is the page, and ``/wagate-static/`` serves its modules with the JS media type."""
    import httpx

    with httpx.Client(base_url=served_url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<wagate-connection simulator="true">' in page.text
        for name in ("wagate-connection.js", "i18n.js", "live.js", "styles.js"):
            module = client.get(f"{STATIC_PREFIX}/{name}")
            assert module.status_code == 200, name
            assert module.headers["content-type"] == "text/javascript; charset=utf-8"
            assert module.headers["x-content-type-options"] == "nosniff"
            assert module.headers["cache-control"] == "no-cache"
        vendored = client.get(f"{STATIC_PREFIX}/vendor/socket.io.esm.min.js")
        assert vendored.status_code == 200
        assert vendored.text.startswith("/*!\n * Socket.IO v")


def test_assets_revalidate_with_their_etag(served_url: str) -> None:
    """A matching ``If-None-Match`` gets 304 and no body; another tag gets the file."""
    import httpx

    with httpx.Client(base_url=served_url, timeout=10) as client:
        first = client.get(f"{STATIC_PREFIX}/i18n.js")
        etag = first.headers["etag"]
        again = client.get(f"{STATIC_PREFIX}/i18n.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        other = client.get(f"{STATIC_PREFIX}/i18n.js", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200
        assert other.content == first.content


@pytest.mark.parametrize(
    "path",
    [
        "nothing.js",
        "index.html",  # the page is served at /, not as an asset
        "vendor",
        "../__init__.py",
        "%2e%2e/__init__.py",
        "..%2f_rest.py",
        "vendor/../../fastapi.py",
        "/etc/passwd",
    ],
)
def test_unknown_or_escaping_asset_paths_are_json_404s(served_url: str, path: str) -> None:
    """Paths that are not one of the dashboard's files, or try to leave its folder, are 404 JSON."""
    import httpx

    # werkzeug answers "//" with a redirect to the single-slash path: follow it.
    with httpx.Client(base_url=served_url, timeout=10, follow_redirects=True) as client:
        response = client.get(f"{served_url}{STATIC_PREFIX}/{path}")
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


def test_static_reply_knows_only_its_own_files() -> None:
    """``static_reply`` answers from a fixed set of files, whatever the path looks like."""
    assert static_reply("wagate-connection.js").status == 200
    assert static_reply("vendor/socket.io-client.LICENSE.txt").status == 200
    for path in ("", "/", ".", "..", "wagate-connection.js/", "./i18n.js", "I18N.JS"):
        assert static_reply(path).status == 404, path


def test_dashboard_html_says_whether_the_simulator_is_on() -> None:
    """The page's placeholder becomes ``simulator="true"`` or ``"false"``; none is left."""
    assert '<wagate-connection simulator="true">' in dashboard_html(simulator=True)
    assert '<wagate-connection simulator="false">' in dashboard_html(simulator=False)
    assert "{{" not in dashboard_html(simulator=True)


# ---------------------------------------------------------------------------------
# Words, states and reasons agree


def test_every_word_the_component_asks_for_is_in_the_english_table() -> None:
    """Each key the component's code and template name exists in the English table."""
    english = _table("en")
    component = _source("wagate-connection.js")
    used = set(re.findall(r'\bt\("(\w+)"', component))
    used |= set(re.findall(r'data-t(?:-placeholder)?="(\w+)"', component))
    used |= set(re.findall(r'(?:lost|unreachable|restored): "(\w+)"', component))
    assert used, "no keys found: the pattern no longer matches the component"
    assert used - set(english) == set()


def test_every_state_and_reason_has_words() -> None:
    """The badge has words for every State and the detail line for every DisconnectReason."""
    english = _table("en")
    assert {state.value for state in State} - set(english) == set()
    assert {f"reason_{reason.value}" for reason in DisconnectReason} - set(english) == set()


def test_bahasa_indonesia_has_every_english_word() -> None:
    """The Indonesian table is complete, and uses the words its first users expect."""
    english, indonesian = _table("en"), _table("id")
    assert len(english) > 50
    assert set(indonesian) == set(english)
    assert indonesian["awaiting_scan"] == "Menunggu scan"
    assert indonesian["connected"] == "Terhubung"


def test_the_vendored_socketio_client_is_the_documented_one() -> None:
    """The vendored client keeps its license header, its license file, and matches the docs."""
    client = _source("vendor/socket.io.esm.min.js")
    match = re.match(r"/\*!\n \* Socket\.IO v(\d+\.\d+\.\d+)\n", client)
    assert match is not None
    assert "Released under the MIT License." in client[:200]
    assert "MIT License" in _source("vendor/socket.io-client.LICENSE.txt")
    assert f"socket.io-client {match.group(1)}" in DOCS.read_text("utf-8")
