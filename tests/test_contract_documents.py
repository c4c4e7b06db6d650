"""The published documents (wagate.contract) are well formed, and what the command writes.

Core tests: they need no extra (``jsonschema`` comes with the test dependencies).
The payloads that transports really send are checked against these documents in
``test_contract_schemas.py``.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from wagate import contract
from wagate.cli import main

pytestmark = pytest.mark.timeout(60)

SCHEMAS = contract.event_schemas()
ASYNCAPI = contract.asyncapi()


def inline(node: Any, root: dict[str, Any] = ASYNCAPI) -> Any:
    """``node`` with every local ``$ref`` of the AsyncAPI document replaced by its target."""
    if isinstance(node, list):
        return [inline(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return inline(target, root)
    return {key: inline(value, root) for key, value in node.items()}


def message_schema(key: str, part: str = "payload") -> Any:
    """The (inlined) payload or headers schema of an AsyncAPI component message."""
    return inline(ASYNCAPI["components"]["messages"][key][part])


# ---------------------------------------------------------------------------------
# The documents


def test_every_payload_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Each schema is valid JSON Schema 2020-12 and says so; both namings are there."""
    assert {"qr:generated", "connection:status", "qr-code", "connection-status"} <= set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        assert schema["$schema"] == contract.JSON_SCHEMA_DIALECT
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == name
        assert schema["description"]


def test_the_asyncapi_document_has_every_wire_name_as_a_message() -> None:
    """AsyncAPI 3.0.0: each wire name a message of Socket.IO and SSE; webhooks its own."""
    assert ASYNCAPI["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(ASYNCAPI["info"])
    messages = ASYNCAPI["components"]["messages"]
    named = {message["name"] for message in messages.values()}
    assert set(SCHEMAS) <= named
    assert {"join", "leave", "error"} <= named
    for channel in ("socketio", "sse"):
        listed = ASYNCAPI["channels"][channel]["messages"]
        assert {inline(ref)["name"] for ref in listed.values()} >= set(SCHEMAS)
    hooks = ASYNCAPI["channels"]["webhooks"]["messages"]
    assert {inline(ref)["name"] for ref in hooks.values()} == set(contract.webhook_names())
    assert ASYNCAPI["channels"]["sse"]["address"] == "/api/events"


def test_the_asyncapi_document_is_well_formed() -> None:
    """Keys AsyncAPI allows, every $ref resolves, operations send or receive their channel's."""
    key = {"type": "string", "pattern": r"^[a-zA-Z0-9\.\-_]+$"}
    shape = {
        "type": "object",
        "required": ["asyncapi", "info", "channels", "operations", "components"],
        "properties": {
            "asyncapi": {"const": "3.0.0"},
            "channels": {
                "type": "object",
                "propertyNames": key,
                "additionalProperties": {
                    "type": "object",
                    "required": ["address", "messages"],
                    "properties": {"messages": {"type": "object", "propertyNames": key}},
                },
            },
            "operations": {
                "type": "object",
                "propertyNames": key,
                "additionalProperties": {
                    "type": "object",
                    "required": ["action", "channel", "messages"],
                    "properties": {"action": {"enum": ["send", "receive"]}},
                },
            },
            "components": {
                "type": "object",
                "properties": {
                    part: {"type": "object", "propertyNames": key}
                    for part in ("schemas", "messages", "securitySchemes")
                },
            },
        },
    }
    jsonschema.Draft202012Validator(shape).validate(ASYNCAPI)
    inline(ASYNCAPI)  # a $ref that names nothing raises KeyError
    channels = ASYNCAPI["channels"]
    for name, operation in ASYNCAPI["operations"].items():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        prefix = f"#/channels/{channel}/messages/"
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(prefix), name
            assert ref["$ref"].removeprefix(prefix) in channels[channel]["messages"], name
    for schema in ASYNCAPI["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_written_files_are_the_documents(tmp_path: Any) -> None:
    """``contract.write`` (``wagate contract``) writes each document and schema as JSON."""
    written = contract.write(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "asyncapi.json").read_text()) == ASYNCAPI
    assert json.loads((tmp_path / "out" / "openapi.json").read_text()) == contract.openapi()
    for name, schema in SCHEMAS.items():
        path = tmp_path / "out" / "schemas" / f"{contract.schema_key(name)}.json"
        assert path in written
        assert json.loads(path.read_text()) == schema


def test_wagate_contract_writes_the_documents(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``wagate contract --out DIR`` writes every document and says how many; exit 0."""
    out = tmp_path / "made" / "here"
    assert main(["contract", "--out", str(out)]) == 0
    assert f"wrote {2 + len(SCHEMAS)} files" in capsys.readouterr().out
    assert json.loads((out / "asyncapi.json").read_text()) == ASYNCAPI
    assert sorted(p.name for p in (out / "schemas").iterdir()) == sorted(
        f"{contract.schema_key(name)}.json" for name in SCHEMAS
    )


def test_wagate_contract_into_a_file_exits_2(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --out that cannot be a directory is a one-line error, exit status 2."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["contract", "--out", str(blocker)]) == 2
    assert "cannot write into" in capsys.readouterr().err


def test_changing_a_returned_document_changes_nothing_else() -> None:
    """Each call gives documents of its own: editing one leaves the next call unchanged."""
    for make in (contract.event_schemas, contract.asyncapi, contract.openapi):
        first, second = make(), make()
        assert first == second
        json.loads(json.dumps(first))  # plain JSON all through
    schemas = contract.event_schemas()
    schemas["message:received"]["properties"]["content"]["oneOf"].clear()
    document = contract.openapi()
    document["paths"].clear()
    assert contract.event_schemas() == SCHEMAS
    assert contract.asyncapi() == ASYNCAPI
    assert contract.openapi()["paths"]
