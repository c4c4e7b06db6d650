"""What a message says: typed contents, the media they carry, and what a send answers.

A content is a frozen attrs value, the same class both ways: a host app builds
``Image(path, caption="receipt")`` to send one, and a received image arrives as an
``Image`` whose ``media`` is a :class:`Media` descriptor (fetch its bytes with
:meth:`wagate.Session.download`).  How each looks on the wire is the content
table of :mod:`wagate._wire`.
"""

from __future__ import annotations

import math
import os
from datetime import datetime
from typing import IO, Any, ClassVar, TypeAlias, Union

import attrs

from ._errors import InvalidContent

__all__ = [
    "Audio",
    "Contact",
    "Content",
    "Document",
    "Image",
    "Location",
    "Media",
    "MediaInput",
    "MediaUrl",
    "SentMessage",
    "Sticker",
    "Text",
    "Unsupported",
    "Video",
]

MAX_CAPTION = 1024
"""WhatsApp's caption limit, in characters."""
MAX_VCARDS = 257
"""How many vCards one contacts message carries at most (WhatsApp's own bound)."""


@attrs.frozen(kw_only=True)
class Media:
    """Media that WhatsApp holds for a message: a descriptor, never the bytes.

    Received media (and media this tenant sent) is described so; fetch the bytes
    with :meth:`wagate.Session.download` or ``GET /api/media/{id}``.

    Attributes:
        id: wagate's id of the media (unguessable, per tenant).
        mime_type: Its type, e.g. ``"image/jpeg"``.
        size: Its size in bytes, when known.
        file_name: The file name a document was sent with.
        sha256: The SHA-256 of the bytes, hex, when known.
        thumbnail: A small JPEG preview as a ``data:`` URL, where WhatsApp gives one.
    """

    id: str
    mime_type: str
    size: int | None = None
    file_name: str | None = None
    sha256: str | None = None
    thumbnail: str | None = None


@attrs.frozen
class MediaUrl:
    """Media to fetch from an ``http(s)`` URL when the message is sent.

    The gateway fetches it with a size limit and a timeout, and refuses
    addresses on loopback or private networks unless configured to allow them.
    """

    url: str


MediaInput: TypeAlias = Union[bytes, "os.PathLike[str]", IO[bytes], MediaUrl, Media]
"""Media to send: bytes, a path, a binary file object, a :class:`MediaUrl` or a :class:`Media`.

A ``str`` is read as a URL when it starts with ``http://`` or ``https://``
(any other scheme is refused when sent) and as a path otherwise.
"""


def _media(value: Any) -> Any:
    if isinstance(value, str):
        if "://" in value or value.startswith("data:"):
            return MediaUrl(value)
        return _Path(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _Path(value: str) -> os.PathLike[str]:
    from pathlib import Path  # noqa: PLC0415 - only for str paths

    return Path(value)


def _mentions(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class Content:
    """The base of every message content.

    Attributes:
        reply_to: The id of the message this one quotes (a reply).
        mentions: The JIDs (or numbers) of the people mentioned.
    """

    kind: ClassVar[str]
    """The content's kind on the wire: ``"text"``, ``"image"``..."""
    has_media: ClassVar[bool] = False

    reply_to: str | None = attrs.field(default=None, kw_only=True)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_mentions)

    @property
    def text(self) -> str | None:
        """The text a person reads: the text, the caption, or ``None``."""
        return None


@attrs.frozen
class Text(Content):
    """A text message.

    Attributes:
        body: 1 to 65,536 characters.
    """

    kind: ClassVar[str] = "text"
    body: str

    @property
    def text(self) -> str:
        return self.body


@attrs.frozen
class _WithMedia(Content):
    has_media: ClassVar[bool] = True
    media: MediaInput = attrs.field(converter=_media)
    mime_type: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class _Captioned(_WithMedia):
    caption: str | None = attrs.field(default=None, kw_only=True)

    @property
    def text(self) -> str | None:
        return self.caption


@attrs.frozen
class Image(_Captioned):
    """An image (JPEG or PNG, up to 5 MiB by default), with an optional caption.

    Attributes:
        media: The image (see :data:`MediaInput`); a :class:`Media` when received.
        caption: Text shown under it.
        mime_type: Its type; sniffed from the bytes when not given.
    """

    kind: ClassVar[str] = "image"


@attrs.frozen
class Video(_Captioned):
    """A video (MP4 or 3GPP, up to 16 MiB by default), with an optional caption."""

    kind: ClassVar[str] = "video"


@attrs.frozen
class Audio(_WithMedia):
    """Audio (up to 16 MiB by default); ``voice=True`` sends a push-to-talk voice note.

    Attributes:
        voice: Whether it is a voice note (OGG/Opus is what phones play as one).
    """

    kind: ClassVar[str] = "audio"
    voice: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen
class Document(_Captioned):
    """A document of any type (up to 100 MiB by default), shown with its file name.

    Attributes:
        file_name: The name the recipient sees (default: the path's name, or ``"file"``).
    """

    kind: ClassVar[str] = "document"
    file_name: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Sticker(_WithMedia):
    """A sticker (WebP, up to 500 KiB by default)."""

    kind: ClassVar[str] = "sticker"


@attrs.frozen
class Location(Content):
    """A location pin.

    Attributes:
        latitude: Degrees, -90 to 90.
        longitude: Degrees, -180 to 180.
        name: The place's name.
        address: Its address.
    """

    kind: ClassVar[str] = "location"
    latitude: float
    longitude: float
    name: str | None = attrs.field(default=None, kw_only=True)
    address: str | None = attrs.field(default=None, kw_only=True)

    @property
    def map_url(self) -> str:
        """A link that opens the pin on a map."""
        return f"https://maps.google.com/?q={self.latitude},{self.longitude}"


@attrs.frozen
class Contact(Content):
    """One or more contact cards (vCard 3.0 text each).

    Attributes:
        vcards: The vCards (a single string is one card).
        display_name: The name shown on the message (default: the first card's ``FN``).
    """

    kind: ClassVar[str] = "contact"
    vcards: tuple[str, ...] = attrs.field(converter=_mentions)
    display_name: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Unsupported(Content):
    """A received message of a kind wagate does not model (a poll, a payment...).

    Attributes:
        type: WhatsApp's name of the kind, e.g. ``"poll"``.
    """

    kind: ClassVar[str] = "unsupported"
    type: str


CONTENT_KINDS: tuple[type[Content], ...] = (
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Contact,
    Unsupported,
)
"""Every content class, by which the wire table reads a ``type``."""


@attrs.frozen(kw_only=True)
class SentMessage:
    """What :meth:`wagate.Session.send` answers: WhatsApp accepted the message.

    Attributes:
        id: WhatsApp's message id.
        to: The recipient JID.
        timestamp: When it was sent (UTC).
        kind: The content's kind.
        media: The sent media's descriptor, for media messages.
    """

    id: str
    to: str
    timestamp: datetime
    kind: str
    media: Media | None = None


def check_content(content: object, tenant: str | None = None) -> Content:
    """``content`` if it is a well-formed :class:`Content` to send.

    Checks what needs no I/O: the class, the text and caption lengths, the
    coordinates, the vCards; media is checked when it is read.

    Raises:
        InvalidContent: it is not.
        InvalidText: a text is empty, blank or too long.
    """
    from ._validate import normalize_recipient, validate_text  # noqa: PLC0415 - a cycle

    if not isinstance(content, Content) or isinstance(content, Unsupported):
        raise InvalidContent(
            f"a message content must be one of {', '.join(c.__name__ for c in CONTENT_KINDS[:-1])},"
            f" not {type(content).__name__}",
            tenant=tenant,
        )
    if isinstance(content, Text):
        validate_text(content.body)
    caption = getattr(content, "caption", None)
    if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_CAPTION):
        raise InvalidContent(f"a caption is a string of at most {MAX_CAPTION} characters")
    if isinstance(content, Location):
        _coordinate("latitude", content.latitude, 90)
        _coordinate("longitude", content.longitude, 180)
    if isinstance(content, Contact):
        if not 1 <= len(content.vcards) <= MAX_VCARDS:
            raise InvalidContent(f"a contacts message carries 1 to {MAX_VCARDS} vCards")
        for card in content.vcards:
            if not isinstance(card, str) or not card.lstrip().upper().startswith("BEGIN:VCARD"):
                raise InvalidContent("each vCard must be vCard text starting with BEGIN:VCARD")
    if content.reply_to is not None and (
        not isinstance(content.reply_to, str) or not content.reply_to
    ):
        raise InvalidContent("reply_to must be a message id")
    for mention in content.mentions:
        normalize_recipient(mention)
    return content


def _coordinate(name: str, value: object, bound: int) -> None:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not -bound <= value <= bound
    ):
        raise InvalidContent(f"{name} must be a number from -{bound} to {bound}, got {value!r}")
