"""The stock authenticator: JSON Web Tokens checked with PyJWT.

The key fixes the algorithm; the time claims and the tenant claim are read here.
Part of :mod:`wagate.adapters.auth`, which re-exports :class:`JWTAuthenticator`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .._errors import InvalidTenant
from .._validate import validate_tenant
from ._auth_principal import (
    MAX_TOKEN_BYTES,
    InvalidAuthConfig,
    InvalidToken,
    MissingToken,
    Principal,
    TokenExpired,
    TokenTooLarge,
)

_VERIFIED_CACHE = 4096
"""How many verified tokens an authenticator remembers."""


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
