"""Saving a session's link state (account and state) to its store, coalesced.

State changes come in bursts (a reconnect is several in a row) and each save is
a round trip to the store: one writer at a time, always writing the newest state,
so a burst costs at most two saves and the store never goes back in time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    import anyio.abc

    from ._events import Account, State
    from ._store import SessionStore

__all__ = ["LinkStateWriter"]

log = logging.getLogger("wagate")

LinkState = Callable[[], "tuple[Account | None, State]"]
"""Reads the link state to save, at the moment of saving."""


class LinkStateWriter:
    """Writes one tenant's newest link state to its store, one save at a time.

    Args:
        tenant: Whose state is saved.
        store: Where it is saved.
        current: Returns the account and state to save, read when the save starts.
    """

    __slots__ = ("_current", "_dirty", "_store", "_tenant", "_waiter", "_writing")

    def __init__(self, tenant: str, store: SessionStore, current: LinkState) -> None:
        self._tenant = tenant
        self._store = store
        self._current = current
        self._dirty = False
        self._writing = False
        self._waiter: anyio.Event | None = None

    def mark_dirty(self) -> None:
        """Say that the state changed, without starting a save (:meth:`flush` saves it)."""
        self._dirty = True

    def schedule(self, tg: anyio.abc.TaskGroup | None) -> None:
        """Mark the state changed and save it in ``tg`` unless a save is under way.

        With no task group (the session is not running) it is only marked; the
        next :meth:`flush` saves it.
        """
        self._dirty = True
        if not self._writing and tg is not None:
            self._writing = True
            tg.start_soon(self._write)

    async def flush(self) -> None:
        """Return once everything marked changed so far is saved."""
        while self._writing:  # another writer is at it: wait for its turn to end
            if self._waiter is None:
                self._waiter = anyio.Event()
            await self._waiter.wait()
        if self._dirty:
            self._writing = True
            await self._write()

    async def _write(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                account, state = self._current()
                try:
                    await self._store.save(self._tenant, account=account, state=state)
                except Exception:
                    log.exception("tenant %r: could not save the session state", self._tenant)
        finally:
            self._writing = False
            waiter, self._waiter = self._waiter, None
            if waiter is not None:
                waiter.set()
