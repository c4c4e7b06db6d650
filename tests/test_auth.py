"""JWT authentication: keys fix the algorithm, claims are checked, bad tokens get typed errors."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from test_isolation_support import (
    SECRET,
    WRONG_SECRET,
    hs256_with_key_bytes,
    token,
    unsigned_token,
)
from wagate import InvalidInput, WagateError
from wagate.adapters.auth import (
    AuthenticationError,
    Authenticator,
    CrossSiteRequest,
    Forbidden,
    InvalidAuthConfig,
    InvalidToken,
    JWTAuthenticator,
    MissingToken,
    Principal,
    TenantRequired,
    TokenExpired,
    TokenTooLarge,
    authenticate_request,
    find_token,
    headers_from_environ,
    token_from_auth_payload,
    token_from_authorization,
    token_from_cookie,
    token_from_query,
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """An RSA signing key for the RS256 tests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 signing key for the ES256 tests."""
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "u1", "tenant": "acme", "exp": int(time.time()) + 300, **extra}


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("key", [None, "", b""])
def test_no_key_is_a_clear_error(key: Any) -> None:
    """Building a JWT authenticator without a key fails and says that there is no default."""
    with pytest.raises(InvalidAuthConfig, match="no default secret"):
        JWTAuthenticator(key)


def test_short_hmac_secret_is_refused() -> None:
    """An HMAC secret shorter than 32 bytes is refused at construction."""
    with pytest.raises(InvalidAuthConfig, match="at least 32"):
        JWTAuthenticator("hunter2")


def test_config_errors_are_wagate_input_errors() -> None:
    """Configuration errors are InvalidInput (a WagateError and a ValueError) with a code."""
    with pytest.raises(InvalidInput) as caught:
        JWTAuthenticator(None)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "invalid_auth_config"


def test_unsupported_algorithm_is_refused() -> None:
    """Only HS256, RS256 and ES256 can be configured."""
    with pytest.raises(InvalidAuthConfig, match="not supported"):
        JWTAuthenticator(SECRET, algorithm="HS512")


def test_algorithm_must_fit_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    """Asking for HS256 with an RSA public key (the confusion attack's setup) fails."""
    with pytest.raises(InvalidAuthConfig, match="does not fit"):
        JWTAuthenticator(public_pem(rsa_key), algorithm="HS256")
    with pytest.raises(InvalidAuthConfig, match="does not fit"):
        JWTAuthenticator(SECRET, algorithm="RS256")


def test_key_fixes_the_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """The accepted algorithm is derived from the key type."""
    assert JWTAuthenticator(SECRET).algorithm == "HS256"
    assert JWTAuthenticator(public_pem(rsa_key)).algorithm == "RS256"
    assert JWTAuthenticator(public_pem(ec_key).decode()).algorithm == "ES256"
    assert JWTAuthenticator(rsa_key.public_key()).algorithm == "RS256"


def test_weak_or_foreign_asymmetric_keys_are_refused() -> None:
    """RSA keys under 2048 bits and EC keys off P-256 are refused."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidAuthConfig, match="2048"):
        JWTAuthenticator(public_pem(small))
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(InvalidAuthConfig, match="P-256"):
        JWTAuthenticator(public_pem(p384))


def test_unreadable_pem_is_refused() -> None:
    """A PEM-looking key that cannot be read is a configuration error."""
    with pytest.raises(InvalidAuthConfig, match="not a readable PEM"):
        JWTAuthenticator("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_authenticator_satisfies_the_protocol() -> None:
    """JWTAuthenticator is an Authenticator."""
    assert isinstance(JWTAuthenticator(SECRET), Authenticator)


# ------------------------------------------------------------------ good tokens


def test_hs256_token_gives_its_principal() -> None:
    """A valid HS256 token yields the subject, the tenant and the expiry."""
    exp = int(time.time()) + 120
    principal = JWTAuthenticator(SECRET).authenticate(
        jwt.encode({"sub": "u1", "tenant": "acme", "exp": exp}, SECRET, algorithm="HS256")
    )
    assert principal == Principal(
        subject="u1",
        tenants=frozenset({"acme"}),
        expires_at=datetime.fromtimestamp(exp, timezone.utc),
    )
    assert principal.allows("acme")
    assert not principal.allows("globex")


def test_list_claim_grants_several_tenants() -> None:
    """A list in the tenant claim grants each tenant in it."""
    principal = JWTAuthenticator(SECRET).authenticate(token(["acme", "globex"]))
    assert principal.tenants == {"acme", "globex"}


def test_tenant_claim_name_is_configurable_and_accepts_numeric_ids() -> None:
    """An app may name its tenant claim (e.g. its user ``id``) and use numbers."""
    auth = JWTAuthenticator(SECRET, tenant_claim="id")
    assert auth.authenticate(token(None, id=42)).tenants == {"42"}
    with pytest.raises(InvalidToken, match="no 'id' claim"):
        auth.authenticate(token("acme"))


def test_rs256_token(rsa_key: rsa.RSAPrivateKey) -> None:
    """An RS256 token verifies against the RSA public key (or the private key's public half)."""
    signed = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert JWTAuthenticator(public_pem(rsa_key)).authenticate(signed).tenants == {"acme"}
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert JWTAuthenticator(private_pem).authenticate(signed).subject == "u1"
    assert JWTAuthenticator(rsa_key).authenticate(signed).subject == "u1"


def test_es256_token(ec_key: ec.EllipticCurvePrivateKey) -> None:
    """An ES256 token verifies against the P-256 public key."""
    signed = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert JWTAuthenticator(public_pem(ec_key)).authenticate(signed).tenants == {"acme"}


def test_audience_and_issuer_are_checked_when_configured() -> None:
    """With audience and issuer set, tokens must carry the matching ``aud`` and ``iss``."""
    auth = JWTAuthenticator(SECRET, audience="wagate", issuer="https://id.example")
    good = jwt.encode(claims(aud="wagate", iss="https://id.example"), SECRET, algorithm="HS256")
    assert auth.authenticate(good).tenants == {"acme"}
    for bad in (
        claims(aud="other", iss="https://id.example"),
        claims(aud="wagate", iss="https://evil.example"),
        claims(iss="https://id.example"),
        claims(aud="wagate"),
    ):
        with pytest.raises(InvalidToken):
            auth.authenticate(jwt.encode(bad, SECRET, algorithm="HS256"))


def test_audience_is_ignored_when_not_configured() -> None:
    """A token with an ``aud`` is accepted by an authenticator without an audience."""
    signed = jwt.encode(claims(aud="anything"), SECRET, algorithm="HS256")
    assert JWTAuthenticator(SECRET).authenticate(signed).tenants == {"acme"}


# ------------------------------------------------------------------ bad tokens


def test_missing_token() -> None:
    """An empty token is a MissingToken."""
    with pytest.raises(MissingToken):
        JWTAuthenticator(SECRET).authenticate("  ")


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "a.b.c",
        "x" * 300,
        "ñ.ñ.ñ",
        "eyJhbGciOiJIUzI1NiJ9..",
    ],
)
def test_garbage_is_an_invalid_token(bad: str) -> None:
    """Strings that are not JWTs are refused as invalid tokens."""
    with pytest.raises(InvalidToken):
        JWTAuthenticator(SECRET).authenticate(bad)


def test_non_string_credentials_are_refused() -> None:
    """Credentials that are not a string are an InvalidToken, not a crash."""
    with pytest.raises(InvalidToken):
        JWTAuthenticator(SECRET).authenticate(b"token")  # type: ignore[arg-type]


def test_expired_token() -> None:
    """A token past its ``exp`` is refused as expired."""
    with pytest.raises(TokenExpired) as caught:
        JWTAuthenticator(SECRET).authenticate(token("acme", exp_in=-10))
    assert caught.value.code == "token_expired"


def test_leeway_allows_clock_skew() -> None:
    """A leeway accepts a token that expired a moment ago."""
    assert JWTAuthenticator(SECRET, leeway=60).authenticate(token("acme", exp_in=-10))


def test_exp_is_required() -> None:
    """A token without ``exp`` is refused."""
    signed = jwt.encode({"tenant": "acme"}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="exp"):
        JWTAuthenticator(SECRET).authenticate(signed)


def test_wrong_signature() -> None:
    """A token signed with another secret is refused."""
    with pytest.raises(InvalidToken, match=r"[Ss]ignature"):
        JWTAuthenticator(SECRET).authenticate(token("acme", secret=WRONG_SECRET))


def test_alg_none_is_refused() -> None:
    """An unsigned ``alg: none`` token is refused."""
    with pytest.raises(InvalidToken, match="alg"):
        JWTAuthenticator(SECRET).authenticate(unsigned_token("acme"))


def test_hs256_token_against_rs256_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """Algorithm confusion: an HS256 token 'signed' with the RSA public key is refused."""
    pem = public_pem(rsa_key)
    forged = hs256_with_key_bytes(pem, claims())
    with pytest.raises(InvalidToken, match="alg"):
        JWTAuthenticator(pem).authenticate(forged)


def test_rs256_token_against_hmac_secret_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """An RS256 token is refused by an HS256 authenticator."""
    signed = jwt.encode(claims(), rsa_key, algorithm="RS256")
    with pytest.raises(InvalidToken):
        JWTAuthenticator(SECRET).authenticate(signed)


def test_64k_token_is_refused_before_decoding() -> None:
    """A 64 KB token is refused for its size, whatever it holds."""
    big = token("acme", padding="x" * 65536)
    with pytest.raises(TokenTooLarge) as caught:
        JWTAuthenticator(SECRET).authenticate(big)
    assert caught.value.code == "token_too_large"
    assert isinstance(caught.value, AuthenticationError)


@pytest.mark.parametrize("value", ["", "../etc", "a b", True, [], [""], {"x": 1}, "x" * 200])
def test_invalid_tenant_claims_are_refused(value: Any) -> None:
    """A tenant claim that is empty or not a valid tenant id makes the token invalid."""
    signed = jwt.encode(claims(tenant=value), SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="tenant"):
        JWTAuthenticator(SECRET).authenticate(signed)


def test_errors_have_codes_and_statuses() -> None:
    """Authentication errors are WagateErrors with codes; 401 for credentials, 403 for tenants."""
    assert issubclass(AuthenticationError, WagateError)
    assert AuthenticationError.status_code == 401
    assert Forbidden.status_code == 403
    with pytest.raises(Forbidden) as caught:
        Principal(subject="u", tenants=frozenset({"acme"})).check("globex")
    assert caught.value.code == "forbidden"


def test_principal_expiry() -> None:
    """A principal knows whether its credentials have expired."""
    past = datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert Principal(subject="u", tenants=frozenset({"a"}), expires_at=past).expired()
    assert not Principal(subject="u", tenants=frozenset({"a"})).expired()


# ------------------------------------------------------------------ where tokens come from


def test_token_from_auth_payload() -> None:
    """The Socket.IO auth payload ``{token}`` gives the token; other shapes give None."""
    assert token_from_auth_payload({"token": "abc"}) == "abc"
    assert token_from_auth_payload({"token": "Bearer abc"}) == "abc"
    assert token_from_auth_payload({"token": 5}) is None
    assert token_from_auth_payload("abc") is None
    assert token_from_auth_payload(None) is None


def test_token_from_authorization() -> None:
    """``Authorization: Bearer`` gives the token, with any case of the scheme."""
    assert token_from_authorization("Bearer abc") == "abc"
    assert token_from_authorization("bearer  abc ") == "abc"
    assert token_from_authorization("Basic abc") is None
    assert token_from_authorization("Bearer") is None
    assert token_from_authorization(None) is None


def test_token_from_cookie() -> None:
    """The named cookie gives the token, even next to malformed cookies."""
    header = 'junk; a=1; wagate_token="abc"; b'
    assert token_from_cookie(header) == "abc"
    assert token_from_cookie("sid=abc", "sid") == "abc"
    assert token_from_cookie("other=abc") is None
    assert token_from_cookie(None) is None


def test_token_from_query() -> None:
    """A named query parameter gives the token."""
    assert token_from_query("a=1&token=abc", "token") == "abc"
    assert token_from_query(b"token=abc", "token") == "abc"
    assert token_from_query("a=1", "token") is None


def test_find_token_order_and_query_opt_in() -> None:
    """Auth payload, then header, then cookie; the query only when a parameter is named."""
    assert (
        find_token(auth={"token": "p"}, authorization="Bearer h", cookie_header="wagate_token=c")
        == "p"
    )
    assert find_token(authorization="Bearer h", cookie_header="wagate_token=c") == "h"
    assert find_token(cookie_header="wagate_token=c") == "c"
    assert find_token(cookie_header="wagate_token=c", cookie_name=None) is None
    assert find_token(query_string="token=q") is None
    assert find_token(query_string="token=q", query_param="token") == "q"


def test_a_remembered_token_still_expires() -> None:
    """A token verified once is answered from memory, but refused once its exp passes."""
    auth = JWTAuthenticator(SECRET)
    exp = int(time.time()) + 1
    token = jwt.encode({"sub": "u1", "tenant": "acme", "exp": exp}, SECRET, algorithm="HS256")
    first = auth.authenticate(token)
    assert auth.authenticate(token) is first  # remembered, not decoded again
    while time.time() < exp:  # expiry is a matter of the wall clock
        time.sleep(0.05)
    with pytest.raises(TokenExpired):
        auth.authenticate(token)
    with pytest.raises(TokenExpired):
        auth.authenticate(token)


def test_a_tampered_copy_of_a_remembered_token_is_refused() -> None:
    """Remembering a token does not let a token with other bytes through."""
    auth = JWTAuthenticator(SECRET)
    token = jwt.encode(
        {"sub": "u1", "tenant": "acme", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    auth.authenticate(token)
    head, _payload, signature = token.split(".")
    forged = jwt.encode(
        {"sub": "u1", "tenant": "globex", "exp": int(time.time()) + 60}, "x" * 48, algorithm="HS256"
    )
    with pytest.raises(InvalidToken):
        auth.authenticate(".".join((head, forged.split(".")[1], signature)))


# ------------------------------------------------------------------ edges (issue 11)

OUT_OF_RANGE_TIMES = [10**20, 2**63, 253402300800, 10**400, -(10**20), float("inf"), float("nan")]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMES, ids=repr)
def test_time_claims_out_of_range_are_invalid_tokens(claim: str, value: Any) -> None:
    """A signed ``exp``, ``nbf`` or ``iat`` no date can hold is an InvalidToken, not a crash."""
    payload = claims(**{claim: value})
    with pytest.raises(InvalidToken) as caught:
        JWTAuthenticator(SECRET).authenticate(hs256_with_key_bytes(SECRET.encode(), payload))
    assert caught.value.message == f"the token's {claim!r} claim is not a time wagate can read"


@pytest.mark.parametrize("value", ["9999999999", True, [1], {"t": 1}])
def test_time_claims_must_be_numbers(value: Any) -> None:
    """An ``exp`` that is a string, a boolean, a list or an object is not a time."""
    payload = claims(exp=value)
    with pytest.raises(InvalidToken, match="'exp' claim is not a time"):
        JWTAuthenticator(SECRET).authenticate(hs256_with_key_bytes(SECRET.encode(), payload))


def test_latest_representable_exp_is_accepted() -> None:
    """The last second of year 9999 is still a time: the token is accepted."""
    principal = JWTAuthenticator(SECRET).authenticate(token("acme", exp=253402300799))
    assert principal.expires_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def test_not_yet_valid_tokens_are_refused_in_the_library_words() -> None:
    """An ``nbf`` or ``iat`` in the future is refused with a sentence of wagate's own."""
    auth = JWTAuthenticator(SECRET)
    later = int(time.time()) + 3600
    with pytest.raises(InvalidToken) as caught:
        auth.authenticate(token("acme", nbf=later))
    assert caught.value.message == "the token is not valid yet: its 'nbf' is in the future"
    with pytest.raises(InvalidToken) as caught:
        auth.authenticate(token("acme", iat=later))
    assert caught.value.message == "the token is not valid yet: its 'iat' is in the future"
    assert JWTAuthenticator(SECRET, leeway=7200).authenticate(token("acme", nbf=later))


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_raw(payload: bytes) -> str:
    """An HS256 token, correctly signed, whose payload segment is ``payload`` as given."""
    import hashlib
    import hmac

    signing_input = _b64(b'{"alg":"HS256"}') + "." + _b64(payload)
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


MALFORMED = "the token is not a well-formed JWT"
MALFORMED_TOKENS = {
    "bad-base64": "!!!.e30.c2ln",
    "bad-json-header": _b64(b"{nope") + ".e30.c2ln",
    "non-utf8-header": _b64(b"\xb7\xff\xfe") + ".e30.c2ln",
    "header-not-an-object": _b64(b"[1]") + ".e30.c2ln",
    "deeply-nested-header": _b64(b"[" * 5000) + ".e30.c2ln",
    "two-segments": "eyJhbGciOiJIUzI1NiJ9.e30",
    "payload-not-utf8": _signed_raw(b"\xb7\xff"),
    "payload-not-json": _signed_raw(b"{nope"),
    "payload-not-an-object": _signed_raw(b"[1]"),
    "deeply-nested-payload": _signed_raw(b"[" * 5000),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_TOKENS))
def test_malformed_tokens_get_one_fixed_sentence(name: str) -> None:
    """Whatever the parser choked on, the message is wagate's sentence, never the parser's."""
    with pytest.raises(InvalidToken) as caught:
        JWTAuthenticator(SECRET).authenticate(MALFORMED_TOKENS[name])
    assert caught.value.message == MALFORMED


def test_signature_algorithm_and_claim_refusals_are_fixed_sentences(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """A bad signature, a foreign algorithm, alg none and foreign aud/iss get fixed sentences."""
    auth = JWTAuthenticator(SECRET, audience="wagate", issuer="https://id.example")
    good = {"aud": "wagate", "iss": "https://id.example"}
    expected = {
        token("acme", secret=WRONG_SECRET, aud="wagate", iss="https://id.example"): (
            "the token's signature does not verify: it was not signed with this server's key"
        ),
        jwt.encode(claims(**good), SECRET * 2, algorithm="HS512"): (
            "the token's algorithm ('alg') is not HS256, the one this server accepts"
        ),
        unsigned_token("acme"): (
            "the token's algorithm ('alg') is not HS256, the one this server accepts"
        ),
        jwt.encode(claims(**good), rsa_key, algorithm="RS256"): (
            "the token's algorithm ('alg') is not HS256, the one this server accepts"
        ),
        token("acme", aud="other", iss="https://id.example"): (
            "the token is for another audience (its 'aud' claim)"
        ),
        token("acme", aud="wagate", iss="https://evil.example"): (
            "the token is from another issuer (its 'iss' claim)"
        ),
        token("acme", iss="https://id.example"): "the token has no 'aud' claim",
    }
    for signed, message in expected.items():
        with pytest.raises(InvalidToken) as caught:
            auth.authenticate(signed)
        assert caught.value.message == message


def test_a_long_tenant_name_is_echoed_cut_short() -> None:
    """A 10 KB tenant name is quoted in a 403 by its first 64 characters and an ellipsis."""
    principal = Principal(subject="u1", tenants=frozenset({"acme"}))
    asked = "x" * 64 + "y" * 10_000
    with pytest.raises(Forbidden) as caught:
        principal.check(asked)
    assert caught.value.message == f"these credentials do not grant tenant {'x' * 64 + '…'!r}"
    with pytest.raises(Forbidden) as chosen:
        principal.choose("b" * 10_000 + "!")
    assert len(chosen.value.message) < 200


def test_choosing_a_tenant() -> None:
    """The one rule: a granted choice (header before query), else the only tenant, else refused."""
    one = Principal(subject="u1", tenants=frozenset({"acme"}))
    two = Principal(subject="u1", tenants=frozenset({"acme", "globex"}))
    assert one.choose() == "acme"
    assert two.choose("globex") == "globex"
    assert two.choose(None, "acme") == "acme"
    assert two.choose("globex", "acme") == "globex"
    with pytest.raises(Forbidden):
        one.choose("globex")
    with pytest.raises(TenantRequired) as caught:
        two.choose()
    assert (caught.value.code, caught.value.status_code) == ("tenant_required", 422)
    assert "X-Wagate-Tenant" in caught.value.message


# ------------------------------------------------------------------ authenticate_request


def _authenticator() -> JWTAuthenticator:
    return JWTAuthenticator(SECRET)


def test_authenticate_request_reads_every_place_in_order() -> None:
    """The auth payload, then the header, the cookie, and a query parameter only when named."""
    auth = _authenticator()
    acme, globex = token("acme"), token("globex")
    assert authenticate_request(
        auth, headers={"authorization": f"Bearer {acme}"}, auth={"token": globex}
    ).tenants == {"globex"}
    assert authenticate_request(auth, headers={"cookie": f"wagate_token={acme}"}).tenants == {
        "acme"
    }
    with pytest.raises(MissingToken, match="'token' query parameter"):
        authenticate_request(auth, headers={}, query="a=1", query_param="token")
    assert authenticate_request(
        auth, headers={}, query=f"token={acme}", query_param="token"
    ).tenants == {"acme"}
    with pytest.raises(MissingToken, match="auth \\{token\\}"):
        authenticate_request(auth, headers={}, query=f"token={acme}", auth={})


def test_authenticate_request_refuses_a_header_and_a_cookie_that_disagree() -> None:
    """A header and a cookie granting different tenants are refused, whichever transport."""
    headers = {"authorization": f"Bearer {token('acme')}", "cookie": f"wagate_token={token('b')}"}
    with pytest.raises(InvalidToken, match="different tenants"):
        authenticate_request(_authenticator(), headers=headers)


def test_authenticate_request_checks_the_site_of_a_cookie_authenticated_change() -> None:
    """A POST authenticated by the cookie from another site is refused; a GET is not."""
    headers = {"cookie": f"wagate_token={token('acme')}", "sec-fetch-site": "cross-site"}
    with pytest.raises(CrossSiteRequest):
        authenticate_request(_authenticator(), headers=headers, method="POST")
    assert authenticate_request(_authenticator(), headers=headers).tenants == {"acme"}


def test_headers_from_environ_names_headers_in_lower_case() -> None:
    """A WSGI environ's ``HTTP_*`` keys become the header names authenticate_request reads."""
    environ = {"HTTP_AUTHORIZATION": "Bearer t", "HTTP_X_WAGATE_TENANT": "acme", "PATH_INFO": "/"}
    assert headers_from_environ(environ) == {"authorization": "Bearer t", "x-wagate-tenant": "acme"}
