"""The one way wagate's async resources end: close themselves, then what they entered."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ClosingStack"]


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
