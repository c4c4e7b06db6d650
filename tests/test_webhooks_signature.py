"""The receiver's side of webhooks: verify_signature, sign and signature_headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from email.message import Message

import pytest

from wagate import InvalidInput, WagateError
from wagate.adapters.callbacks import (
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    StaleTimestamp,
    WebhookEndpoint,
    delivery_id,
    sign,
    sign_standard,
    signature_headers,
    standard_secret,
    verify_signature,
)

SECRET = "whsec_d2FnYXRlLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY="
BODY = b'{"event":"message:received","tenant":"acme","seq":7,"data":{"text":"hi"}}'
NOW = 1_750_000_000


def test_a_signature_is_the_hmac_sha256_of_timestamp_dot_body() -> None:
    """The signature is v1= and the hex HMAC-SHA256 of "timestamp.body", as documented."""
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"v1={expected}"
    assert signature_headers(SECRET, BODY, timestamp=NOW) == {
        TIMESTAMP_HEADER: str(NOW),
        SIGNATURE_HEADER: f"v1={expected}",
    }


def test_a_fresh_signature_verifies_from_headers_of_any_shape() -> None:
    """A dict (any case), an email Message (http.server's headers) or the value pair all verify."""
    headers = signature_headers(SECRET, BODY)
    verify_signature(SECRET, headers, BODY)
    verify_signature(SECRET, {k.lower(): v for k, v in headers.items()}, BODY)
    verify_signature(SECRET, {k.upper(): v for k, v in headers.items()}, BODY)
    message = Message()
    for name, value in headers.items():
        message[name] = value
    verify_signature(SECRET, message, BODY)
    verify_signature(SECRET, (headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]), BODY)
    verify_signature(SECRET.encode(), headers, BODY.decode())


def test_one_matching_signature_among_several_verifies() -> None:
    """A header listing several v1= signatures (a secret being rotated) verifies if one matches."""
    good = sign(SECRET, BODY, NOW)
    other = sign("another-secret-of-16-bytes-or-more", BODY, NOW)
    verify_signature(SECRET, (str(NOW), f"{other}, {good}"), BODY, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        BODY + b" ",
        BODY.replace(b'"seq":7', b'"seq":8'),
        BODY.replace(b"acme", b"evil"),
        b"",
    ],
)
def test_a_tampered_body_is_rejected(body: bytes) -> None:
    """Any change to the body makes the signature fail with SignatureError."""
    headers = signature_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(SignatureError) as caught:
        verify_signature(SECRET, headers, body, now=NOW)
    assert caught.value.code == "invalid_signature"
    assert not isinstance(caught.value, StaleTimestamp)


def test_a_wrong_secret_is_rejected() -> None:
    """A signature made with another secret is rejected."""
    headers = signature_headers("another-secret-of-16-bytes-or-more", BODY, timestamp=NOW)
    with pytest.raises(SignatureError):
        verify_signature(SECRET, headers, BODY, now=NOW)


def test_a_moved_timestamp_is_rejected() -> None:
    """Re-using a signature with another timestamp fails: the timestamp is signed too."""
    headers = signature_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(SignatureError):
        verify_signature(SECRET, (str(NOW + 1), headers[SIGNATURE_HEADER]), BODY, now=NOW)


def test_an_old_timestamp_is_rejected_even_with_a_valid_signature() -> None:
    """A correctly signed request older than the tolerance is refused as StaleTimestamp."""
    old = NOW - 301
    headers = signature_headers(SECRET, BODY, timestamp=old)
    with pytest.raises(StaleTimestamp) as caught:
        verify_signature(SECRET, headers, BODY, now=NOW)
    assert caught.value.code == "stale_timestamp"
    assert caught.value.age == pytest.approx(301)
    assert "old" in caught.value.message
    assert isinstance(caught.value, SignatureError)
    assert isinstance(caught.value, WagateError)
    verify_signature(SECRET, headers, BODY, now=NOW, tolerance=302)


def test_an_old_timestamp_is_rejected_against_the_real_clock() -> None:
    """Without `now`, the receiver's clock decides: a request signed ten minutes ago is refused."""
    headers = signature_headers(SECRET, BODY, timestamp=int(time.time()) - 600)
    with pytest.raises(StaleTimestamp):
        verify_signature(SECRET, headers, BODY)


def test_a_future_timestamp_is_rejected() -> None:
    """A timestamp further ahead than the tolerance is refused as StaleTimestamp."""
    headers = signature_headers(SECRET, BODY, timestamp=NOW + 3600)
    with pytest.raises(StaleTimestamp) as caught:
        verify_signature(SECRET, headers, BODY, now=NOW)
    assert caught.value.age < 0
    assert "future" in caught.value.message


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {TIMESTAMP_HEADER: str(NOW)},
        {SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: "abc", SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: "-5", SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: "1e9", SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: "9" * 40, SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: "١٢٣", SIGNATURE_HEADER: "v1=00"},
        {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "sha256=00"},
        {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v1=ünïcode"},
        {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v1=" + "0" * 64},
    ],
)
def test_missing_or_malformed_headers_are_rejected(headers: dict[str, str]) -> None:
    """Missing headers, a non-numeric timestamp or an unknown scheme raise SignatureError."""
    with pytest.raises(SignatureError):
        verify_signature(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize("tolerance", [0, -1, float("nan"), float("inf"), True])
def test_a_nonsensical_tolerance_is_refused(tolerance: float) -> None:
    """The tolerance must be a positive, finite number of seconds."""
    with pytest.raises(InvalidInput):
        verify_signature(SECRET, signature_headers(SECRET, BODY), BODY, tolerance=tolerance)


@pytest.mark.parametrize("secret", ["", "too-short", b"", 42])
def test_a_weak_secret_is_refused_when_verifying(secret: object) -> None:
    """Verifying with an empty or short secret is a configuration error, not a pass."""
    with pytest.raises(InvalidInput):
        verify_signature(secret, signature_headers(SECRET, BODY), BODY)  # type: ignore[arg-type]


def test_sign_refuses_a_negative_or_non_integer_timestamp() -> None:
    """Signing needs a whole, non-negative Unix time."""
    for stamp in (-1, 1.5, "1"):
        with pytest.raises(InvalidInput):
            sign(SECRET, BODY, stamp)  # type: ignore[arg-type]


def test_the_standard_webhooks_signature_is_base64_hmac_of_id_timestamp_body() -> None:
    """webhook-signature is v1, and the base64 HMAC-SHA256 of "id.timestamp.body" under the key."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"acme:7.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert sign_standard(SECRET, "acme:7", BODY, NOW) == expected
    headers = signature_headers(SECRET, BODY, timestamp=NOW, msg_id=delivery_id("acme", 7))
    assert headers[STANDARD_ID_HEADER] == "acme:7"
    assert headers[STANDARD_TIMESTAMP_HEADER] == str(NOW)
    assert headers[STANDARD_SIGNATURE_HEADER] == expected
    verify_signature(SECRET, headers, BODY, now=NOW)  # wagate's own signature rides along


def test_standard_secret_gives_the_whsec_form_of_any_secret() -> None:
    """A plain secret's key is its UTF-8 bytes, in whsec_ form; a whsec_ secret is kept as is."""
    plain = "plain-secret-of-more-than-16-bytes"
    assert standard_secret(plain) == "whsec_" + base64.b64encode(plain.encode()).decode()
    assert standard_secret(plain.encode()) == standard_secret(plain)
    assert standard_secret(SECRET) == SECRET
    made = standard_secret(secrets.token_bytes(32))
    assert made.startswith("whsec_")
    assert sign_standard(made, "acme:1", BODY, NOW) == sign_standard(
        base64.b64decode(made.removeprefix("whsec_")), "acme:1", BODY, NOW
    )
    assert sign_standard(plain, "acme:1", BODY, NOW) == sign_standard(
        standard_secret(plain), "acme:1", BODY, NOW
    )


@pytest.mark.parametrize(
    "secret",
    ["whsec_not base64 at all!!", "whsec_" + base64.b64encode(b"short").decode(), "whsec_"],
)
def test_a_malformed_or_short_whsec_secret_is_refused(secret: str) -> None:
    """A whsec_ secret must be base64 of at least 16 bytes: refused at once with InvalidInput."""
    with pytest.raises(InvalidInput, match="whsec_"):
        standard_secret(secret)
    with pytest.raises(InvalidInput):
        WebhookEndpoint(url="https://example.com/hook", secret=secret)


def test_delivery_ids_are_tenant_colon_seq() -> None:
    """The webhook-id of an event is tenant:seq; a gap notice's is apart from the event's."""
    assert delivery_id("acme", 42) == "acme:42"
    assert delivery_id("acme", 42, "message:received") == "acme:42"
    assert delivery_id("acme", 42, "stream:gap") == "acme:gap:42"
