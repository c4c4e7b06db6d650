"""The building blocks of the wire table (:mod:`wagate._wire`): codecs, fields, shapes.

A :class:`Codec` writes one JSON value and reads it back, a :class:`Field` is
one payload key, a :class:`Shape` a message's name and fields; the table itself,
what each event kind makes of them, is in :mod:`wagate._wire`.
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._errors import InvalidInput
from ._events import UTC

JSON: TypeAlias = dict[str, Any]


@attrs.frozen
class WireMessage:
    """One message on the wire: an event name and its JSON-ready payload."""

    name: str
    data: JSON


# ---------------------------------------------------------------------------------
# Codecs: one JSON value each way


def iso(value: datetime) -> str:
    """A datetime as ISO 8601 in UTC with microseconds and a ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: object, key: str) -> datetime:
    """The timezone-aware UTC datetime an ISO 8601 string names.

    Raises:
        InvalidInput: not a string, not ISO 8601, or without a timezone.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{key!r} is not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{key!r} must carry a timezone: {value!r}")
    return parsed.astimezone(UTC)


@attrs.frozen
class Codec:
    """How a value is written as JSON (as of a moment) and read back (naming its key)."""

    encode: Callable[[Any, datetime], Any]
    decode: Callable[[Any, str], Any]
    optional: bool = False
    """Whether ``null`` (or no key at all) stands for ``None``."""
    schema: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    """The JSON Schema of the values it writes (OpenAPI's answers are made of it)."""


def _as_is(value: Any, now: datetime) -> Any:
    return value


def _exactly(*types: type) -> Callable[[Any, str], Any]:
    """A decoder accepting only ``types`` (a bool is not an int unless bool is named)."""

    def decode(value: Any, key: str) -> Any:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InvalidInput(f"payload field {key!r} has the wrong type: {value!r}")
        return value

    return decode


def _finite(value: Any, key: str) -> float:
    number = _exactly(int, float)(value, key)
    if not math.isfinite(number):
        raise InvalidInput(f"{key} must be finite, got {value!r}")
    return float(number)


def enum_of(kind: type[enum.Enum]) -> Codec:
    def decode(value: Any, key: str) -> Any:
        raw = _exactly(str)(value, key)
        try:
            return kind(raw)
        except ValueError:
            raise InvalidInput(f"unknown {key} {raw!r}") from None

    schema = {"type": "string", "enum": [member.value for member in kind]}
    return Codec(lambda value, now: value.value, decode, schema=schema)


def optional(codec: Codec) -> Codec:
    return Codec(
        lambda value, now: None if value is None else codec.encode(value, now),
        lambda value, key: None if value is None else codec.decode(value, key),
        optional=True,
        schema={"anyOf": [codec.schema, {"type": "null"}]},
    )


def object_of(cls: type, *fields: Field) -> Codec:
    """A value of ``cls`` as a JSON object of ``fields``."""
    return Codec(
        lambda value, now: encode_fields(fields, value, now),
        lambda value, key: decode_fields(cls, fields, value),
        schema=object_schema(fields),
    )


def object_schema(fields: tuple[Field, ...]) -> JSON:
    """The JSON Schema of the object ``fields`` write (a key written only ``when``: optional)."""
    return {
        "type": "object",
        "properties": {f.key: dict(f.schema) for f in fields},
        "required": [f.key for f in fields if f.when is None],
    }


TEXT = Codec(_as_is, _exactly(str), schema={"type": "string"})
INTEGER = Codec(_as_is, _exactly(int), schema={"type": "integer"})
FLAG = Codec(_as_is, _exactly(bool), schema={"type": "boolean"})
SECONDS = Codec(_as_is, _finite, schema={"type": "number"})
TIME = Codec(lambda value, now: iso(value), parse_iso, schema={"type": "string"})


# ---------------------------------------------------------------------------------
# Fields and shapes


@attrs.frozen
class Field:
    """One payload key: what it carries and how.

    Attributes:
        key: The JSON key.
        attr: The attribute it reads, and the constructor argument it is read back
            into when the class takes one; ``None`` for a value computed from others.
        codec: How the value is written and read.
        compute: Computes the value (from the object and the moment of encoding)
            instead of reading ``attr``.
        read_back: Whether decoding reads it (``False`` for a copy of another key).
        when: Writes the key only for objects this accepts (default: always).
        computed: The JSON Schema of a computed value (default: the codec's).
    """

    key: str
    attr: str | None
    codec: Codec = Codec(_as_is, _exactly(object))
    compute: Callable[[Any, datetime], Any] | None = None
    read_back: bool = True
    when: Callable[[Any], bool] | None = None
    computed: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    plain: Callable[[Any], Any] | None = attrs.field(init=False, eq=False, repr=False)
    """Reads the value when it is written as it is (the fast path of most keys)."""

    @plain.default
    def _getter(self) -> Callable[[Any], Any] | None:
        if self.compute is None and self.attr is not None and self.codec.encode is _as_is:
            return operator.attrgetter(self.attr)
        return None

    @property
    def schema(self) -> Mapping[str, Any]:
        """The JSON Schema of this key's values."""
        return self.computed if self.computed is not None else self.codec.schema

    def encode(self, obj: Any, now: datetime) -> Any:
        """The JSON value of this key for ``obj`` as of ``now``."""
        value = self.compute(obj, now) if self.compute is not None else getattr(obj, str(self.attr))
        return self.codec.encode(value, now)

    def but(self, **changes: Any) -> Field:
        """A copy of the field with some of its attributes changed."""
        return attrs.evolve(self, **changes)


def encode_fields(fields: tuple[Field, ...], obj: Any, now: datetime) -> JSON:
    data = {}
    for f in fields:
        if f.when is None or f.when(obj):
            data[f.key] = f.encode(obj, now) if f.plain is None else f.plain(obj)
    return data


def as_mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"payload must be a JSON object, got {type(data).__name__}")
    return data


_ARGUMENTS: dict[type, dict[str, attrs.Attribute[Any]]] = {}


def arguments_of(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """The constructor arguments of an attrs class, by name (looked up once per class)."""
    found = _ARGUMENTS.get(cls)
    if found is None:
        found = _ARGUMENTS[cls] = {a.alias: a for a in attrs.fields(cls) if a.init}
    return found


def decode_fields(cls: type, fields: tuple[Field, ...], data: object) -> Any:
    """A ``cls`` from the keys of ``data`` that ``fields`` read back into its arguments.

    A missing key is an error unless its codec is optional; then the argument keeps
    the class's default, or is ``None`` where the class has none.
    """
    data = as_mapping(data)
    takes = arguments_of(cls)
    arguments = {}
    for f in fields:
        if f.attr not in takes or not f.read_back:
            continue
        if f.key in data:
            arguments[f.attr] = f.codec.decode(data[f.key], f.key)
        elif not f.codec.optional:
            raise InvalidInput(f"payload has no {f.key!r}")
        elif takes[f.attr].default is attrs.NOTHING:
            arguments[f.attr] = None
    return cls(**arguments)


@attrs.frozen
class Shape:
    """A message: its name and its fields, in the order they are written."""

    name: str
    fields: tuple[Field, ...]

    def encode(self, obj: Any, now: datetime) -> WireMessage:
        """The message for ``obj``, its time-dependent values as of ``now``."""
        return WireMessage(self.name, encode_fields(self.fields, obj, now))
