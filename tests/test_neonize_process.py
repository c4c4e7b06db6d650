"""NeonizeDriver in child processes: what could end a process, and what must stay bounded.

The engine's faults end the whole process (a Go panic exits with 2, a nil
dereference too), and its state is process-global; so every test here runs a
fresh Python child and checks it exits 0 with the expected report.  The
children speak JSON on their last line of output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parent
CHILD_TIMEOUT = 300


def run_child(code: str, cwd: Path, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; return the JSON it printed last; it must exit 0."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"the child exited {result.returncode}\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-6000:]}"
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the child printed no report\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


# ---------------------------------------------------------------------------- outage

LONG_OUTAGE = r"""
import gc, json, os, sys, time
import anyio
from wagate import Backoff, Connecting, Disconnected, Session
from wagate.drivers._neonize_engine import engine
from wagate.drivers.neonize import NeonizeDriver

ATTEMPTS = int(sys.argv[1])

def fds():
    return len(os.listdir("/proc/self/fd"))

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

async def main():
    driver = NeonizeDriver(database="engine.db")
    backoff = Backoff(initial=0.001, maximum=0.004, multiplier=2, jitter=0.1)
    report = {"retry_in": [], "reasons": set()}
    async with Session("acme", driver=driver, backoff=backoff) as session:
        await session.connect()
        seen = 0
        async for event in session.events():
            if not isinstance(event, Disconnected):
                continue
            seen += 1
            report["reasons"].add(event.reason.value)
            report["will_retry"] = report.get("will_retry", True) and event.will_retry
            if seen == 1:
                report["first_detail"] = event.detail
            if seen <= 6:
                report["retry_in"].append(event.retry_in)
            if seen == 10:
                gc.collect()
                report["fds_before"], report["rss_before"] = fds(), rss()
            if seen == ATTEMPTS:
                report["last_detail"] = event.detail
                break
        gc.collect()
        report["fds_after"], report["rss_after"] = fds(), rss()
        report["engine_starts"] = engine().starts
        started = time.monotonic()
        await session.aclose()
        report["close_seconds"] = time.monotonic() - started
    report["reasons"] = sorted(report["reasons"])
    print(json.dumps(report))

anyio.run(main, backend="asyncio")
"""


def test_a_thousand_failed_connects_stay_bounded_in_files_and_memory(tmp_path: Path) -> None:
    """1,000 attempts offline: network each time, backoff at its cap, fds +<=2 and RSS +<=16 MiB."""
    report = run_child(LONG_OUTAGE, tmp_path, "1000")
    assert report["reasons"] == ["network"]
    assert report["will_retry"]
    assert "failed to dial whatsapp web websocket" in report["first_detail"]
    assert "web.whatsapp.com:443" in report["last_detail"]
    retry_in = report["retry_in"]
    assert retry_in[0] < retry_in[1] < retry_in[2]
    assert max(retry_in) <= 0.004
    # The engine was dialled once; the other 999 attempts probed the endpoint.
    assert report["engine_starts"] == 1
    assert report["fds_after"] - report["fds_before"] <= 2
    assert report["rss_after"] - report["rss_before"] <= 16 * 1024 * 1024
    assert report["close_seconds"] < 10


# ---------------------------------------------------------------------------- concurrency

CROWD = r"""
import json, sys
import anyio
from wagate import Backoff, Disconnected, Gateway, Overflow
from wagate.drivers._neonize_engine import WHATSAPP_ENDPOINT, engine
from wagate.drivers.neonize import NeonizeDriver

TENANTS, WAVES = int(sys.argv[1]), int(sys.argv[2])

async def main():
    seen = {}
    for wave in range(WAVES):
        # Forget the failed dial, so that every session dials the engine for real.
        engine().dial_result(WHATSAPP_ENDPOINT, ok=True)
        async with Gateway(
            lambda tenant: NeonizeDriver(database="engine.db"),
            backoff=Backoff(initial=0.001, maximum=0.002),
        ) as gateway:
            sessions = [await gateway.session(f"w{wave}t{n}") for n in range(TENANTS)]
            # Read one after another while every session redials every few ms: a
            # subscription read late may fall behind its buffer (a Gap, not an error).
            subscriptions = [session.events(overflow=Overflow.GAP) for session in sessions]
            async with anyio.create_task_group() as tg:
                for session in sessions:
                    tg.start_soon(session.connect)
            for events in subscriptions:
                async for event in events:
                    if isinstance(event, Disconnected):
                        seen[event.reason.value] = seen.get(event.reason.value, 0) + 1
                        break
    print(json.dumps({"seen": seen, "starts": engine().starts, "live": engine().live}))

anyio.run(main, backend="asyncio")
"""


def test_many_sessions_dialling_at_once_do_not_crash_the_engine(tmp_path: Path) -> None:
    """Two waves of 40 sessions starting and stopping engine clients together: no fatal race."""
    report = run_child(CROWD, tmp_path, "40", "2")
    assert report["seen"] == {"network": 80}
    # Sessions that arrive after a wave's first failed dial probe instead; most dial.
    assert report["starts"] >= 20
    assert report["live"] == 0


# ---------------------------------------------------------------------------- stored devices

RESUME = r"""
import json, logging
import anyio
from test_neonize_support import store_fake_device
from wagate import Account, DisconnectReason
from wagate.drivers._neonize_engine import WHATSAPP_ENDPOINT, engine
from wagate.drivers.neonize import NeonizeDriver

class Sink:
    def __init__(self):
        self.qr = []
    def qr(self, code, valid_for):
        self.qr.append(code)
    def connected(self, account):
        raise AssertionError("offline: nothing connects")
    def message(self, message):
        raise AssertionError("offline: no messages")

warnings = []
class Keep(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())
logging.getLogger("wagate.neonize").addHandler(Keep(level=logging.WARNING))

JID = "628123456789:7@s.whatsapp.net"
ACCOUNT = Account(jid=JID, phone="+628123456789", name="Budi")

async def run(driver, account):
    engine().dial_result(WHATSAPP_ENDPOINT, ok=True)
    return await driver.run(Sink(), resume=account)

async def main():
    report = {}
    first = NeonizeDriver(database="engine.db")
    await run(first, None)  # creates the engine's tables
    await first.aclose()
    store_fake_device("engine.db", JID, "Budi")

    a = NeonizeDriver(database="engine.db")
    ended = await run(a, ACCOUNT)
    report["resume_reason"] = ended.reason.value
    report["resume_detail"] = ended.detail
    report["keys"] = sorted(engine().slots)
    report["device_found"] = await a.database.find_device(JID)
    report["device_found_without_device_number"] = await a.database.find_device(
        "628123456789@s.whatsapp.net")

    b = NeonizeDriver(database="engine.db")
    ended = await run(b, ACCOUNT)
    report["second_driver_reason"] = ended.reason.value
    await b.aclose()

    await a.logout(ACCOUNT)
    report["device_after_logout"] = await a.database.find_device(JID)
    await a.aclose()

    c = NeonizeDriver(database="engine.db")
    ended = await run(c, ACCOUNT)
    report["after_logout_reason"] = ended.reason.value
    await c.aclose()
    report["warned_fresh_login"] = any("starting a new QR login" in w for w in warnings)
    report["slots_left"] = sorted(engine().slots)
    print(json.dumps(report))

anyio.run(main, backend="asyncio")
"""


def test_stored_devices_resume_by_key_and_logout_forgets_them(tmp_path: Path) -> None:
    """A stored device resumes (keyed by its number); a second driver is refused; logout forgets."""
    report = run_child(RESUME, tmp_path)
    assert report["resume_reason"] == "network"
    assert "dial" in report["resume_detail"]
    assert "628123456789" in report["keys"]
    assert report["device_found"] == "628123456789:7@s.whatsapp.net"
    assert report["device_found_without_device_number"] == "628123456789:7@s.whatsapp.net"
    assert report["second_driver_reason"] == "replaced"
    assert report["device_after_logout"] is None
    assert report["after_logout_reason"] == "network"
    assert report["warned_fresh_login"]
    assert report["slots_left"] == []


# ---------------------------------------------------------------------------- engine calls

ENGINE_CALLS = r"""
import json
import anyio
from test_neonize_support import live_session, next_event
from wagate import ChatState, Connected, DriverError, PairingFailed, Presence, QrGenerated

async def main():
    report = {}
    async with live_session("engine.db") as live:
        await live.entry.qr("2@code,AAAA,BBBB,CCCC")
        await next_event(live.events, QrGenerated)
        # whatsmeow pairs by phone on a connected socket; this one is still dialling,
        # so the engine answers with an error once the dial fails.
        async with anyio.create_task_group() as tg:
            async def pair():
                try:
                    await live.session.request_pairing_code("+628123456789")
                    report["pair"] = "code"
                except PairingFailed as exc:
                    report["pair"] = "PairingFailed: " + exc.message
                except Exception as exc:
                    report["pair"] = f"raw {type(exc).__module__}.{type(exc).__name__}"
            tg.start_soon(pair)
            await anyio.wait_all_tasks_blocked()
            live.proxy.close()
    async with live_session("engine.db", tenant="beta") as live:
        await live.connected()
        await next_event(live.events, Connected)
        sent = await live.session.send_text("+628111111111", "halo")
        report["sent_success"] = sent.success
        report["sent_error"] = sent.error
        try:
            await live.driver.send_text("628111111111@s.whatsapp.net", "halo")
        except DriverError as exc:
            report["driver_send"] = type(exc).__name__
        # Presence and chat states reach the engine's real calls, which refuse them here.
        presence_calls = {
            "set_presence": lambda: live.driver.set_presence(Presence.AVAILABLE),
            "send_chat_state": lambda: live.driver.send_chat_state(
                "628111111111@s.whatsapp.net", ChatState.RECORDING
            ),
            "subscribe_presence": lambda: live.driver.subscribe_presence("628111111111"),
        }
        for name, call in presence_calls.items():
            try:
                await call()
                report[name] = "accepted"
            except DriverError as exc:
                report[name] = exc.message
            except Exception as exc:
                report[name] = f"raw {type(exc).__module__}.{type(exc).__name__}"
        # The engine's logout also waits for the socket that is still dialling.
        async with anyio.create_task_group() as tg:
            tg.start_soon(live.session.logout)
            await anyio.wait_all_tasks_blocked()
            live.proxy.close()
        report["account_after_logout"] = live.session.account
    print(json.dumps(report))

anyio.run(main, backend="asyncio")
"""


def test_engine_errors_come_back_as_wagate_errors_never_neonizes(tmp_path: Path) -> None:
    """Failing engine calls (send, presence, pair, logout) are wagate errors; no crash."""
    report = run_child(ENGINE_CALLS, tmp_path)
    assert report["pair"].startswith("PairingFailed: WhatsApp did not give a pairing code")
    assert report["sent_success"] is False
    assert report["sent_error"].startswith("WhatsApp did not accept the message")
    assert report["driver_send"] == "DriverError"
    assert report["set_presence"].startswith("WhatsApp did not take the presence:")
    # The held dial may be dropped by the engine meanwhile: then the driver refuses first.
    refusals = ("WhatsApp did not take the", "not connected to WhatsApp")
    assert report["send_chat_state"].startswith(refusals)
    assert report["subscribe_presence"].startswith(refusals)
    assert report["account_after_logout"] is None


# ---------------------------------------------------------------------------- imports

IMPORTS = r"""
import json, logging, sys
import anyio
report = {}
import wagate
report["neonize_after_import_wagate"] = "neonize" in sys.modules
import wagate.drivers.neonize
report["neonize_after_import_driver"] = "neonize" in sys.modules
root = logging.getLogger()
before = (root.level, list(root.handlers))
from wagate.drivers._neonize_engine import load_neonize
load_neonize()
report["neonize_loaded"] = "neonize" in sys.modules
report["root_unchanged"] = (root.level, list(root.handlers)) == before
report["root_level"] = logging.getLevelName(root.level)
print(json.dumps(report))
"""

IMPORTS_UNGUARDED = r"""
import json, logging
import neonize
print(json.dumps({"root_level": logging.getLevelName(logging.getLogger().level),
                  "handlers": len(logging.getLogger().handlers)}))
"""


def test_neonize_is_loaded_lazily_and_leaves_root_logging_alone(tmp_path: Path) -> None:
    """Importing wagate loads no neonize; loading it later keeps the root logger as it was."""
    report = run_child(IMPORTS, tmp_path)
    assert not report["neonize_after_import_wagate"]
    assert not report["neonize_after_import_driver"]
    assert report["neonize_loaded"]
    assert report["root_unchanged"]
    assert report["root_level"] == "WARNING"
    # What the driver undoes: neonize's own import configures the root logger.
    unguarded = run_child(IMPORTS_UNGUARDED, tmp_path)
    assert unguarded == {"root_level": "INFO", "handlers": 1}
