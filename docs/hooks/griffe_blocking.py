"""A griffe extension that documents ``name = Blocking(Cls.name)`` as the method it makes.

The blocking facade (``wagate._sync``) declares each blocking method in one line
that names the coroutine method it runs.  Read statically, such a line is a
class attribute without a docstring, which mkdocstrings would leave out.  This
extension replaces it with a method of the same parameters (without ``self``)
and result as the coroutine method, whose docstring links to it, so the API
reference lists ``SyncGateway.send_text(tenant, to, text) -> MessageSent``.

Configured in mkdocs.yml under the python handler's ``extensions``, before the
Sphinx-roles extension that turns the docstring's role into a link.
"""

from __future__ import annotations

import logging
from typing import Any

import griffe

log = logging.getLogger("mkdocs.plugins.wagate.griffe_blocking")


class BlockingMethods(griffe.Extension):
    """Turn each ``Blocking(Cls.method)`` attribute into a documented method."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the blocking attributes of every class once the package is loaded."""
        for cls in _classes(pkg):
            for name, member in list(cls.members.items()):
                if member.is_alias or not isinstance(member, griffe.Attribute):
                    continue
                target = _blocking_target(member)
                if target is None:
                    continue
                try:
                    method = pkg.modules_collection[target]
                except KeyError:
                    log.warning("%s.%s: cannot find %s", cls.path, name, target)
                    continue
                cls.set_member(name, _blocking_method(name, method, member))


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    found: list[griffe.Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            found.append(member)
        if isinstance(member, (griffe.Module, griffe.Class)):
            found.extend(_classes(member))
    return found


def _blocking_target(member: griffe.Attribute) -> str | None:
    value = member.value
    if not isinstance(value, griffe.ExprCall) or str(value.function) != "Blocking":
        return None
    if len(value.arguments) != 1 or not isinstance(value.arguments[0], griffe.ExprAttribute):
        return None
    return value.arguments[0].canonical_path


def _blocking_method(
    name: str, method: griffe.Function, where: griffe.Attribute
) -> griffe.Function:
    doc = (
        f"Blocking :meth:`{method.parent.name if method.parent else ''}.{method.name}`: "
        "the same parameters and result, run in the loop thread; see there."
    )
    function = griffe.Function(
        name,
        lineno=where.lineno,
        endlineno=where.endlineno,
        parameters=griffe.Parameters(*list(method.parameters)[1:]),
        returns=method.returns,
    )
    function.docstring = griffe.Docstring(doc, parent=function)
    return function
