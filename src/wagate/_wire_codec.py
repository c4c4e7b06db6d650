"""The building blocks of the wire table (:mod:`wagate._wire`): codecs, fields, shapes.

A :class:`Codec` writes one JSON value and reads it back, a :class:`Field` is
one payload key, a :class:`Shape` a message's name and fields; the table itself,
what each event kind makes of them, is in :mod:`wagate._wire`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

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
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


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
    if parsed.tzinfo is UTC:
        return parsed
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


_EXACT: dict[Callable[[Any, str], Any], tuple[type, ...]] = {}
"""The decoders :func:`_exactly` made, and their types (compiled decoders check them inline)."""


def _exactly(*types: type) -> Callable[[Any, str], Any]:
    """A decoder accepting only ``types`` (a bool is not an int unless bool is named)."""

    def decode(value: Any, key: str) -> Any:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InvalidInput(f"payload field {key!r} has the wrong type: {value!r}")
        return value

    _EXACT[decode] = types
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


_OPTIONAL: dict[Callable[[Any, str], Any], Codec] = {}
"""The decoders :func:`optional` made, and the codec each wraps (compiled decoders unwrap them)."""


def optional(codec: Codec) -> Codec:
    def decode(value: Any, key: str) -> Any:
        return None if value is None else codec.decode(value, key)

    _OPTIONAL[decode] = codec
    return Codec(
        lambda value, now: None if value is None else codec.encode(value, now),
        decode,
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

    @property
    def plain(self) -> bool:
        """Whether the value written is the attribute as it is (the fast path of most keys)."""
        return self.compute is None and self.attr is not None and self.codec.encode is _as_is

    @property
    def schema(self) -> Mapping[str, Any]:
        """The JSON Schema of this key's values."""
        return self.computed if self.computed is not None else self.codec.schema

    def but(self, **changes: Any) -> Field:
        """A copy of the field with some of its attributes changed."""
        return attrs.evolve(self, **changes)


def encode_fields(fields: tuple[Field, ...], obj: Any, now: datetime) -> JSON:
    """The JSON object ``fields`` write for ``obj`` as of ``now``, in their order."""
    return _compiled(_ENCODERS, fields, None, _encoder)(obj, now)


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
    return _compiled(_DECODERS, fields, cls, _decoder)(data)


# ---------------------------------------------------------------------------------
# Compiled fields: the table's generic walk, as straight-line code per tuple of fields
#
# Every event a transport sends and the cluster carries goes through these, so each
# tuple of fields (and class it is read back into) gets a function of its own, made
# once from the same fields: attribute reads and key stores, no loop, no dispatch.


_Made = TypeVar("_Made")
_ENCODERS: dict[tuple[int, int], tuple[tuple[Field, ...], Callable[[Any, datetime], JSON]]] = {}
_DECODERS: dict[tuple[int, int], tuple[tuple[Field, ...], Callable[[object], Any]]] = {}
_MOST_COMPILED = 4096
"""Beyond this many tuples (made on the fly by some caller), a cache starts again."""


def _compiled(
    cache: dict[tuple[int, int], tuple[tuple[Field, ...], _Made]],
    fields: tuple[Field, ...],
    cls: type | None,
    make: Callable[[tuple[Field, ...], Any], _Made],
) -> _Made:
    key = (id(fields), id(cls))
    found = cache.get(key)
    if found is not None and found[0] is fields:
        return found[1]
    made = make(fields, cls)
    if len(cache) >= _MOST_COMPILED:
        cache.clear()
    cache[key] = (fields, made)  # holding the tuple keeps its id from being reused
    return made


def _build(name: str, lines: list[str], scope: dict[str, Any]) -> Any:
    exec("\n".join(lines), scope)  # noqa: S102 - source made here from the table's own names
    return scope[name]


def _encoder(fields: tuple[Field, ...], cls: None) -> Callable[[Any, datetime], JSON]:
    scope: dict[str, Any] = {}
    literal: list[str] = []  # the keys written always, before the first conditional one
    after: list[str] = []
    for i, f in enumerate(fields):
        if f.plain:
            value = f"obj.{f.attr}"
        else:
            scope[f"codec{i}"] = f.codec.encode
            if f.compute is not None:
                scope[f"compute{i}"] = f.compute
                value = f"codec{i}(compute{i}(obj, now), now)"
            else:
                value = f"codec{i}(obj.{f.attr}, now)"
        if f.when is None and not after:
            literal.append(f"{f.key!r}: {value}")
        elif f.when is None:
            after.append(f"    data[{f.key!r}] = {value}")
        else:
            scope[f"when{i}"] = f.when
            after.append(f"    if when{i}(obj):\n        data[{f.key!r}] = {value}")
    lines = ["def encode(obj, now):", f"    data = {{{', '.join(literal)}}}", *after]
    return _build("encode", [*lines, "    return data"], scope)  # type: ignore[no-any-return]


def _decoder(fields: tuple[Field, ...], cls: type) -> Callable[[object], Any]:
    takes = arguments_of(cls)
    scope: dict[str, Any] = {"cls": cls, "as_mapping": as_mapping, "InvalidInput": InvalidInput}
    lines = ["def decode(data):", "    data = as_mapping(data)", "    arguments = {}"]
    for i, f in enumerate(fields):
        if f.attr not in takes or not f.read_back:
            continue
        scope[f"codec{i}"] = f.codec.decode
        inner = _OPTIONAL.get(f.codec.decode)
        exact = _EXACT.get(f.codec.decode if inner is None else inner.decode, ())
        if len(exact) == 1:  # the common case checked inline (a bool's class is not int)
            scope[f"type{i}"] = exact[0]
            accept = f"value.__class__ is type{i}"
            if inner is not None:
                accept = f"value is None or {accept}"
            read = f"value if {accept} else codec{i}(value, {f.key!r})"
        else:
            read = f"codec{i}(value, {f.key!r})"
        lines += [f"    value = data.get({f.key!r}, data)", "    if value is not data:"]
        lines.append(f"        arguments[{f.attr!r}] = {read}")
        if not f.codec.optional:
            message = f"payload has no {f.key!r}"
            lines.append(f"    else:\n        raise InvalidInput({message!r})")
        elif takes[f.attr].default is attrs.NOTHING:
            lines.append(f"    else:\n        arguments[{f.attr!r}] = None")
    return _build("decode", [*lines, "    return cls(**arguments)"], scope)  # type: ignore[no-any-return]


@attrs.frozen
class Shape:
    """A message: its name and its fields, in the order they are written."""

    name: str
    fields: tuple[Field, ...]

    def encode(self, obj: Any, now: datetime) -> WireMessage:
        """The message for ``obj``, its time-dependent values as of ``now``."""
        return WireMessage(self.name, encode_fields(self.fields, obj, now))
