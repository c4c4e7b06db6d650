"""Every Python example in the documentation runs as shown.

The ```python blocks of each page under docs/ are run in order, as one program
(a later block may use what an earlier one defined), in a fresh interpreter whose
working directory is a temporary one.  A page whose blocks define ``test_``
functions is run by pytest instead, as a test module.

A block that cannot run on its own (it continues an app that the page does not
show, needs a real phone, or shows the receiving end of a webhook) is marked as a
fragment by an HTML comment on the line before its fence, which the rendered page
does not show::

    <!-- fragment: needs a real phone -->
    ```python
    ...

A page whose examples import an optional extra that is not installed is skipped.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
FRAGMENT = re.compile(r"<!--\s*fragment\b[^>]*-->\s*$")
PYTHON = {"python", "py", "python3"}

# What the examples may import that an environment without extras lacks.
OPTIONAL_PACKAGES = {
    "cryptography",  # PyJWT[crypto], for RS256/ES256 keys
    "fastapi",
    "flask",
    "httpx",
    "jwt",
    "psycopg",
    "redis",
    "socketio",
    "starlette",
    "uvicorn",
}


@attrs.frozen
class Block:
    """One fenced Python block of a page."""

    page: str
    line: int
    code: str
    fragment: bool


def _language(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):  # {.python title="..."}
        match = re.search(r"\.([\w-]+)", info)
        return match.group(1) if match else ""
    return info.split()[0] if info else ""


def blocks(page: Path, root: Path = DOCS) -> list[Block]:
    """The Python blocks of a page, in order."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if _language(match["info"]) not in PYTHON:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        indent = match["indent"]
        body = "\n".join(
            line[len(indent) :] if line.startswith(indent) else line
            for line in match["body"].split("\n")
        )
        found.append(
            Block(
                page=str(page.relative_to(root)),
                line=text[: match.start()].count("\n") + 1,
                code=textwrap.dedent(body),
                fragment=bool(FRAGMENT.search(before)),
            )
        )
    return found


def _pages() -> list[Path]:
    return sorted(
        page
        for page in DOCS.rglob("*.md")
        if "hooks" not in page.relative_to(DOCS).parts
        and any(not block.fragment for block in blocks(page))
    )


def _imported(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _skip_without_extras(code: str) -> None:
    for name in sorted(_imported(code)):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing in OPTIONAL_PACKAGES:
                pytest.skip(f"the examples import {name}, which needs {missing} (an extra)")
            raise


def test_the_fragment_marker_is_recognised(tmp_path: Path) -> None:
    """A block under a fragment comment is a fragment; other blocks are run."""
    page = tmp_path / "page.md"
    text = "<!-- fragment: shown only -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
    page.write_text(text, encoding="utf-8")
    found = blocks(page, root=tmp_path)
    assert [(block.code, block.fragment) for block in found] == [
        ("x = 1\n", True),
        ("y = 2\n", False),
    ]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("page", _pages(), ids=lambda page: str(page.relative_to(DOCS)))
def test_the_examples_of_the_page_run(page: Path, tmp_path: Path) -> None:
    """The page's Python examples (fragments aside) run without an error, in order."""
    runnable = [block for block in blocks(page) if not block.fragment]
    program = "\n\n".join(f"# {block.page}, line {block.line}\n{block.code}" for block in runnable)
    _skip_without_extras(program)
    if re.search(r"^(async )?def test_", program, re.MULTILINE):
        script = tmp_path / "test_page_examples.py"
        script.write_text(program, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    else:
        script = tmp_path / "page_examples.py"
        script.write_text(program, encoding="utf-8")
        command = [sys.executable, "-W", "error", str(script)]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=150, check=False
    )
    assert result.returncode == 0, (
        f"the examples of docs/{page.relative_to(DOCS)} failed:\n{result.stdout}\n{result.stderr}"
    )
