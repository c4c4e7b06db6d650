"""A tenant's event numbers: seqs reserved in the store in blocks, ahead of use.

A seq is never reused, not even after the process dies without warning: the
store holds a high-water mark past every seq handed out, raised a block at a
time in the background, and lowered again to the last seq used on a clean close.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anyio.abc

    from ._hub import Hub
    from ._store import SessionStore

__all__ = ["SeqCounter"]

log = logging.getLogger("wagate")


class SeqCounter:
    """Hands out one tenant's seqs, keeping the store's high-water mark ahead of them.

    Args:
        tenant: Whose events are numbered.
        store: Where the high-water mark is kept.
        hub: Told where the tenant's events start (:meth:`Hub.begin`).
        block: How many seqs are reserved at a time (at least 2).
    """

    __slots__ = ("_block", "_hub", "_next", "_reserved", "_reserving", "_store", "_tenant")

    def __init__(self, tenant: str, store: SessionStore, hub: Hub, *, block: int) -> None:
        self._tenant = tenant
        self._store = store
        self._hub = hub
        self._block = max(2, block)
        self._next = 1
        self._reserved = 0
        self._reserving = False

    async def start(self, last: int) -> None:
        """Number on from ``last`` (the stored mark): reserve a block, tell the hub."""
        self._next = last + 1
        self._reserved = last + self._block
        await self._store.reserve_seq(self._tenant, self._reserved)
        self._hub.begin(self._tenant, self._next)

    def take(self, tg: anyio.abc.TaskGroup | None) -> int:
        """The next seq; past half the block, reserve the next one in ``tg``.

        With no task group (the session is not running) nothing is reserved: the
        next run starts past the stored mark anyway.
        """
        seq = self._next
        self._next += 1
        if not self._reserving and self._next > self._reserved - self._block // 2:
            self._reserve_more(tg)
        return seq

    def _reserve_more(self, tg: anyio.abc.TaskGroup | None) -> None:
        if tg is None:
            return
        self._reserving = True
        upto = max(self._reserved, self._next) + self._block

        async def reserve() -> None:
            try:
                await self._store.reserve_seq(self._tenant, upto)
                self._reserved = max(self._reserved, upto)
            except Exception:
                log.exception("tenant %r: could not persist the seq high-water mark", self._tenant)
            finally:
                self._reserving = False

        tg.start_soon(reserve)

    async def release(self) -> None:
        """Give back the unused seqs (a clean close), so the next run numbers on by one.

        After a crash the next run skips them instead, which resumes allow for.
        Failures are logged, never raised.
        """
        if self._reserving:
            return  # a reservation is in flight: its mark is not ours to lower
        try:
            await self._store.release_seq(self._tenant, self._reserved, self._next - 1)
        except Exception:
            log.exception("tenant %r: could not give back the unused seqs", self._tenant)
