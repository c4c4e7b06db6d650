"""The one way wagate's async resources end: close themselves, then what they entered."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["ClosingStack", "OpenClose"]


class ClosingStack:
    """A mixin for async context managers that enter things on an exit stack.

    ``__aexit__`` runs :meth:`aclose` shielded from cancellation (a cancelled host
    still closes its sessions cleanly), then exits the stack ``__aenter__`` filled.
    """

    __slots__ = ()

    _stack: contextlib.AsyncExitStack | None

    async def aclose(self) -> None:
        """Close the resource (each class says how)."""
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            with anyio.CancelScope(shield=True):
                await self.aclose()
        finally:
            assert self._stack is not None
            await self._stack.__aexit__(exc_type, exc, tb)


class OpenClose:
    """A mixin for stores: ``async with store:`` calls :meth:`open`, then :meth:`close`."""

    __slots__ = ()

    async def open(self) -> None:
        """Open the store (create tables, take locks); nothing by default."""

    async def close(self) -> None:
        """Close the store; nothing by default."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
