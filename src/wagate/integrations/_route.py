"""What a REST route is and what it answers, for the route tables (``_rest``, ``_simulator``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._commands import Command

if TYPE_CHECKING:
    from ._rest import RestApi

__all__ = ["Reply", "Respond", "Route", "encode_json"]

JSON = dict[str, Any]


@attrs.frozen
class Reply:
    """A framework-neutral response: status, JSON body, extra headers."""

    status: int
    body: JSON
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        """The body as the bytes every framework sends (compact UTF-8 JSON)."""
        return encode_json(self.body)


def encode_json(body: object) -> bytes:
    """Encode a JSON body the one way both integrations send it."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


Respond = Callable[["RestApi", str, Mapping[str, Any]], Awaitable["Reply"]]
"""How a route answers: ``await respond(api, tenant, arguments)``."""


@attrs.frozen(kw_only=True, eq=False)
class Route:
    """One REST route: the command it runs, how it answers, and what OpenAPI says of it."""

    method: str
    path: str
    command: Command[..., Any]
    """The command it runs (its parameters are the body's fields)."""
    respond: Respond
    name: str
    """Its name (the Flask endpoint's)."""
    operation: str
    """The name its OpenAPI operation id is made of (kept stable for clients)."""
    summary: str
    status: int = 200
    """The status of a successful answer."""
    errors: Mapping[int, str] = attrs.field(factory=dict)
    """The error statuses it may answer besides those of every route, and why."""
    tag: str = "wagate"
    body: bool = False
    """Whether it reads a JSON body (of the command's parameters)."""

    @property
    def simulator(self) -> bool:
        """Whether it exists only on a gateway of simulated phones."""
        return self.tag == "simulator"
