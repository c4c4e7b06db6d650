"""Plain and ``async`` callbacks fed from subscriptions, each isolated from the others.

A :class:`CallbackGroup` is the set of callbacks one owner (a session, a
gateway) runs in its task group: started with :meth:`CallbackGroup.start`, given
a last chance to finish their buffers when the owner closes
(:meth:`CallbackGroup.drain`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ._errors import SubscriberLagged
from ._events import Event

if TYPE_CHECKING:
    import anyio.abc

    from ._hub import Subscription

__all__ = ["Callback", "CallbackGroup", "CallbackSubscription"]

log = logging.getLogger("wagate")

Callback = Callable[[Event], Awaitable[None] | None]
"""A subscriber callback: a plain or ``async`` function taking one event."""


class CallbackSubscription:
    """The handle :meth:`wagate.Session.subscribe` returns; :meth:`close` unsubscribes."""

    def __init__(self, subscription: Subscription, callback: Callback) -> None:
        self._subscription = subscription
        self.callback = callback
        self.error: SubscriberLagged | None = None
        """Set when the callback fell behind its buffer and was unsubscribed."""
        self._done = anyio.Event()
        # Stops a callback still stuck when its session or gateway finishes closing.
        self._scope = anyio.CancelScope()
        # Its own thread token: blocked sync callbacks must not use up the default
        # limiter that every other sync callback (and to_thread user) shares.
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def closed(self) -> bool:
        """Whether the callback no longer receives events."""
        return self._done.is_set()

    def close(self) -> None:
        """Stop delivering events to the callback (safe to call twice)."""
        self._subscription.close()

    async def wait_closed(self) -> None:
        """Wait until the callback has received its last event."""
        await self._done.wait()


def _is_async(callback: Callback) -> bool:
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


async def pump_callback(
    handle: CallbackSubscription, tenant: str | None, *, sync_in_thread: bool
) -> None:
    """Feed a subscription's events to a callback, isolating its failures.

    A callback that raises is logged (with the tenant) and keeps receiving; one
    that blocks holds up only itself (sync callbacks run in a worker thread).
    """
    callback = handle.callback
    is_async = _is_async(callback)
    try:
        async for event in handle._subscription:
            try:
                if is_async:
                    await callback(event)  # type: ignore[misc]
                else:
                    if sync_in_thread:
                        result = await anyio.to_thread.run_sync(
                            callback, event, abandon_on_cancel=True, limiter=handle._limiter
                        )
                    else:
                        result = callback(event)
                    # A plain callable may hand back a coroutine (a lambda or partial
                    # around an async function): run it rather than drop it.
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                log.exception(
                    "subscriber callback %r failed on %s (seq %d) for tenant %r",
                    callback,
                    type(event).__name__,
                    event.seq,
                    event.tenant,
                )
    except SubscriberLagged as exc:
        handle.error = exc
        log.error(  # noqa: TRY400 - the lag is the message, no traceback to show
            "subscriber callback %r for tenant %r lagged: %s; it was unsubscribed",
            callback,
            tenant,
            exc,
        )
    finally:
        handle._subscription.close()
        handle._done.set()


class CallbackGroup:
    """The callbacks one owner runs; each runs in the owner's task group until closed."""

    __slots__ = ("_handles",)

    def __init__(self) -> None:
        self._handles: set[CallbackSubscription] = set()

    def start(
        self,
        tg: anyio.abc.TaskGroup,
        subscription: Subscription,
        callback: Callback,
        tenant: str | None,
        *,
        sync_in_thread: bool,
    ) -> CallbackSubscription:
        """Run ``callback`` over ``subscription`` in ``tg``; its handle stays here until done."""
        handle = CallbackSubscription(subscription, callback)
        self._handles.add(handle)

        async def run() -> None:
            try:
                with handle._scope:
                    await pump_callback(handle, tenant, sync_in_thread=sync_in_thread)
            finally:
                self._handles.discard(handle)

        tg.start_soon(run)
        return handle

    async def drain(self, timeout: float, tenant: str | None) -> None:
        """Let callbacks finish what is buffered for up to ``timeout`` s, then stop them."""
        if not self._handles:
            return
        with anyio.move_on_after(timeout):
            for handle in list(self._handles):
                await handle.wait_closed()
        for handle in list(self._handles):
            if not handle.closed:
                log.warning(
                    "tenant %r: callback %r did not finish within %.1fs of close; "
                    "%d event(s) undelivered",
                    tenant,
                    handle.callback,
                    timeout,
                    handle._subscription.backlog,
                )
            handle.close()
            handle._scope.cancel()
