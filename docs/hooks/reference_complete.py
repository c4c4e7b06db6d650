"""An mkdocs hook that keeps the hand-grouped API reference pages complete.

A reference page that renders a module's objects one by one (``::: wagate`` with
``members: false``, then ``::: wagate.Session``, ``::: wagate.Gateway``...) must
name every entry of the module's ``__all__``, and nothing that is not in it.  A
missing or stale entry is a warning, which ``mkdocs build --strict`` turns into a
failed build that says which page to edit.

Configured in mkdocs.yml under ``hooks``.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

log = logging.getLogger("mkdocs.plugins.wagate.reference_complete")

DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    """Warn when a hand-grouped reference page misses (or invents) a public name."""
    shown = DIRECTIVE.findall(markdown)
    for identifier in shown:
        try:
            module = importlib.import_module(identifier)
        except ImportError:
            continue
        exported = getattr(module, "__all__", None)
        members = {s[len(identifier) + 1 :] for s in shown if s.startswith(identifier + ".")}
        if exported is None or not members:
            continue  # the whole module is rendered by its own directive
        public = {name for name in exported if not (name.startswith("__") and name.endswith("__"))}
        where = page.file.src_uri
        for name in sorted(public - members):
            log.warning("%s: add '::: %s.%s' (it is in %s.__all__)", where, identifier, name, identifier)
        for name in sorted(members - public - {n for n in members if "." in n}):
            log.warning("%s: '::: %s.%s' is not in %s.__all__", where, identifier, name, identifier)
    return markdown
