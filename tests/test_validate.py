"""Recipients and phone numbers: the number phonenumbers parses is the number sent to."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wagate import InvalidPhoneNumber, InvalidRecipient
from wagate._validate import normalize_phone, normalize_recipient


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+628123456789", "+628123456789"),
        ("628123456789", "+628123456789"),
        ("+62 812-3456-789", "+628123456789"),
        # A national trunk prefix in brackets, as printed on business cards: not a digit
        # of the international number.
        ("+62 (0)812-3456-789", "+628123456789"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+44 (0) 7700 900123", "+447700900123"),
        ("+49 (0)30 901820", "+4930901820"),
        # Italy keeps its leading zero in the international number.
        ("+39 06 1234 5678", "+390612345678"),
        ("+1 (202) 555-0143", "+12025550143"),
        # Possible (the right length) but not assigned: accepted, see the docstring.
        ("+1 000 000 0000", "+10000000000"),
        ("+1 555 0100 000", "+15550100000"),
    ],
)
def test_numbers_become_the_e164_form_phonenumbers_parses(written: str, e164: str) -> None:
    """A number normalises to phonenumbers' E.164 form, so a ``(0)`` trunk prefix is dropped."""
    assert normalize_phone(written) == e164
    assert normalize_recipient(written) == f"{e164[1:]}@s.whatsapp.net"


@pytest.mark.parametrize(
    "written",
    [
        "+44 20 7946 09581",  # too long for the United Kingdom
        "+4420794609581234",  # too long for any number
        "+62 81",  # too short for anywhere
        "+999 1234567",  # no such country code
        "0812-3456-789",  # national: no country code
        "+62 (0)",
        "+",
        "+62 812 3456 789 ext. 5",
    ],
)
def test_impossible_numbers_are_refused(written: str) -> None:
    """A number phonenumbers calls impossible is refused, as a phone number and as a recipient."""
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(written)
    with pytest.raises(InvalidRecipient):
        normalize_recipient(written)


_REGIONS = sorted(
    region
    for region in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
)


@given(
    region=st.sampled_from(_REGIONS),
    style=st.sampled_from(
        [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]
    ),
)
def test_every_regions_example_number_normalises_to_its_e164_form(region: str, style: int) -> None:
    """Each region's example mobile number, however formatted, normalises to its E.164 form."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, style)
    assert normalize_phone(written) == e164
    assert normalize_recipient(written) == f"{e164[1:]}@s.whatsapp.net"


@pytest.mark.parametrize("spacing", ["", " "])
@pytest.mark.parametrize("region", _REGIONS)
def test_a_bracketed_trunk_prefix_is_never_part_of_the_number(region: str, spacing: str) -> None:
    """``+CC (0) national`` is the number ``+CC national``, for every region that dials 0.

    Every region, not a sample: Colombia's (whose trunk rule also takes a carrier
    code, so phonenumbers keeps the zero) failed only on the runs that drew it.
    """
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    national = phonenumbers.national_significant_number(number)
    if metadata is None or metadata.national_prefix != "0" or national.startswith("0"):
        return  # no trunk 0 to write, or a leading zero that belongs to the number
    written = f"+{number.country_code} (0){spacing}{national}"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(written) == e164
