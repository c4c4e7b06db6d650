"""The driver interface: what a Session needs from a WhatsApp engine.

Public as :mod:`wagate.drivers`; it lives in the core so that the core imports
no driver.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Protocol

import attrs

from ._events import Account, DisconnectReason

__all__ = ["ConnectionEnded", "Driver", "DriverSink", "IncomingMessage"]


@attrs.frozen(kw_only=True)
class IncomingMessage:
    """A message as a driver reports it (the session turns it into ``MessageReceived``).

    Attributes:
        id: WhatsApp's message id.
        chat: The chat JID (a user or a group).
        sender: The sender's JID.
        push_name: The sender's display name, when known.
        text: The text, or ``None`` for a message that is not text.
        is_group: Whether the chat is a group.
        timestamp: When it was sent (UTC).
        kind: ``"text"``, or the kind of a non-text message.
    """

    id: str
    chat: str
    sender: str
    push_name: str | None
    text: str | None
    is_group: bool
    timestamp: datetime
    kind: str = "text"


@attrs.frozen(kw_only=True)
class ConnectionEnded:
    """Why a connection ended: what :meth:`Driver.run` returns.

    Attributes:
        reason: The reason, in wagate's terms.
        detail: The engine's own words, if any (never credentials).
    """

    reason: DisconnectReason
    detail: str | None = None


class DriverSink(Protocol):
    """What a driver reports to its session while :meth:`Driver.run` runs.

    The methods are plain functions: call them from the event loop thread that
    runs the session.
    """

    def qr(self, code: str, valid_for: float) -> None:
        """A login QR code is ready; it is accepted for ``valid_for`` seconds."""

    def connected(self, account: Account) -> None:
        """The connection is up and ``account`` is linked."""

    def message(self, message: IncomingMessage) -> None:
        """A message arrived."""


class Driver(abc.ABC):
    """One WhatsApp connection for one session.

    The session calls :meth:`run` once per connection attempt; while it runs, the
    session may call :meth:`send_text`, :meth:`request_pairing_code` and
    :meth:`logout`.  :meth:`aclose` releases whatever the driver holds.
    """

    @abc.abstractmethod
    async def run(self, sink: DriverSink, *, resume: Account | None) -> ConnectionEnded:
        """Open a connection and keep it until it ends; return why it ended.

        With ``resume``, log in as that (previously linked) account without a QR
        code where the engine still holds its keys; otherwise start a QR login and
        report each code with ``sink.qr``.  Cancelling the call closes the
        connection.  Failures to connect are returned (``NETWORK``...), not raised.
        """

    @abc.abstractmethod
    async def send_text(self, jid: str, text: str) -> str:
        """Send a text message to a validated JID; return WhatsApp's message id.

        Raises:
            wagate.DriverError: WhatsApp (or the engine) refused it.
        """

    @abc.abstractmethod
    async def request_pairing_code(self, phone: str) -> str:
        """Ask for a pairing code for ``phone`` (E.164) during a QR login.

        Raises:
            wagate.PairingFailed: the engine could not produce one.
        """

    @abc.abstractmethod
    async def logout(self, account: Account) -> None:
        """Unlink ``account``: tell WhatsApp when connected, and forget its keys.

        A running :meth:`run` then returns ``LOGGED_OUT``.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the driver holds; the session calls it once, when it closes."""
