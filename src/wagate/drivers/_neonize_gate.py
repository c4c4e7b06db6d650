"""The readers-writer gate that keeps the engine's Go maps from being written while read."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class Gate:
    """A readers-writer gate for the engine's Go maps; all methods on one event loop.

    Writers (starting, stopping a client) are exclusive; readers (calls that
    look a client up) share.  Waiters are served in arrival order, so a stream
    of sends cannot starve a connect.  A writer is identified by a token, so a
    hold taken in one task (or on behalf of a Go thread) can be released
    elsewhere; acquiring with a token that already holds the gate is a no-op.
    """

    def __init__(self) -> None:
        self._readers = 0
        self._writer: object | None = None
        self._waiters: collections.deque[tuple[bool, object, asyncio.Future[None]]] = (
            collections.deque()
        )

    @property
    def writer(self) -> object | None:
        """The token holding the gate exclusively, if any."""
        return self._writer

    async def acquire_write(self, token: object) -> None:
        """Wait until ``token`` holds the gate alone."""
        if self._writer is token:
            return
        if self._writer is None and self._readers == 0 and not self._waiters:
            self._writer = token
            return
        await self._wait(True, token)

    def release_write(self, token: object) -> None:
        """Release ``token``'s exclusive hold (nothing if it holds none)."""
        if self._writer is token:
            self._writer = None
            self._grant()

    async def acquire_read(self) -> None:
        """Wait until no writer holds or waits for the gate, then share it."""
        if self._writer is None and not self._waiters:
            self._readers += 1
            return
        await self._wait(False, None)

    def release_read(self) -> None:
        """Release one shared hold."""
        self._readers -= 1
        self._grant()

    @contextlib.asynccontextmanager
    async def write(self, token: object) -> AsyncIterator[None]:
        """Hold the gate exclusively for the block (the release survives cancellation)."""
        held = self._writer is token
        await self.acquire_write(token)
        try:
            yield
        finally:
            if not held:
                self.release_write(token)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """Share the gate for the block."""
        await self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    async def _wait(self, exclusive: bool, token: object) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (exclusive, token, future)
        self._waiters.append(waiter)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                # Granted, then cancelled before the waiter ran: give it back.
                if exclusive:
                    self.release_write(token)
                else:
                    self.release_read()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._grant()
            raise

    def _grant(self) -> None:
        while self._waiters and self._writer is None:
            exclusive, token, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if exclusive:
                if self._readers:
                    return
                self._waiters.popleft()
                self._writer = token
                future.set_result(None)
                return
            self._waiters.popleft()
            self._readers += 1
            future.set_result(None)
