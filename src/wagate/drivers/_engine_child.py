"""The child's side of a :class:`~wagate.drivers.process.EngineProcess`.

The child hosts the drivers of many sessions and answers the host's frames
(see :mod:`wagate.drivers._pipe`): it opens drivers with the factory, runs
them, calls into them and closes them; what a driver reports goes up as frames.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import pickle
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .._driver import ConnectionEnded, Driver, IncomingMessage
from .._errors import DriverError
from .._events import Event
from ._pipe import Channel, DriverFactory, Frame, crossing, describe

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from .._events import Account

log = logging.getLogger("wagate")


def child_main(conn: Connection[Any, Any], factory: DriverFactory) -> None:
    """Entry point of the child process."""
    # Ctrl-C in a terminal reaches the whole process group: let the host decide when
    # its engines stop, instead of every child dying first as "crashed".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING,
            format=f"wagate engine process {os.getpid()}: %(levelname)s %(name)s: %(message)s",
        )
    anyio.run(_ChildServer(conn, factory).serve)  # asyncio: the backend neonize needs


class _RemoteSink:
    """The sink a driver in the child reports into: each call becomes a frame."""

    __slots__ = ("_channel", "_rid")

    def __init__(self, channel: Channel, rid: int) -> None:
        self._channel = channel
        self._rid = rid

    def qr(self, code: str, valid_for: float) -> None:
        self._channel.send(("qr", self._rid, code, valid_for))

    def connected(self, account: Account) -> None:
        self._channel.send(("connected", self._rid, account))

    def message(self, message: IncomingMessage) -> None:
        self._channel.send(("message", self._rid, message))

    def update(self, kind: type[Event], fields: Mapping[str, Any]) -> None:
        self._channel.send(("update", self._rid, kind, dict(fields)))


class _ChildServer:
    """Runs in the child: hosts the drivers and answers the host's frames."""

    def __init__(self, conn: Connection[Any, Any], factory: DriverFactory) -> None:
        self._conn = conn
        self._factory = factory
        self._drivers: dict[int, Driver] = {}
        self._runs: dict[int, anyio.CancelScope] = {}

    async def serve(self) -> None:
        inbox_send, inbox = anyio.create_memory_object_stream[Frame | None](math.inf)
        channel = self._channel = Channel(self._conn, inbox_send.send_nowait, "wagate-child")
        channel.send(("ready", os.getpid()))
        try:
            async with anyio.create_task_group() as tg:
                async for frame in inbox:
                    if frame is None or frame[0] == "shutdown":
                        break
                    self._handle(tg, frame)
                with anyio.move_on_after(10):
                    async with anyio.create_task_group() as closing:
                        for driver in list(self._drivers.values()):
                            closing.start_soon(self._close_driver, driver)
                tg.cancel_scope.cancel()
        finally:
            channel.close()

    def _handle(self, tg: anyio.abc.TaskGroup, frame: Frame) -> None:
        kind = frame[0]
        if kind == "run":
            _, rid, did, resume = frame
            # Registered now, not when the task starts: a "cancel" that follows at
            # once must find it.
            scope = self._runs[rid] = anyio.CancelScope()
            tg.start_soon(self._run, rid, did, resume, scope)
        elif kind == "cancel":
            running = self._runs.get(frame[1])
            if running is not None:
                running.cancel()
        elif kind == "open":
            _, cid, did, tenant = frame
            self._open(cid, did, tenant)
        elif kind == "call":
            _, cid, did, path, args, kwargs = frame
            tg.start_soon(self._call, cid, did, path, args, kwargs)
        elif kind == "close":
            _, cid, did = frame
            tg.start_soon(self._close, cid, did)
        else:
            log.error("unknown request %r from the host; ignored", kind)

    def _reply(self, cid: int, value: object) -> None:
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self._fail(cid, DriverError(f"the result cannot cross to the host process: {exc}"))
        else:
            self._channel.send(("result", cid, payload))

    def _fail(self, cid: int, exc: BaseException) -> None:
        self._channel.send(("error", cid, *crossing(exc)))

    def _open(self, cid: int, did: int, tenant: str) -> None:
        if did not in self._drivers:
            try:
                driver = self._factory(tenant)
                if not isinstance(driver, Driver):
                    raise DriverError(  # noqa: TRY301 - reported below like any factory error
                        f"the driver factory returned {type(driver).__name__}, not a Driver"
                    )
            except Exception as exc:
                log.exception("tenant %r: the driver factory failed", tenant)
                self._fail(cid, DriverError(f"the driver factory failed: {describe(exc)[1]}"))
                return
            self._drivers[did] = driver
        self._reply(cid, None)

    async def _run(
        self, rid: int, did: int, resume: Account | None, scope: anyio.CancelScope
    ) -> None:
        ended: ConnectionEnded | None = None
        error: tuple[str, str] | None = None
        with scope:
            try:
                driver = self._drivers[did]
                ended = await driver.run(_RemoteSink(self._channel, rid), resume=resume)
            except Exception as exc:
                log.exception("the driver failed")
                error = describe(exc)
            finally:
                self._runs.pop(rid, None)
        self._channel.send(("done", rid, ended, error))

    async def _call(
        self, cid: int, did: int, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            target: Any = self._drivers[did]
            for name in path.split("."):
                target = getattr(target, name)
            if callable(target):
                result = target(*args, **kwargs)
            elif args or kwargs:
                raise TypeError(f"{path} is not callable")  # noqa: TRY301 - sent back below
            else:
                result = target  # an attribute is read, e.g. "phone.sent"
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            self._fail(cid, exc)
        else:
            self._reply(cid, result)

    async def _close_driver(self, driver: Driver) -> None:
        try:
            await driver.aclose()
        except Exception:
            log.exception("closing a driver failed")

    async def _close(self, cid: int, did: int) -> None:
        driver = self._drivers.pop(did, None)
        if driver is not None:
            await self._close_driver(driver)
        self._reply(cid, None)
