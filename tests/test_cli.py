"""The ``wagate`` console script, run for real in subprocesses: serve, login, help, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from test_contract_support import CONTACT, SCRIPTS, Process, mint

pytestmark = pytest.mark.timeout(120)

WAGATE = str(SCRIPTS / "wagate")
SECRET = "cli-test-secret-" + "x" * 32
"""A secret given through WAGATE_SECRET (only in the environment of the child)."""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAGATE_SECRET"}
    env.update(extra)
    return env


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``wagate ARGS`` to completion."""
    return subprocess.run(
        [WAGATE, *args], capture_output=True, text=True, timeout=60, env=_env(**env), check=False
    )


class Serving:
    """A running ``wagate serve``: its base URL and, without a secret, its login link."""

    data_dir: Path

    def __init__(self, process: Process) -> None:
        self.process = process
        line = process.wait_for_line(lambda line: "serving on http://" in line)
        match = re.search(r"serving on (http://\S+)", line)
        assert match is not None, line
        self.url = match.group(1).replace("localhost", "127.0.0.1")
        process.wait_for_line(lambda line: "Application startup complete" in line)
        links = [line for line in process.lines if "/login?token=" in line]
        self.link = links[0].strip().replace("localhost", "127.0.0.1") if links else None


StartServe = Callable[..., Serving]


@pytest.fixture
def serve_cli() -> Iterator[StartServe]:
    """Starts ``wagate serve --simulator --port 0 ARGS`` processes; stops them after the test."""
    started: list[Process] = []

    def start(*args: str, secret: str | None = None) -> Serving:
        env = {"WAGATE_SECRET": secret} if secret else {}
        process = Process([WAGATE, "serve", "--simulator", "--port", "0", *args], env=_env(**env))
        started.append(process)
        return Serving(process)

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """One `wagate serve --simulator` without a secret, shared by the tests that only look."""
    data_dir = tmp_path_factory.mktemp("demo") / "fresh" / "data"
    process = Process(
        [WAGATE, "serve", "--simulator", "--port", "0", "--data-dir", str(data_dir)], env=_env()
    )
    try:
        server = Serving(process)
        server.data_dir = data_dir
        yield server
    finally:
        process.stop()


@contextlib.contextmanager
def login_through_link(link: str) -> Iterator[httpx.Client]:
    """Open the printed link like a browser; yield a client holding the cookie it set."""
    with httpx.Client(timeout=15) as client:
        yield _follow(client, link)


def _follow(client: httpx.Client, link: str) -> httpx.Client:
    response = client.get(link)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("wagate_token=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    return client


def wait_connected_without_qr(client: httpx.Client, base: str) -> dict[str, object]:
    """Read the tenant's SSE stream until it is connected; fail if a QR code shows up."""
    with client.stream("GET", f"{base}/api/events") as stream:
        assert stream.status_code == 200
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                assert event != "qr:generated", "a restored tenant needs no QR code"
            elif line.startswith("data: ") and event == "connection:status":
                data: dict[str, object] = json.loads(line[6:])
                if data["status"] == "connected":
                    return data
    raise AssertionError("the stream ended before the tenant connected")


# ---------------------------------------------------------------------------------
# serve


def test_serve_login_link_sets_an_httponly_cookie_and_redirects(demo: Serving) -> None:
    """Without a secret, serve prints a link that logs a browser in as 'demo', cookie only."""
    server = demo
    assert server.link is not None, server.process.output
    with login_through_link(server.link) as browser:
        page = browser.get(f"{server.url}/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        status = browser.get(f"{server.url}/status")
        assert status.status_code == 200
        assert status.json()["tenant"] == "demo"
    with httpx.Client(timeout=15) as stranger:
        assert stranger.get(f"{server.url}/status").status_code == 401
        bad = stranger.get(f"{server.url}/login", params={"token": "forged"})
        assert bad.status_code == 401
        assert "set-cookie" not in bad.headers


def test_login_link_followed_from_another_site_is_refused(demo: Serving) -> None:
    """A login link clicked on another site sets no cookie (login CSRF): 403, JSON."""
    assert demo.link is not None
    with httpx.Client(timeout=15) as browser:
        for site in ("cross-site", "same-site"):
            response = browser.get(demo.link, headers={"Sec-Fetch-Site": site})
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "cross_site_login"
            assert "set-cookie" not in response.headers
        typed = browser.get(demo.link, headers={"Sec-Fetch-Site": "none"})
        assert typed.status_code == 303
        assert "set-cookie" in typed.headers


def test_serve_keeps_the_token_out_of_the_access_log(demo: Serving) -> None:
    """The access log line of the login link shows <redacted>, not the token."""
    server = demo
    assert server.link is not None
    token = server.link.split("token=", 1)[1]
    with login_through_link(server.link):
        pass
    server.process.wait_for_line(lambda line: "/login?token=<redacted>" in line)
    printed_once = [line for line in server.process.lines if token in line]
    assert len(printed_once) == 1, "the token appears only in the printed link"


def test_serve_simulator_scan_send_receive(demo: Serving) -> None:
    """With --simulator the caller's phone scans the QR, and messages go out and come in."""
    server = demo
    assert server.link is not None
    with login_through_link(server.link) as browser:
        base = server.url
        generated = browser.post(f"{base}/api/qr/generate")
        assert generated.status_code == 202
        assert generated.json()["state"] == "awaiting_scan"
        scanned = browser.post(f"{base}/api/simulator/scan")
        assert scanned.status_code == 200
        assert scanned.json()["status"] == "connected"
        sent = browser.post(f"{base}/api/send", json={"to": CONTACT, "text": "halo"})
        assert sent.status_code == 200
        assert sent.json()["success"] is True
        with browser.stream("GET", f"{base}/api/events") as stream:
            lines = stream.iter_lines()
            for line in lines:
                if line.startswith("event: connection:status"):
                    break
            received = browser.post(
                f"{base}/api/simulator/receive", json={"from": CONTACT, "text": "apa kabar"}
            )
            assert received.status_code == 200
            for line in lines:
                if line.startswith("data: ") and '"apa kabar"' in line:
                    data = json.loads(line[6:])
                    break
        assert data["from"] == "628111222333@s.whatsapp.net"
        assert data["tenant"] == "demo"


def test_serve_restart_reconnects_without_a_qr(serve_cli: StartServe, tmp_path: Path) -> None:
    """A tenant linked before a restart (same data dir) is connected again, no QR shown."""
    data_dir = str(tmp_path / "data")
    first = serve_cli("--data-dir", data_dir, secret=SECRET)
    assert first.link is None, "with a secret, no demo link is printed"
    token = mint("acme", secret=SECRET)
    with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {token}"}) as http:
        http.post("/api/qr/generate")
        linked = http.post("/api/simulator/scan").json()
        assert linked["status"] == "connected"
    assert first.process.stop() == 130, "Ctrl+C stops serve as an interrupted command"
    assert "Traceback" not in first.process.output

    second = serve_cli("--data-dir", data_dir, secret=SECRET)
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
        status = wait_connected_without_qr(http, second.url)
        assert status["user"] == linked["user"]
        assert http.get(f"{second.url}/api/qr").status_code == 404


def test_serve_data_dir_is_private(demo: Serving) -> None:
    """The data directory serve creates is readable by its owner only (0700)."""
    data_dir = demo.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "wagate.db").exists()


def test_serve_openapi_is_served(demo: Serving) -> None:
    """Serve documents its API at /openapi.json, simulator routes included."""
    server = demo
    paths = httpx.get(f"{server.url}/openapi.json", timeout=15).json()["paths"]
    assert {"/status", "/api/qr", "/api/send", "/api/simulator/scan"} <= set(paths)


# ---------------------------------------------------------------------------------
# login


def test_login_simulator_links_and_exits_0(tmp_path: Path) -> None:
    """`wagate login --simulator` draws the QR, links, exits 0; a second run just reconnects."""
    data_dir = str(tmp_path / "data")
    first = run("login", "--simulator", "--data-dir", data_dir, "--tenant", "acme")
    assert first.returncode == 0, first.stderr
    assert "\u2588" in first.stdout, "the QR code is drawn in the terminal"
    assert "linked +628" in first.stdout
    second = run("login", "--simulator", "--data-dir", data_dir, "--tenant", "acme")
    assert second.returncode == 0, second.stderr
    assert "reconnecting" in second.stdout
    assert "\u2588" not in second.stdout, "a linked tenant needs no QR code"


def test_login_then_serve_serves_the_tenant_connected(
    serve_cli: StartServe, tmp_path: Path
) -> None:
    """A tenant linked with `wagate login` is connected when `wagate serve` starts."""
    data_dir = str(tmp_path / "data")
    assert run("login", "--simulator", "--data-dir", data_dir, "--tenant", "acme").returncode == 0
    server = serve_cli("--data-dir", data_dir, secret=SECRET)
    token = mint("acme", secret=SECRET)
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
        wait_connected_without_qr(http, server.url)


# ---------------------------------------------------------------------------------
# help and bad input


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--help",), ["serve", "login", "--version"]),
        (
            ("serve", "--help"),
            [
                "--simulator",
                "--host",
                "--port",
                "--data-dir",
                "--database",
                "--secret",
                "WAGATE_SECRET",
                "tenant",
                "/api/simulator/scan",
            ],
        ),
        (("login", "--help"), ["--simulator", "--data-dir", "--database", "--tenant"]),
    ],
)
def test_help_is_complete(args: tuple[str, ...], expected: list[str]) -> None:
    """Each help text exits 0 and names every option of its command."""
    result = run(*args)
    assert result.returncode == 0, result.stderr
    for word in expected:
        assert word in result.stdout, word


def test_python_m_wagate_and_version() -> None:
    """`python -m wagate --version` works like the console script."""
    result = subprocess.run(
        [sys.executable, "-m", "wagate", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("wagate ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "--port", "abc"), "not a port number"),
        (("serve", "--port", "70000"), "is not a port"),
        (("serve", "--port", "-1"), "is not a port"),
        (("login", "--tenant", "bad tenant"), "tenant id 'bad tenant' is invalid"),
        (("login", "--tenant", "x" * 129), "is invalid"),
        (("serve", "--simulator", "--secret", "short"), "at least 32"),
        (("serve", "--simulator", "--host", "192.0.2.1"), "cannot listen on 192.0.2.1:8000"),
        (
            ("serve", "--simulator", "--database", "postgresql://nobody@127.0.0.1:1/none"),
            "cannot connect to the PostgreSQL session store",
        ),
        (("bogus",), "invalid choice"),
        ((), "required"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Bad arguments: exit status 2, a one-line reason on stderr, no traceback."""
    extra = () if not args or args[0] == "bogus" else ("--data-dir", str(tmp_path / "d"))
    result = run(*args, *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["serve", "login"])
def test_unwritable_data_dir_exits_2(tmp_path: Path, command: str) -> None:
    """A data directory that cannot be created or written: exit 2, the path named."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = str(blocker / "data")
    result = run(command, "--simulator", "--data-dir", data_dir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert data_dir in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_data_dir_in_use_exits_2(demo: Serving) -> None:
    """A second serve on a data dir that a running one holds: exit 2, store_locked reason."""
    result = run("serve", "--simulator", "--port", "0", "--data-dir", str(demo.data_dir))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "another process" in result.stderr.lower()
    assert "Traceback" not in result.stderr + result.stdout


def test_busy_port_exits_2(demo: Serving, tmp_path: Path) -> None:
    """Serving on a port already taken: exit 2 naming the address."""
    port = demo.url.rsplit(":", 1)[1]
    result = run("serve", "--simulator", "--port", port, "--data-dir", str(tmp_path / "two"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
