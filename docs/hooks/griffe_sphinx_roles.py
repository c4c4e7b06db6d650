"""A griffe extension that turns Sphinx roles in docstrings into links of the API reference.

wagate's docstrings name other objects the Sphinx way (``:class:`Session```,
``:meth:`~wagate.Gateway.events```), which Markdown would show as literal text.
This extension rewrites each role, before mkdocstrings renders the docstring, into
an autorefs link to the object's public path (``wagate.Session``, not
``wagate._session.Session``) when the reference renders that object, and into
plain code otherwise.  What the reference renders is read from the ``:::`` lines
of the documentation pages, so a link always has an anchor and ``mkdocs build
--strict`` never fails on a dangling reference.

Configured in mkdocs.yml under the python handler's ``extensions``.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe

log = logging.getLogger("mkdocs.plugins.wagate.sphinx_roles")

ROLE = re.compile(r":(?:py:)?(?:class|meth|attr|func|mod|data|exc|obj|const):`(~?)\.?([^`<>]+)`")
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
DOCS = Path(__file__).resolve().parent.parent

_LOOKUP_ERRORS = (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError)


def rendered_roots(docs: Path = DOCS) -> set[str]:
    """The identifiers of every ``::: identifier`` line in the documentation pages."""
    roots: set[str] = set()
    for page in docs.rglob("*.md"):
        roots.update(DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return roots


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` into ``[`target`][public.path]`` or ``` `target` ```."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every docstring of the package once it is fully loaded."""
        resolver = _Resolver(pkg.modules_collection, rendered_roots())
        for obj in _walk(pkg):
            if obj.docstring is None or ":" not in obj.docstring.value:
                continue
            scope = resolver.public_path(obj.canonical_path)
            obj.docstring.value = ROLE.sub(
                functools.partial(resolver.link, scope=scope), obj.docstring.value
            )


class _Resolver:
    def __init__(self, collection: griffe.ModulesCollection, roots: set[str]) -> None:
        self.collection = collection
        self.roots = {root for root in roots if self._get(root) is not None}
        # The public modules: those rendered, and those whose members are.
        modules = set()
        for root in self.roots:
            obj = self._get(root)
            while obj is not None and not obj.is_module:
                obj = obj.parent
            if obj is not None:
                modules.add(root if self._get(root).is_module else obj.path)  # type: ignore[union-attr]
        self.modules = sorted(modules, key=len, reverse=True)
        # Canonical path (wagate._session.Session) -> public path (wagate.Session).
        self.public: dict[str, str] = {}
        for module_path in sorted(modules, key=len):
            module = self._get(module_path)
            assert module is not None
            self.public.setdefault(module.canonical_path, module_path)
            for name in module.exports or []:
                member = self._get(f"{module_path}.{name}") if isinstance(name, str) else None
                if member is not None:
                    self.public.setdefault(member.canonical_path, f"{module_path}.{name}")

    def _get(self, path: str) -> griffe.Object | griffe.Alias | None:
        try:
            obj = self.collection[path]
            obj.canonical_path  # noqa: B018 - resolves an alias, or raises
        except _LOOKUP_ERRORS:
            return None
        return obj  # type: ignore[no-any-return]

    def public_path(self, canonical: str) -> str | None:
        """Translate ``wagate._session.Session.connect`` into ``wagate.Session.connect``."""
        head, rest = canonical, ""
        while head:
            if head in self.public:
                return self.public[head] + rest
            head, _, tail = head.rpartition(".")
            rest = f".{tail}{rest}"
        return None

    def link(self, match: re.Match[str], scope: str | None) -> str:
        short, target = match.group(1) == "~", match.group(2).strip()
        label = target.rpartition(".")[2] if short else target
        candidates: list[str] = []
        while scope:
            candidates.append(f"{scope}.{target}")
            scope = scope.rpartition(".")[0]
        candidates += [f"{module}.{target}" for module in self.modules]
        candidates.append(target)
        for candidate in candidates:
            path = self._rendered(candidate)
            if path is not None:
                return f"[`{label}`][{path}]"
        log.debug("no rendered object for %r; shown as code", target)
        return f"`{label}`"

    def _rendered(self, path: str) -> str | None:
        """Return the public path of ``path`` if the reference renders it (so it has an anchor)."""
        obj = self._get(path)
        if obj is None:
            return None
        public = self.public_path(obj.canonical_path) or path
        if any(part.startswith("_") for part in public.split(".")):
            return None
        roots = sorted(self.roots, key=len, reverse=True)  # the innermost rendered root
        root = next((r for r in roots if public == r or public.startswith(r + ".")), None)
        if root is None:
            return None
        # Every object from the rendered root down must be shown: documented, not
        # inherited, and exported by its module when that module has an __all__.
        node = self._get(public)
        while node is not None and node.path != root:
            parent = node.parent
            if getattr(node, "inherited", False) or not node.has_docstring:
                return None
            if (
                parent is not None
                and parent.is_module
                and parent.exports is not None
                and node.name not in parent.exports
            ):
                return None
            node = parent
        return public if node is not None else None


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]
