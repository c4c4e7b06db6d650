"""``wagate serve`` options from a TOML file, the environment and flags; pacing, webhooks, logs.

The servers run for real, as subprocesses on ports the OS picks.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib.util
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from test_cli import WAGATE, Serving, _env, run
from test_contract_support import CONTACT, Process, bearer, mint
from wagate._serve_logging import JsonFormatter
from wagate._serve_options import OPTIONS, UsageError, add_arguments, options_table, read_config
from wagate._serve_options import resolve as resolve_options
from wagate.adapters.webhooks import verify_signature

pytestmark = pytest.mark.timeout(120)

SECRET = "config-test-secret-" + "y" * 32
WEBHOOK_SECRET = "webhook-secret-" + "z" * 24
DOCS = Path(__file__).resolve().parent.parent / "docs" / "production.md"


class Servers:
    """Starts ``wagate serve`` processes with an environment of the test's; stops them."""

    def __init__(self) -> None:
        self.started: list[Process] = []

    def start(self, *args: str, **env: str) -> Serving:
        """``wagate serve ARGS`` with ``env`` added to the environment; wait until it serves."""
        process = Process([WAGATE, "serve", *args], env=_env(**env))
        self.started.append(process)
        return Serving(process)


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Servers that the test starts, stopped after it."""
    running = Servers()
    yield running
    for process in running.started:
        process.stop()


def write(path: Path, text: str) -> str:
    """Write a config file; return its path as a string."""
    path.write_text(text, encoding="utf-8")
    return str(path)


def failed(*args: str, **env: str) -> str:
    """Run ``wagate ARGS``, check that it failed as bad input does, return its stderr."""
    result = run(*args, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


# ---------------------------------------------------------------------------------
# where values come from


def test_file_then_environment_then_flags(servers: Servers, tmp_path: Path) -> None:
    """The file's values apply, a variable overrides the file, a flag overrides both."""
    config = write(
        tmp_path / "wagate.toml",
        "# a production config\n"
        "simulator = true\n"
        "port = 1\n"  # a flag says 0
        'title = "from the file"\n'  # a variable says otherwise
        "dashboard = false\n"
        f'data_dir = "{tmp_path / "data"}"\n',
    )
    server = servers.start(
        "--config", config, "--port", "0", WAGATE_PORT="2", WAGATE_TITLE="from the variable"
    )
    with httpx.Client(timeout=15) as client:
        assert client.get(f"{server.url}/openapi.json").json()["info"]["title"] == (
            "from the variable"
        )
        assert client.get(f"{server.url}/").status_code == 404  # the file's dashboard = false
    assert (tmp_path / "data").is_dir()


def test_the_config_file_can_come_from_the_environment(servers: Servers, tmp_path: Path) -> None:
    """WAGATE_CONFIG names the file when --config is not given."""
    config = write(tmp_path / "c.toml", f'simulator = true\ntitle = "by variable"\nport = 0\n'
                   f'data_dir = "{tmp_path / "d"}"\n')  # fmt: skip
    server = servers.start(WAGATE_CONFIG=config)
    with httpx.Client(timeout=15) as client:
        assert client.get(f"{server.url}/openapi.json").json()["info"]["title"] == "by variable"


def test_resolve_takes_each_option_from_the_first_source_that_has_it(tmp_path: Path) -> None:
    """Flags beat variables beat the file beat defaults, option by option."""
    config = write(tmp_path / "c.toml", 'port = 1\nhost = "file"\ntitle = "file"\n')
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    given = parser.parse_args(["--port", "3"])
    values = resolve_options(given, {"WAGATE_PORT": "2", "WAGATE_HOST": "env"}, config)
    assert (values.port, values.host, values.title) == (3, "env", "file")
    assert values.workers == 1
    assert values.pacing is True


# ---------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('simulator = true\n\n# note\ncolour = "teal"\n', ["c.toml:4", "unknown key 'colour'"]),
        ('port = "eighty"\n', ["c.toml:1", "port", "expected an integer", "got a string"]),
        ("# x\nsimulator = 1\n", ["c.toml:2", "simulator", "true or false"]),
        ("webhook = 'http://x'\n", ["c.toml:1", "webhook", "a list of strings"]),
        ("\n\n\nport = = 1\n", ["c.toml", "not valid TOML", "line 4"]),
        ("[pacing]\nrate = 3\n", ["c.toml:1", "pacing", "got a table"]),
        ("pace_per_minute = 0\n", ["c.toml:1", "pace_per_minute", "more than 0"]),
        ("port = 70000\n", ["c.toml:1", "port", "is not a port"]),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file_line_and_key(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    """Unknown keys, wrong types, bad values, bad TOML: exit 2, one line, where and what."""
    config = write(tmp_path / "c.toml", text)
    message = failed("serve", "--config", config)
    assert message.count("\n") == 1, message  # one line
    for word in expected:
        assert word in message, message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WAGATE_PORT", "eighty", "'eighty' is not a port number"),
        ("WAGATE_WORKERS", "0", "use 1 to 64"),
        ("WAGATE_SIMULATOR", "maybe", "not true or false"),
        ("WAGATE_PACE_PER_MINUTE", "-1", "more than 0"),
        ("WAGATE_LOG_FORMAT", "xml", "not one of text, json"),
        ("WAGATE_SECRET", "short", "at least 32"),
    ],
)
def test_a_bad_variable_is_named(tmp_path: Path, variable: str, value: str, expected: str) -> None:
    """A WAGATE_ variable with a bad value: exit 2, one line naming the variable."""
    message = failed("serve", "--simulator", "--data-dir", str(tmp_path / "d"), **{variable: value})
    assert message.count("\n") == 1, message
    if variable != "WAGATE_SECRET":  # the secret's checks name what it is, not where from
        assert variable in message, message
    assert expected in message, message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--pace-per-minute", "0"), "more than 0"),
        (("--pace-per-minute", "-3"), "more than 0"),
        (("--pace-burst", "0"), "a burst of 0"),
        (("--daily-cap", "-1"), "a daily cap of -1"),
        (("--webhook", "ftp://x"), "not an http:// or https:// URL"),
        (("--webhook", "http://127.0.0.1:9/hook"), "WAGATE_WEBHOOK_SECRET"),
        (("--engine-process",), "the simulator has no engine"),
        (("--config", "/nonexistent/wagate.toml"), "cannot read config file"),
        (("--log-format", "xml"), "'xml' is not one of text, json"),
        (("--metrics-token", "short"), "at least 16 characters"),
        (("--requests-per-minute", "0"), "more than 0"),
        (("--request-burst", "-1"), "a request burst of -1"),
    ],
)
def test_bad_new_options_exit_2(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    """A rate of 0 or less, a bad webhook, clashing options: exit 2 with the reason."""
    message = failed("serve", "--simulator", "--data-dir", str(tmp_path / "d"), *args)
    assert message.count("\n") == 1, message
    assert expected in message, message


def test_help_lists_every_option_with_its_default_and_variable() -> None:
    """``wagate serve --help`` names each option's flag, default and variable."""
    result = run("serve", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option in OPTIONS:
        assert option.flag in text, option.flag
        assert f"${option.env}" in text, option.env
        assert f"default: {option.default_text}" in text, option.name
    assert "--config FILE" in text
    assert "serve" in run("--help").stdout


# ---------------------------------------------------------------------------------
# pacing


@contextlib.contextmanager
def _linked(server: Serving, token: str) -> Iterator[httpx.Client]:
    """A client of the token's tenant, its simulated phone linked."""
    with httpx.Client(base_url=server.url, headers=bearer(token), timeout=15) as client:
        assert client.post("/api/qr/generate").status_code == 202
        assert client.post("/api/simulator/scan").json()["status"] == "connected"
        yield client


@pytest.mark.parametrize("paced", [True, False])
def test_serve_paces_by_default_and_no_pacing_turns_it_off(
    servers: Servers, tmp_path: Path, paced: bool
) -> None:
    """With a daily cap of 1 the second send is a 429; with --no-pacing it goes."""
    args = ["--simulator", "--port", "0", "--data-dir", str(tmp_path / "d"), "--daily-cap", "1"]
    server = servers.start(*args, *([] if paced else ["--no-pacing"]), WAGATE_SECRET=SECRET)
    with _linked(server, mint("acme", secret=SECRET)) as client:
        first = client.post("/api/send", json={"to": CONTACT, "text": "one"})
        assert first.status_code == 200, first.text
        second = client.post("/api/send", json={"to": CONTACT, "text": "two"})
    if paced:
        assert second.status_code == 429, second.text
        assert int(second.headers["retry-after"]) > 0
    else:
        assert second.status_code == 200, second.text
        assert any("pacing: off" in line for line in server.process.lines)


def test_serve_scrapes_metrics_with_their_token_and_limits_requests(
    servers: Servers, tmp_path: Path
) -> None:
    """--metrics-token serves /metrics to its bearer only; each token has a request limit."""
    token = "metrics-token-0123456789"
    args = ["--simulator", "--port", "0", "--data-dir", str(tmp_path / "d")]
    limits = ["--requests-per-minute", "1", "--request-burst", "5"]
    hook = ["--webhook", "http://127.0.0.1:9/hook"]  # nobody listens: its backlog is measured
    server = servers.start(
        *args,
        *limits,
        *hook,
        WAGATE_SECRET=SECRET,
        WAGATE_METRICS_TOKEN=token,
        WAGATE_WEBHOOK_SECRET="webhook-secret-0123456789",
    )
    with httpx.Client(base_url=server.url, timeout=15) as anyone:
        assert anyone.get("/metrics").status_code == 401
        scraped = anyone.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200, scraped.text
        assert "wagate_tenants" in scraped.text
        assert "wagate_webhook_backlog{" in scraped.text
        assert "wagate_connections{" in scraped.text
        assert anyone.get("/healthz").status_code == 200
    with httpx.Client(base_url=server.url, headers=bearer(mint("acme", secret=SECRET))) as acme:
        statuses = [acme.get("/status").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert token not in "\n".join(server.process.lines)


def test_a_cluster_configured_by_file_and_variables(
    servers: Servers,
    tmp_path: Path,
    redis_url: str,
    new_postgres_database: Callable[[str], str],
) -> None:
    """Two workers from the file, Redis and PostgreSQL from variables; each worker paces alike."""
    redis = pytest.importorskip("redis")
    name = f"cfg{uuid.uuid4().hex[:10]}"
    config = write(
        tmp_path / "c.toml",
        f'simulator = true\nworkers = 2\ncluster_name = "{name}"\ndaily_cap = 1\n'
        f'title = "clustered"\nport = 0\ndata_dir = "{tmp_path / "d"}"\n',
    )
    database = new_postgres_database("wagate_cli_config")
    try:
        server = servers.start(
            "--config", config,
            WAGATE_SECRET=SECRET, WAGATE_REDIS_URL=redis_url, WAGATE_DATABASE=database,
        )  # fmt: skip
        assert any("with 2 workers" in line for line in server.process.lines)
        token = mint("acme", secret=SECRET)
        with httpx.Client(base_url=server.url, headers=bearer(token), timeout=15) as client:
            assert client.get("/openapi.json").json()["info"]["title"] == "clustered"
            with client.stream("GET", "/api/events") as events:
                assert client.post("/api/qr/generate").status_code == 202
                for line in events.iter_lines():  # whichever worker holds the tenant
                    if line == "event: qr:generated":
                        break
            assert client.post("/api/simulator/scan").json()["state"] == "connected"
            sends = [client.post("/api/send", json={"to": CONTACT, "text": t}) for t in "ab"]
        assert [reply.status_code for reply in sends] == [200, 429]
    finally:
        keys = redis.Redis.from_url(redis_url)
        try:
            found = list(keys.scan_iter(match=f"{name}:*", count=1000))
            if found:
                keys.delete(*found)
        finally:
            keys.close()


# ---------------------------------------------------------------------------------
# webhooks, JSON logs, request ids, and what never reaches the logs


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook endpoint on 127.0.0.1 that keeps what it is posted."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        """Where to post."""
        return f"http://127.0.0.1:{self.server_address[1]}/hook?key=in-the-query"

    def wait_for(self, needle: bytes, timeout: float = 30) -> tuple[dict[str, str], bytes]:
        """The first post whose body holds ``needle`` (waits for it)."""
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: next((p for p in self.posts if needle in p[1]), None), timeout
            )
        assert found is not None, [body for _, body in self.posts]
        return found


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        with self.server.arrived:
            self.server.posts.append((dict(self.headers.items()), body))
            self.server.arrived.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver serving in a thread."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_json_logs_request_ids_webhooks_and_no_secrets(
    servers: Servers, tmp_path: Path, receiver: Receiver
) -> None:
    """JSON lines with request ids; a signed webhook per event; no secret, token or body logged."""
    body = "the-message-body-7f3a"
    incoming = "the-incoming-body-91c2"
    server = servers.start(
        "--simulator", "--port", "0", "--data-dir", str(tmp_path / "d"),
        "--log-format", "json", "--log-level", "debug", "--webhook", receiver.url,
        WAGATE_SECRET=SECRET, WAGATE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )  # fmt: skip
    token = mint("acme", secret=SECRET)
    with _linked(server, token) as client:
        sent = client.post("/api/send", json={"to": CONTACT, "text": body})
        assert sent.status_code == 200, sent.text
        received = client.post("/api/simulator/receive", json={"from": CONTACT, "text": incoming})
        assert received.status_code == 200, received.text
        echoed = client.get("/status", headers={"X-Request-Id": "req-42.a"})
        assert echoed.headers["x-request-id"] == "req-42.a"
        replaced = client.get("/status", headers={"X-Request-Id": "bad id\twith space"})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
        refused = httpx.get(f"{server.url}/status", timeout=15)
        assert refused.status_code == 401
        assert refused.headers["x-request-id"]
    headers, posted = receiver.wait_for(incoming.encode())
    verify_signature(WEBHOOK_SECRET, headers, posted)
    assert json.loads(posted)["tenant"] == "acme"
    server.process.wait_for_line(lambda line: '"request_id": "req-42.a"' in line)

    records = [json.loads(line) for line in server.process.lines]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert {r["path"] for r in access} >= {"/api/send", "/status"}
    assert all(re.fullmatch(r"[\w.:-]+", r["request_id"]) for r in access)
    output = server.process.output
    for never in (SECRET, WEBHOOK_SECRET, token, body, incoming, "in-the-query"):
        assert never not in output, never


def test_a_text_access_line_ends_with_its_request_id(servers: Servers, tmp_path: Path) -> None:
    """With text logs too, each answer has an X-Request-Id and its access line shows it."""
    server = servers.start("--simulator", "--port", "0", "--data-dir", str(tmp_path / "d"))
    answer = httpx.get(f"{server.url}/openapi.json", headers={"X-Request-Id": "txt-7"}, timeout=15)
    assert answer.headers["x-request-id"] == "txt-7"
    line = server.process.wait_for_line(lambda line: "GET /openapi.json" in line)
    assert line.endswith(" [txt-7]"), line


def test_a_json_record_names_its_tenant() -> None:
    """A record logged as wagate logs tenants ("tenant %r: ...") gets a ``tenant`` key."""
    args = ("acme", "x")
    record = logging.LogRecord("wagate", logging.WARNING, __file__, 1, "tenant %r: %s", args, None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["tenant"] == "acme"
    assert entry["message"] == "tenant 'acme': x"
    plain = logging.LogRecord("wagate", logging.INFO, __file__, 1, "restored %d", (2,), None)
    assert "tenant" not in json.loads(JsonFormatter().format(plain))


# ---------------------------------------------------------------------------------
# the engine in a child process


def test_engine_process_serves_with_the_engine_in_a_child(servers: Servers, tmp_path: Path) -> None:
    """``--engine-process`` starts, and a login starts the engine's child process."""
    # Only looked for: importing the engine here would start its machinery in the test.
    if importlib.util.find_spec("neonize") is None:
        pytest.skip("the neonize engine is not installed")
    server = servers.start(
        "--engine-process", "--port", "0", "--data-dir", str(tmp_path / "d"),
        WAGATE_SECRET=SECRET,
    )  # fmt: skip
    with httpx.Client(base_url=server.url, headers=bearer(mint("acme", secret=SECRET))) as client:
        assert client.post("/api/qr/generate", timeout=60).status_code == 202
    server.process.wait_for_line(lambda line: "engine process" in line and "started" in line, 60)


# ---------------------------------------------------------------------------------
# the docs


def test_the_production_page_lists_every_option() -> None:
    """docs/production.md holds the option table made from the declarations, as it is now."""
    page = DOCS.read_text(encoding="utf-8")
    assert options_table() in page, (
        "the option table of docs/production.md is stale: paste the output of "
        "python -c 'from wagate._serve_options import options_table; print(options_table())'"
    )


def test_the_production_pages_config_example_is_valid(tmp_path: Path) -> None:
    """Each ```toml block of docs/production.md is a config file serve accepts."""
    page = DOCS.read_text(encoding="utf-8")
    examples = re.findall(r"^```toml\n(.*?)^```$", page, re.MULTILINE | re.DOTALL)
    assert examples
    for number, text in enumerate(examples):
        try:
            read_config(write(tmp_path / f"example-{number}.toml", text))
        except UsageError as exc:
            pytest.fail(f"the page's TOML example {number + 1} is refused: {exc}")
