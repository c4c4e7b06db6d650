"""Where a webhook dispatcher posts: :class:`WebhookEndpoint` and the checks of its fields.

Public through :mod:`wagate.adapters.webhooks`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

import attrs

from ..._errors import InvalidInput
from ..._events import (
    Connected,
    Connecting,
    Disconnected,
    Event,
    Gap,
    MessageReceived,
    MessageSent,
    PairingCode,
    QrGenerated,
)
from ..._validate import validate_tenant
from ._signing import standard_secret

POSTED = frozenset(
    kind.wire_name
    for kind in (
        Connecting,
        QrGenerated,
        PairingCode,
        Connected,
        Disconnected,
        MessageReceived,
        MessageSent,
    )
)
"""The wire names an endpoint may ask for (``WebhookEndpoint(events=...)``)."""

_MAX_URL_LENGTH = 2048


def shown(value: str) -> str:
    """``value`` cut to 80 characters, for an error message."""
    return value if len(value) <= 80 else value[:80] + "..."


def check_label(name: object, what: str) -> None:
    """Check that ``name`` (an endpoint's or a node's) is a non-empty string of bounded length."""
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_URL_LENGTH:
        raise InvalidInput(f"{what} must be a non-empty string, got {name!r}")


def _check_url(instance: object, attribute: attrs.Attribute[str], url: object) -> None:
    if not isinstance(url, str):
        raise InvalidInput(f"a webhook URL must be a string, got {type(url).__name__}")
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidInput(f"the webhook URL is {len(url)} characters long; the limit is 2048")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInput(
            f"the webhook URL {shown(url)!r} contains white space or control characters"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"the webhook URL {shown(url)!r} is malformed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            f"the webhook URL {shown(url)!r} is not http(s): only http:// and https:// "
            "endpoints are accepted"
        )
    if not parts.hostname:
        raise InvalidInput(f"the webhook URL {shown(url)!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "the webhook URL carries credentials (user:password@); remove them: "
            "the signature authenticates each delivery"
        )
    if port == 0:
        raise InvalidInput(f"the webhook URL {shown(url)!r} has port 0")


def _check_secret(
    instance: object, attribute: attrs.Attribute[str | bytes], secret: object
) -> None:
    standard_secret(secret)  # type: ignore[arg-type]  # checks the type, the length, a whsec_ key


def _check_tenant(instance: object, attribute: attrs.Attribute[str | None], tenant: object) -> None:
    if tenant is not None:
        validate_tenant(tenant)


def _check_name(instance: object, attribute: attrs.Attribute[str], name: object) -> None:
    check_label(name, "an endpoint name")


def _event_names(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInput(
            "events must be a collection of event names, e.g. {'message:received'}; "
            f"got {value!r}"
        )
    try:
        names = frozenset(value)
    except TypeError:
        raise InvalidInput(f"events must hold event names (strings), got {value!r}") from None
    unknown = sorted(repr(n) for n in names if n not in POSTED)
    if unknown:
        raise InvalidInput(
            f"unknown event name(s) {', '.join(unknown)}; choose from {', '.join(sorted(POSTED))}"
        )
    if not names:
        raise InvalidInput("events is empty: the endpoint would receive nothing (use None for all)")
    return names


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    """Where to post events, and with which secret.

    Example:
        ```python
        WebhookEndpoint(url="https://crm.example.com/wa", secret=os.environ["CRM_HOOK_SECRET"],
                        tenant="acme")
        ```

    Attributes:
        url: An ``http://`` or ``https://`` URL (no ``user:password@``).  Redirects
            are not followed: give the final URL.
        secret: The shared secret the deliveries are signed with (at least 16
            bytes; there is no default).  Never shown in ``repr``.
        tenant: The tenant whose events go there, or ``None`` for every tenant.
        name: How the endpoint is called in logs and dead letters (default: the
            URL; pass a name when the URL carries a token).  Unique per dispatcher.
        events: The wire names to post (e.g. ``{"message:received"}``), or
            ``None`` for every event.  A ``stream:gap`` dead letter is recorded
            whatever this says.

    Raises:
        InvalidInput: the URL is not http(s) or malformed, the secret is missing
            or short, the tenant id is invalid, an event name is unknown.
    """

    url: str = attrs.field(validator=_check_url)
    secret: str | bytes = attrs.field(repr=False, validator=_check_secret)
    tenant: str | None = attrs.field(default=None, validator=_check_tenant)
    name: str = attrs.field(validator=_check_name)
    events: frozenset[str] | None = attrs.field(default=None, converter=_event_names)

    @name.default
    def _default_name(self) -> str:
        return self.url

    def wants(self, event: Event) -> bool:
        """Whether ``event`` is posted to this endpoint (its tenant and its kind)."""
        if self.tenant is not None and event.tenant != self.tenant:
            return False
        return self.events is None or isinstance(event, Gap) or event.wire_name in self.events
