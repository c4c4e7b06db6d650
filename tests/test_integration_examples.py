"""examples/fastapi_app.py and examples/flask_app.py, started for real and driven over HTTP.

Each example is a host app with its own users and login: a user logs in with a
password, gets a token for their tenant, and sees that tenant only, over REST and
over Socket.IO (mounted in the FastAPI app; beside Flask on its own port).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import attrs
import httpx
import jwt
import pytest
import socketio

from test_contract_support import CONTACT, REPO, Process, bearer

pytestmark = pytest.mark.timeout(120)

SECRET = "example-test-secret-" + "y" * 32
EXAMPLES = ("fastapi_app.py", "flask_app.py")


@attrs.frozen
class Example:
    """A running example: its URL, its Socket.IO URL, the demo users' passwords."""

    name: str
    url: str
    socketio_url: str
    passwords: dict[str, str]

    def client(self, token: str | None = None) -> httpx.Client:
        """A client for the example (with the token, when given)."""
        return httpx.Client(base_url=self.url, headers=bearer(token) if token else {}, timeout=15)

    def login(self, username: str) -> dict[str, Any]:
        """Log in as ``username`` with its password; return the login answer."""
        with self.client() as http:
            response = http.post(
                "/login", json={"username": username, "password": self.passwords[username]}
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _start(name: str, **env: str) -> Process:
    return Process(
        [sys.executable, str(REPO / "examples" / name), "--simulator", "--port", "0"], env=env
    )


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> Iterator[Example]:
    """The example app, running with a secret from the environment."""
    process = _start(request.param, WAGATE_SECRET=SECRET)
    try:
        url = process.wait_for_line(lambda line: line.startswith("listening on ")).split()[-1]
        socketio_url = url
        if request.param == "flask_app.py":
            line = process.wait_for_line(lambda line: line.startswith("socket.io on "))
            socketio_url = line.split()[-1]
        passwords = {}
        for user in ("alice", "bob"):
            prefix = f"user {user} "
            line = process.wait_for_line(lambda line: line.startswith(prefix))  # noqa: B023
            match = re.search(r"password: (\S+)$", line)
            assert match is not None, line
            passwords[user] = match.group(1)
        yield Example(request.param, url, socketio_url, passwords)
    finally:
        process.stop()
        assert "Traceback" not in process.output, process.output


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize(
    ("secret", "message"),
    [("", "set WAGATE_SECRET"), ("too-short", "at least 32")],
)
def test_example_refuses_to_start_without_a_secret(name: str, secret: str, message: str) -> None:
    """Without WAGATE_SECRET (or with a weak one) the example exits 2 and says why."""
    process = _start(name, WAGATE_SECRET=secret)
    code = process.proc.wait(60)
    process.stop()
    assert code == 2, process.output
    assert message in process.output
    assert "Traceback" not in process.output


def test_login_issues_a_token_for_the_users_tenant(example: Example) -> None:
    """POST /login with the right password answers a JWT whose tenant is the user's."""
    answer = example.login("alice")
    assert answer["tenant"] == "acme"
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS256"])
    assert claims["tenant"] == "acme"
    assert claims["sub"] == "alice"
    with example.client(answer["token"]) as http:
        status = http.get("/status")
    assert status.status_code == 200
    assert status.json()["tenant"] == "acme"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "alice", "password": "wrong"}, 401),
        ({"username": "mallory", "password": "whatever"}, 401),
        ({"username": "alice"}, 422),
        ({"username": "", "password": ""}, 422),
    ],
)
def test_login_refuses_bad_credentials(example: Example, body: dict[str, str], status: int) -> None:
    """A wrong password or unknown user is 401; a malformed login is 422; no token either way."""
    with example.client() as http:
        response = http.post("/login", json=body)
    assert response.status_code == status, response.text
    assert "token" not in response.json()
    assert "set-cookie" not in response.headers


def test_each_user_sees_only_their_tenant(example: Example) -> None:
    """Alice links and sends for acme; Bob sees globex untouched and cannot pick acme."""
    alice = example.login("alice")["token"]
    bob = example.login("bob")["token"]
    with example.client(alice) as http_alice, example.client(bob) as http_bob:
        assert http_alice.post("/api/qr/generate").status_code == 202
        assert http_alice.post("/api/simulator/scan").json()["status"] == "connected"
        sent = http_alice.post("/api/send", json={"to": CONTACT, "text": "from acme"})
        assert sent.status_code == 200
        assert sent.json()["tenant"] == "acme"

        status = http_bob.get("/status").json()
        assert status["tenant"] == "globex"
        assert status["status"] == "disconnected"
        assert http_bob.get("/status", params={"tenant": "acme"}).status_code == 403
        assert http_bob.get("/status", headers={"X-Wagate-Tenant": "acme"}).status_code == 403
        refused = http_bob.post("/api/send", json={"to": CONTACT, "text": "from globex"})
        assert refused.status_code == 409
        assert http_alice.get("/status").json()["status"] == "connected"


def test_login_sets_the_cookie_the_api_reads(example: Example) -> None:
    """The cookie POST /login sets (HttpOnly) authenticates the API for a browser."""
    with example.client() as browser:
        response = browser.post(
            "/login", json={"username": "bob", "password": example.passwords["bob"]}
        )
        assert "httponly" in response.headers["set-cookie"].lower()
        assert browser.get("/status").json()["tenant"] == "globex"
        assert browser.get("/").status_code == 200


def test_no_token_no_access(example: Example) -> None:
    """The example's wagate routes refuse a request without a token."""
    with example.client() as http:
        assert http.get("/status").status_code == 401
        assert http.post("/api/send", json={"to": CONTACT, "text": "x"}).status_code == 401


@pytest.mark.anyio
async def test_socketio_carries_the_users_tenant_only(example: Example) -> None:
    """A Socket.IO client with Bob's token gets globex's status, and never acme's events."""
    bob = example.login("bob")["token"]
    alice = example.login("alice")["token"]
    seen: list[tuple[str, Any]] = []
    got_status = anyio.Event()
    got_qr = anyio.Event()
    client = socketio.AsyncClient()

    async def any_event(event: str, data: Any, *offset: str) -> None:
        seen.append((event, data))
        if event == "connection:status":
            got_status.set()
        elif event == "qr:generated":
            got_qr.set()

    client.on("*", any_event)
    await client.connect(example.socketio_url, auth={"token": bob}, transports=["websocket"])
    try:
        with anyio.fail_after(15):
            await got_status.wait()
        # Alice's tenant makes events (a new login, or a message if linked) first...
        async with httpx.AsyncClient(base_url=example.url, headers=bearer(alice)) as http:
            await http.post("/api/qr/generate")
            await http.post("/api/simulator/receive", json={"from": CONTACT, "text": "acme"})
        # ...then Bob's: once his QR arrives, anything of Alice's would have too.
        async with httpx.AsyncClient(base_url=example.url, headers=bearer(bob)) as http:
            assert (await http.post("/api/qr/generate")).status_code == 202
        with anyio.fail_after(15):
            await got_qr.wait()
    finally:
        await client.disconnect()
    tenants = {data.get("tenant") for _, data in seen if isinstance(data, dict)}
    assert tenants == {"globex"}, seen
