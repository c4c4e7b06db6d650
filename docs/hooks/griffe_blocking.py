"""A griffe extension that documents ``name = Blocking(Cls.name)`` as the method it makes.

It does the same for a gateway's ``name = tenant_command(CMD)`` (see
``wagate._commands``): a method of ``tenant`` and the parameters and result of
the coroutine the command was declared with.

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
    """Turn each ``Blocking(Cls.method)`` and ``tenant_command(CMD)`` attribute into a method."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the derived attributes of every class once the package is loaded."""
        classes = _classes(pkg)
        # The gateway's command methods first: the blocking facade's name them.
        for cls in classes:
            for name, member in list(cls.members.items()):
                if member.is_alias or not isinstance(member, griffe.Attribute):
                    continue
                run = _command_implementation(pkg, member)
                if run is not None:
                    cls.set_member(name, _tenant_method(name, run, member))
        for cls in classes:
            for name, member in list(cls.members.items()):
                if member.is_alias or not isinstance(member, griffe.Attribute):
                    continue
                target = _blocking_target(member)
                if target is None:
                    continue
                method = _lookup(pkg, target)
                if not isinstance(method, griffe.Function):
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


def _command_implementation(pkg: griffe.Module, member: griffe.Attribute) -> griffe.Function | None:
    """The coroutine behind ``name = tenant_command(CMD)``, where ``CMD = command(run, ...)``."""
    value = member.value
    if not isinstance(value, griffe.ExprCall) or str(value.function) != "tenant_command":
        return None
    declared = value.arguments[0]
    if not isinstance(declared, griffe.ExprName):
        return None
    try:
        cmd = pkg.modules_collection[declared.canonical_path]
    except KeyError:
        log.warning("%s: cannot find %s", member.path, declared.canonical_path)
        return None
    call = cmd.value
    if not isinstance(call, griffe.ExprCall) or not call.arguments:
        return None
    run = call.arguments[0]
    path = run.canonical_path if isinstance(run, (griffe.ExprName, griffe.ExprAttribute)) else ""
    found = _lookup(pkg, path)
    if found is None:
        log.warning("%s: cannot find %s", member.path, path)
        return None
    return found if isinstance(found, griffe.Function) else None


def _lookup(pkg: griffe.Module, path: str) -> Any:
    """The object at ``path``, through aliases (``Session.send`` is a mixin's method)."""
    owner, _, name = path.rpartition(".")
    try:
        found = pkg.modules_collection[path]
    except KeyError:
        try:
            cls = pkg.modules_collection[owner]
        except KeyError:
            return None
        found = cls.all_members.get(name) if isinstance(cls, griffe.Class) else None
    while found is not None and found.is_alias:
        found = found.final_target
    return found


def _tenant_method(name: str, run: griffe.Function, where: griffe.Attribute) -> griffe.Function:
    summary = run.docstring.value.splitlines()[0] if run.docstring else name
    owner = run.parent.name if run.parent is not None and run.parent.is_class else None
    doc = f"{summary}\n\nOn ``tenant``'s session, in whichever process runs it"
    doc += f" (see :meth:`{owner}.{run.name}`)." if owner else "."
    tenant = griffe.Parameter(
        "tenant", annotation="str", kind=griffe.ParameterKind("positional or keyword")
    )
    me = griffe.Parameter("self", kind=griffe.ParameterKind("positional or keyword"))
    function = griffe.Function(
        name,
        lineno=where.lineno,
        endlineno=where.endlineno,
        parameters=griffe.Parameters(me, tenant, *list(run.parameters)[1:]),
        returns=run.returns,
    )
    function.docstring = griffe.Docstring(doc, parent=function)
    return function


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
