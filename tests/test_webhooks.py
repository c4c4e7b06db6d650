"""Webhooks end to end: a Gateway of simulated sessions posting to a real HTTP receiver.

The receiver is a standard-library HTTP server on 127.0.0.1 (port from the OS), run
in threads; it checks every signature with the public verify_signature and can be
told to fail, hang or redirect.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
import pytest

from test_messaging_support import every_update, wire
from wagate import (
    Backoff,
    Connected,
    Event,
    Gateway,
    Hub,
    InvalidInput,
    QrGenerated,
    Session,
    StoreError,
    to_wire,
)
from wagate._events import utcnow
from wagate.adapters.callbacks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeadLetter,
    MemoryDeadLetters,
    SignatureError,
    SQLiteDeadLetters,
    WebhookDispatcher,
    WebhookEndpoint,
    verify_signature,
)
from wagate.drivers.simulator import SimulatedClock, SimulatedDriver, SimulatedPhone

pytest.importorskip("httpx", reason="webhooks need the 'webhooks' extra (httpx)")

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
SECRET = "whsec_d2FnYXRlLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY="
FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.0)

PHONES = {"acme": "+628123456789", "globex": "+628123456790"}

Answer = int | str | tuple[str, str]
"""What the receiver answers: a status code, "hang", "drop" or ("redirect", location)."""


@attrs.define
class Request:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_error: str | None
    status: int | None = None

    @property
    def envelope(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def seq(self) -> int:
        seq = self.envelope["seq"]
        assert isinstance(seq, int)
        return seq


class Receiver:
    """A real HTTP server on 127.0.0.1 that records, verifies and answers webhooks."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.requests: list[Request] = []
        self.cond = threading.Condition()
        self.release = threading.Event()
        self._plans: dict[str, deque[Answer]] = {}
        self._then: dict[str, Answer] = {}
        self._limiter = anyio.CapacityLimiter(4)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(TIMEOUT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer, then: Answer = 200) -> None:
        """Answer the next requests to ``path`` with ``answers``, then always ``then``."""
        with self.cond:
            self._plans[path] = deque(answers)
            self._then[path] = then

    def _next_answer(self, path: str) -> Answer:
        with self.cond:
            plan = self._plans.get(path)
            if plan:
                return plan.popleft()
            return self._then.get(path, 200)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        try:
            verify_signature(self.secret, handler.headers, body)
            error = None
        except SignatureError as exc:
            error = exc.code
        request = Request(
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            signature_error=error,
        )
        with self.cond:
            self.requests.append(request)
            self.cond.notify_all()
        answer: Answer = 401 if error else self._next_answer(handler.path)
        headers: dict[str, str] = {}
        if answer == "drop":
            with self.cond:
                request.status = 0
                self.cond.notify_all()
            handler.close_connection = True  # hang up without a word
            return
        if answer == "hang":
            self.release.wait(60)
            answer = 200
        if isinstance(answer, tuple):
            headers["Location"] = answer[1]
            answer = 302
        if answer == 429:
            headers["Retry-After"] = "0"
        assert isinstance(answer, int)
        with self.cond:
            request.status = answer
            self.cond.notify_all()
        payload = b'{"ok": true}' if answer < 300 else b'{"error": "scripted"}'
        try:
            handler.send_response(answer)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the dispatcher gave up on this request (a timeout) and closed it

    # -- what tests look at ---------------------------------------------------------
    def to(self, path: str) -> list[Request]:
        with self.cond:
            return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> list[Request]:
        """Requests to ``path`` answered 2xx (each had a valid signature)."""
        return [r for r in self.to(path) if r.status is not None and 200 <= r.status < 300]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        def wait() -> bool:
            with self.cond:
                return self.cond.wait_for(predicate, timeout=TIMEOUT)

        ok = await anyio.to_thread.run_sync(wait, limiter=self._limiter)
        assert ok, (
            f"timed out; requests: {[(r.path, r.status, r.body[:80]) for r in self.requests]}"
        )

    async def wait_accepted(self, path: str, count: int) -> list[Request]:
        await self.wait_for(lambda: len(self.accepted(path)) >= count)
        return self.accepted(path)

    async def wait_texts(self, path: str, *texts: str) -> list[Request]:
        def seen() -> bool:
            return set(texts) <= {_text(r) for r in self.accepted(path)}

        await self.wait_for(seen)
        return self.accepted(path)


class WatchedDeadLetters(MemoryDeadLetters):
    """The in-memory store, telling waiting tests when a letter arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = anyio.Event()

    async def add(self, letter: DeadLetter) -> DeadLetter:
        kept = await super().add(letter)
        self._changed.set()
        self._changed = anyio.Event()
        return kept

    async def wait_count(self, count: int) -> list[DeadLetter]:
        with anyio.fail_after(TIMEOUT):
            while len(letters := await self.letters()) < count:
                await self._changed.wait()
        return letters


def _text(request: Request) -> str | None:
    data = request.envelope["data"]
    return data.get("text") if request.envelope["event"] == "message:received" else None


def _texts(requests: list[Request]) -> list[str | None]:
    return [_text(r) for r in requests if r.envelope["event"] == "message:received"]


def _phones() -> dict[str, SimulatedPhone]:
    return {tenant: SimulatedPhone(number=number, name=tenant) for tenant, number in PHONES.items()}


async def link(gateway: Gateway, tenant: str, phone: SimulatedPhone) -> Session:
    """Connect ``tenant`` and scan its QR code with ``phone``, as a person would."""
    session = await gateway.session(tenant)
    with anyio.fail_after(TIMEOUT):
        async with gateway.events(tenant) as events:
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    phone.scan(event.code)
                elif isinstance(event, Connected):
                    break
    return session


def _assert_increasing(requests: list[Request]) -> None:
    for tenant in {r.envelope["tenant"] for r in requests}:
        seqs = [r.seq for r in requests if r.envelope["tenant"] == tenant]
        assert seqs == sorted(set(seqs)), f"{tenant}: {seqs}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running HTTP receiver on 127.0.0.1."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def phones() -> dict[str, SimulatedPhone]:
    """One simulated phone per tenant."""
    return _phones()


@pytest.fixture
def gateway_factory(phones: dict[str, SimulatedPhone]) -> Callable[..., Gateway]:
    """Make a Gateway whose tenants' drivers are simulated phones."""

    def make(**options: Any) -> Gateway:
        return Gateway(lambda tenant: SimulatedDriver(phone=phones[tenant], seed=3), **options)

    return make


def endpoint(
    receiver: Receiver, path: str, tenant: str | None = "acme", **options: Any
) -> WebhookEndpoint:
    return WebhookEndpoint(url=receiver.url(path), secret=SECRET, tenant=tenant, **options)


def dispatcher(gateway: Gateway, *endpoints: WebhookEndpoint, **options: Any) -> WebhookDispatcher:
    options.setdefault("attempts", 3)
    options.setdefault("backoff", FAST)
    options.setdefault("timeout", 5.0)
    options.setdefault("close_timeout", 2.0)
    return WebhookDispatcher(gateway, endpoints, **options)


# ---------------------------------------------------------------------------------
# What is posted


async def test_events_are_posted_signed_in_seq_order_with_the_wire_payload(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """Each event is posted once, signed, as {event, tenant, seq, data} from to_wire, in order."""
    async with gateway_factory() as gateway, dispatcher(gateway, endpoint(receiver, "/hook")):
        seen = gateway.events("acme")
        session = await link(gateway, "acme", phones["acme"])
        await session.send_text("+628111222333", "hello")
        for i in range(5):
            phones["acme"].receive_message("+628111222333", f"m{i}", push_name="Siti")
        requests = await receiver.wait_texts("/hook", "m4")
        events: list[Event] = []
        while (event := seen.receive_nowait()) is not None:
            events.append(event)
    assert [r.signature_error for r in receiver.to("/hook")] == [None] * len(requests)
    assert [r.seq for r in requests] == [e.seq for e in events]
    for request, event in zip(requests, events, strict=True):
        wire = to_wire(event)[0]
        posted = request.envelope
        if isinstance(event, QrGenerated):  # counted from the post, not from this line
            assert 0 < posted["data"].pop("expiresIn") <= 60
            wire.data.pop("expiresIn")
        assert posted == {
            "event": wire.name,
            "tenant": "acme",
            "seq": event.seq,
            "data": json.loads(json.dumps(wire.data)),
        }
        assert request.headers["content-type"] == "application/json"
        assert request.headers[TIMESTAMP_HEADER.lower()].isdigit()
        assert request.headers[SIGNATURE_HEADER.lower()].startswith("v1=")
    names = [r.envelope["event"] for r in requests]
    assert names[:3] == ["connection:status", "qr:generated", "whatsapp:connected"]
    assert "message:sent" in names
    assert _texts(requests) == [f"m{i}" for i in range(5)]


async def test_tenant_endpoints_get_their_tenant_only_and_an_all_tenant_endpoint_gets_both(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """An endpoint for one tenant gets only that tenant's events; one for every tenant gets all."""
    endpoints = [
        endpoint(receiver, "/acme", "acme"),
        endpoint(receiver, "/globex", "globex"),
        endpoint(receiver, "/all", None),
    ]
    async with gateway_factory() as gateway, dispatcher(gateway, *endpoints):
        await link(gateway, "acme", phones["acme"])
        await link(gateway, "globex", phones["globex"])
        for i in range(3):
            phones["acme"].receive_message("+628111222333", f"a{i}")
            phones["globex"].receive_message("+628111222333", f"g{i}")
        await receiver.wait_texts("/acme", "a2")
        await receiver.wait_texts("/globex", "g2")
        everything = await receiver.wait_texts("/all", "a2", "g2")
    assert {r.envelope["tenant"] for r in receiver.accepted("/acme")} == {"acme"}
    assert {r.envelope["tenant"] for r in receiver.accepted("/globex")} == {"globex"}
    assert {r.envelope["tenant"] for r in everything} == {"acme", "globex"}
    for path in ("/acme", "/globex", "/all"):
        _assert_increasing(receiver.accepted(path))
    assert _texts(receiver.accepted("/acme")) == ["a0", "a1", "a2"]


async def test_an_endpoint_added_later_starts_with_the_current_state(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """An endpoint added to a running dispatcher first gets the tenant's current state."""
    async with gateway_factory() as gateway, dispatcher(gateway) as webhooks:
        await link(gateway, "acme", phones["acme"])
        webhooks.add(endpoint(receiver, "/late"))
        phones["acme"].receive_message("+628111222333", "after")
        requests = await receiver.wait_texts("/late", "after")
    assert [r.envelope["event"] for r in requests] == ["whatsapp:connected", "message:received"]


async def test_an_endpoint_can_ask_for_some_events_only(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """An endpoint with events={"message:received"} is posted nothing else, in order."""
    messages_only = endpoint(receiver, "/messages", events={"message:received"})
    async with gateway_factory() as gateway, dispatcher(gateway, messages_only):
        session = await link(gateway, "acme", phones["acme"])
        await session.send_text("+628111222333", "not posted")
        for i in range(3):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        requests = await receiver.wait_texts("/messages", "m2")
    assert [r.envelope["event"] for r in requests] == ["message:received"] * 3
    assert _texts(requests) == ["m0", "m1", "m2"]
    _assert_increasing(requests)


# ---------------------------------------------------------------------------------
# Retries


async def test_5xx_answers_are_retried_and_order_is_kept(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A receiver failing its first requests with 500/503 gets every event, once, in order."""
    receiver.script("/flaky", 500, 503, 502)
    store = WatchedDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/flaky"), attempts=4, dead_letters=store),
    ):
        await link(gateway, "acme", phones["acme"])
        for i in range(10):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        accepted = await receiver.wait_texts("/flaky", "m9")
    statuses = [r.status for r in receiver.to("/flaky")]
    assert statuses[:4] == [500, 503, 502, 200]
    assert len({r.seq for r in receiver.to("/flaky")[:4]}) == 1  # the same event, retried
    assert [r.seq for r in accepted] == sorted({r.seq for r in accepted})
    assert _texts(accepted) == [f"m{i}" for i in range(10)]
    assert await store.letters() == []


async def test_a_timeout_is_retried(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A request that hangs past the timeout is posted again, and the event arrives."""
    receiver.script("/slow", "hang")
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/slow"), timeout=0.3, attempts=3) as webhooks,
    ):
        await link(gateway, "acme", phones["acme"])
        accepted = await receiver.wait_accepted("/slow", 3)
        assert await webhooks.dead_letters.letters() == []
    requests = receiver.to("/slow")
    assert requests[0].seq == requests[1].seq == 1
    assert [r.seq for r in accepted][:3] == [1, 2, 3]


async def test_a_receiver_hanging_up_without_an_answer_is_retried(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A connection closed before any answer is a transport failure: retried, then delivered."""
    receiver.script("/rude", "drop", "drop")
    store = WatchedDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/rude"), dead_letters=store),
    ):
        await link(gateway, "acme", phones["acme"])
        accepted = await receiver.wait_accepted("/rude", 3)
    assert [r.status for r in receiver.to("/rude")][:3] == [0, 0, 200]
    assert [r.seq for r in accepted] == [1, 2, 3]
    assert await store.letters() == []


async def test_408_and_429_are_retried_but_other_4xx_are_not(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """408 and 429 are retried; a 400 goes straight to the dead letters after one try."""
    receiver.script("/busy", 429, 408)
    receiver.script("/picky", 400)
    store = WatchedDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/busy"), endpoint(receiver, "/picky"), dead_letters=store
        ),
    ):
        await link(gateway, "acme", phones["acme"])
        await receiver.wait_accepted("/busy", 3)
        await receiver.wait_accepted("/picky", 2)
        (letter,) = await store.wait_count(1)
    assert [r.status for r in receiver.to("/busy")][:3] == [429, 408, 200]
    assert letter.endpoint == receiver.url("/picky")
    assert letter.seq == 1
    assert letter.attempts == 1
    assert letter.status == 400
    assert "HTTP 400" in letter.error
    assert [r.seq for r in receiver.to("/picky")][:1] == [1]


async def test_a_redirect_is_not_followed_and_becomes_a_dead_letter(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A 302 is not followed (its target gets no request); the event becomes a dead letter."""
    receiver.script("/moved", ("redirect", "/target"))
    store = WatchedDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/moved"), dead_letters=store),
    ):
        await link(gateway, "acme", phones["acme"])
        (letter,) = await store.wait_count(1)
        await receiver.wait_accepted("/moved", 2)
    assert receiver.to("/target") == []
    assert letter.status == 302
    assert letter.attempts == 1
    assert "redirect" in letter.error
    assert "/target" in letter.error


async def test_connection_refused_is_retried_then_dead_lettered(
    phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """An endpoint nobody listens on gets each event tried `attempts` times, then kept."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = WebhookEndpoint(url=f"http://127.0.0.1:{port}/nobody", secret=SECRET, tenant="acme")
    store = WatchedDeadLetters()
    async with gateway_factory() as gateway, dispatcher(gateway, dead, dead_letters=store):
        await link(gateway, "acme", phones["acme"])
        letters = await store.wait_count(3)
    assert [letter.seq for letter in letters] == [1, 2, 3]
    assert all(letter.attempts == 3 for letter in letters)
    assert all("connection failed" in letter.error for letter in letters)
    assert all(letter.status is None for letter in letters)


# ---------------------------------------------------------------------------------
# Dead letters and replay


async def test_500_forever_fills_the_dead_letters_and_replay_delivers_them_in_order(
    receiver: Receiver,
    phones: dict[str, SimulatedPhone],
    gateway_factory: Callable[..., Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What fails after the last retry is listed in order, logged with its tenant, and replayed."""
    receiver.script("/down", then=500)
    store = WatchedDeadLetters()
    caplog.set_level(logging.WARNING, logger="wagate")
    async with (
        gateway_factory() as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/down"), attempts=2, dead_letters=store
        ) as webhooks,
    ):
        await link(gateway, "acme", phones["acme"])
        for i in range(4):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        letters = await store.wait_count(7)
        assert receiver.accepted("/down") == []
        assert [letter.seq for letter in letters] == list(range(1, 8))
        assert all(letter.attempts == 2 and letter.status == 500 for letter in letters)
        assert all("HTTP 500" in letter.error for letter in letters)
        assert [json.loads(letter.body)["seq"] for letter in letters] == list(range(1, 8))
        assert await store.letters(tenant="globex") == []
        assert len(await store.letters(endpoint=receiver.url("/down"), limit=2)) == 2

        receiver.script("/down", then=200)
        report = await webhooks.replay()
        assert (report.delivered, report.failed, report.skipped) == (7, 0, 0)
        assert await store.letters() == []
    replayed = receiver.accepted("/down")
    assert [r.seq for r in replayed] == list(range(1, 8))
    assert _texts(replayed) == ["m0", "m1", "m2", "m3"]
    assert all(r.signature_error is None for r in replayed)
    warnings = [r.getMessage() for r in caplog.records if "dead letter" in r.getMessage()]
    assert len(warnings) == 7
    assert all("'acme'" in w for w in warnings)


async def test_a_replayed_qr_says_its_expiry_as_of_the_replay(receiver: Receiver) -> None:
    """A qr:generated dead letter replayed after its code expired is posted as expired, 0 s left."""
    receiver.script("/down", then=500)
    store = WatchedDeadLetters()
    clock = SimulatedClock()  # never advanced: the simulator keeps the code pending

    def driver(tenant: str) -> SimulatedDriver:
        return SimulatedDriver(clock=clock, qr_timeouts=(0.5,))

    async with (
        Gateway(driver) as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/down"), attempts=1, dead_letters=store
        ) as webhooks,
    ):
        session = await gateway.session("acme")
        await session.connect()
        letters = await store.wait_count(2)  # connecting, then the QR
        [letter] = [letter for letter in letters if letter.event == "qr:generated"]
        assert json.loads(letter.body)["data"]["expired"] is False
        qr = session.status.qr
        assert qr is not None
        await anyio.sleep((qr.expires_at - utcnow()).total_seconds() + 0.05)  # wall time
        assert utcnow() >= qr.expires_at
        receiver.script("/down", then=200)
        await webhooks.replay()
    [posted] = [r for r in receiver.accepted("/down") if r.envelope["event"] == "qr:generated"]
    assert posted.signature_error is None and posted.seq == letter.seq
    assert (posted.envelope["data"]["expiresIn"], posted.envelope["data"]["expired"]) == (0.0, True)


async def test_replay_stops_at_the_first_failure_to_keep_order(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A replay failing midway delivers the letters before and keeps the failed one and the rest."""
    receiver.script("/down", then=500)
    store = WatchedDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/down"), attempts=1, dead_letters=store
        ) as webhooks,
    ):
        await link(gateway, "acme", phones["acme"])
        await store.wait_count(3)
        receiver.script("/down", 200, 503, then=200)
        report = await webhooks.replay()
        assert (report.delivered, report.failed) == (1, 2)
        kept = await store.letters()
        assert [letter.seq for letter in kept] == [2, 3]
        assert kept[0].attempts == 2
        assert "HTTP 503" in kept[0].error
        assert kept[1].attempts == 1
        report = await webhooks.replay()
        assert (report.delivered, report.failed) == (2, 0)
    assert [r.seq for r in receiver.accepted("/down")] == [1, 2, 3]


async def test_sqlite_dead_letters_survive_a_restart_and_replay_there(
    receiver: Receiver,
    phones: dict[str, SimulatedPhone],
    gateway_factory: Callable[..., Gateway],
    tmp_path: Path,
) -> None:
    """Dead letters kept in SQLite are listed and replayed by the next dispatcher on the file."""
    path = tmp_path / "dead-letters.db"
    receiver.script("/down", then=500)
    hook = endpoint(receiver, "/down", name="crm")
    async with gateway_factory() as gateway:
        async with dispatcher(gateway, hook, attempts=1, dead_letters=SQLiteDeadLetters(path)):
            await link(gateway, "acme", phones["acme"])
            await receiver.wait_for(lambda: len(receiver.to("/down")) >= 3)
        async with SQLiteDeadLetters(path) as store:
            letters = await store.letters()
        assert [(letter.endpoint, letter.seq, letter.status) for letter in letters] == [
            ("crm", 1, 500),
            ("crm", 2, 500),
            ("crm", 3, 500),
        ]
        assert [json.loads(letter.body)["seq"] for letter in letters] == [1, 2, 3]
        receiver.script("/down", then=200)
        async with dispatcher(
            gateway, hook, attempts=1, dead_letters=SQLiteDeadLetters(path)
        ) as webhooks:
            # The new dispatcher starts with the current state (seq 3) and replays 1..3.
            report = await webhooks.replay()
            assert report.delivered == 3
            assert await webhooks.dead_letters.letters() == []
    replayed = [r.seq for r in receiver.accepted("/down")]
    assert sorted(replayed) == [1, 2, 3, 3]
    assert [s for s in replayed if s != 3] == [1, 2]


async def test_replay_skips_letters_of_an_endpoint_that_is_gone(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """Letters whose endpoint is no longer configured are skipped, and kept."""
    store = WatchedDeadLetters()
    receiver.script("/down", then=500)
    async with (
        gateway_factory() as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/down", name="old"), attempts=1, dead_letters=store
        ) as webhooks,
    ):
        await link(gateway, "acme", phones["acme"])
        await store.wait_count(3)
        await webhooks.remove("old")
        report = await webhooks.replay()
        assert (report.delivered, report.failed, report.skipped) == (0, 0, 3)
        assert len(await store.letters()) == 3
        with pytest.raises(InvalidInput):
            await webhooks.remove("old")


class BrokenDeadLetters(WatchedDeadLetters):
    """A store whose disk is gone: writes and removals fail."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    async def add(self, letter: DeadLetter) -> DeadLetter:
        if self.broken:
            raise StoreError("dead-letter store: disk I/O error (test)")
        return await super().add(letter)

    async def remove(self, letter_id: int) -> bool:
        raise StoreError("dead-letter store: disk I/O error (test)")


async def test_a_failing_dead_letter_store_is_logged_and_stops_nothing(
    receiver: Receiver,
    phones: dict[str, SimulatedPhone],
    gateway_factory: Callable[..., Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store that cannot keep a letter logs it; the event stays in the backlog and goes again."""
    receiver.script("/hook", 400)
    store = BrokenDeadLetters()
    store.broken = True
    caplog.set_level(logging.ERROR, logger="wagate")
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/hook"), dead_letters=store),
    ):
        await link(gateway, "acme", phones["acme"])
        phones["acme"].receive_message("+628111222333", "after the loss")
        await receiver.wait_texts("/hook", "after the loss")
    kept = [r for r in caplog.records if "stays in the backlog" in r.getMessage()]
    assert len(kept) == 1
    assert "'acme'" in kept[0].getMessage()
    assert [r.status for r in receiver.to("/hook") if r.seq == 1] == [400, 200]
    _assert_increasing(receiver.accepted("/hook"))


async def test_a_store_failing_during_replay_raises_store_error(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """replay() reports a store failure as a plain StoreError, and the letter stays listed."""
    receiver.script("/down", then=500)
    store = BrokenDeadLetters()
    async with (
        gateway_factory() as gateway,
        dispatcher(
            gateway, endpoint(receiver, "/down"), attempts=1, dead_letters=store
        ) as webhooks,
    ):
        await link(gateway, "acme", phones["acme"])
        await store.wait_count(3)
        receiver.script("/down", then=200)
        with pytest.raises(StoreError):
            await webhooks.replay()
        assert len(await store.letters()) == 3


# ---------------------------------------------------------------------------------
# A slow or dead endpoint blocks nobody


async def test_a_hanging_endpoint_blocks_neither_the_session_nor_another_endpoint(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """While one endpoint hangs, the session sends and the other endpoint gets everything."""
    receiver.script("/stuck", "hang")
    async with (
        gateway_factory() as gateway,
        dispatcher(gateway, endpoint(receiver, "/stuck"), endpoint(receiver, "/fine"), timeout=60),
    ):
        session = await link(gateway, "acme", phones["acme"])
        await receiver.wait_for(lambda: len(receiver.to("/stuck")) == 1)
        for i in range(20):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        sent = await session.send_text("+628111222333", "still sending")
        assert sent.success
        await receiver.wait_texts("/fine", "m19")
        await receiver.wait_for(lambda: _sent(receiver.accepted("/fine")) == ["still sending"])
        fine = receiver.accepted("/fine")
        assert len(receiver.to("/stuck")) == 1  # still on its first event
        receiver.release.set()
        await receiver.wait_for(lambda: _sent(receiver.accepted("/stuck")) == ["still sending"])
        stuck = receiver.accepted("/stuck")
    assert _texts(fine) == [f"m{i}" for i in range(20)]
    assert [r.seq for r in stuck] == [r.seq for r in fine]


def _sent(requests: list[Request]) -> list[str]:
    return [
        r.envelope["data"]["message"] for r in requests if r.envelope["event"] == "message:sent"
    ]


async def test_an_endpoint_far_behind_a_small_hub_buffer_misses_nothing(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """An endpoint stuck while six times the hub's buffer arrives gets every event, in order."""
    receiver.script("/stuck", "hang")
    store = WatchedDeadLetters()
    async with (
        gateway_factory(hub=Hub(buffer=2, all_buffer=2)) as gateway,
        dispatcher(gateway, endpoint(receiver, "/stuck"), timeout=60, dead_letters=store),
    ):
        await link(gateway, "acme", phones["acme"])
        await receiver.wait_for(lambda: len(receiver.to("/stuck")) == 1)
        for i in range(12):
            phones["acme"].receive_message("+628111222333", f"m{i}")
        receiver.release.set()
        delivered = await receiver.wait_texts("/stuck", "m11")
        assert await store.letters() == []
    seqs = [r.seq for r in delivered]
    assert seqs == list(range(1, max(seqs) + 1))
    assert _texts(delivered) == [f"m{i}" for i in range(12)]


async def test_closing_leaves_what_was_queued_in_the_backlog_for_the_next_dispatcher(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """A dispatcher closed while its endpoint hangs keeps in-flight and queued events, in order."""
    receiver.script("/stuck", "hang")
    store = WatchedDeadLetters()
    hook = endpoint(receiver, "/stuck")
    async with gateway_factory() as gateway:
        with anyio.fail_after(TIMEOUT):
            async with dispatcher(gateway, hook, timeout=60, close_timeout=0.2, dead_letters=store):
                await link(gateway, "acme", phones["acme"])
                await receiver.wait_for(lambda: len(receiver.to("/stuck")) == 1)
                for i in range(3):
                    phones["acme"].receive_message("+628111222333", f"m{i}")
            assert [entry.seq for entry in await store.backlog()] == list(range(1, 7))
            assert await store.letters() == []
            receiver.release.set()
            async with dispatcher(gateway, hook, dead_letters=store):
                await receiver.wait_texts("/stuck", "m2")
    first = receiver.to("/stuck")[0]
    accepted = [r for r in receiver.accepted("/stuck") if r is not first]
    # The request that hung was answered late, after its dispatcher had given up on it.
    assert [r.seq for r in accepted][:6] == list(range(1, 7))
    assert accepted[0].headers["webhook-id"] == first.headers["webhook-id"] == "acme:1"


# ---------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ws://example.com/hook",
        "http://",
        "https:///path-only",
        "//example.com/hook",
        "example.com/hook",
        "",
        "http://user:password@example.com/hook",
        "http://exa mple.com/hook",
        "http://example.com/hook\r\nX-Injected: 1",
        "http://example.com:99999/hook",
        "http://example.com:0/hook",
        "http://example.com/" + "a" * 3000,
    ],
)
def test_a_url_that_is_not_http_or_https_is_refused_at_configuration(url: str) -> None:
    """Only well-formed http:// and https:// URLs without credentials make an endpoint."""
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url=url, secret=SECRET)


@pytest.mark.parametrize("url", [12, None, b"http://example.com/"])
def test_a_url_that_is_not_a_string_is_refused(url: object) -> None:
    """A URL of another type is refused with InvalidInput."""
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url=url, secret=SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", "short", b"0123", " " * 32, 1234, None])
def test_a_missing_or_weak_secret_is_refused(secret: object) -> None:
    """An endpoint needs a secret of at least 16 bytes; there is no default."""
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url="https://example.com/hook", secret=secret)  # type: ignore[arg-type]


def test_an_endpoint_cannot_be_made_without_a_secret() -> None:
    """Leaving the secret out is an error: wagate never invents one."""
    with pytest.raises(TypeError):
        WebhookEndpoint(url="https://example.com/hook")  # type: ignore[call-arg]


def test_an_endpoint_never_shows_its_secret() -> None:
    """The secret appears in neither repr nor str of an endpoint."""
    hook = WebhookEndpoint(url="https://example.com/hook", secret=SECRET, tenant="acme")
    assert SECRET not in repr(hook)
    assert SECRET not in str(hook)
    assert hook.name == "https://example.com/hook"


@pytest.mark.parametrize(
    "events",
    [
        "message:received",
        set(),
        {"message:received", "message:deleted"},
        {"stream:gap"},
        [["x"]],
        7,
    ],
)
def test_an_unknown_or_empty_event_filter_is_refused(events: object) -> None:
    """The event filter must be a non-empty collection of known wire names."""
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url="https://example.com/hook", secret=SECRET, events=events)  # type: ignore[arg-type]


def test_an_invalid_tenant_is_refused() -> None:
    """An endpoint's tenant must be a valid tenant id."""
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url="https://example.com/hook", secret=SECRET, tenant="no spaces")


async def test_dispatcher_options_are_checked(gateway_factory: Callable[..., Gateway]) -> None:
    """Out-of-range numbers and duplicate endpoint names are refused with InvalidInput."""
    hook = WebhookEndpoint(url="https://example.com/hook", secret=SECRET)
    async with gateway_factory() as gateway:
        bad: list[Callable[[], object]] = [
            lambda: WebhookDispatcher(gateway, attempts=0),
            lambda: WebhookDispatcher(gateway, attempts=True),
            lambda: WebhookDispatcher(gateway, timeout=0),
            lambda: WebhookDispatcher(gateway, timeout=float("inf")),
            lambda: WebhookDispatcher(gateway, close_timeout=-1),
            lambda: WebhookDispatcher(object()),  # type: ignore[arg-type]
        ]
        for make in bad:
            with pytest.raises(InvalidInput):
                make()
        with pytest.raises(InvalidInput):
            WebhookDispatcher(gateway, [hook, hook])
        async with WebhookDispatcher(gateway, [hook]) as webhooks:
            with pytest.raises(InvalidInput):
                webhooks.add(hook)
            with pytest.raises(InvalidInput):
                await webhooks.replay(attempts=0)
            assert webhooks.endpoints == (hook,)


async def test_every_message_kind_and_update_is_posted_as_on_the_wire(
    receiver: Receiver, phones: dict[str, SimulatedPhone], gateway_factory: Callable[..., Gateway]
) -> None:
    """Media, reactions, edits, deletes, sends and receipts: each event, its wire form, in order."""
    async with gateway_factory() as gateway, dispatcher(gateway, endpoint(receiver, "/hook")):
        session = await link(gateway, "acme", phones["acme"])
        linked = len(await receiver.wait_accepted("/hook", 3))  # status, QR, connected
        events = await every_update(session, phones["acme"], gateway.hub)
        requests = await receiver.wait_accepted("/hook", linked + len(events))
    posted = [(r.envelope["event"], r.envelope["data"]) for r in requests[linked:]]
    assert posted == [wire(e) for e in events]
    assert [r.envelope["seq"] for r in requests[linked:]] == [e.seq for e in events]
