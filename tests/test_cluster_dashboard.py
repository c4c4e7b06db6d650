"""The dashboard against ``wagate serve --workers 3 --redis ... --database postgresql://...``.

Three workers share one port, and the kernel hands each connection to any of
them: the page's requests (login, REST, the live connection) land on workers
that do not hold the tenant's session.  In headless Debian Chromium, as in
``test_dashboard.py``.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the 'test' extra)")

from playwright.sync_api import Browser, expect

from test_cluster_support import (
    Tables,
    cluster_database_fixture,  # noqa: F401 - a fixture
    cluster_name_fixture,  # noqa: F401 - a fixture
)
from test_contract_support import CONTACT, SCRIPTS, SECRET, Process, wait_http
from test_dashboard import (
    browser,  # noqa: F401 - a fixture
    new_context,
    no_page_errors,
    open_dashboard,
    playwright,  # noqa: F401 - a fixture
    recorded,
    scan,
    shot,
)
from wagate.cli import simulated_phone_number

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


@contextlib.contextmanager
def workers(redis_url: str, database: str, name: str, data_dir: Path) -> Iterator[str]:
    """``wagate serve --workers 3`` of the cluster ``name``; yields its URL."""
    process = Process(
        [
            str(SCRIPTS / "wagate"),
            "serve",
            "--simulator",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--workers",
            "3",
            "--redis",
            redis_url,
            "--database",
            database,
            "--cluster-name",
            name,
            "--lease-ttl",
            "2",
            "--log-level",
            "warning",
        ],
        env={"WAGATE_SECRET": SECRET},
    )
    try:
        line = process.wait_for_line(lambda text: "serving on http://" in text, timeout=90)
        url = line.split("serving on ", 1)[1].split()[0]
        wait_http(f"{url}/status", process, timeout=90)
        tables = Tables(database, name)
        deadline = time.monotonic() + 90
        while len(tables.live_members()) < 3:  # every worker has joined
            assert time.monotonic() < deadline, process.output
            time.sleep(0.1)
        yield url
    finally:
        process.stop()
        if process.proc.stdout is not None:
            process.proc.stdout.close()


@pytest.mark.timeout(240)
def test_the_dashboard_works_whichever_worker_a_request_reaches(
    browser: Browser,  # noqa: F811 - the fixture imported above
    redis_url: str,
    cluster_database: str,
    cluster_name: str,
    tmp_path: Path,
) -> None:
    """QR, scan, live messages and reloads behave on three workers as on one process."""
    tenant = f"cluster-{uuid.uuid4().hex[:8]}"
    with (
        workers(redis_url, cluster_database, cluster_name, tmp_path) as url,
        new_context(browser) as context,
    ):
        page = open_dashboard(context, url, tenant)
        expect(page.get_by_test_id("qr-image")).to_be_visible(timeout=20_000)
        expect(page.get_by_test_id("status-badge")).to_have_text("Waiting for scan")
        shot(page, "cluster-01-waiting-for-scan")
        scan(page)
        expect(page.get_by_test_id("account-phone")).to_have_text(simulated_phone_number(tenant))

        incoming = page.get_by_test_id("sim-receive-form")
        messages = page.get_by_test_id("messages")
        for i in range(3):
            incoming.get_by_label("From").fill(CONTACT)
            incoming.locator("textarea").fill(f"pesan nomor {i}")
            incoming.get_by_role("button").click()
            expect(messages.locator("li")).to_have_count(i + 1)
        form = page.get_by_test_id("send-form")
        form.get_by_label("To").fill(CONTACT)
        form.locator("textarea").fill("balasan dari cluster")
        form.get_by_role("button", name="Send").click()
        expect(messages.locator("li")).to_have_count(4)
        seqs = [e["data"]["seq"] for e in recorded(page, "events") if "seq" in e.get("data", {})]
        assert seqs == sorted(seqs)
        shot(page, "cluster-02-connected-with-messages")
        no_page_errors(page)

        # Each reload may reach another worker: every one shows the truth at once.
        for _ in range(4):
            page.reload()
            expect(page.get_by_test_id("status-badge")).to_have_text("Connected")
            expect(page.get_by_test_id("qr-image")).to_be_hidden()
            no_page_errors(page)
