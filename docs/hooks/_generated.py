"""A part of a docs page generated from the code: spliced between two markers.

One :class:`GeneratedPart` per hook (the wire-protocol page, the metrics table)
does what each needs of it: splice the rendered text into the page, serve as
mkdocs' ``on_page_markdown`` (rendering from the code, warning when the
committed copy is stale, so that ``mkdocs build --strict`` fails), and run as
the hook's script (``python docs/hooks/<hook>.py [--check]``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent


class StalePage(Exception):
    """The committed page cannot be regenerated (its markers are gone, or the code changed)."""


class GeneratedPart:
    """The part of ``docs/<page>`` between ``begin`` and ``end``, made by ``render()``.

    Args:
        page: The page, relative to ``docs/``.
        begin: The marker line the part follows.
        end: The marker line the part precedes.
        render: Makes the part from the code (may raise :class:`StalePage`).
        script: The hook's file, for the messages that say how to regenerate.
        source: What the part is made from, for the stale-page warning.
    """

    def __init__(
        self,
        *,
        page: str,
        begin: str,
        end: str,
        render: Callable[[], str],
        script: str,
        source: str,
    ) -> None:
        self.page = page
        self.begin = begin
        self.end = end
        self.render = render
        self.script = f"docs/hooks/{Path(script).name}"
        self.source = source
        self.log = logging.getLogger(f"mkdocs.plugins.wagate.{Path(script).stem}")

    def splice(self, text: str, generated: str) -> str:
        """``text`` with the part between the markers replaced by ``generated``."""
        start, end = text.find(self.begin), text.find(self.end)
        if start < 0 or end < start:
            raise StalePage(f"{self.page} has lost its markers: {self.begin!r} ... {self.end!r}")
        return text[: start + len(self.begin)] + "\n\n" + generated + "\n" + text[end:]

    def on_page_markdown(self, markdown: str, *, page: Any, **kwargs: Any) -> str:
        """The mkdocs hook: render the part from the code; warn when the committed copy is stale."""
        if page.file.src_uri != self.page:
            return markdown
        try:
            fresh = self.splice(markdown, self.render())
        except StalePage as exc:
            self.log.warning("%s: %s", self.page, exc)
            return markdown
        if fresh != markdown:
            self.log.warning(
                "%s is out of date with %s: run 'python %s'", self.page, self.source, self.script
            )
        return fresh

    def main(self, argv: list[str]) -> int:
        """The script: rewrite the committed copy, or with ``--check`` say whether it is current."""
        sys.path.insert(0, str(ROOT / "src"))
        path = DOCS / self.page
        current = path.read_text(encoding="utf-8")
        fresh = self.splice(current, self.render())
        if "--check" in argv:
            if fresh != current:
                print(f"{path} is out of date: run python {self.script}")
                return 1
            print(f"{path} is current")
            return 0
        if fresh != current:
            path.write_text(fresh, encoding="utf-8")
            print(f"rewrote {path}")
        else:
            print(f"{path} is current")
        return 0
