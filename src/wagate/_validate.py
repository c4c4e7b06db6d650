"""Validation of what callers hand to wagate: tenant ids, recipients, texts, numbers.

Every function either returns the normalised value or raises an
:class:`~wagate.InvalidInput` subclass that says what was wrong.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from ._errors import InvalidPhoneNumber, InvalidRecipient, InvalidTenant, InvalidText

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

__all__ = [
    "MAX_ECHO",
    "MAX_TEXT_LENGTH",
    "echo",
    "normalize_phone",
    "normalize_recipient",
    "validate_tenant",
    "validate_text",
]

MAX_TEXT_LENGTH = 65_536
"""The longest text :meth:`Session.send_text` accepts, in characters."""

MAX_ECHO = 64
"""The most characters of a client's value that an error message quotes."""

_TENANT = re.compile(r"[A-Za-z0-9._-]{1,128}")
_USER_JID = re.compile(r"(\d{5,20})(?::\d{1,3})?@(s\.whatsapp\.net|c\.us|lid)")
_GROUP_JID = re.compile(r"\d{5,20}(?:-\d{5,20})?@g\.us")
_PHONE_CHARS = re.compile(r"[\s().-]")


def echo(value: str) -> str:
    """``value`` quoted for an error message: its first :data:`MAX_ECHO` characters, then "…".

    Every message that repeats what a client sent goes through here, so a 10 KB
    name costs a client 10 KB to send and the server 64 characters to answer.
    """
    return repr(value if len(value) <= MAX_ECHO else value[:MAX_ECHO] + "…")


def validate_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is 1-128 characters of ``[A-Za-z0-9._-]``.

    Raises:
        InvalidTenant: otherwise.
    """
    if not isinstance(tenant, str):
        raise InvalidTenant(f"a tenant id must be a string, got {type(tenant).__name__}")
    if not _TENANT.fullmatch(tenant):
        raise InvalidTenant(
            f"tenant id {echo(tenant)} is invalid: "
            "use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-'"
        )
    return tenant


def normalize_phone(number: object) -> str:
    """Return an international phone number in E.164 form (``+628123456789``).

    Accepts ``+`` and digits, or digits alone (taken as international), with
    spaces, dots, dashes and brackets between them.  The result is the number
    as phonenumbers parses it, so a national trunk prefix written in brackets
    is dropped: ``+62 (0)812-3456-789`` is ``+628123456789`` and
    ``+44 (0)20 7946 0958`` is ``+442079460958`` (where the leading zero belongs
    to the number, as in Italy's ``+39 06 ...``, it stays).

    A number is refused when phonenumbers says it is not *possible* (its length
    fits no number of its country code).  A possible number that is not
    assigned (``+1 000 000 0000``) passes: whether a number is assigned changes
    as carriers open new ranges, faster than the metadata bundled with a
    release, and WhatsApp itself answers whether a number has an account, so
    refusing "invalid" numbers would refuse some real ones and protect no one.

    Example:
        >>> normalize_phone("+62 (0)812-3456-789")
        '+628123456789'

    Raises:
        InvalidPhoneNumber: not a possible international number.
    """
    if not isinstance(number, str):
        raise InvalidPhoneNumber(f"a phone number must be a string, got {type(number).__name__}")
    compact = _PHONE_CHARS.sub("", number.strip())
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhoneNumber(
            f"{echo(number)} is not a phone number: use the international form, e.g. +628123456789"
        )
    if digits.startswith("0"):
        raise InvalidPhoneNumber(
            f"{echo(number)} looks like a national number: write it with its country code, "
            "e.g. +628123456789"
        )
    if not 7 <= len(digits) <= 15:
        raise InvalidPhoneNumber(
            f"{echo(number)} has {len(digits)} digits; an international number has 7 to 15"
        )
    import phonenumbers  # noqa: PLC0415 - deferred: a large module, needed only here

    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{echo(number)} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(
            f"{echo(number)} is not a possible number for country code +{parsed.country_code}"
        )
    parsed = _without_trunk_zero(parsed)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _without_trunk_zero(parsed: PhoneNumber) -> PhoneNumber:
    """``parsed`` without a written trunk ``0`` that phonenumbers kept, if that makes it valid.

    phonenumbers drops ``+62 (0)812...``'s zero itself, but not where its rule for
    the trunk prefix also takes a carrier code (Colombia's ``0`` + ``3`` of
    ``+57 (0)321...``): a number that is not valid with its leading zero and is
    valid without it is the number without it.
    """
    import phonenumbers  # noqa: PLC0415

    national = phonenumbers.national_significant_number(parsed)
    if not national.startswith("0") or phonenumbers.is_valid_number(parsed):
        return parsed
    try:
        shorter = phonenumbers.parse(f"+{parsed.country_code}{national[1:]}", None)
    except phonenumbers.NumberParseException:
        return parsed
    return shorter if phonenumbers.is_valid_number(shorter) else parsed


def normalize_recipient(to: object) -> str:
    """Return the JID to send to for a phone number or a JID.

    A phone number becomes ``<digits of its E.164 form>@s.whatsapp.net``, as
    :func:`normalize_phone` reads it (``+62 (0)812-3456-789`` is
    ``628123456789@s.whatsapp.net``; possible but unassigned numbers pass);
    user JIDs (``@s.whatsapp.net``, ``@c.us``, ``@lid``) and group JIDs
    (``@g.us``) pass.

    Raises:
        InvalidRecipient: neither a possible phone number nor a well-formed JID.
    """
    if not isinstance(to, str):
        raise InvalidRecipient(f"a recipient must be a string, got {type(to).__name__}")
    return _recipient(to)


@functools.lru_cache(maxsize=4096)  # parsing a number is the costly part of a send
def _recipient(to: str) -> str:
    value = to.strip()
    if not value:
        raise InvalidRecipient("the recipient is empty: give a phone number like +628123456789")
    if "@" in value:
        user = _USER_JID.fullmatch(value)
        if user:
            server = "s.whatsapp.net" if user.group(2) == "c.us" else user.group(2)
            return f"{user.group(1)}@{server}"
        if _GROUP_JID.fullmatch(value):
            return value
        raise InvalidRecipient(
            f"{echo(to)} is not a WhatsApp JID: expected <number>@s.whatsapp.net or <id>@g.us"
        )
    try:
        phone = normalize_phone(value)
    except InvalidPhoneNumber as exc:
        raise InvalidRecipient(exc.message) from None
    return f"{phone[1:]}@s.whatsapp.net"


def validate_text(text: object) -> str:
    """Return ``text`` if it can be sent as a WhatsApp text message.

    Raises:
        InvalidText: not a string, empty or blank, longer than 65,536 characters,
            containing a NUL character or a lone surrogate.
    """
    if not isinstance(text, str):
        raise InvalidText(f"the text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidText("the text is empty or only white space")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidText(
            f"the text has {len(text):,} characters; the limit is {MAX_TEXT_LENGTH:,}"
        )
    if "\x00" in text:
        raise InvalidText("the text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidText("the text contains a lone surrogate and is not valid Unicode") from None
    return text
