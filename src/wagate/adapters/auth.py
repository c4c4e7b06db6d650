"""Who may see which tenant: authenticators, principals, and where tokens come from.

An :class:`Authenticator` turns credentials (a token string) into a
:class:`Principal`: a subject and the set of tenants it may see.  The Socket.IO and
SSE adapters call one at connect time and never let a client see a tenant its
principal does not hold.  :class:`JWTAuthenticator` is the stock one, on PyJWT
(the ``socketio``, ``sse``, ``fastapi`` and ``flask`` extras install it).

Example:
    ```python
    auth = JWTAuthenticator(os.environ["WAGATE_JWT_SECRET"], audience="wagate")
    principal = auth.authenticate(token)  # raises AuthenticationError
    principal.tenants  # frozenset({'acme'})
    ```

Errors::

    WagateError
     ├── AuthenticationError (401)      no usable credentials
     │    ├── MissingToken
     │    ├── InvalidToken
     │    ├── TokenExpired
     │    └── TokenTooLarge
     ├── Forbidden (403)                 authenticated, but not for that tenant
     │    └── CrossSiteRequest            a cookie-authenticated change from another site
     └── InvalidInput
          ├── TenantRequired (422)      several tenants granted, none chosen
          └── InvalidAuthConfig         the authenticator itself is misconfigured

A refused token's message is one of wagate's own sentences ("the token is not a
well-formed JWT"...), never the words of the parser underneath.

Every transport (the REST routes, SSE, Socket.IO) reads a request's credentials
with the one :func:`authenticate_request`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import attrs

from .._errors import InvalidInput, InvalidTenant, WagateError
from .._validate import echo, validate_tenant
from ._headers import HeaderLookup

__all__ = [
    "DEFAULT_COOKIE",
    "MAX_TOKEN_BYTES",
    "TENANT_HEADER",
    "TENANT_QUERY",
    "AuthenticationError",
    "Authenticator",
    "CrossSiteRequest",
    "Forbidden",
    "InvalidAuthConfig",
    "InvalidToken",
    "JWTAuthenticator",
    "MissingToken",
    "Principal",
    "TenantRequired",
    "TokenExpired",
    "TokenTooLarge",
    "authenticate_request",
    "find_token",
    "headers_from_environ",
    "token_from_auth_payload",
    "token_from_authorization",
    "token_from_cookie",
    "token_from_query",
]

_VERIFIED_CACHE = 4096
"""How many verified tokens an authenticator remembers."""

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


# ---------------------------------------------------------------------------------
# JWT

_ALGORITHMS = ("HS256", "RS256", "ES256")
_MIN_HMAC_BYTES = 32  # RFC 7518 3.2: a key at least as long as the hash output
_MIN_RSA_BITS = 2048


def _load_asymmetric(key: str | bytes) -> object:
    # ``object``: cryptography adds key types from release to release; the algorithm check
    # below decides what is usable, so the exact union does not matter here.
    from cryptography import x509  # noqa: PLC0415 - the crypto extra, needed only here
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    data = key.encode() if isinstance(key, str) else key
    try:
        if b"CERTIFICATE" in data[:64]:
            return x509.load_pem_x509_certificate(data).public_key()
        if b"PRIVATE KEY" in data[:64]:
            private = serialization.load_pem_private_key(data, password=None)
            return private.public_key()
        if data.startswith((b"ssh-", b"ecdsa-")):
            return serialization.load_ssh_public_key(data)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidAuthConfig(
            f"the key is not a readable PEM key or certificate: {exc}"
        ) from None


def _is_pem(key: str | bytes) -> bool:
    data = key.encode() if isinstance(key, str) else key
    return data.lstrip().startswith((b"-----BEGIN", b"ssh-", b"ecdsa-"))


def _algorithm_for(public: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415

    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < _MIN_RSA_BITS:
            raise InvalidAuthConfig(
                f"the RSA key has {public.key_size} bits; use at least {_MIN_RSA_BITS}"
            )
        return "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise InvalidAuthConfig(
                f"ES256 needs a P-256 (secp256r1) key, this one is on {public.curve.name}"
            )
        return "ES256"
    raise InvalidAuthConfig(
        f"unsupported key type {type(public).__name__}: use an HMAC secret, an RSA or a P-256 key"
    )


_MALFORMED = "the token is not a well-formed JWT"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _time_claim(claims: Mapping[str, Any], name: str) -> datetime | None:
    """The time a claim holds (RFC 7519 NumericDate: a number of seconds since 1970)."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the token's {name!r} claim is not a time wagate can read")
    try:
        return _EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):  # past year 9999, before year 1, inf or nan
        raise InvalidToken(f"the token's {name!r} claim is not a time wagate can read") from None


def _tenants_from_claim(value: object, claim: str) -> frozenset[str]:
    items: list[object] = list(value) if isinstance(value, (list, tuple)) else [value]
    tenants: set[str] = set()
    for item in items:
        # An app's user id is often a number; booleans are never ids.
        value = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        try:
            tenants.add(validate_tenant(value))
        except InvalidTenant as exc:
            raise InvalidToken(
                f"the token's {claim!r} claim holds an invalid tenant: {exc}"
            ) from None
    if not tenants:
        raise InvalidToken(f"the token's {claim!r} claim grants no tenant")
    return frozenset(tenants)


class JWTAuthenticator:
    """Authenticates JSON Web Tokens (HS256, RS256 or ES256) with PyJWT.

    The key fixes the algorithm: an HMAC secret accepts only HS256, an RSA public
    key only RS256, a P-256 key only ES256.  So ``alg: none`` and algorithm
    confusion (an HS256 token signed with the RSA public key as its secret) are
    refused whatever the token says.  ``exp`` is required; ``aud`` and ``iss``
    are checked when configured.

    Example:
        ```python
        auth = JWTAuthenticator(public_pem, audience="wagate", issuer="https://id.example")
        # a token {"sub": "u1", "tenant": ["acme", "globex"], "exp": ...} grants two tenants
        ```

    Args:
        key: The HMAC secret (at least 32 bytes), or the RSA / P-256 public key
            (PEM text, a certificate, or a ``cryptography`` key object).  There is
            no default: wagate never signs or accepts tokens with a built-in secret.
        algorithm: ``"HS256"``, ``"RS256"`` or ``"ES256"``; by default derived from
            the key, and when given it must match the key.
        audience: The required ``aud``, when set.
        issuer: The required ``iss``, when set.
        tenant_claim: The claim naming the tenant(s): a string, a number (an app's
            user ``id``), or a list of them for principals granted several tenants.
        subject_claim: The claim naming the principal, for logs.
        max_token_bytes: Longer tokens are refused before any decoding.
        leeway: Seconds of clock skew allowed on ``exp`` and ``nbf``.

    Raises:
        InvalidAuthConfig: no key, a weak key, or a key that does not fit ``algorithm``.
    """

    def __init__(
        self,
        key: str | bytes | object | None,
        *,
        algorithm: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        tenant_claim: str = "tenant",
        subject_claim: str = "sub",
        max_token_bytes: int = MAX_TOKEN_BYTES,
        leeway: float = 0.0,
    ) -> None:
        try:
            import jwt  # noqa: PLC0415 - the optional extra, imported only here
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "JWTAuthenticator needs PyJWT: pip install 'wagate[socketio]' (or [sse])"
            ) from None
        self._jwt = jwt
        if key is None or (isinstance(key, (str, bytes)) and not key):
            raise InvalidAuthConfig(
                "JWTAuthenticator needs a key: the HMAC secret (HS256) or the public key "
                "(RS256/ES256) your tokens are signed with; wagate has no default secret"
            )
        if algorithm is not None and algorithm not in _ALGORITHMS:
            raise InvalidAuthConfig(
                f"algorithm {algorithm!r} is not supported; use one of {', '.join(_ALGORITHMS)}"
            )
        if not tenant_claim or not isinstance(tenant_claim, str):
            raise InvalidAuthConfig("tenant_claim must be a non-empty claim name")
        if max_token_bytes < 64:
            raise InvalidAuthConfig("max_token_bytes must be at least 64")
        if leeway < 0:
            raise InvalidAuthConfig("leeway must not be negative")
        prepared: object
        if isinstance(key, (str, bytes)) and not _is_pem(key):
            secret = key.encode() if isinstance(key, str) else key
            if len(secret) < _MIN_HMAC_BYTES:
                raise InvalidAuthConfig(
                    f"the HMAC secret has {len(secret)} bytes; use at least {_MIN_HMAC_BYTES} "
                    "random bytes (e.g. secrets.token_urlsafe(48))"
                )
            derived, prepared = "HS256", secret
        else:
            public = _load_asymmetric(key) if isinstance(key, (str, bytes)) else key
            public_key = getattr(public, "public_key", None)
            if callable(public_key) and not hasattr(public, "verify"):
                public = public_key()  # a private key object: verify with its public half
            derived, prepared = _algorithm_for(public), public
        if algorithm is not None and algorithm != derived:
            raise InvalidAuthConfig(
                f"algorithm {algorithm!r} does not fit the key, which is for {derived}"
            )
        self.algorithm = derived
        """The one algorithm accepted (fixed by the key)."""
        self._key = prepared
        self.audience = audience
        self.issuer = issuer
        self.tenant_claim = tenant_claim
        self.subject_claim = subject_claim
        self.max_token_bytes = max_token_bytes
        self.leeway = leeway
        # Verified tokens, so a client's every request does not pay for the signature
        # check again (about 60% of a REST call's work otherwise).
        self._verified: dict[str, Principal] = {}
        self._verified_lock = threading.Lock()

    def authenticate(self, credentials: str) -> Principal:
        """Decode and check a token, and return its principal.

        Raises:
            MissingToken: ``credentials`` is empty.
            TokenTooLarge: it is longer than ``max_token_bytes``.
            TokenExpired: its ``exp`` has passed.
            InvalidToken: anything else is wrong with it.
        """
        if not isinstance(credentials, str):
            raise InvalidToken(f"a token must be a string, got {type(credentials).__name__}")
        token = credentials.strip()
        if not token:
            raise MissingToken("no token was given")
        if len(token) > self.max_token_bytes:
            raise TokenTooLarge(
                f"the token has {len(token):,} characters; at most "
                f"{self.max_token_bytes:,} are accepted"
            )
        if not token.isascii():
            raise InvalidToken("the token is not a JWT (it contains non-ASCII characters)")
        cached = self._verified.get(token)
        if cached is not None:
            # The same bytes verify the same way; only time can change the answer.
            assert cached.expires_at is not None
            if datetime.now(timezone.utc).timestamp() < cached.expires_at.timestamp() + self.leeway:
                return cached
            with self._verified_lock:
                self._verified.pop(token, None)
            raise TokenExpired("the token has expired; get a fresh one")
        principal = self._decode(token)
        with self._verified_lock:
            if len(self._verified) >= _VERIFIED_CACHE:
                self._verified.clear()  # crude but bounded: tokens are re-verified after
            self._verified[token] = principal
        return principal

    def _decode(self, token: str) -> Principal:
        jwt = self._jwt
        required = [
            n for n, value in (("aud", self.audience), ("iss", self.issuer)) if value is not None
        ]
        try:
            # The times are checked below, by wagate: PyJWT takes numeric strings for
            # times and fails on ones no date can hold.
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": required,
                    "verify_aud": self.audience is not None,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(self._refusal(exc)) from None
        except (ValueError, TypeError):  # the parser's own failure on a strange token
            raise InvalidToken(_MALFORMED) from None
        expires_at = self._check_times(claims)
        if self.tenant_claim not in claims:
            raise InvalidToken(f"the token has no {self.tenant_claim!r} claim naming its tenant")
        tenants = _tenants_from_claim(claims[self.tenant_claim], self.tenant_claim)
        subject = claims.get(self.subject_claim)
        return Principal(
            subject=str(subject) if subject is not None else "",
            tenants=tenants,
            expires_at=expires_at,
        )

    def _check_times(self, claims: Mapping[str, Any]) -> datetime:
        expires_at, not_before, issued_at = (_time_claim(claims, n) for n in ("exp", "nbf", "iat"))
        if expires_at is None:
            raise InvalidToken(
                "the token has no 'exp' claim: wagate accepts only tokens that expire"
            )
        now = datetime.now(timezone.utc)
        leeway = timedelta(seconds=self.leeway)
        for name, when in (("nbf", not_before), ("iat", issued_at)):
            if when is not None and when > now + leeway:
                raise InvalidToken(f"the token is not valid yet: its {name!r} is in the future")
        if expires_at <= now - leeway:
            raise TokenExpired("the token has expired; get a fresh one")
        return expires_at

    def _refusal(self, exc: Exception) -> str:
        """The sentence for a token PyJWT refused (its own words name its internals)."""
        jwt = self._jwt
        if isinstance(exc, jwt.InvalidSignatureError):
            return "the token's signature does not verify: it was not signed with this server's key"
        if isinstance(exc, jwt.InvalidAlgorithmError):
            return (
                f"the token's algorithm ('alg') is not {self.algorithm}, "
                "the one this server accepts"
            )
        if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim in ("aud", "iss"):
            return f"the token has no {exc.claim!r} claim"
        if isinstance(exc, jwt.InvalidAudienceError):
            return "the token is for another audience (its 'aud' claim)"
        if isinstance(exc, jwt.InvalidIssuerError):
            return "the token is from another issuer (its 'iss' claim)"
        if isinstance(exc, jwt.DecodeError):
            return _MALFORMED
        return "the token was refused: one of its claims is not what wagate accepts"

    def __repr__(self) -> str:
        return (
            f"<JWTAuthenticator {self.algorithm} tenant_claim={self.tenant_claim!r} "
            f"audience={self.audience!r} issuer={self.issuer!r}>"
        )


# ---------------------------------------------------------------------------------
# Where tokens come from


def token_from_auth_payload(auth: object) -> str | None:
    """The token of a Socket.IO ``auth`` payload: ``{"token": "..."}``.

    A ``"Bearer "`` prefix is tolerated.  Anything else (no payload, another
    shape, a non-string token) gives ``None``.
    """
    if not isinstance(auth, Mapping):
        return None
    token = auth.get("token")
    if not isinstance(token, str):
        return None
    return token_from_authorization(token) if " " in token.strip() else (token.strip() or None)


def token_from_authorization(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def token_from_cookie(cookie_header: str | None, name: str = DEFAULT_COOKIE) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header.

    Parsed by hand (``name=value`` pairs separated by ``;``) because the standard
    library's parser drops every cookie when one of them is malformed.
    """
    if not cookie_header or not name:
        return None
    for part in cookie_header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None


def token_from_query(query_string: str | bytes | None, name: str) -> str | None:
    """The value of query parameter ``name`` (use only where the host app enabled it)."""
    if not query_string or not name:
        return None
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    for key, value in parse_qsl(text, keep_blank_values=False):
        if key == name:
            return value.strip() or None
    return None


def find_token(
    *,
    auth: object = None,
    authorization: str | None = None,
    cookie_header: str | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    query_string: str | bytes | None = None,
    query_param: str | None = None,
) -> str | None:
    """The first token found in a request, or ``None``.

    Looks in this order: the Socket.IO ``auth`` payload, ``Authorization: Bearer``,
    the cookie ``cookie_name`` (unless ``None``), and the query parameter
    ``query_param`` (only when one is named: tokens in URLs end up in logs, so it is
    off unless the host app turns it on).
    """
    return (
        token_from_auth_payload(auth)
        or token_from_authorization(authorization)
        or (token_from_cookie(cookie_header, cookie_name) if cookie_name else None)
        or (token_from_query(query_string, query_param) if query_param else None)
    )


def headers_from_environ(environ: Mapping[str, Any]) -> dict[str, str]:
    """A WSGI (or Socket.IO) environ's HTTP headers, by lower-case name.

    The mapping :func:`authenticate_request` takes as ``headers``.
    """
    return {
        key[5:].lower().replace("_", "-"): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }


def authenticate_request(
    authenticator: Authenticator,
    *,
    headers: HeaderLookup,
    query: str | bytes | None = None,
    auth: Mapping[str, Any] | None = None,
    cookie_name: str | None = DEFAULT_COOKIE,
    query_param: str | None = None,
    method: str = "GET",
    scheme: str = "http",
) -> Principal:
    """Who a request comes from: the one reading of credentials of every transport.

    The token is the first of: the Socket.IO ``auth`` payload's ``token``, the
    ``Authorization: Bearer`` header, the cookie ``cookie_name`` (unless ``None``),
    the query parameter ``query_param`` (only when one is named: URLs end up in
    logs).  A token in the header and one in the cookie must grant the same
    tenants; otherwise the request is refused rather than guessing which one the
    client meant.  A request that changes something (not ``GET`` or ``HEAD``) and
    is authenticated by the cookie must come from the same site
    (``Sec-Fetch-Site``, else ``Origin`` against the scheme, host and port it came
    to): a browser sends the cookie with cross-site requests too.

    Choose the tenant afterwards with :meth:`Principal.choose`.

    Example:
        ```python
        principal = authenticate_request(auth, headers=request.headers, query=request.url.query)
        tenant = principal.choose(
            request.headers.get(TENANT_HEADER), request.query_params.get(TENANT_QUERY)
        )
        ```

    Args:
        authenticator: Turns the token into a principal.
        headers: The request's headers: Starlette's or werkzeug's (case-insensitive),
            or a ``dict`` by lower-case name (:func:`headers_from_environ`).
        query: The raw query string.
        auth: The Socket.IO ``auth`` payload (``None``: not a Socket.IO connection).
        cookie_name: The cookie holding a browser's token (``None``: none is read).
        query_param: The query parameter that may hold the token (off unless named).
        method: The request's method.
        scheme: The scheme the request came with (``http`` or ``https``).

    Raises:
        AuthenticationError: no token, a bad one, or two that disagree.
        CrossSiteRequest: a cookie-authenticated change from another site.
    """
    header = token_from_authorization(headers.get("authorization"))
    cookie = token_from_cookie(headers.get("cookie"), cookie_name) if cookie_name else None
    explicit = token_from_auth_payload(auth) or header
    token = explicit or cookie or (token_from_query(query, query_param) if query_param else None)
    if token is None:
        raise MissingToken(f"no token: send it in {_token_places(auth, cookie_name, query_param)}")
    if explicit is None and cookie is not None and method.upper() not in ("GET", "HEAD"):
        _same_site(headers, scheme)
    principal = authenticator.authenticate(token)
    if header is not None and cookie is not None:
        by_header = principal if token == header else authenticator.authenticate(header)
        if by_header.tenants != authenticator.authenticate(cookie).tenants:
            raise InvalidToken(
                "the Authorization header and the cookie carry tokens for different tenants; "
                "send one"
            )
    return principal


def _token_places(
    auth: Mapping[str, Any] | None, cookie_name: str | None, query_param: str | None
) -> str:
    places = ["auth {token}"] if auth is not None else []
    places.append("an 'Authorization: Bearer' header")
    if cookie_name:
        places.append(f"the {cookie_name!r} cookie")
    if query_param:
        places.append(f"the {query_param!r} query parameter")
    return ", ".join(places[:-1]) + " or " + places[-1] if len(places) > 1 else places[0]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _site(scheme: str, authority: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a scheme and ``host[:port]``; ``None`` when malformed."""
    scheme = scheme.lower()
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port
    except ValueError:  # a port out of range, a bracket left open...
        return None
    if parts.hostname is None or parts.username is not None or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname, _DEFAULT_PORTS[scheme] if port is None else port


def _same_origin(origin: str, scheme: str, host: str) -> bool:
    # An Origin is exactly scheme://host[:port]: no path, no user, nothing else.
    origin_scheme, sep, authority = origin.partition("://")
    if not sep or not authority or any(c in authority for c in "/?#@"):
        return False
    mine = _site(scheme, host)
    return mine is not None and _site(origin_scheme, authority) == mine


def _same_site(headers: HeaderLookup, scheme: str) -> None:
    refusal = (
        "a request from another site may not use the cookie to change anything; "
        "send the token in an 'Authorization: Bearer' header"
    )
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() in ("same-origin", "none"):
            return
        raise CrossSiteRequest(refusal)
    origin, host = headers.get("origin"), headers.get("host")
    if origin is None:
        return  # not a browser: browsers send Origin or Sec-Fetch-Site with every POST
    if host is not None and _same_origin(origin.strip(), scheme, host.strip()):
        return
    raise CrossSiteRequest(refusal)
