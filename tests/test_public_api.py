"""The public API: what each public module exports, that it is documented, and what it imports."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import itertools
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import wagate

# Optional extras (and what they pull in) that the core must never import.
OPTIONAL_PACKAGES = [
    "aiohttp",
    "engineio",
    "fastapi",
    "flask",
    "httpx",
    "jwt",
    "psycopg",
    "redis",
    "socketio",
    "starlette",
    "uvicorn",
    "werkzeug",
]

# The modules of an optional extra: the only ones allowed to import it when imported.
EXTRA_MODULES = {
    "wagate.adapters.socketio": "socketio",
    "wagate.cluster": "redis",  # and postgres: a cluster needs both
    "wagate.integrations.fastapi": "fastapi",
    "wagate.integrations.flask": "flask",
    "wagate.integrations.uvicorn": "fastapi",  # uvicorn[standard] comes with that extra
    "wagate.stores.postgres": "postgres",
}


def _public_modules() -> list[str]:
    """Every module of wagate whose dotted name has no part starting with ``_``."""
    names = ["wagate"]
    for info in pkgutil.walk_packages(wagate.__path__, "wagate."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = _public_modules()
CORE_MODULES = [name for name in PUBLIC_MODULES if name not in EXTRA_MODULES]


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing in OPTIONAL_PACKAGES:
            pytest.skip(f"{name} needs {missing}, which comes with an optional extra")
        raise


def _exports(name: str) -> list[str]:
    exported = getattr(_module(name), "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__ list"
    return exported


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else,
    # each in natural order (digits compare as numbers).
    if len(name) > 1 and name.upper() == name and name.lower() != name:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    return kind, natural


@functools.cache
def _documented_attributes() -> frozenset[str]:
    """Names assigned anywhere in wagate's source with a docstring right below them."""
    names: set[str] = set()
    for path in Path(wagate.__file__).parent.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for statement, following in itertools.pairwise(body):
            documented = (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and following.value.value.strip()
            )
            if not documented:
                continue
            if isinstance(statement, ast.Assign):
                names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                names.add(statement.target.id)
    return frozenset(names)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_is_sorted(module: str) -> None:
    """A public module's __all__ is in ruff's isort-style order, without duplicates."""
    exported = _exports(module)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_exported_name_exists(module: str) -> None:
    """Every name in a public module's __all__ is an attribute of that module."""
    missing = [name for name in _exports(module) if not hasattr(_module(module), name)]
    assert missing == []


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_exported_name_has_a_docstring(module: str) -> None:
    """Every exported class, function and constant has a docstring of its own."""
    documented_attributes = _documented_attributes()
    undocumented = []
    for name in _exports(module):
        if name.startswith("__") and name.endswith("__"):
            continue  # __version__ and friends are documented by convention
        value = getattr(_module(module), name)
        # inspect.unwrap sees through decorators such as functools.lru_cache.
        if (
            inspect.isclass(value)
            or inspect.isroutine(inspect.unwrap(value))
            or inspect.ismodule(value)
        ):
            # A class's own __doc__ (a class without one does not inherit its base's).
            doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            if not (isinstance(doc, str) and doc.strip()):
                undocumented.append(name)
        elif name not in documented_attributes:
            undocumented.append(name)
    assert undocumented == []


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_module_has_a_docstring(module: str) -> None:
    """Every public module opens with a docstring."""
    doc = _module(module).__doc__
    assert doc is not None
    assert doc.strip()


def test_the_public_modules_include_the_documented_ones() -> None:
    """The walk finds the public modules that the documentation is built from."""
    assert {"wagate", "wagate.drivers", "wagate.drivers.simulator"} <= set(PUBLIC_MODULES)


def _optional_imports(*modules: str) -> list[str]:
    """The optional packages that importing ``modules`` in a fresh interpreter loads."""
    script = f"import json, sys, {', '.join(modules)}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {name.partition(".")[0] for name in json.loads(result.stdout)}
    return sorted(loaded.intersection(OPTIONAL_PACKAGES))


def test_import_wagate_pulls_in_no_optional_dependency() -> None:
    """``import wagate`` in a fresh interpreter imports no optional extra."""
    assert _optional_imports("wagate") == []


def test_modules_outside_the_extras_pull_in_no_optional_dependency() -> None:
    """Importing every public module that belongs to no extra imports no optional dependency."""
    if _optional_imports(*CORE_MODULES):
        # Name the culprits, one fresh interpreter per module.
        culprits = {m: found for m in CORE_MODULES if (found := _optional_imports(m))}
        assert culprits == {}
