"""Where a request's token is: the header, the cookie, the query, the Socket.IO payload.

:func:`authenticate_request` reads it the one way every transport does, and refuses
a cookie-authenticated change from another site.  Part of :mod:`wagate.adapters.auth`,
which re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._auth_principal import (
    DEFAULT_COOKIE,
    Authenticator,
    CrossSiteRequest,
    InvalidToken,
    MissingToken,
    Principal,
)
from ._headers import HeaderLookup


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
