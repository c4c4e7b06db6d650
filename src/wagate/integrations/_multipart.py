"""``multipart/form-data`` bodies, read the one way both integrations read them.

A small strict reader over the body's bytes (RFC 7578): the boundary comes from
the ``Content-Type``, each part needs a ``Content-Disposition: form-data`` with a
``name``, and a part with a ``filename`` is a file.  It does not copy a file
part's bytes more than once, so a large upload costs about its own size.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy

import attrs

from .._errors import InvalidInput

__all__ = ["FilePart", "Form", "InvalidForm", "parse_form"]


class InvalidForm(InvalidInput, code="invalid_form"):
    """A ``multipart/form-data`` body that cannot be read: no boundary, a broken part..."""


@attrs.frozen
class FilePart:
    """One file of a form."""

    name: str
    """The form field's name."""
    filename: str
    """The file's name, as the client gave it (may be empty)."""
    content_type: str | None
    """The part's ``Content-Type``, if it had one."""
    data: bytes


@attrs.frozen
class Form:
    """A form's fields (each name's values, in order) and files."""

    fields: dict[str, list[str]]
    files: tuple[FilePart, ...]


_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
MAX_PARTS = 64
"""The most parts a form may have."""


def boundary_of(content_type: str | None) -> str | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None`` if it is not one.

    Raises:
        InvalidForm: a multipart content type without a usable boundary.
    """
    message = email.message.EmailMessage()
    message["Content-Type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise InvalidForm("the multipart/form-data content type has no valid boundary")
    return boundary


def parse_form(boundary: str, body: bytes) -> Form:
    """Read a ``multipart/form-data`` body.

    Raises:
        InvalidForm: the body is not a well-formed form of at most :data:`MAX_PARTS` parts,
            or a text field is not UTF-8.
    """
    delimiter = b"--" + boundary.encode("latin-1")
    view = memoryview(body)
    start = body.find(delimiter)
    if start < 0:
        raise InvalidForm("the body has no part delimited by its boundary")
    fields: dict[str, list[str]] = {}
    files: list[FilePart] = []
    position = start + len(delimiter)
    separator = b"\r\n" + delimiter
    while True:
        if body.startswith(b"--", position):
            return Form(fields, tuple(files))  # the closing delimiter
        if not body.startswith(b"\r\n", position):
            raise InvalidForm("a boundary is not followed by a line break")
        if len(fields) + len(files) >= MAX_PARTS:
            raise InvalidForm(f"the form has more than {MAX_PARTS} parts")
        head_end = body.find(b"\r\n\r\n", position + 2)
        end = body.find(separator, position + 2)
        if end < 0:
            raise InvalidForm("the body ends inside a part (no closing boundary)")
        if head_end < 0 or head_end > end:
            raise InvalidForm("a part has no header block")
        headers = _HEADERS.parsebytes(body[position + 2 : head_end + 4])
        data = view[head_end + 4 : end]
        _add_part(headers, data, fields, files)
        position = end + len(separator)


def _add_part(
    headers: email.message.Message,
    data: memoryview,
    fields: dict[str, list[str]],
    files: list[FilePart],
) -> None:
    if headers.get_content_disposition() != "form-data":
        raise InvalidForm("each part needs a Content-Disposition: form-data header")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise InvalidForm("a part of the form has no name")
    filename = headers.get_filename()
    if filename is not None:
        content_type = headers.get("content-type")
        files.append(
            FilePart(name, filename, str(content_type) if content_type else None, bytes(data))
        )
        return
    try:
        value = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidForm(f"the form field {name!r} is not UTF-8 text") from None
    fields.setdefault(name, []).append(value)
