"""The contract page and its downloads, made from :mod:`wagate.contract` when the site is built.

- ``on_files`` adds the documents to the site as files of their own:
  ``contract/openapi.json``, ``contract/asyncapi.json`` and
  ``contract/schemas/<key>.json`` (so the page links to them, and a strict build
  checks those links);
- ``on_page_markdown`` replaces the :data:`MARKER` line of ``docs/contract.md``
  with the AsyncAPI channels, their messages and every payload schema.

Nothing generated is committed: the page cannot fall behind the code.
Configured in mkdocs.yml under ``hooks``.
"""

from __future__ import annotations

import json
from typing import Any

PAGE = "contract.md"
MARKER = "<!-- contract:generated -->"
FOLDER = "contract"


def _dumped(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Each file to publish, by its path in the site, as text."""
    from wagate import contract  # noqa: PLC0415 - the hook imports wagate only when it runs

    made = {
        f"{FOLDER}/openapi.json": _dumped(contract.openapi()),
        f"{FOLDER}/asyncapi.json": _dumped(contract.asyncapi()),
    }
    for name, schema in contract.event_schemas().items():
        made[f"{FOLDER}/schemas/{contract.schema_key(name)}.json"] = _dumped(schema)
    return made


def on_files(files: Any, *, config: Any) -> Any:
    """Add the documents to the site's files."""
    from mkdocs.structure.files import File  # noqa: PLC0415 - only in a build

    for path, text in documents().items():
        files.append(File.generated(config, path, content=text))
    return files


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _message_rows(document: dict[str, Any], channel: dict[str, Any]) -> list[str]:
    from wagate import contract  # noqa: PLC0415

    rows = ["| message | what it is | payload |", "| --- | --- | --- |"]
    messages = document["components"]["messages"]
    for reference in channel["messages"].values():
        key = reference["$ref"].rsplit("/", 1)[1]
        message = messages[key]
        name = message["name"]
        payload = message["payload"]
        if "$ref" in payload or key.startswith("webhook."):
            schema = f"[`{contract.schema_key(name)}.json`](contract/schemas/"
            schema += f"{contract.schema_key(name)}.json)"
        else:
            schema = f"`{_cell(json.dumps(payload, ensure_ascii=False))}`"
        summary = message.get("summary", "")
        if message.get("description"):
            summary += " " + message["description"]
        rows.append(f"| `{name}` | {_cell(summary)} | {schema} |")
    return rows


def render() -> str:
    """The generated part of the page (Markdown)."""
    from wagate import contract  # noqa: PLC0415

    document = contract.asyncapi()
    out: list[str] = []
    for name, channel in document["channels"].items():
        address = channel["address"] or "your endpoint's URL"
        out += [f"### {channel['title']}", "", f"Channel `{name}`, address `{address}`.", ""]
        out += [_cell(channel["description"]), ""]
        out += [*_message_rows(document, channel), ""]
    out += ["### Operations", "", "| operation | action | channel | summary |"]
    out += ["| --- | --- | --- | --- |"]
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        out.append(
            f"| `{name}` | {operation['action']} | `{channel}` | {_cell(operation['summary'])} |"
        )
    out += ["", "### Webhook headers", "", "| header | says |", "| --- | --- |"]
    headers = document["components"]["messages"]["webhook.message.received"]["headers"]
    for header, schema in headers["properties"].items():
        said = schema.get("description") or f"`{json.dumps(schema)}`"
        out.append(f"| `{header}` | {_cell(said)} |")
    out += ["", "## Payload schemas", ""]
    for name, schema in contract.event_schemas().items():
        key = contract.schema_key(name)
        out += [f'??? note "`{name}`: {_cell(schema["description"])}"', ""]
        out += [f"    Download: [`{key}.json`](contract/schemas/{key}.json)", ""]
        out += ["    ```json"]
        out += [f"    {line}" for line in json.dumps(schema, indent=2).splitlines()]
        out += ["    ```", ""]
    return "\n".join(out)


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    """Put the generated part into the contract page."""
    if page.file.src_uri != PAGE:
        return markdown
    return markdown.replace(MARKER, render())
