"""Contacts: who is on WhatsApp, who someone is, and whom the account blocks.

The :class:`Contacts` mixin gives :class:`~wagate.Session` its contact calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._errors import InvalidInput, InvalidPhoneNumber, InvalidRecipient, TooManyNumbers
from ._validate import normalize_phone, normalize_recipient

if TYPE_CHECKING:
    import anyio.abc

    from ._driver import Driver

__all__ = [
    "CHECK_BATCH",
    "MAX_CHECK_NUMBERS",
    "ContactInfo",
    "Contacts",
    "NumberCheck",
    "ProfilePicture",
    "person_jid",
]

MAX_CHECK_NUMBERS = 1000
"""The most phone numbers one :meth:`~wagate.Session.check_numbers` call takes.

WhatsApp watches accounts that look up many numbers (a spammer's first step) and
bans them; a host that really needs more checks them in calls of this size,
spread over time."""
CHECK_BATCH = 100
"""How many numbers the session asks the engine about at once."""


@attrs.frozen(kw_only=True)
class NumberCheck:
    """Whether a phone number has a WhatsApp account.

    Attributes:
        number: The number as asked, in E.164 form (``+628123456789``).
        on_whatsapp: Whether it has an account.
        jid: The account's JID, when it has one.
    """

    number: str
    on_whatsapp: bool
    jid: str | None = None


@attrs.frozen(kw_only=True)
class ProfilePicture:
    """Someone's (or a group's) profile picture, as WhatsApp lets this account see it.

    Attributes:
        jid: Whose.
        url: Where to fetch it (WhatsApp's CDN, valid for a while), or ``None``
            when there is none or their privacy settings hide it.
        id: WhatsApp's id of the picture (changes when it changes).
    """

    jid: str
    url: str | None = None
    id: str | None = None


@attrs.frozen(kw_only=True)
class ContactInfo:
    """What WhatsApp tells this account about someone.

    Attributes:
        jid: Their JID.
        push_name: The name they gave themselves, when known.
        business_name: Their business's name, for a business account.
        verified: Whether WhatsApp verified the business (``None``: not known).
        about: Their "about" text, where they show it.
        picture_url: Their profile picture's URL (see :class:`ProfilePicture`).
        blocked: Whether this account blocks them.
    """

    jid: str
    push_name: str | None = None
    business_name: str | None = None
    verified: bool | None = None
    about: str | None = None
    picture_url: str | None = None
    blocked: bool = False


def person_jid(jid: object) -> str:
    """The JID of a person (a phone number or a user JID), never a group's.

    Raises:
        InvalidRecipient: a group's JID, or neither a number nor a JID.
    """
    normalized = normalize_recipient(jid)
    if normalized.endswith("@g.us"):
        raise InvalidRecipient(f"{normalized} is a group; this call takes a person")
    return normalized


def _numbers(numbers: object) -> tuple[str, ...]:
    if not isinstance(numbers, (list, tuple)):
        raise InvalidInput(f"numbers must be a list, got {type(numbers).__name__}")
    if not numbers:
        raise InvalidInput("the number list is empty: give at least one")
    if len(numbers) > MAX_CHECK_NUMBERS:
        raise TooManyNumbers(
            f"{len(numbers):,} numbers; one call checks at most {MAX_CHECK_NUMBERS:,} "
            "(WhatsApp bans accounts that look up many numbers: spread them over time)"
        )
    checked: dict[str, None] = {}
    for index, number in enumerate(numbers):
        try:
            checked[normalize_phone(number)] = None
        except InvalidPhoneNumber as exc:
            raise InvalidPhoneNumber(f"number {index}: {exc.message}") from None
    return tuple(checked)


class Contacts:
    """The contact calls of :class:`~wagate.Session`."""

    if TYPE_CHECKING:
        tenant: str
        driver: Driver

        def _check_open(self) -> anyio.abc.TaskGroup: ...
        def _check_connected(self, what: str) -> None: ...

    async def check_numbers(self, numbers: list[str]) -> list[NumberCheck]:
        """Which of ``numbers`` have a WhatsApp account, and their JIDs.

        Takes 1 to 1,000 numbers (:data:`MAX_CHECK_NUMBERS`); a number given twice
        is answered once.  The engine is asked 100 at a time, in the given order.

        Raises:
            InvalidInput: not a list, or an empty one.
            TooManyNumbers: more than 1,000 numbers.
            InvalidPhoneNumber: one of them is not a possible phone number.
            NotConnected: the session is not connected.
        """
        self._check_open()
        wanted = _numbers(numbers)
        self._check_connected("check numbers")
        answers: list[NumberCheck] = []
        for start in range(0, len(wanted), CHECK_BATCH):
            answers.extend(await self.driver.check_numbers(wanted[start : start + CHECK_BATCH]))
        return answers

    async def contact(self, jid: str) -> ContactInfo:
        """What WhatsApp tells this account about someone, with their picture's URL.

        Raises:
            InvalidRecipient: a group's JID, or not a number or JID.
            NotConnected: the session is not connected.
        """
        person = self._person_call(jid, "read a contact")
        info = await self.driver.contact(person)
        if info.picture_url is None:
            picture = await self.driver.profile_picture(person)
            info = attrs.evolve(info, picture_url=picture.url)
        return info

    async def profile_picture(self, jid: str) -> ProfilePicture:
        """Someone's or a group's profile picture (its ``url`` ``None`` when hidden or unset).

        Raises:
            InvalidRecipient: not a number or JID.
            NotConnected: the session is not connected.
        """
        self._check_open()
        whose = normalize_recipient(jid)
        self._check_connected("read a profile picture")
        return await self.driver.profile_picture(whose)

    async def block(self, jid: str) -> None:
        """Block someone: they can no longer message or call the account.

        Raises:
            InvalidRecipient: a group's JID, or not a number or JID.
            NotConnected: the session is not connected.
        """
        await self.driver.set_blocked(self._person_call(jid, "block a contact"), True)

    async def unblock(self, jid: str) -> None:
        """Unblock someone.

        Raises:
            InvalidRecipient: a group's JID, or not a number or JID.
            NotConnected: the session is not connected.
        """
        await self.driver.set_blocked(self._person_call(jid, "unblock a contact"), False)

    def _person_call(self, jid: str, what: str) -> str:
        self._check_open()
        person = person_jid(jid)
        self._check_connected(what)
        return person
