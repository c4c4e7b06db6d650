"""An mkdocs hook that keeps the hand-grouped API reference pages complete.

A reference page that renders a module's objects one by one (``::: wagate`` with
``members: false``, then ``::: wagate.Session``, ``::: wagate.Gateway``...) must
name every entry of the module's ``__all__``, and nothing that is not in it.  A
missing or stale entry is a warning, which ``mkdocs build --strict`` turns into a
failed build that says which page to edit.  A page may also render a submodule
(``::: wagate.stores.postgres``) under its package: that is checked on its own.

The modules are read statically with griffe (as mkdocstrings reads them), so the
check is the same whether or not the optional extras (FastAPI, Redis...) that
some modules import are installed.

Configured in mkdocs.yml under ``hooks``.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.wagate.reference_complete")

DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
SRC = Path(__file__).resolve().parent.parent.parent / "src"


@functools.lru_cache(maxsize=1)
def _package() -> Any:
    import griffe  # noqa: PLC0415 - comes with mkdocstrings

    return griffe.load("wagate", search_paths=[str(SRC)], resolve_aliases=False)


def _module(identifier: str) -> Any:
    """The griffe module ``identifier`` names, or ``None`` if it names something else."""
    if identifier != "wagate" and not identifier.startswith("wagate."):
        return None
    obj = _package()
    for part in identifier.split(".")[1:]:
        obj = obj.members.get(part)
        if obj is None:
            return None
    return obj if getattr(obj, "is_module", False) and not obj.is_alias else None


def exported(module: Any) -> set[str] | None:
    """The names in a griffe module's ``__all__`` (``None`` without one)."""
    if module.exports is None:
        return None
    names = {name if isinstance(name, str) else name.name for name in module.exports}
    return {name for name in names if not (name.startswith("__") and name.endswith("__"))}


def missing_and_stale(markdown: str) -> list[str]:
    """Say what a page's ``:::`` directives miss of, or add to, each module's ``__all__``."""
    shown = DIRECTIVE.findall(markdown)
    problems = []
    for identifier in shown:
        module = _module(identifier)
        if module is None:
            continue
        public = exported(module)
        members = {s[len(identifier) + 1 :] for s in shown if s.startswith(identifier + ".")}
        # A submodule rendered on the same page is checked on its own.
        submodules = {m for m in members if "." not in m and _module(f"{identifier}.{m}")}
        members = {m for m in members if m.split(".")[0] not in submodules}
        if public is None or not members:
            continue  # the whole module is rendered by its own directive
        for name in sorted(public - members):
            problems.append(f"add '::: {identifier}.{name}' (it is in {identifier}.__all__)")
        for name in sorted(m for m in members - public if "." not in m):
            problems.append(f"'::: {identifier}.{name}' is not in {identifier}.__all__")
    return problems


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    """Warn when a hand-grouped reference page misses (or invents) a public name."""
    for problem in missing_and_stale(markdown):
        log.warning("%s: %s", page.file.src_uri, problem)
    return markdown
