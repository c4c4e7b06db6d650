"""The command registry: each tenant command declared once, as a value.

A :class:`Command` names a coroutine that acts on one tenant's
:class:`~wagate.Session` (a ``Session`` method, usually) and says what the
surfaces need to know about it: its parameters and result (read from the
coroutine's signature, so they are written once), the checks its arguments get
before they travel, which permission it needs and whether it changes anything.
Every other surface derives from it:

- :class:`~wagate.Gateway` gets a method per command (``gateway.send_text(tenant,
  to, text)``), which checks the arguments, reaches the process holding the
  tenant and checks the result's type on the way back;
- a command is a :data:`~wagate.CommandHandler` (``await command(session, args)``)
  so :meth:`~wagate.Gateway.command` and a cluster run it by name with JSON
  arguments (keyed by :attr:`Param.wire`);
- a cluster forwards only what :attr:`Command.mutates` allows it to repeat;
- the REST routes (``wagate.integrations._rest``) name the command they run.

Adding a command is: implement it on :class:`~wagate.Session`, declare it here
and add it to :data:`COMMANDS`, give :class:`~wagate.Gateway` its one line
(``name = tenant_command(NAME)``); ``tests/test_commands.py`` checks that every
surface has it.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import attrs

from ._contacts import ContactInfo, NumberCheck, ProfilePicture, person_jid
from ._content import Content, SentMessage, check_content
from ._errors import InvalidInput
from ._events import MessageSent, PairingCode, Status, utcnow
from ._groups import (
    MAX_GROUP_SIZE,
    Group,
    GroupInfo,
    ParticipantResult,
    group_jid,
    invite_code,
    validate_description,
    validate_participants,
    validate_subject,
)
from ._session import Session
from ._validate import normalize_phone, normalize_recipient, validate_text
from ._wire import CONTENT, Codec

__all__ = [
    "ADD_PARTICIPANTS",
    "BLOCK",
    "CHECK_NUMBERS",
    "COMMANDS",
    "CONNECT",
    "CONTACT",
    "CREATE_GROUP",
    "DEMOTE_PARTICIPANTS",
    "DOWNLOAD",
    "EDIT",
    "GROUP",
    "GROUPS",
    "GROUP_INVITE_LINK",
    "JOIN_GROUP",
    "LEAVE_GROUP",
    "LOGOUT",
    "MARK_READ",
    "PROFILE_PICTURE",
    "PROMOTE_PARTICIPANTS",
    "REACT",
    "REMOVE_PARTICIPANTS",
    "REQUEST_PAIRING_CODE",
    "RESTART",
    "REVOKE",
    "SEND",
    "SEND_CHAT_STATE",
    "SEND_TEXT",
    "SET_GROUP_DESCRIPTION",
    "SET_GROUP_SUBJECT",
    "SET_PRESENCE",
    "STATUS",
    "SUBSCRIBE_PRESENCE",
    "UNBLOCK",
    "Command",
    "Param",
    "Permission",
    "command",
]

P = ParamSpec("P")
R = TypeVar("R")

Check = Callable[[Any], object]
"""Raises a :class:`~wagate.WagateError` for a bad argument (its result is ignored)."""


class Permission(enum.Enum):
    """What a principal must be granted on the tenant to run a command.

    Today a token grants a tenant wholly; the level is declared so that scoped
    tokens can be checked in one place when they come.
    """

    READ = "read"
    """Look at the tenant's state."""
    SEND = "send"
    """Send messages from the tenant's account."""
    MANAGE = "manage"
    """Log the account in or out."""


@attrs.frozen(kw_only=True)
class Param:
    """One parameter of a command."""

    name: str
    """The Python parameter's name."""
    wire: str
    """Its key in a command's JSON arguments (a REST body, a cluster message)."""
    type: type
    """The type its value must have (what JSON gives: ``str``, ``int``...)."""
    check: Check | None = None
    """Run on the value before the command travels (``None``: the session checks)."""
    codec: Codec | None = None
    """How a value that is not plain JSON (a message content) is written and read."""
    default: Any = inspect.Parameter.empty
    """Its value when the arguments leave it out (``inspect.Parameter.empty``: required)."""

    @property
    def required(self) -> bool:
        """Whether the arguments must give it."""
        return self.default is inspect.Parameter.empty


@attrs.frozen(kw_only=True, eq=False)
class Command(Generic[P, R]):
    """A tenant command: a coroutine over a :class:`~wagate.Session`, and what surfaces need.

    Make one with :func:`command`.  A command is also a
    :data:`~wagate.CommandHandler`: ``await cmd(session, {"to": ..., "text": ...})``
    runs it with JSON arguments keyed by :attr:`Param.wire`.
    """

    name: str
    """Its name (:meth:`~wagate.Gateway.command` looks it up by it)."""
    run: Callable[Concatenate[Session, P], Awaitable[R]]
    """The implementation: ``await run(session, *args)``."""
    params: tuple[Param, ...]
    """Its parameters after the session, in order."""
    result: type
    """The type of its result (``type(None)`` for none)."""
    item: type | None
    """The type of the items of a result that is a list (``None`` for other results)."""
    permission: Permission
    """What a principal must be granted on the tenant."""
    mutates: bool
    """Whether it changes anything (a cluster never repeats such a command)."""
    summary: str
    """One line saying what it does (the implementation's docstring's first)."""
    _signature: inspect.Signature = attrs.field(
        init=False,
        repr=False,
        default=attrs.Factory(lambda self: _after_session(self.run), takes_self=True),
    )

    async def __call__(self, session: Session, args: Mapping[str, Any]) -> R:
        """Run the command on ``session`` with JSON arguments (keyed by :attr:`Param.wire`).

        Raises:
            InvalidInput: an argument is missing or of the wrong type.
        """
        values = {p.name: _value(p, args, session.tenant) for p in self.params}
        return await self.run(session, **values)  # type: ignore[call-arg]

    def arguments(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """The JSON arguments of a call, checked: what :meth:`__call__` reads back.

        Raises:
            TypeError: the arguments do not fit the parameters.
            WagateError: an argument fails its :attr:`Param.check`.
        """
        values = self.values(*args, **kwargs)
        now = utcnow()
        return {
            p.wire: values[p.wire] if p.codec is None else p.codec.encode(values[p.wire], now)
            for p in self.params
        }

    def values(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """The arguments of a call, checked, keyed by wire name, not encoded.

        :meth:`__call__` takes them as it takes :meth:`arguments`: a call that stays
        in this process need not turn a megabyte of media into base64 and back.

        Raises:
            TypeError: the arguments do not fit the parameters.
            WagateError: an argument fails its :attr:`Param.check`.
        """
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values: dict[str, Any] = {}
        for param in self.params:
            value = bound.arguments[param.name]
            if param.check is not None:
                param.check(value)
            values[param.wire] = value
        return values

    def check_result(self, value: object) -> R:
        """``value`` if it is of this command's result type.

        Raises:
            TypeError: it is not (a handler that returned something else).
        """
        if not isinstance(value, self.result):
            raise TypeError(
                f"command {self.name!r} must return {self.result.__name__}, not {value!r}"
            )
        return value  # type: ignore[return-value]

    @property
    def signature(self) -> inspect.Signature:
        """The parameters after the session, with their types, and the result."""
        return self._signature


def _after_session(run: Callable[..., Any]) -> inspect.Signature:
    """``run``'s signature without its first parameter (the session); made once per command."""
    own = inspect.signature(run)
    return own.replace(parameters=list(own.parameters.values())[1:])


def _value(param: Param, args: Mapping[str, Any], tenant: str) -> Any:
    if param.wire not in args and not param.required:
        return param.default
    if param.wire not in args:
        raise InvalidInput(f"the arguments have no {param.wire!r}", tenant=tenant)
    value = args[param.wire]
    if param.codec is not None and not isinstance(value, param.type):
        value = param.codec.decode(value, param.wire)
    if not isinstance(value, param.type):
        raise InvalidInput(
            f"{param.wire!r} must be a {param.type.__name__}, got {type(value).__name__}",
            tenant=tenant,
        )
    return value


ARGUMENT_CODECS: dict[type, Codec] = {Content: CONTENT}
"""How parameters of a type that is not plain JSON travel (keyed by the parameter's type)."""


def _runtime_type(hint: object) -> type:
    if hint is None:
        return type(None)
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type):
        raise TypeError(f"a command's parameters and result need plain types, not {hint!r}")
    return origin


def command(
    run: Callable[Concatenate[Session, P], Awaitable[R]],
    *,
    permission: Permission,
    mutates: bool,
    name: str | None = None,
    checks: Mapping[str, Check] | None = None,
    wire: Mapping[str, str] | None = None,
) -> Command[P, R]:
    """Declare a command whose parameters and result are ``run``'s.

    Args:
        run: The implementation, ``async def run(session, ...)`` (a ``Session``
            method, usually).
        permission: What a principal must be granted on the tenant.
        mutates: Whether it changes anything.
        name: Its name (default: ``run``'s).
        checks: Per parameter, a check run before the command travels.
        wire: Per parameter, its key in JSON arguments when not its name.
    """
    hints = typing.get_type_hints(run)
    signature = list(inspect.signature(run).parameters.values())[1:]
    checks, wire = checks or {}, wire or {}
    params = tuple(
        Param(
            name=p.name,
            wire=wire.get(p.name, p.name),
            type=_runtime_type(hints[p.name]),
            check=checks.get(p.name),
            codec=ARGUMENT_CODECS.get(_runtime_type(hints[p.name])),
            default=p.default,
        )
        for p in signature
    )
    result = hints["return"]
    items = typing.get_args(result) if typing.get_origin(result) is list else ()
    return Command(
        name=name or run.__name__,
        run=run,
        params=params,
        result=_runtime_type(result),
        item=_runtime_type(items[0]) if items else None,
        permission=permission,
        mutates=mutates,
        summary=(inspect.getdoc(run) or name or run.__name__).splitlines()[0],
    )


async def status(session: Session) -> Status:
    """The session's current status."""
    return session.status


STATUS = command(status, permission=Permission.READ, mutates=False)
CONNECT = command(Session.connect, permission=Permission.MANAGE, mutates=True)
RESTART = command(Session.restart, permission=Permission.MANAGE, mutates=True)
LOGOUT = command(Session.logout, permission=Permission.MANAGE, mutates=True)
SEND_TEXT: Command[[str, str], MessageSent] = command(
    Session.send_text,
    permission=Permission.SEND,
    mutates=True,
    checks={"to": normalize_recipient, "text": validate_text},
)
REQUEST_PAIRING_CODE: Command[[str], PairingCode] = command(
    Session.request_pairing_code,
    permission=Permission.MANAGE,
    mutates=True,
    checks={"phone": normalize_phone},
)

SEND: Command[[str, Content], SentMessage] = command(
    Session.send,
    permission=Permission.SEND,
    mutates=True,
    checks={"to": normalize_recipient, "content": check_content},
)
_MESSAGE_ID = {"message_id": "messageId"}
REACT: Command[[str, str], None] = command(
    Session.react, permission=Permission.SEND, mutates=True, wire=_MESSAGE_ID
)
EDIT: Command[[str, str], None] = command(
    Session.edit,
    permission=Permission.SEND,
    mutates=True,
    checks={"text": validate_text},
    wire=_MESSAGE_ID,
)
REVOKE: Command[[str], None] = command(
    Session.revoke, permission=Permission.SEND, mutates=True, wire=_MESSAGE_ID
)
MARK_READ: Command[[str, list[str]], None] = command(
    Session.mark_read,
    permission=Permission.SEND,
    mutates=True,
    checks={"chat": normalize_recipient},
    wire={"message_ids": "messageIds"},
)


SET_PRESENCE: Command[[str], None] = command(
    Session.set_presence, permission=Permission.SEND, mutates=True
)
SEND_CHAT_STATE: Command[[str, str], None] = command(
    Session.send_chat_state,
    permission=Permission.SEND,
    mutates=True,
    checks={"chat": normalize_recipient},
)
SUBSCRIBE_PRESENCE: Command[[str], None] = command(
    Session.subscribe_presence, permission=Permission.READ, mutates=True
)


GROUPS: Command[[], list[GroupInfo]] = command(
    Session.groups, permission=Permission.READ, mutates=False
)
_GROUP: Mapping[str, Check] = {"jid": group_jid}
GROUP: Command[[str], Group] = command(
    Session.group, permission=Permission.READ, mutates=False, checks=_GROUP
)


def _people(participants: object) -> object:
    return validate_participants(participants, most=MAX_GROUP_SIZE - 1)


CREATE_GROUP: Command[[str, list[str]], Group] = command(
    Session.create_group,
    permission=Permission.MANAGE,
    mutates=True,
    checks={"subject": validate_subject, "participants": _people},
)
LEAVE_GROUP: Command[[str], None] = command(
    Session.leave_group, permission=Permission.MANAGE, mutates=True, checks=_GROUP
)
SET_GROUP_SUBJECT: Command[[str, str], None] = command(
    Session.set_group_subject,
    permission=Permission.MANAGE,
    mutates=True,
    checks={**_GROUP, "subject": validate_subject},
)
SET_GROUP_DESCRIPTION: Command[[str, str], None] = command(
    Session.set_group_description,
    permission=Permission.MANAGE,
    mutates=True,
    checks={**_GROUP, "description": validate_description},
)
_PARTICIPANTS = {**_GROUP, "participants": validate_participants}
ADD_PARTICIPANTS: Command[[str, list[str]], list[ParticipantResult]] = command(
    Session.add_participants, permission=Permission.MANAGE, mutates=True, checks=_PARTICIPANTS
)
REMOVE_PARTICIPANTS: Command[[str, list[str]], list[ParticipantResult]] = command(
    Session.remove_participants, permission=Permission.MANAGE, mutates=True, checks=_PARTICIPANTS
)
PROMOTE_PARTICIPANTS: Command[[str, list[str]], list[ParticipantResult]] = command(
    Session.promote_participants,
    permission=Permission.MANAGE,
    mutates=True,
    checks=_PARTICIPANTS,
)
DEMOTE_PARTICIPANTS: Command[[str, list[str]], list[ParticipantResult]] = command(
    Session.demote_participants, permission=Permission.MANAGE, mutates=True, checks=_PARTICIPANTS
)
GROUP_INVITE_LINK = command(  # its ParamSpec keeps the default of reset
    Session.group_invite_link, permission=Permission.MANAGE, mutates=True, checks=_GROUP
)
JOIN_GROUP: Command[[str], str] = command(
    Session.join_group,
    permission=Permission.MANAGE,
    mutates=True,
    checks={"invite_link": invite_code},
    wire={"invite_link": "inviteLink"},
)

CHECK_NUMBERS: Command[[list[str]], list[NumberCheck]] = command(
    Session.check_numbers, permission=Permission.READ, mutates=False
)
_PERSON = {"jid": person_jid}
CONTACT: Command[[str], ContactInfo] = command(
    Session.contact, permission=Permission.READ, mutates=False, checks=_PERSON
)
PROFILE_PICTURE: Command[[str], ProfilePicture] = command(
    Session.profile_picture,
    permission=Permission.READ,
    mutates=False,
    checks={"jid": normalize_recipient},
)
BLOCK: Command[[str], None] = command(
    Session.block, permission=Permission.MANAGE, mutates=True, checks=_PERSON
)
UNBLOCK: Command[[str], None] = command(
    Session.unblock, permission=Permission.MANAGE, mutates=True, checks=_PERSON
)


async def download(session: Session, media_id: str) -> bytes:
    """The bytes of one of the tenant's media, by id (fetched once, then kept)."""
    return await session.download(media_id)


DOWNLOAD: Command[[str], bytes] = command(
    download, permission=Permission.READ, mutates=False, wire={"media_id": "mediaId"}
)

COMMANDS: tuple[Command[..., Any], ...] = (
    ADD_PARTICIPANTS,
    BLOCK,
    CHECK_NUMBERS,
    CONNECT,
    CONTACT,
    CREATE_GROUP,
    DEMOTE_PARTICIPANTS,
    DOWNLOAD,
    EDIT,
    GROUP,
    GROUPS,
    GROUP_INVITE_LINK,
    JOIN_GROUP,
    LEAVE_GROUP,
    LOGOUT,
    MARK_READ,
    PROFILE_PICTURE,
    PROMOTE_PARTICIPANTS,
    REACT,
    REMOVE_PARTICIPANTS,
    REQUEST_PAIRING_CODE,
    RESTART,
    REVOKE,
    SEND,
    SEND_CHAT_STATE,
    SEND_TEXT,
    SET_GROUP_DESCRIPTION,
    SET_GROUP_SUBJECT,
    SET_PRESENCE,
    STATUS,
    SUBSCRIBE_PRESENCE,
    UNBLOCK,
)
"""Every built-in command; :class:`~wagate.Gateway` runs them by name."""
