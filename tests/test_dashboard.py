"""The dashboard in a real browser: headless Chromium against real servers.

Most tests drive ``wagate serve --simulator`` as a child process, logged in
through its ``/login?token=`` link as a person would; the QR-expiry test builds
the FastAPI app in process with QR codes that live two seconds; the Flask test
checks the fall-back to Server-Sent Events.  Each state is saved as a screenshot
under ``test-artifacts/dashboard/`` (light and dark, desktop and phone width).

Chromium is Debian's ``chromium`` (``tests/browser_setup.sh`` installs it),
driven by Playwright through ``executable_path``; without it these tests skip,
or fail when ``WAGATE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the dashboard tests need the 'fastapi' extra")
pytest.importorskip("playwright", reason="the browser tests need Playwright (the 'test' extra)")

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    WebSocketRoute,
    expect,
    sync_playwright,
)

from conftest import services_required
from test_contract_support import (
    CONTACT,
    SCRIPTS,
    SECRET,
    Phones,
    Process,
    mint,
    serve_fastapi,
    wait_http,
)
from wagate.cli import simulated_phone_number
from wagate.drivers.simulator import SimulatedDriver

pytestmark = pytest.mark.browser

ARTIFACTS = Path(
    os.environ.get("WAGATE_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)
SHOTS = ARTIFACTS / "dashboard"

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_PAGE_ERRORS: dict[Page, list[str]] = {}

DESKTOP = {"width": 1100, "height": 860}
PHONE = {"width": 390, "height": 844}

# Records, inside the page, every live event and every value some parts of the
# component take, so a test can check what was *ever* shown, not only the end state.
RECORDER = """
window.__wagate = { events: [], states: [], remaining: [], codes: [] };
document.addEventListener("wagate:event", (e) => window.__wagate.events.push(e.detail));
customElements.whenDefined("wagate-connection").then(() => {
  const root = document.querySelector("wagate-connection").shadowRoot;
  const watch = (testid, attribute, list) => {
    const el = root.querySelector(`[data-testid=${testid}]`);
    list.push(el.getAttribute(attribute));
    new MutationObserver(() => list.push(el.getAttribute(attribute)))
      .observe(el, { attributes: true, attributeFilter: [attribute] });
  };
  watch("status-badge", "data-state", window.__wagate.states);
  watch("qr-countdown", "data-remaining", window.__wagate.remaining);
  watch("qr-image", "data-code", window.__wagate.codes);
});
"""


# ---------------------------------------------------------------------------------
# Fixtures: the browser, the servers, pages


def _chromium_path() -> str:
    path = os.environ.get("WAGATE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        message = (
            f"Chromium is not installed ({path} is missing): run tests/browser_setup.sh "
            "(or set WAGATE_TEST_CHROMIUM)"
        )
        if services_required():
            pytest.fail(f"{message}; WAGATE_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, for the module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium, for the module."""
    chromium = playwright.chromium.launch(executable_path=_chromium_path(), args=CHROMIUM_FLAGS)
    expect.set_options(timeout=10_000)
    try:
        yield chromium
    finally:
        chromium.close()


class Server:
    """``wagate serve --simulator`` in a child process, restartable on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        wagate = SCRIPTS / "wagate"
        command = [str(wagate)] if wagate.exists() else [sys.executable, "-m", "wagate"]
        process = Process(
            [
                *command,
                "serve",
                "--simulator",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                "warning",
            ],
            env={"WAGATE_SECRET": SECRET},
        )
        line = process.wait_for_line(lambda text: "serving on http://" in text)
        self.port = int(line.split("serving on http://", 1)[1].split()[0].rsplit(":", 1)[1])
        self.process = process
        wait_http(f"{self.url}/status", process)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.stop()
            if process.proc.stdout is not None:
                process.proc.stdout.close()


@contextlib.contextmanager
def running_server(data_dir: Path) -> Iterator[Server]:
    server = Server(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``wagate serve --simulator`` for the module; each test uses its own tenant."""
    with running_server(tmp_path_factory.mktemp("serve")) as running:
        warm_up(running.url)
        yield running


def warm_up(url: str) -> None:
    """Take a new server's one-time costs (first session, first QR image) before measuring pages."""
    import httpx

    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {mint('warm-up')}"}
    ) as client:
        assert client.post("/api/qr/generate").status_code == 202
        for _ in range(500):  # poll for the condition, up to ~10 s
            if client.get("/api/qr").status_code == 200:
                return
            time.sleep(0.02)
        raise AssertionError("the warm-up tenant never got a QR code")


@contextlib.contextmanager
def new_context(
    browser: Browser,
    *,
    scheme: str = "light",
    viewport: dict[str, int] = DESKTOP,
    locale: str = "en-US",
) -> Iterator[BrowserContext]:
    context = browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport=viewport,  # type: ignore[arg-type]
        locale=locale,
    )
    context.add_init_script(RECORDER)
    try:
        yield context
    finally:
        context.close()


def open_dashboard(context: BrowserContext, base: str, tenant: str) -> Page:
    """Log in through the server's ``/login`` link (the cookie), landing on the dashboard."""
    page = new_page(context)
    page.goto(f"{base}/login?token={mint(tenant)}")
    return page


def new_page(context: BrowserContext) -> Page:
    """A page whose uncaught script errors :func:`no_page_errors` checks."""
    page = context.new_page()
    errors = _PAGE_ERRORS[page] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def set_cookie(context: BrowserContext, base: str, tenant: str) -> None:
    """Give the browser the token cookie directly (servers without ``/login``)."""
    context.add_cookies(
        [
            {
                "name": "wagate_token",
                "value": mint(tenant),
                "url": base,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )


def shot(page: Page, name: str) -> None:
    """Save a screenshot of the whole page as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def recorded(page: Page, name: str) -> list[Any]:
    values: list[Any] = page.evaluate(f"window.__wagate.{name}")
    return values


def no_page_errors(page: Page) -> None:
    assert _PAGE_ERRORS.pop(page, []) == []


def tenant_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def scan(page: Page) -> None:
    """The simulated phone scans the QR code shown, from the page's own panel."""
    page.get_by_test_id("sim-scan").click()
    expect(page.get_by_test_id("status-badge")).to_have_attribute("data-state", "connected")


# ---------------------------------------------------------------------------------
# wagate serve --simulator


def test_qr_appears_within_a_second_of_load(browser: Browser, server: Server) -> None:
    """A fresh tenant's page shows a QR code, instructions and a countdown within 1 s of loading."""
    tenant = tenant_name("fresh")
    with new_context(browser) as context:
        page = open_dashboard(context, server.url, tenant)  # returns after the load event
        expect(page.get_by_test_id("qr-image")).to_be_visible(timeout=1_000)
        expect(page.get_by_test_id("status-badge")).to_have_text("Waiting for scan")
        expect(page.get_by_test_id("qr-countdown")).to_have_text(
            re.compile(r"Expires in [0-9]:[0-5][0-9]")
        )
        expect(page.get_by_test_id("generate-button")).to_have_text("Refresh QR")
        expect(page.get_by_test_id("generate-button")).to_be_enabled()
        expect(page.get_by_test_id("logout-button")).to_be_disabled()
        assert page.get_by_test_id("qr-image").evaluate("img => img.naturalWidth") > 0
        shot(page, "01-waiting-for-scan-light-desktop")
        no_page_errors(page)
    with new_context(browser, scheme="dark", viewport=PHONE) as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        shot(page, "02-waiting-for-scan-dark-phone")


def test_scan_shows_account_and_a_reload_keeps_connected(browser: Browser, server: Server) -> None:
    """After the simulated scan the QR goes and the account shows; a reload is Connected at once."""
    tenant = tenant_name("scan")
    with new_context(browser, viewport=PHONE) as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        scan(page)
        expect(page.get_by_test_id("qr-image")).to_be_hidden()
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")
        expect(page.get_by_test_id("account-name")).to_have_text(tenant)
        expect(page.get_by_test_id("account-phone")).to_have_text(simulated_phone_number(tenant))
        expect(page.get_by_test_id("generate-button")).to_be_disabled()
        expect(page.get_by_test_id("generate-button")).to_have_text("Generate QR")
        expect(page.get_by_test_id("logout-button")).to_be_enabled()
        shot(page, "03-connected-light-phone")

        with page.expect_response(re.compile(r"/status$")) as refreshed:
            page.get_by_test_id("refresh-button").click()
        assert refreshed.value.ok
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")

        page.reload()
        expect(page.get_by_test_id("status-badge")).to_have_attribute("data-state", "connected")
        expect(page.get_by_test_id("account-phone")).to_have_text(simulated_phone_number(tenant))
        expect(page.get_by_test_id("generate-button")).to_be_disabled()
        # Since the reload the page showed only "loading" and "connected": no QR flash.
        assert set(recorded(page, "states")) <= {"loading", "connected"}, recorded(page, "states")
        assert [code for code in recorded(page, "codes") if code] == []
        no_page_errors(page)
    with new_context(browser, scheme="dark") as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")
        shot(page, "04-connected-dark-desktop")


def test_messages_in_and_out_and_send_errors_inline(browser: Browser, server: Server) -> None:
    """Incoming and sent messages are listed; a bad number is refused inline, next to the form."""
    tenant = tenant_name("chat")
    with new_context(browser) as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        form = page.get_by_test_id("send-form")
        expect(form.get_by_role("button", name="Send")).to_be_disabled()  # not linked yet
        scan(page)

        incoming = page.get_by_test_id("sim-receive-form")
        incoming.get_by_label("From").fill(CONTACT)
        incoming.locator("textarea").fill("Halo, apakah pesanan saya sudah dikirim?")
        incoming.get_by_role("button").click()
        messages = page.get_by_test_id("messages")
        expect(messages.locator("li")).to_have_count(1)
        expect(messages).to_contain_text("apakah pesanan saya")

        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("Sudah, kurir berangkat jam 2 siang.")
        form.get_by_role("button", name="Send").click()
        expect(messages.locator("li")).to_have_count(2)
        expect(messages.locator("li").first).to_have_attribute("data-direction", "out")
        expect(messages.locator("li").first).to_contain_text("kurir berangkat")
        expect(form.locator("textarea")).to_have_value("")

        form.get_by_label("To").fill("12")
        form.locator("textarea").fill("this cannot go out")
        form.get_by_role("button", name="Send").click()
        error = form.get_by_role("alert")
        expect(error).to_be_visible()
        expect(error).to_contain_text("12")
        expect(messages.locator("li")).to_have_count(2)
        shot(page, "05-messages-and-inline-error-light-desktop")
        no_page_errors(page)


def test_the_message_list_survives_a_blip_without_holes(browser: Browser, server: Server) -> None:
    """The page's socket drops while messages arrive: after the reconnect every one is listed."""
    import httpx

    tenant = tenant_name("blip")
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:  # the page's websockets, through to the server
        socket.connect_to_server()
        sockets.append(socket)

    with new_context(browser) as context:
        context.route_web_socket(re.compile(r"/socket\.io/"), relay)
        page = open_dashboard(context, server.url, tenant)
        scan(page)
        messages = page.get_by_test_id("messages").locator("li")
        auth = {"Authorization": f"Bearer {mint(tenant)}"}
        with httpx.Client(base_url=server.url, headers=auth) as api:

            def receive(text: str) -> None:
                reply = api.post("/api/simulator/receive", json={"from": CONTACT, "text": text})
                assert reply.status_code < 300, reply.text

            receive("before 1")
            receive("before 2")
            expect(messages).to_have_count(2)
            opened = len(sockets)
            sockets[-1].close()  # the blip: the page's end closes, the server's lives on
            for i in range(1, 6):
                receive(f"during {i}")
            expect(messages).to_have_count(7, timeout=15_000)
            assert len(sockets) > opened  # it did reconnect: a new websocket
            receive("after")
            expect(messages).to_have_count(8)
        texts = [text.strip() for text in messages.all_inner_texts()]
        expected = ["before 1", "before 2", *(f"during {i}" for i in range(1, 6)), "after"]
        # Newest first, each once, none missing.
        assert [next(e for e in expected if e in text) for text in texts] == expected[::-1]
        recovered = page.evaluate("document.querySelector('wagate-connection').recovered")
        assert recovered is True
        no_page_errors(page)


def test_logout_asks_first_then_unlinks(browser: Browser, server: Server) -> None:
    """Logout asks for confirmation; Cancel keeps the account, confirming unlinks it."""
    tenant = tenant_name("logout")
    with new_context(browser) as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        scan(page)

        page.get_by_test_id("logout-button").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        expect(page.get_by_role("dialog")).to_contain_text(simulated_phone_number(tenant))
        shot(page, "06-logout-confirmation")
        page.get_by_test_id("logout-cancel").click()
        expect(page.get_by_role("dialog")).to_be_hidden()
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")

        page.get_by_test_id("logout-button").click()
        page.get_by_test_id("logout-confirm").click()
        expect(page.get_by_test_id("status-badge")).to_have_text("Disconnected")
        expect(page.get_by_test_id("status-detail")).to_have_text("Logged out")
        expect(page.get_by_test_id("account-name")).to_be_hidden()
        expect(page.get_by_test_id("logout-button")).to_be_disabled()
        expect(page.get_by_test_id("generate-button")).to_be_enabled()
        shot(page, "07-logged-out")

        page.get_by_test_id("generate-button").click()
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        no_page_errors(page)


def test_notice_when_the_server_goes_away_and_comes_back(browser: Browser, tmp_path: Path) -> None:
    """A stopped server shows the notice; back on the same port it clears, the account linked."""
    tenant = tenant_name("restart")
    with (
        running_server(tmp_path / "data") as server,
        new_context(browser, scheme="dark", viewport=PHONE) as context,
    ):
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        scan(page)
        notice = page.get_by_test_id("connection-notice")
        expect(notice).to_be_hidden()

        server.stop()
        expect(notice).to_be_visible()
        expect(notice).to_have_attribute("data-state", "lost")
        expect(page.get_by_test_id("generate-button")).to_be_disabled()
        shot(page, "08-live-connection-lost-dark-phone")

        server.start()  # the same port and data directory
        expect(notice).not_to_have_attribute("data-state", "lost", timeout=20_000)
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")
        expect(page.get_by_test_id("account-phone")).to_have_text(simulated_phone_number(tenant))
        shot(page, "09-live-connection-restored-dark-phone")
        expect(notice).to_be_hidden()
        no_page_errors(page)


class LiveCut:
    """Routes a page's live connection (Socket.IO: WebSocket and polling) so a test can cut it.

    While cut, open sockets are closed from the page's side and new attempts fail,
    as when a proxy drops the connection; the server itself keeps running.
    """

    PATTERN = re.compile(r"/socket\.io/")

    def __init__(self, page: Page) -> None:
        self.cut = False
        self.sockets: list[WebSocketRoute] = []
        page.route_web_socket(self.PATTERN, self._socket)
        page.route(self.PATTERN, self._request)

    def _socket(self, ws: WebSocketRoute) -> None:
        if self.cut:
            ws.close()
            return
        ws.connect_to_server()
        self.sockets.append(ws)

    def _request(self, route: Route) -> None:
        if self.cut:
            route.abort("connectionreset")
        else:
            route.continue_()

    def down(self) -> None:
        self.cut = True
        sockets, self.sockets = self.sockets, []
        for ws in sockets:
            ws.close()

    def up(self) -> None:
        self.cut = False


def test_send_waits_for_the_live_connection(browser: Browser, server: Server) -> None:
    """While the live connection is down, Send is disabled and says why; back up, it works."""
    tenant = tenant_name("send-live")
    with new_context(browser) as context:
        page = new_page(context)
        live = LiveCut(page)
        page.goto(f"{server.url}/login?token={mint(tenant)}")
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        scan(page)
        form = page.get_by_test_id("send-form")
        button = form.get_by_role("button", name="Send")
        hint = page.locator("[data-part=send-hint]")
        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("Sudah dikirim.")
        expect(button).to_be_enabled()
        expect(hint).to_be_hidden()

        live.down()
        expect(page.get_by_test_id("connection-notice")).to_have_attribute("data-state", "lost")
        expect(button).to_be_disabled()
        expect(hint).to_be_visible()
        expect(hint).to_have_text(re.compile("live connection"))
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")  # the account is
        shot(page, "15-send-paused-while-live-connection-is-down")

        live.up()
        expect(button).to_be_enabled(timeout=20_000)
        expect(hint).to_be_hidden()
        button.click()
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(1)
        no_page_errors(page)


def test_indonesian_words_from_the_browser_language(browser: Browser, server: Server) -> None:
    """A browser set to Indonesian reads "Menunggu scan", then "Terhubung"."""
    tenant = tenant_name("id")
    with new_context(browser, scheme="dark", viewport=PHONE, locale="id-ID") as context:
        page = open_dashboard(context, server.url, tenant)
        expect(page.get_by_test_id("status-badge")).to_have_text("Menunggu scan")
        expect(page.get_by_test_id("generate-button")).to_have_text("Perbarui QR")
        expect(page.get_by_test_id("qr-countdown")).to_contain_text("Kedaluwarsa dalam")
        shot(page, "10-indonesian-waiting-dark-phone")
        scan(page)
        expect(page.get_by_test_id("status-badge")).to_have_text("Terhubung")
        expect(page.get_by_test_id("logout-button")).to_have_text("Keluar")
        shot(page, "11-indonesian-connected-dark-phone")


def test_lang_attribute_and_added_languages(browser: Browser, server: Server) -> None:
    """The ``lang`` attribute overrides the browser's language, and a host app can add one."""
    tenant = tenant_name("lang")
    with new_context(browser, locale="en-US") as context:
        page = open_dashboard(context, server.url, tenant)
        badge = page.get_by_test_id("status-badge")
        expect(badge).to_have_text("Waiting for scan")
        page.evaluate("document.querySelector('wagate-connection').setAttribute('lang', 'id')")
        expect(badge).to_have_text("Menunggu scan")
        page.evaluate(
            """() => customElements.get("wagate-connection")
                 .addMessages("ms", { awaiting_scan: "Menunggu imbasan" })"""
        )
        page.evaluate("document.querySelector('wagate-connection').setAttribute('lang', 'ms-MY')")
        expect(badge).to_have_text("Menunggu imbasan")
        # Words the added table lacks come from English.
        expect(page.get_by_test_id("refresh-button")).to_have_text("Refresh")


def test_tenant_a_never_sees_tenant_b(browser: Browser, server: Server) -> None:
    """Two tenants side by side: A's page never receives or shows B's QR, account or messages."""
    a, b = tenant_name("a"), tenant_name("b")
    secret_text = f"for B only {uuid.uuid4().hex}"
    with new_context(browser) as context_a, new_context(browser) as context_b:
        page_a = open_dashboard(context_a, server.url, a)
        page_b = open_dashboard(context_b, server.url, b)
        expect(page_a.get_by_test_id("qr-image")).to_be_visible()
        expect(page_b.get_by_test_id("qr-image")).to_be_visible()
        assert page_a.get_by_test_id("qr-image").get_attribute("data-code") != (
            page_b.get_by_test_id("qr-image").get_attribute("data-code")
        )
        scan(page_b)
        incoming = page_b.get_by_test_id("sim-receive-form")
        incoming.locator("textarea").fill(secret_text)
        incoming.get_by_role("button").click()
        expect(page_b.get_by_test_id("messages")).to_contain_text(secret_text)

        scan(page_a)
        expect(page_a.get_by_test_id("account-phone")).to_have_text(simulated_phone_number(a))
        page_a.reload()
        expect(page_a.get_by_test_id("status-badge")).to_have_text("Connected")
        expect(page_a.get_by_test_id("account-name")).to_have_text(a)
        assert secret_text not in page_a.get_by_test_id("messages").inner_text()
        # The reloaded page resumed its stream where it was (nothing new: no event yet);
        # a message of its own is the live event it must get.
        incoming_a = page_a.get_by_test_id("sim-receive-form")
        incoming_a.locator("textarea").fill("for A")
        incoming_a.get_by_role("button").click()
        expect(page_a.get_by_test_id("messages")).to_contain_text("for A")
        events_a = recorded(page_a, "events")
        assert events_a, "A's page received no live event"
        assert {event["data"]["tenant"] for event in events_a} == {a}
        shown_to_a = page_a.evaluate(
            "document.querySelector('wagate-connection').shadowRoot.innerHTML"
        )
        assert simulated_phone_number(a) in shown_to_a
        assert simulated_phone_number(b) not in shown_to_a
        assert b not in shown_to_a
        assert {e["data"]["tenant"] for e in recorded(page_b, "events")} == {b}


def test_signed_out_without_a_token(browser: Browser, server: Server) -> None:
    """Without a token the page says how to sign in, and shows no gateway data."""
    with new_context(browser) as context:
        page = context.new_page()
        page.goto(server.url)
        expect(page.get_by_text("You are not signed in")).to_be_visible()
        expect(page.get_by_test_id("status-badge")).to_be_hidden()
        shot(page, "12-signed-out")


# ---------------------------------------------------------------------------------
# In process: short QR codes; Flask (SSE)


class ShortQrPhones(Phones):
    """Phones whose QR codes live two seconds, one code per login."""

    def __call__(self, tenant: str) -> SimulatedDriver:
        return SimulatedDriver(phone=self.phone(tenant), qr_timeouts=(2.0,))


def test_qr_countdown_reaches_zero_and_a_new_code_replaces_it(browser: Browser) -> None:
    """The countdown reaches zero, the code shows expired, and the page gets and shows a new one."""
    tenant = tenant_name("expiry")
    with serve_fastapi(ShortQrPhones()) as served, new_context(browser) as context:
        set_cookie(context, served.url, tenant)
        page = new_page(context)
        page.goto(served.url)
        image = page.get_by_test_id("qr-image")
        countdown = page.get_by_test_id("qr-countdown")
        expect(image).to_be_visible()
        expect(countdown).to_have_text(re.compile(r"Expires in 0:0[12]"))
        first = image.get_attribute("data-code")
        assert first

        # Hold the page's own request for a new code, to see the expired state first.
        held: list[Route] = []

        def hold(route: Route) -> None:
            held.append(route)

        page.route("**/api/qr/generate", hold)
        with page.expect_request("**/api/qr/generate"):
            expect(countdown).to_have_attribute("data-remaining", "0")
        expect(countdown).to_have_text("QR code expired")
        expect(page.get_by_text("Getting a new code…")).to_be_visible()
        expect(image).to_have_attribute("data-code", first)
        shot(page, "13-qr-expired-renewing")

        for route in held:
            route.continue_()
        page.unroute("**/api/qr/generate", hold)
        expect(image).not_to_have_attribute("data-code", first)
        expect(image).to_be_visible()
        expect(countdown).to_have_text(re.compile(r"Expires in 0:0[12]"))
        expect(page.get_by_text("Getting a new code…")).to_be_hidden()
        expect(page.get_by_test_id("status-badge")).to_have_text("Waiting for scan")
        # The countdown went down to zero before the new code restarted it.
        remaining = recorded(page, "remaining")
        assert "0" in remaining, remaining
        assert "2" in remaining[remaining.index("0") :], remaining
        no_page_errors(page)


def test_flask_blueprint_falls_back_to_server_sent_events(browser: Browser) -> None:
    """Under Flask (no Socket.IO) the page goes live over SSE: QR, scan, Connected."""
    pytest.importorskip("flask")
    from test_contract_support import serve_flask

    tenant = tenant_name("flask")
    with serve_flask(Phones()) as served, new_context(browser) as context:
        set_cookie(context, served.url, tenant)
        page = new_page(context)
        page.goto(served.url)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        # The QR comes over REST; the live transport is known once one came up.
        page.wait_for_function("document.querySelector('wagate-connection').transport !== null")
        transport = page.evaluate("document.querySelector('wagate-connection').transport")
        assert transport == "sse"
        scan(page)
        expect(page.get_by_test_id("account-phone")).to_have_text(
            served.phones.phone(tenant).number
        )
        # The messaging kinds come over SSE too: a location, then a reaction to it.
        from wagate import Location

        phone = served.phones.phone(tenant)
        place = served.call(phone.send, CONTACT, Location(-8.65, 115.2167, name="Denpasar"))
        expect(_item(page, place).get_by_test_id("message-map-link")).to_have_attribute(
            "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=-8\.65&mlon=115\.2167")
        )
        served.call(phone.react, CONTACT, place, "❤️")
        expect(_item(page, place).get_by_test_id("message-reactions")).to_have_text("❤️")
        page.reload()  # no resume over SSE, but the list the tab kept is back
        expect(_item(page, place).get_by_test_id("message-reactions")).to_have_text("❤️")
        shot(page, "14-flask-sse-connected")
        no_page_errors(page)
        page.close()


# ---------------------------------------------------------------------------------
# Linking by a pairing code typed on the phone

PAIRING_CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")


def _waiting_page(context: BrowserContext, url: str) -> Page:
    page = new_page(context)
    page.goto(url)
    expect(page.get_by_test_id("qr-image")).to_be_visible()
    return page


def test_a_pairing_code_typed_on_the_phone_links_the_account(browser: Browser) -> None:
    """A code asked for by number shows big (and in another tab, by its event); typed, it links."""
    tenant = tenant_name("pairing")
    with serve_fastapi(Phones()) as served, new_context(browser) as context:
        set_cookie(context, served.url, tenant)
        phone = served.phones.phone(tenant)
        page, other = _waiting_page(context, served.url), _waiting_page(context, served.url)
        pairing = page.get_by_test_id("pairing")
        form = page.get_by_test_id("pairing-form")
        expect(form).to_be_hidden()  # folded under its summary until asked for
        pairing.get_by_text("Link with phone number instead", exact=True).click()
        form.get_by_label("The account's phone number").fill(phone.number)
        form.get_by_role("button", name="Get a code").click()

        code = page.get_by_test_id("pairing-code")
        expect(code).to_have_text(PAIRING_CODE)
        expect(pairing).to_contain_text(f"Code for {phone.number}")
        expect(pairing).to_contain_text("Link with phone number instead.")
        expect(pairing).to_contain_text("Type this code on your phone.")
        expect(form.get_by_role("button", name="Get a new code")).to_be_enabled()
        expect(form.get_by_role("alert")).to_be_hidden()
        expect(page.get_by_test_id("qr-image")).to_be_visible()  # scanning still works too
        shown = code.inner_text()
        # The other tab asked nothing: the code came to it as a pairing:code event.
        expect(other.get_by_test_id("pairing-code")).to_have_text(shown)
        assert "pairing:code" in [e["name"] for e in recorded(other, "events")]
        shot(page, "15-pairing-code-light-desktop")
        # A reload resumes the stream after the code's event: the page kept the code.
        page.reload()
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        expect(page.get_by_test_id("pairing-code")).to_have_text(shown)

        served.call(lambda: phone.enter_pairing_code(shown))
        for tab in (page, other):
            expect(tab.get_by_test_id("status-badge")).to_have_attribute("data-state", "connected")
            expect(tab.get_by_test_id("account-phone")).to_have_text(phone.number)
            expect(tab.get_by_test_id("pairing")).to_be_hidden()
            no_page_errors(tab)


def test_a_refused_pairing_code_request_says_why_next_to_the_form(browser: Browser) -> None:
    """A national number and another phone's number are refused inline, in Indonesian here."""
    tenant = tenant_name("pairing-bad")
    with (
        serve_fastapi(Phones()) as served,
        new_context(browser, viewport=PHONE, locale="id-ID") as context,
    ):
        set_cookie(context, served.url, tenant)
        page = _waiting_page(context, served.url)
        pairing = page.get_by_test_id("pairing")
        pairing.get_by_text("Tautkan dengan nomor telepon saja", exact=True).click()
        form = page.get_by_test_id("pairing-form")
        error = form.get_by_role("alert")
        number = form.get_by_label("Nomor telepon akun")

        number.fill("0812 3456 789")
        form.get_by_role("button", name="Minta kode").click()
        expect(error).to_be_visible()
        expect(error).to_contain_text("country code")  # the gateway's own words
        expect(page.get_by_test_id("pairing-code")).to_be_hidden()
        shot(page, "16-pairing-code-refused-id-phone")

        number.fill("+628999888777")  # a real number, but not this account's
        form.get_by_role("button", name="Minta kode").click()
        expect(error).to_contain_text("+628999888777")
        expect(page.get_by_test_id("pairing-code")).to_be_hidden()

        number.fill(served.phones.phone(tenant).number)
        form.get_by_role("button", name="Minta kode").click()
        expect(page.get_by_test_id("pairing-code")).to_have_text(PAIRING_CODE)
        expect(error).to_be_hidden()
        expect(form.get_by_role("button", name="Minta kode baru")).to_be_visible()
        no_page_errors(page)


# ---------------------------------------------------------------------------------
# Rich messages: media, locations, replies, reactions, edits, deletions, receipts


def _png(colour: tuple[int, int, int] = (0, 128, 105)) -> bytes:
    """A small real PNG (4x3 pixels), which a browser can decode."""
    import io

    from PIL import Image as PillowImage

    buffer = io.BytesIO()
    PillowImage.new("RGB", (4, 3), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@contextlib.contextmanager
def linked_page(browser: Browser, label: str) -> Iterator[tuple[Page, Any, Any]]:
    """An in-process server, its dashboard page linked by the simulated scan, and the phone."""
    tenant = tenant_name(label)
    with serve_fastapi(Phones()) as served, new_context(browser) as context:
        set_cookie(context, served.url, tenant)
        page = new_page(context)
        page.goto(served.url)
        expect(page.get_by_test_id("qr-image")).to_be_visible()
        scan(page)
        yield page, served, served.phones.phone(tenant)


def _item(page: Page, message_id: str) -> Any:
    return page.get_by_test_id("messages").locator(f'li[data-message-id="{message_id}"]')


def test_the_list_shows_every_kind_a_contact_sends(browser: Browser) -> None:
    """An image, a document, a location, replies, a reaction, an edit and a deletion each show."""
    from wagate import Document, Image, Location, Text

    png, pdf = _png(), b"%PDF-1.4\n% a small invoice\n"
    with linked_page(browser, "kinds") as (page, served, phone):

        def send(content: Any) -> str:
            message_id: str = served.call(phone.send, CONTACT, content)
            return message_id

        image = send(Image(png, caption="the receipt"))
        picture = _item(page, image).get_by_test_id("message-image")
        expect(picture).to_be_visible()
        expect(picture).to_have_attribute("alt", "Image: the receipt")
        expect(picture).to_have_attribute("src", re.compile(r"/api/media/[^/]+$"))
        # Loaded through the cookie: the browser decoded the PNG the phone sent.
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 4", arg=picture.element_handle()
        )
        expect(_item(page, image)).to_contain_text("the receipt")

        document = send(Document(pdf, file_name="invoice.pdf"))
        link = _item(page, document).get_by_test_id("message-media-link")
        expect(link).to_contain_text("invoice.pdf")
        href = link.get_attribute("href")
        assert href is not None and re.search(r"/api/media/[^/]+$", href), href
        assert page.request.get(href).body() == pdf  # the same cookie, the exact bytes

        place = send(Location(-6.1754, 106.8272, name="Monas", address="Jakarta"))
        location = _item(page, place).get_by_test_id("message-location")
        expect(location).to_contain_text("Monas, Jakarta")
        expect(location).to_contain_text("-6.1754, 106.8272")
        expect(location.get_by_test_id("message-map-link")).to_have_attribute(
            "href",
            "https://www.openstreetmap.org/?mlat=-6.1754&mlon=106.8272#map=16/-6.1754/106.8272",
        )

        reply = send(Text("yes, that one", reply_to=image))
        expect(_item(page, reply).get_by_test_id("message-quote")).to_have_text("the receipt")
        stray = send(Text("and this", reply_to="3EB0000000000000DEAD"))
        expect(_item(page, stray).get_by_test_id("message-quote")).to_have_text(
            "a message not shown here"
        )

        served.call(phone.react, CONTACT, image, "👍")
        expect(_item(page, image).get_by_test_id("message-reactions")).to_have_text("👍")
        served.call(phone.edit, CONTACT, reply, "yes, that receipt")
        expect(_item(page, reply).locator(".text")).to_have_text("yes, that receipt")
        expect(_item(page, reply).get_by_test_id("message-edited")).to_have_text("Edited")
        served.call(phone.revoke, CONTACT, document)
        expect(_item(page, document).get_by_test_id("message-revoked")).to_be_visible()
        expect(_item(page, document).get_by_test_id("message-media-link")).to_have_count(0)
        served.call(phone.react, CONTACT, image, "")
        expect(_item(page, image).get_by_test_id("message-reactions")).to_have_count(0)
        shot(page, "16-rich-messages")
        no_page_errors(page)


def test_a_sent_message_gets_its_ticks_as_receipts_arrive(browser: Browser) -> None:
    """A sent text shows one tick, then delivered, then read when the contact opens the chat."""
    with linked_page(browser, "ticks") as (page, served, phone):
        page.evaluate(
            """() => {
              window.__ticks = [];
              new MutationObserver(() => {
                const root = document.querySelector("wagate-connection").shadowRoot;
                const tick = root.querySelector("[data-testid=message-status]");
                const last = window.__ticks[window.__ticks.length - 1];
                if (tick && tick.dataset.status !== last) window.__ticks.push(tick.dataset.status);
              }).observe(document.querySelector("wagate-connection").shadowRoot,
                         { subtree: true, childList: true, attributes: true });
            }"""
        )
        form = page.get_by_test_id("send-form")
        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("Pesanan sudah dikirim.")
        form.locator("button[type=submit]").click()
        ticks = page.get_by_test_id("message-status")
        expect(ticks).to_have_attribute("data-status", "delivered")  # after RECEIPT_DELAY
        expect(ticks).to_have_attribute("aria-label", "Delivered")
        served.call(phone.open_chat, CONTACT)
        expect(ticks).to_have_attribute("data-status", "read")
        expect(ticks).to_have_text("✓✓")
        assert page.evaluate("window.__ticks") == ["sent", "delivered", "read"]
        no_page_errors(page)


def test_an_attached_file_reaches_the_phone_byte_exact(browser: Browser) -> None:
    """A PNG attached in the composer goes out as an image with its caption, bytes unchanged."""
    png = _png((200, 30, 30))
    with linked_page(browser, "attach") as (page, served, phone):
        form = page.get_by_test_id("send-form")
        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("the photo you asked for")
        form.get_by_label("Attach a file").set_input_files(
            {"name": "photo.png", "mimeType": "image/png", "buffer": png}
        )
        with page.expect_response("**/api/messages") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.ok, answer.value.text()
        sent = page.get_by_test_id("messages").locator('li[data-direction="out"]')
        expect(sent).to_have_count(1)
        expect(sent.get_by_test_id("message-image")).to_be_visible()
        expect(sent).to_contain_text("the photo you asked for")
        expect(form.get_by_label("Attach a file")).to_have_value("")
        got = served.call(lambda: list(phone.sent))
        assert len(got) == 1
        assert got[0].content.kind == "image"
        assert got[0].content.media == png
        assert got[0].content.caption == "the photo you asked for"
        no_page_errors(page)


def test_wire_text_is_shown_as_text_never_run(browser: Browser) -> None:
    """A caption and a file name that are HTML show literally, and their script never runs."""
    from wagate import Document, Image, Text

    evil = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">'
    with linked_page(browser, "xss") as (page, served, phone):
        image = served.call(phone.send, CONTACT, Image(_png(), caption=evil))
        document = served.call(
            phone.send, CONTACT, Document(b"plain", file_name=evil, caption=evil)
        )
        expect(_item(page, image)).to_contain_text(evil)
        expect(_item(page, document).get_by_test_id("message-media-link")).to_contain_text(evil)
        reply = served.call(phone.send, CONTACT, Text("re", reply_to=image))
        expect(_item(page, reply).get_by_test_id("message-quote")).to_have_text(evil)
        root = "document.querySelector('wagate-connection').shadowRoot"
        # One <img> per image message (the thumbnail), none made from the texts.
        assert page.evaluate(f"{root}.querySelectorAll('[data-testid=messages] img').length") == 1
        assert page.evaluate("window.__xss") is None
        no_page_errors(page)


def test_the_list_survives_a_reload_and_gets_what_came_meanwhile(browser: Browser) -> None:
    """After a reload the list is back, and a message that came while the page was away is in it."""
    from wagate import Location, Text

    with linked_page(browser, "reload") as (page, served, phone):
        first = served.call(phone.send, CONTACT, Text("sebelum"))
        place = served.call(phone.send, CONTACT, Location(1.5, 2.25))
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(2)
        served.call(phone.react, CONTACT, first, "🙏")
        expect(_item(page, first).get_by_test_id("message-reactions")).to_have_text("🙏")

        page.reload()
        expect(page.get_by_test_id("status-badge")).to_have_text("Connected")
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(2)
        expect(_item(page, first).get_by_test_id("message-reactions")).to_have_text("🙏")
        expect(_item(page, place).get_by_test_id("message-map-link")).to_have_attribute(
            "href", re.compile(r"mlat=1\.5&mlon=2\.25")
        )

        url = page.url
        page.goto("about:blank")  # the page is away; the tab (and its storage) stays
        meanwhile = served.call(phone.send, CONTACT, Text("selagi pergi"))
        page.goto(url)
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(3)
        expect(_item(page, meanwhile)).to_contain_text("selagi pergi")
        texts = page.get_by_test_id("messages").locator("li").all_inner_texts()
        assert "selagi pergi" in texts[0] and "sebelum" in texts[2], texts
        no_page_errors(page)


def test_an_audio_with_text_sends_the_text_as_its_own_message(browser: Browser) -> None:
    """A voice note takes no caption: the text typed with it is sent after it, not dropped."""
    ogg = b"OggS\x00\x02" + b"\x00" * 64
    with linked_page(browser, "audio") as (page, served, phone):
        form = page.get_by_test_id("send-form")
        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("listen to this")
        form.get_by_label("Attach a file").set_input_files(
            {"name": "note.ogg", "mimeType": "audio/ogg", "buffer": ogg}
        )
        with page.expect_response("**/api/send") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.ok, answer.value.text()
        sent = page.get_by_test_id("messages").locator('li[data-direction="out"]')
        expect(sent).to_have_count(2)
        expect(form.locator("textarea")).to_have_value("")
        got = served.call(lambda: list(phone.sent))
        assert [m.content.kind for m in got if m.content] == ["audio", "text"]
        assert got[0].content is not None and got[0].content.media == ogg
        assert got[1].text == "listen to this"
        no_page_errors(page)


def test_a_file_of_a_type_whatsapp_does_not_show_goes_as_a_document(browser: Browser) -> None:
    """A GIF is no WhatsApp image: the composer sends it as a document, named, unchanged."""
    gif = b"GIF89a" + b"\x00" * 32
    with linked_page(browser, "gif") as (page, served, phone):
        form = page.get_by_test_id("send-form")
        form.get_by_label("To").fill(CONTACT)
        form.get_by_label("Attach a file").set_input_files(
            {"name": "dance.gif", "mimeType": "image/gif", "buffer": gif}
        )
        with page.expect_response("**/api/messages") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.ok, answer.value.text()
        got = served.call(lambda: list(phone.sent))
        assert len(got) == 1 and got[0].content is not None
        assert got[0].content.kind == "document"
        assert got[0].content.media == gif
        assert got[0].content.file_name == "dance.gif"
        no_page_errors(page)


# ---------------------------------------------------------------------------------
# "typing…": chat states


OTHER_CONTACT = "+628111222444"


def _typing(page: Page) -> Any:
    return page.get_by_test_id("typing").get_by_test_id("typing-line")


def test_typing_shows_under_the_list_and_clears_on_paused(browser: Browser) -> None:
    """A contact composing shows "<number> is typing…" in a polite live region; paused clears it."""
    with linked_page(browser, "typing") as (page, served, phone):
        expect(page.get_by_test_id("typing")).to_have_attribute("aria-live", "polite")
        served.call(phone.type_in, CONTACT, "composing")
        expect(_typing(page)).to_have_text([f"{CONTACT} is typing…"])
        expect(_typing(page)).to_have_attribute("data-state", "composing")
        served.call(phone.type_in, OTHER_CONTACT, "composing")  # two at once: a line each
        expect(_typing(page)).to_have_text([f"{CONTACT} is typing…", f"{OTHER_CONTACT} is typing…"])
        shot(page, "17-typing")
        served.call(phone.type_in, CONTACT, "paused")
        expect(_typing(page)).to_have_text([f"{OTHER_CONTACT} is typing…"])
        served.call(phone.type_in, OTHER_CONTACT, "paused")
        expect(_typing(page)).to_have_count(0)
        expect(page.get_by_test_id("typing")).to_be_hidden()
        no_page_errors(page)


def test_typing_recording_has_its_own_words_in_both_languages(browser: Browser) -> None:
    """Recording says "is recording a voice note…", and in Indonesian when the page speaks it."""
    with linked_page(browser, "recording") as (page, served, phone):
        served.call(phone.type_in, CONTACT, "recording")
        expect(_typing(page)).to_have_text([f"{CONTACT} is recording a voice note…"])
        expect(_typing(page)).to_have_attribute("data-state", "recording")
        page.evaluate("document.querySelector('wagate-connection').setAttribute('lang', 'id')")
        expect(_typing(page)).to_have_text([f"{CONTACT} sedang merekam pesan suara…"])
        served.call(phone.type_in, CONTACT, "composing")
        expect(_typing(page)).to_have_text([f"{CONTACT} sedang mengetik…"])
        no_page_errors(page)


def test_typing_a_message_from_the_contact_clears_it_and_names_them(browser: Browser) -> None:
    """The name a contact's message gave is used, and their next message ends their "typing…"."""
    from wagate import Text

    with linked_page(browser, "typing-message") as (page, served, phone):
        served.call(lambda: phone.send(CONTACT, Text("halo"), push_name="Budi"))
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(1)
        served.call(phone.type_in, CONTACT, "composing")
        served.call(phone.type_in, OTHER_CONTACT, "composing")
        expect(_typing(page)).to_have_text(["Budi is typing…", f"{OTHER_CONTACT} is typing…"])
        served.call(lambda: phone.send(CONTACT, Text("sudah sampai"), push_name="Budi"))
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(2)
        expect(_typing(page)).to_have_text([f"{OTHER_CONTACT} is typing…"])
        no_page_errors(page)


def test_typing_a_name_that_is_html_shows_as_text(browser: Browser) -> None:
    """A push name of ``<img onerror=...>`` shows literally in the "typing…" line; nothing runs."""
    from wagate import Text

    evil = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">'
    with linked_page(browser, "typing-xss") as (page, served, phone):
        served.call(lambda: phone.send(CONTACT, Text("hi"), push_name=evil))
        expect(page.get_by_test_id("messages").locator("li")).to_have_count(1)
        served.call(phone.type_in, CONTACT, "composing")
        expect(_typing(page)).to_have_text([f"{evil} is typing…"])
        root = "document.querySelector('wagate-connection').shadowRoot"
        assert page.evaluate(f"{root}.querySelectorAll('[data-testid=typing] *').length") == 1
        assert page.evaluate("window.__xss") is None
        no_page_errors(page)


def test_typing_goes_when_the_contact_goes_offline(browser: Browser) -> None:
    """A contact whose presence the account follows stops "typing…" when they go offline."""
    with linked_page(browser, "typing-offline") as (page, served, phone):
        answer = page.request.post(
            f"{served.url}/api/presence/subscribe",
            data={"contact": CONTACT},
            headers={"Origin": served.url},
        )
        assert answer.ok, answer.text()
        served.call(phone.type_in, CONTACT, "composing")
        expect(_typing(page)).to_have_text([f"{CONTACT} is typing…"])
        served.call(phone.show_presence, CONTACT, "unavailable")
        expect(_typing(page)).to_have_count(0)
        no_page_errors(page)


# ---------------------------------------------------------------------------------
# Groups in the composer


def test_the_composer_offers_the_accounts_groups_and_sends_to_one(browser: Browser) -> None:
    """The groups the account joins appear in the composer; one chosen gets the message by JID."""
    with linked_page(browser, "groups") as (page, served, phone):
        picker = page.get_by_test_id("send-group")
        form = page.get_by_test_id("send-form")
        expect(picker).to_be_hidden()  # no groups yet: only a number can be typed
        family = served.call(lambda: phone.add_to_group("Family", [CONTACT, OTHER_CONTACT]))
        expect(picker).to_be_visible()
        expect(picker.locator(f'option[value="{family}"]')).to_have_text("Family (3 members)")
        picker.select_option(family)
        expect(form.get_by_label("To")).to_be_disabled()
        form.locator("textarea").fill("Makan malam jam 7")
        with page.expect_response("**/api/send") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.ok, answer.value.text()
        assert answer.value.request.post_data_json == {"to": family, "text": "Makan malam jam 7"}
        got = served.call(lambda: list(phone.sent))
        assert [(m.to, m.text) for m in got] == [(family, "Makan malam jam 7")]
        sent = page.get_by_test_id("messages").locator('li[data-direction="out"]')
        expect(sent).to_contain_text("To Family")
        shot(page, "18-composer-groups")
        no_page_errors(page)


def test_the_composers_groups_follow_the_group_events_and_a_reload(browser: Browser) -> None:
    """Renames and leavers update the picker, a reload asks again, a group left goes from it."""
    with linked_page(browser, "groups-live") as (page, served, phone):
        picker = page.get_by_test_id("send-group")
        family = served.call(lambda: phone.add_to_group("Family", [CONTACT, OTHER_CONTACT]))
        option = picker.locator(f'option[value="{family}"]')
        expect(option).to_have_text("Family (3 members)")
        picker.select_option(family)
        served.call(lambda: phone.rename_group(family, "Keluarga", by=CONTACT))
        expect(option).to_have_text("Keluarga (3 members)")
        served.call(
            lambda: phone.change_participants(family, "remove", [OTHER_CONTACT], by=CONTACT)
        )
        expect(option).to_have_text("Keluarga (2 members)")
        expect(picker).to_have_value(family)  # the choice survives the refresh

        with page.expect_response("**/api/groups") as listed:
            page.reload()
        assert listed.value.ok
        expect(option).to_have_text("Keluarga (2 members)")  # asked for once connected

        served.call(lambda: phone.change_participants(family, "remove", [phone.jid], by=CONTACT))
        expect(picker).to_be_hidden()
        expect(page.get_by_test_id("send-form").get_by_label("To")).to_be_enabled()
        no_page_errors(page)


def test_the_groups_picker_speaks_indonesian(browser: Browser) -> None:
    """With lang="id" the picker says "Grup" and counts "anggota"."""
    with linked_page(browser, "groups-id") as (page, served, phone):
        page.evaluate("document.querySelector('wagate-connection').setAttribute('lang', 'id')")
        family = served.call(lambda: phone.add_to_group("Keluarga", [CONTACT]))
        picker = page.get_by_test_id("send-group")
        expect(picker.locator(f'option[value="{family}"]')).to_have_text("Keluarga (2 anggota)")
        expect(page.get_by_label("Grup")).to_be_visible()
        page.evaluate("document.querySelector('wagate-connection').setAttribute('lang', 'en')")
        expect(picker.locator(f'option[value="{family}"]')).to_have_text("Keluarga (2 members)")
        no_page_errors(page)
