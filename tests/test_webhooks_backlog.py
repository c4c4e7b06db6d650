"""Webhook endpoints' durable backlogs: outages of the receiver and restarts of the process.

The receiver is a real HTTP server on 127.0.0.1 (port from the OS) that answers 500,
hangs, or stops listening (connections refused) in turn, then recovers; every request
it gets is checked with wagate's verify_signature and with the `standardwebhooks`
library.  Each test runs on the SQLite and on the PostgreSQL store.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from wagate import Backoff, Connected, Gateway, QrGenerated, Session
from wagate.adapters.callbacks import (
    ATTEMPT_HEADER,
    REPLAY_HEADER,
    STANDARD_ID_HEADER,
    DeadLetterStore,
    SignatureError,
    SQLiteDeadLetters,
    WebhookDispatcher,
    WebhookEndpoint,
    standard_secret,
    verify_signature,
)
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

pytest.importorskip("httpx", reason="webhooks need the 'webhooks' extra (httpx)")

pytestmark = pytest.mark.anyio

TIMEOUT = 60.0
SECRET = "whsec_d2FnYXRlLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY="
PLAIN_SECRET = "a plain secret, not whsec_ (32+)"
PHONE = "+628123456789"
SENDER = "+628111222333"
PER_PHASE = 1000  # events arriving while the receiver answers 500, hangs, refuses
FAST = Backoff(initial=0.01, maximum=0.02, jitter=0.0)


@attrs.define
class Request:
    """One request as the receiver saw it, and how it was answered."""

    headers: dict[str, str]
    body: bytes
    answer: str
    errors: list[str]

    @property
    def envelope(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def id(self) -> str:
        return self.headers[STANDARD_ID_HEADER]


class Receiver:
    """An HTTP receiver on 127.0.0.1 whose mood is "ok", "500" or "hang", or that refuses."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.webhook = Webhook(standard_secret(secret))
        self.requests: list[Request] = []
        self.ok_texts: set[str | None] = set()  # what "ok" answers carried, kept as they come
        self.cond = threading.Condition()
        self.mode = "ok"
        self.unhang = threading.Event()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._limiter = anyio.CapacityLimiter(4)

    # -- the server ------------------------------------------------------------------
    def listen(self) -> Receiver:
        """Accept connections (again) on the same port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                receiver._handle(self)

            def do_GET(self) -> None:  # how many posts it has had (for a child process)
                with receiver.cond:
                    payload = str(len(receiver.requests)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def refuse(self) -> None:
        """Stop listening: new connections are refused, open ones are hung up on."""
        self.set_mode("refuse")
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(TIMEOUT)

    def set_mode(self, mode: str) -> None:
        with self.cond:
            self.mode = mode
        if mode == "hang":
            self.unhang.clear()
        else:
            self.unhang.set()

    def stop(self) -> None:
        self.refuse()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        errors: list[str] = []
        try:
            verify_signature(self.secret, handler.headers, body)
        except SignatureError as exc:
            errors.append(f"wagate: {exc.code}")
        try:
            self.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            errors.append(f"standardwebhooks: {exc}")
        with self.cond:
            mode = "401" if errors else self.mode
            request = Request(headers=headers, body=body, answer=mode, errors=errors)
            self.requests.append(request)
            if mode == "ok":
                self.ok_texts.add(_text(request))
            self.cond.notify_all()
        if mode == "hang":
            self.unhang.wait(TIMEOUT)
        if mode in ("hang", "refuse"):
            handler.close_connection = True  # hang up without an answer
            return
        status = 200 if mode == "ok" else int(mode)
        payload = b"{}"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass

    # -- what tests look at ------------------------------------------------------------
    def answered(self, answer: str) -> list[Request]:
        with self.cond:
            return [r for r in self.requests if r.answer == answer]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        def wait() -> bool:
            with self.cond:
                return self.cond.wait_for(predicate, timeout=TIMEOUT)

        assert await anyio.to_thread.run_sync(wait, limiter=self._limiter), "timed out"

    async def wait_text(self, text: str) -> None:
        await self.wait_for(lambda: text in self.ok_texts)


def _text(request: Request) -> str | None:
    envelope = request.envelope
    return envelope["data"].get("text") if envelope["event"] == "message:received" else None


async def poll_until(check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Wait until the awaitable ``check()`` is truthy: for a store that notifies nobody."""
    with anyio.fail_after(timeout):
        while True:
            value = await check()
            if value:
                return value
            await anyio.sleep(0.02)


async def _empty(store: DeadLetterStore) -> bool:
    return await store.backlog(limit=1) == []


def store_at(location: str) -> DeadLetterStore:
    """The dead-letter store at ``location``: a PostgreSQL URL or a SQLite file."""
    if location.startswith("postgresql://"):
        from wagate.stores.postgres import PostgresDeadLetters  # needs psycopg

        return PostgresDeadLetters(location)
    return SQLiteDeadLetters(location)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the dead-letter store lives: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "webhooks.db")
    make: Callable[[str], str] = request.getfixturevalue("new_postgres_database")
    return make("wagate_webhooks")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A listening receiver with a Standard Webhooks (whsec_) secret."""
    server = Receiver(SECRET).listen()
    try:
        yield server
    finally:
        server.stop()


async def link(gateway: Gateway, phone: SimulatedPhone) -> Session:
    """Connect tenant acme and scan its QR code with ``phone``."""
    session = await gateway.session("acme")
    with anyio.fail_after(TIMEOUT):
        async with gateway.events("acme") as events:
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    phone.scan(event.code)
                elif isinstance(event, Connected):
                    break
    return session


def _messages(phone: SimulatedPhone, phase: str) -> list[str]:
    texts = [f"{phase}-{i}" for i in range(PER_PHASE)]
    for text in texts:
        phone.receive_message(SENDER, text)
    return texts


async def test_an_outage_of_500s_hangs_and_refusals_loses_nothing_and_keeps_order(
    receiver: Receiver, location: str
) -> None:
    """Events arriving while the receiver fails in every way are delivered in order or kept."""
    phone = SimulatedPhone(number=PHONE, name="acme")
    store = store_at(location)
    hook = WebhookEndpoint(url=receiver.url(), secret=SECRET, tenant="acme", name="crm")
    sent: list[str] = []
    async with (
        Gateway(lambda tenant: SimulatedDriver(phone=phone, seed=3)) as gateway,
        WebhookDispatcher(
            gateway, [hook], dead_letters=store, attempts=3, backoff=FAST, timeout=0.2
        ),
    ):
        receiver.set_mode("500")
        await link(gateway, phone)
        sent += _messages(phone, "failing")
        # At least one event used up its tries on 500s (the next one is being tried).
        await receiver.wait_for(lambda: len({r.id for r in receiver.answered("500")}) >= 2)
        receiver.set_mode("hang")
        sent += _messages(phone, "hanging")
        await receiver.wait_for(lambda: len({r.id for r in receiver.answered("hang")}) >= 2)
        receiver.refuse()
        sent += _messages(phone, "refusing")

        async def refused() -> bool:
            return any("connection failed" in letter.error for letter in await store.letters())

        await poll_until(refused)
        receiver.set_mode("ok")
        receiver.listen()
        await receiver.wait_text(sent[-1])
        await poll_until(lambda: _empty(store))  # the last one is marked delivered after its answer
        letters = await store.letters()

    assert [r.errors for r in receiver.requests if r.errors] == []
    answered = receiver.answered("ok")
    # At least once: an answer that comes after the client's timeout (a loaded
    # machine) is retried, so the receiver may see an id twice, and then only the
    # event in flight, at once again; by webhook-id nothing is repeated.
    delivered: list[Request] = []
    for request in answered:
        if delivered and request.id == delivered[-1].id:
            continue  # the event in flight, posted again
        delivered.append(request)
    seqs = [r.envelope["seq"] for r in delivered]
    assert seqs == sorted(set(seqs)), "delivered out of order or twice"
    assert [r.id for r in delivered] == [f"acme:{seq}" for seq in seqs]
    for letter in letters:
        envelope = json.loads(letter.body)
        assert (envelope["tenant"], envelope["seq"]) == (letter.tenant, letter.seq)
    dead_texts = [json.loads(x.body)["data"].get("text") for x in letters]
    delivered_texts = [_text(r) for r in delivered]
    missing = set(sent) - set(delivered_texts) - set(dead_texts)
    assert not missing, f"{len(missing)} event(s) neither delivered nor dead letters"
    assert not set(delivered_texts) & set(dead_texts)
    assert [t for t in delivered_texts if t is not None] == [t for t in sent if t not in dead_texts]
    errors = [letter.error for letter in letters]
    for cause in ("HTTP 500", "timed out", "connection failed"):
        assert any(error.startswith(cause) for error in errors), (cause, errors)
    print(  # the figures, for the record (pytest -s)
        f"\n{len(sent)} events sent: {sum(1 for t in delivered_texts if t)} delivered, "
        f"{len(dead_texts)} dead letters, {len(missing)} missing"
    )


CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, urllib.request
    import anyio, anyio.to_thread
    from wagate import Backoff, Connected, Gateway, QrGenerated
    from wagate.adapters.callbacks import SQLiteDeadLetters, WebhookDispatcher, WebhookEndpoint
    from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

    location, url, secret, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def store_at(location):
        if location.startswith("postgresql://"):
            from wagate.stores.postgres import PostgresDeadLetters
            return PostgresDeadLetters(location)
        return SQLiteDeadLetters(location)

    async def main():
        phone = SimulatedPhone(number="+628123456789", name="acme")
        store = store_at(location)
        hook = WebhookEndpoint(url=url, secret=secret, tenant="acme", name="crm")
        # One try, then a wait far longer than this process lives: the backlog grows.
        slow = Backoff(initial=600, maximum=600, jitter=0.0)
        async with Gateway(lambda tenant: SimulatedDriver(phone=phone, seed=3)) as gateway, \\
                WebhookDispatcher(gateway, [hook], dead_letters=store, attempts=100,
                                  backoff=slow, timeout=5):
            session = await gateway.session("acme")
            async with gateway.events("acme") as events:
                await session.connect()
                async for event in events:
                    if isinstance(event, QrGenerated):
                        phone.scan(event.code)
                    elif isinstance(event, Connected):
                        break
            for i in range(count):
                phone.receive_message("+628111222333", f"m{i}")
            newest = gateway.hub.last_seq("acme")
            with anyio.fail_after(60):
                while True:
                    backlog = await store.backlog()
                    if backlog and backlog[-1].seq == newest:
                        break
                    await anyio.sleep(0.02)
            # Killed while posting: once the receiver has had the first try.
            def posts():
                with urllib.request.urlopen(url, timeout=5) as reply:
                    return int(reply.read())
            with anyio.fail_after(60):
                while await anyio.to_thread.run_sync(posts) == 0:
                    await anyio.sleep(0.02)
            print(json.dumps([entry.seq for entry in backlog]), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no clean exit: nothing flushed

    anyio.run(main)
    """
)


async def test_a_backlog_left_by_a_killed_process_is_delivered_by_the_next_one(
    receiver: Receiver, location: str
) -> None:
    """A process killed with a full backlog leaves it in the store; the next one posts it all."""
    count = 300
    receiver.set_mode("500")
    with anyio.fail_after(TIMEOUT):
        result = await anyio.run_process(
            [sys.executable, "-c", CHILD, location, receiver.url(), SECRET, str(count)],
            check=False,
        )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    left: list[int] = json.loads(result.stdout)
    assert len(left) >= count
    assert receiver.answered("500"), "the killed process was posting"

    receiver.set_mode("ok")
    hook = WebhookEndpoint(url=receiver.url(), secret=SECRET, tenant="acme", name="crm")
    async with (
        Gateway(lambda tenant: SimulatedDriver(phone=SimulatedPhone(number=PHONE))) as gateway,
        WebhookDispatcher(gateway, [hook], dead_letters=store_at(location), backoff=FAST) as hooks,
    ):
        await receiver.wait_text(f"m{count - 1}")
        await poll_until(lambda: _empty(hooks.dead_letters))
        assert await hooks.dead_letters.letters() == []
    delivered = receiver.answered("ok")
    assert [r.envelope["seq"] for r in delivered] == left
    assert [_text(r) for r in delivered][-count:] == [f"m{i}" for i in range(count)]
    first = delivered[0]
    assert first.id == receiver.answered("500")[0].id  # the one in flight, posted again
    assert [r.errors for r in receiver.requests if r.errors] == []


async def test_a_replayed_dead_letter_keeps_its_id_and_verifies_with_standardwebhooks(
    tmp_path: Path,
) -> None:
    """A dead letter replayed later has the same webhook-id, is marked a replay, and verifies."""
    server = Receiver(PLAIN_SECRET).listen()
    try:
        server.set_mode("500")
        phone = SimulatedPhone(number=PHONE, name="acme")
        hook = WebhookEndpoint(url=server.url(), secret=PLAIN_SECRET, tenant="acme", name="crm")
        async with (
            Gateway(lambda tenant: SimulatedDriver(phone=phone, seed=3)) as gateway,
            WebhookDispatcher(
                gateway,
                [hook],
                dead_letters=SQLiteDeadLetters(tmp_path / "webhooks.db"),
                attempts=2,
                backoff=FAST,
            ) as hooks,
        ):
            await link(gateway, phone)
            phone.receive_message(SENDER, "kept")

            async def kept() -> bool:
                letters = await hooks.dead_letters.letters()
                return any(b'"kept"' in letter.body for letter in letters)

            await poll_until(kept)
            server.set_mode("ok")
            report = await hooks.replay()
            assert report.failed == 0
        failed = [r for r in server.requests if r.answer == "500" and _text(r) == "kept"]
        replayed = [r for r in server.answered("ok") if _text(r) == "kept"]
    finally:
        server.stop()
    assert [r.errors for r in server.requests if r.errors] == []
    assert len(failed) == 2
    assert len(replayed) == 1
    (again,) = replayed
    seq = again.envelope["seq"]
    assert {r.id for r in failed} == {again.id} == {f"acme:{seq}"}
    assert [r.headers[ATTEMPT_HEADER.lower()] for r in failed] == ["1", "2"]
    assert [r.headers[REPLAY_HEADER.lower()] for r in failed] == ["false", "false"]
    assert again.headers[ATTEMPT_HEADER.lower()] == "3"
    assert again.headers[REPLAY_HEADER.lower()] == "true"
    # The receiver's library, given the secret as bytes or in its whsec_ form, agrees.
    headers = again.headers
    assert Webhook(PLAIN_SECRET.encode()).verify(again.body, headers)["seq"] == seq
    assert Webhook(standard_secret(PLAIN_SECRET)).verify(again.body, headers)["seq"] == seq
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_secret("another secret of 32 characters!")).verify(again.body, headers)
