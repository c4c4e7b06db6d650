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

from ._auth_jwt import JWTAuthenticator
from ._auth_principal import (
    DEFAULT_COOKIE,
    MAX_TOKEN_BYTES,
    TENANT_HEADER,
    TENANT_QUERY,
    AuthenticationError,
    Authenticator,
    CrossSiteRequest,
    Forbidden,
    InvalidAuthConfig,
    InvalidToken,
    MissingToken,
    Principal,
    TenantRequired,
    TokenExpired,
    TokenTooLarge,
)
from ._auth_request import (
    authenticate_request,
    find_token,
    headers_from_environ,
    token_from_auth_payload,
    token_from_authorization,
    token_from_cookie,
    token_from_query,
)

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
