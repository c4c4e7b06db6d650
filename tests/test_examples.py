"""The examples in examples/ run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(example: str) -> str:
    """Run an example as a user would; its output (it must exit cleanly)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_runs() -> None:
    """examples/quickstart.py links a simulated phone, draws the QR, sends and receives."""
    out = _run("quickstart.py")
    assert "\u2588" in out, "the QR code is drawn in the terminal"
    assert "linked +628123456789 Budi" in out
    assert "sent 'hello' to 628111222333@s.whatsapp.net" in out
    assert "received 'hi' from Siti" in out


def test_the_media_bot_echoes_images_byte_for_byte() -> None:
    """examples/media_bot.py echoes each received image back, quoting it, with a caption."""
    out = _run("media_bot.py")
    assert out.count("sent a image to 628111222333@s.whatsapp.net: 'got your image (") == 2
    assert "sent a text to 628111222333@s.whatsapp.net: 'yes, thanks!'" in out
    assert "images echoed byte for byte: True" in out


def test_the_group_broadcast_reports_each_participant_and_each_group() -> None:
    """examples/group_broadcast.py prints WhatsApp's answer per participant and per group."""
    out = _run("group_broadcast.py")
    assert "created 'Customers' (" in out
    assert "with 2 members" in out, "the account and the one participant it was made with"
    assert "628111000002@s.whatsapp.net: added" in out
    assert "628111000004@s.whatsapp.net: refused, not_on_whatsapp (404)" in out
    assert "628111000005@s.whatsapp.net: refused, privacy (403)" in out
    assert "628111000001@s.whatsapp.net: refused, already_in_group (409)" in out
    invite = next(line for line in out.splitlines() if "to 628111000005@" in line)
    assert invite.startswith("  sent https://chat.whatsapp.com/"), "only the private one is invited"
    assert out.count("https://chat.whatsapp.com/") == 1
    assert "Family (3 members): failed: server returned error 479" in out
    assert "Suppliers (3 members): skipped, only its admins may post" in out
    assert "Customers (3 members): sent 3EB0" in out
