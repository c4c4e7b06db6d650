"""Who a request is: the principal, the authenticator protocol, the errors of auth.

Part of :mod:`wagate.adapters.auth`, which re-exports every public name.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

import attrs

from .._errors import InvalidInput, WagateError
from .._validate import echo

MAX_TOKEN_BYTES = 8192
"""The longest token accepted by default; longer ones are refused before decoding."""

DEFAULT_COOKIE = "wagate_token"
"""The cookie the adapters read a token from, unless told another name."""

TENANT_HEADER = "X-Wagate-Tenant"
"""The header naming the tenant a request acts on, for credentials granting several."""

TENANT_QUERY = "tenant"
"""The query parameter naming it, where a header cannot be set (``EventSource``)."""


# ---------------------------------------------------------------------------------
# Errors


class AuthenticationError(WagateError, code="unauthenticated", status_code=401):
    """The request carries no usable credentials (HTTP 401; Socket.IO connect refused)."""


class MissingToken(AuthenticationError, code="missing_token"):
    """No token was found where the adapter looks for one."""


class InvalidToken(AuthenticationError, code="invalid_token"):
    """The token is malformed, badly signed, for another audience or issuer, or grants nothing."""


class TokenExpired(AuthenticationError, code="token_expired"):
    """The token's ``exp`` has passed; get a fresh token."""


class TokenTooLarge(AuthenticationError, code="token_too_large"):
    """The token is longer than the authenticator accepts; it was not decoded."""


class Forbidden(WagateError, code="forbidden", status_code=403):
    """The principal is authenticated but not granted that tenant (HTTP 403)."""


class CrossSiteRequest(Forbidden, code="cross_site_request"):
    """A change authenticated by the browser's cookie came from another site (HTTP 403)."""


class TenantRequired(InvalidInput, code="tenant_required"):
    """The credentials grant several tenants and the request chose none (HTTP 422)."""


class InvalidAuthConfig(InvalidInput, code="invalid_auth_config"):
    """An authenticator was built with a missing, weak or mismatched key or option."""


# ---------------------------------------------------------------------------------
# Principal and the protocol


@attrs.frozen(kw_only=True)
class Principal:
    """Who is asking, and which tenants it may see.

    Attributes:
        subject: Who the credentials belong to (a JWT's ``sub``), for logs.
        tenants: The tenants this principal may see; never empty for one an
            authenticator returns.
        expires_at: When the credentials stop being valid; adapters end streams
            and sockets then.
    """

    subject: str
    tenants: frozenset[str]
    expires_at: datetime | None = None

    def allows(self, tenant: str) -> bool:
        """Whether this principal may see ``tenant``."""
        return tenant in self.tenants

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the credentials have expired (at ``now``, by default the current time)."""
        if self.expires_at is None:
            return False
        return (now or datetime.now(timezone.utc)) >= self.expires_at

    def check(self, tenant: str) -> str:
        """Return ``tenant`` if this principal may see it.

        Raises:
            Forbidden: it may not (the message does not say whether the tenant exists).
        """
        if not self.allows(tenant):
            raise Forbidden(f"these credentials do not grant tenant {echo(tenant)}")
        return tenant

    def choose(self, header: str | None = None, query: str | None = None) -> str:
        """The tenant a request acts on: the one it names, else this principal's only one.

        The one rule of every transport: the :data:`TENANT_HEADER` header, else the
        :data:`TENANT_QUERY` parameter, must name a granted tenant; a request naming
        none acts on the principal's tenant when it has exactly one.

        Raises:
            Forbidden: the tenant named is not granted.
            TenantRequired: none was named and the principal has several.
        """
        requested = header or query
        if requested:
            return self.check(requested)
        if len(self.tenants) == 1:
            return next(iter(self.tenants))
        raise TenantRequired(
            "these credentials grant several tenants: choose one with the "
            f"{TENANT_HEADER} header or ?{TENANT_QUERY}=<id>"
        )


@runtime_checkable
class Authenticator(Protocol):
    """Turns credentials into a :class:`Principal`.

    Implement it to plug your own scheme (sessions, API keys...): return a
    principal, or raise an :class:`AuthenticationError` subclass.  It runs in the
    event loop, so it must be quick and must not block.
    """

    def authenticate(self, credentials: str) -> Principal:
        """Return the principal for ``credentials``.

        Raises:
            AuthenticationError: the credentials are missing, invalid or expired.
        """
        ...
