"""Outgoing media: its type sniffed from the bytes, per-kind size limits, a guarded URL fetch.

The default limits are WhatsApp's own (its Cloud API media limits): images
5 MiB, video and audio 16 MiB, documents 100 MiB, stickers 500 KiB.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

import anyio
import attrs

from ._errors import InvalidMedia, MediaFetchFailed, MediaTooLarge

__all__ = [
    "ALLOWED_TYPES",
    "DEFAULT_LIMITS",
    "MediaLimits",
    "UrlPolicy",
    "check_media",
    "fetch_url",
    "sniff",
]

KiB = 1024
MiB = 1024 * KiB
DEFAULT_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "image": 5 * MiB,
        "video": 16 * MiB,
        "audio": 16 * MiB,
        "document": 100 * MiB,
        "sticker": 500 * KiB,
    }
)
"""Bytes per kind, as WhatsApp takes them."""
ALLOWED_TYPES: Mapping[str, frozenset[str] | None] = MappingProxyType(
    {
        "image": frozenset({"image/jpeg", "image/png"}),
        "video": frozenset({"video/mp4", "video/3gpp"}),
        "audio": frozenset({"audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr"}),
        "sticker": frozenset({"image/webp"}),
        "document": None,
    }
)
"""The types each kind takes (``None``: any)."""

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
)


def sniff(data: bytes) -> str | None:
    """The mime type the first bytes say (magic numbers), or ``None`` when unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    for offset, magic, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if len(data) >= 2 and data[0] == 0xFF:
        if data[1] in (0xF1, 0xF9):
            return "audio/aac"
        if data[1] in (0xFB, 0xF3, 0xF2):
            return "audio/mpeg"
    return None


def _base(mime: str) -> str:
    return mime.split(";", maxsplit=1)[0].strip().lower()


@attrs.frozen
class MediaLimits:
    """The size limit of each media kind, in bytes.

    Example:
        ```python
        limits = MediaLimits().but(video=64 * 1024 * 1024)
        ```
    """

    sizes: Mapping[str, int] = attrs.field(default=DEFAULT_LIMITS)

    @sizes.validator
    def _check(self, attribute: object, value: Mapping[str, int]) -> None:
        for kind, size in value.items():
            if kind not in DEFAULT_LIMITS:
                raise ValueError(f"no media kind {kind!r}: one of {', '.join(DEFAULT_LIMITS)}")
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError(f"the {kind} limit must be a positive number of bytes")

    def limit(self, kind: str) -> int:
        """The limit of ``kind``, in bytes."""
        return self.sizes.get(kind, DEFAULT_LIMITS[kind])

    def but(self, **sizes: int) -> MediaLimits:
        """These limits with some kinds' changed."""
        return MediaLimits({**self.sizes, **sizes})


def check_media(
    kind: str,
    data: bytes,
    declared: str | None = None,
    *,
    limits: MediaLimits | None = None,
    tenant: str | None = None,
) -> str:
    """Check media bytes for a kind and return their mime type.

    Raises:
        InvalidMedia: empty, or not of a type the kind takes (a PDF as an image),
            or contradicting its declared type.
        MediaTooLarge: past the kind's limit.
    """
    if not data:
        raise InvalidMedia(f"the {kind} is empty", tenant=tenant)
    limit = (limits or MediaLimits()).limit(kind)
    if len(data) > limit:
        raise MediaTooLarge(
            f"the {kind} is {len(data):,} bytes, past its limit of {limit:,}", tenant=tenant
        )
    sniffed = sniff(data)
    allowed = ALLOWED_TYPES[kind]
    if allowed is None:
        return declared or sniffed or "application/octet-stream"
    if sniffed is None or sniffed not in allowed:
        what = sniffed or "of no type recognised"
        raise InvalidMedia(
            f"a {kind} must be {' or '.join(sorted(allowed))}; these bytes are {what}",
            tenant=tenant,
        )
    if declared is not None and _base(declared) != sniffed:
        raise InvalidMedia(
            f"the {kind} is declared {declared} but its bytes are {sniffed}", tenant=tenant
        )
    return declared or sniffed


def _host_set(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(host.lower() for host in value)


@attrs.frozen
class UrlPolicy:
    """How the gateway fetches media given as a URL.

    Attributes:
        timeout: Seconds for the whole fetch (connecting and the body).
        allow_private: Whether loopback, private, link-local and reserved
            addresses may be fetched (off: a URL cannot reach the gateway's own network).
        max_redirects: How many redirects are followed (each checked like the first).
        hosts: The only host names URLs may name (``None``: any public host;
            an empty set: no URL is fetched at all, and no name is looked up).
    """

    timeout: float = 15.0
    allow_private: bool = False
    max_redirects: int = 3
    hosts: frozenset[str] | None = attrs.field(default=None, converter=_host_set)

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")


def refused_address(address: str) -> bool:
    """Whether an IP address is on loopback, a private network or otherwise not public."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def _check_url(url: str, policy: UrlPolicy, tenant: str | None) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise MediaFetchFailed(f"media URLs must be http or https, not {url[:80]!r}", tenant=tenant)
    host = parts.hostname
    if not host:
        raise MediaFetchFailed(f"the media URL {url[:80]!r} has no host", tenant=tenant)
    if policy.hosts is not None and host.lower() not in policy.hosts:
        raise MediaFetchFailed(
            f"the media URL's host {host!r} is not one the gateway fetches from", tenant=tenant
        )
    if policy.allow_private:
        return
    try:
        infos = await anyio.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MediaFetchFailed(
            f"the media URL's host {host!r} is unreachable: {exc}", tenant=tenant
        ) from None
    for info in infos:
        if refused_address(str(info[4][0])):
            raise MediaFetchFailed(
                f"the media URL's host {host!r} is on a private or loopback address;"
                " the gateway does not fetch from its own network",
                tenant=tenant,
            )


async def fetch_url(
    url: str, *, max_bytes: int, policy: UrlPolicy | None = None, tenant: str | None = None
) -> tuple[bytes, str | None]:
    """Fetch media to send from a URL; its bytes and the served ``Content-Type``.

    Raises:
        MediaFetchFailed: not http(s), a private address, unreachable, a non-2xx
            answer, too slow.
        MediaTooLarge: more than ``max_bytes``.
        InvalidMedia: an empty body.
    """
    policy = policy or UrlPolicy()
    try:
        import httpx  # noqa: PLC0415 - an optional extra
    except ImportError:  # pragma: no cover - the webhooks extra brings it
        raise MediaFetchFailed(
            "fetching media URLs needs httpx: pip install 'wagate[webhooks]'"
        ) from None
    try:
        with anyio.fail_after(policy.timeout):
            async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
                for _ in range(policy.max_redirects + 1):
                    await _check_url(url, policy, tenant)
                    async with client.stream("GET", url) as response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers.get("location", ""))
                            continue
                        if not response.is_success:
                            raise MediaFetchFailed(
                                f"the media URL answered {response.status_code}", tenant=tenant
                            )
                        declared = response.headers.get("content-length", "")
                        if declared.isdigit() and int(declared) > max_bytes:
                            raise MediaTooLarge(
                                f"the media URL serves {int(declared):,} bytes, past the limit of "
                                f"{max_bytes:,}",
                                tenant=tenant,
                            )
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > max_bytes:
                                raise MediaTooLarge(
                                    f"the media URL serves more than {max_bytes:,} bytes",
                                    tenant=tenant,
                                )
                        if not body:
                            raise InvalidMedia("the media URL served an empty body", tenant=tenant)
                        return bytes(body), response.headers.get("content-type")
                raise MediaFetchFailed(
                    f"the media URL redirected more than {policy.max_redirects} times",
                    tenant=tenant,
                )
    except TimeoutError:
        raise MediaFetchFailed(
            f"the media URL did not answer within {policy.timeout:g} s", tenant=tenant
        ) from None
    except httpx.HTTPError as exc:
        raise MediaFetchFailed(f"the media URL is unreachable: {exc}", tenant=tenant) from None
