"""Run drivers in a child process, so that a crash of the engine never ends the host.

The real WhatsApp engine is Go code inside the Python process; some of its faults
(a Go panic, a fatal ``concurrent map writes``) end the whole process, host app
included.  :class:`ProcessDriver` moves the driver into a child process and
speaks to it over a pipe: commands go down, what the engine reports comes up.
One child hosts the drivers of many sessions (a hundred sessions are one child,
not a hundred).

When the child dies, for any reason (Go panic, ``os._exit``, SIGKILL, the OOM
killer), every session it hosted gets ``Disconnected(engine_crashed,
will_retry=True)``; the session's backoff then reconnects, which starts a new
child and resumes each linked account from what the session remembers (the
store), without a QR code.

Opting in is one wrapper around the driver factory you already have; the
factory is called in the child, so it must be importable there (a module-level
function or class, or a :func:`functools.partial` of one):

Example:
    ```python
    from wagate import Gateway
    from wagate.drivers.process import ProcessDriver

    def make_driver(tenant: str) -> NeonizeDriver:       # in a module, not a lambda
        return NeonizeDriver(database=f"./wagate-data/{tenant}.db")

    async with Gateway(ProcessDriver.factory(make_driver), store=store) as gateway:
        ...
    ```

The driver object lives in the child, so what it offers beyond the
:class:`~wagate.drivers.Driver` interface is reached with :meth:`ProcessDriver.call`,
e.g. the simulated phone of a :class:`~wagate.drivers.simulator.SimulatedDriver`:

```python
await session.driver.call("phone.scan", qr.code)
await session.driver.call("phone.receive_message", "+628111222333", "hi")
```

Everything that crosses the pipe is pickled; the pipe is private to the two
processes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import pickle
import re
import signal
import warnings
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from .._content import Content, Media
from .._driver import ConnectionEnded, Driver, DriverSink, KnownMessage
from .._errors import DriverError, InvalidInput, WagateError, error_from_body
from .._events import Account, ChatState, DisconnectReason, Presence
from .._groups import Group, GroupInfo
from .._validate import validate_tenant
from ._engine_child import child_main
from ._pipe import PICKLE_ERRORS as _PICKLE_ERRORS
from ._pipe import Channel, DriverFactory, Frame, check_factory

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnProcess
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["EngineProcess", "ProcessDriver"]

log = logging.getLogger("wagate")

_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")


# ---------------------------------------------------------------------- the host


class _Pending:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: Any = None
        self.error: WagateError | None = None


class _Run:
    __slots__ = ("cancelled", "done", "ended", "error", "sink")

    def __init__(self, sink: DriverSink) -> None:
        self.sink = sink
        self.done = anyio.Event()
        self.ended: ConnectionEnded | None = None
        self.error: str | None = None
        self.cancelled = False


def _exit_words(pid: int, code: int | None) -> str:
    if code is None:
        return f"the engine process (pid {pid}) closed its pipe"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the engine process (pid {pid}) was killed by {name}"
    return f"the engine process (pid {pid}) exited with code {code}"


class _Child:
    """One child process as the host sees it: its pipe, pending calls and runs."""

    def __init__(self, process: SpawnProcess, conn: Connection[Any, Any]) -> None:
        self.process = process
        self.pid: int = process.pid or 0
        self.ready = anyio.Event()
        self.dead = anyio.Event()
        self.death: str | None = None
        self.opened: set[int] = set()
        self.stopping = False
        self.pending: dict[int, _Pending] = {}
        self.runs: dict[int, _Run] = {}
        self.channel = Channel(
            conn,
            self._on_frame,
            f"wagate-driver-{self.pid}",
            # The exit code tells how it died; the process is gone or going by now.
            on_eof=lambda: process.join(5),
        )

    @property
    def alive(self) -> bool:
        return not self.dead.is_set()

    def _on_frame(self, frame: Frame | None) -> None:
        try:
            if frame is None:
                self._on_death()
            else:
                self._dispatch(frame)
        except Exception:
            log.exception("engine process %d: a report could not be handled", self.pid)

    def _dispatch(self, frame: Frame) -> None:
        kind = frame[0]
        if kind in ("qr", "connected", "message", "update"):
            run = self.runs.get(frame[1])
            if run is None:
                return
            if kind == "message":
                # A message WhatsApp delivered is passed on even if its run was cancelled.
                run.sink.message(frame[2])
            elif kind == "update":
                run.sink.update(frame[2], frame[3])
            elif not run.cancelled:
                if kind == "qr":
                    run.sink.qr(frame[2], frame[3])
                else:
                    run.sink.connected(frame[2])
        elif kind == "done":
            _, rid, ended, error = frame
            run = self.runs.pop(rid, None)
            if run is not None:
                run.ended = ended
                run.error = None if error is None else f"{error[0]}: {error[1]}"
                run.done.set()
        elif kind in ("result", "error"):
            pending = self.pending.pop(frame[1], None)
            if pending is None:
                return
            if kind == "error":
                pending.error = error_from_body(frame[3], status=frame[2])
            else:
                try:
                    pending.value = pickle.loads(frame[2])  # noqa: S301 - our own child
                except Exception as exc:  # noqa: BLE001 - reported to the caller
                    pending.error = DriverError(f"the engine's answer cannot be read: {exc}")
            pending.done.set()
        elif kind == "ready":
            self.ready.set()

    def _on_death(self) -> None:
        self.death = _exit_words(self.pid, self.process.exitcode)
        if not self.stopping:
            log.warning("%s; its %d session(s) will reconnect", self.death, len(self.opened))
        for run in self.runs.values():
            run.ended = ConnectionEnded(reason=DisconnectReason.ENGINE_CRASHED, detail=self.death)
            run.done.set()
        self.runs.clear()
        for pending in self.pending.values():
            pending.error = DriverError(f"{self.death} before answering")
            pending.done.set()
        self.pending.clear()
        self.dead.set()
        self.ready.set()

    async def request(self, timeout: float | None, kind: str, *fields: Any) -> Any:
        """Send ``(kind, cid, *fields)`` and wait for its answer."""
        if not self.alive:
            raise DriverError(f"{self.death}; it is restarted on the next connection attempt")
        cid = _next_id()
        pending = self.pending[cid] = _Pending()
        try:
            try:
                self.channel.send((kind, cid, *fields))
            except _PICKLE_ERRORS as exc:
                raise InvalidInput(
                    f"cannot send {kind} to the engine process (not picklable): {exc}"
                ) from None
            with anyio.fail_after(timeout):
                await pending.done.wait()
        except TimeoutError:
            raise DriverError(
                f"the engine process (pid {self.pid}) did not answer within {timeout:g}s"
            ) from None
        finally:
            self.pending.pop(cid, None)
        if pending.error is not None:
            raise pending.error
        return pending.value

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()


_ids = itertools.count(1)


def _next_id() -> int:
    return next(_ids)


class EngineProcess:
    """One child process hosting the drivers of many sessions; a driver factory itself.

    Calling it with a tenant returns that tenant's :class:`ProcessDriver`, so it is
    what a :class:`~wagate.Gateway` takes as its driver factory.  The child starts
    with the first connection attempt, is restarted by the next attempt after it
    died, and stops when the last of its drivers is closed (or on :meth:`aclose`).

    Create it with :meth:`ProcessDriver.factory`.  Use it from one event loop.
    Its former name, ``DriverProcess``, still works and warns (deprecated).

    Args:
        factory: ``factory(tenant) -> Driver``, called in the child; importable.
        start_timeout: Seconds the child may take to start.
        call_timeout: Seconds a command (send, pairing code, logout, call) may take.
        close_timeout: Seconds the child may take to close its drivers and exit
            before it is killed.

    Raises:
        InvalidInput: ``factory`` cannot be imported by a child process.
    """

    def __init__(
        self,
        factory: DriverFactory,
        *,
        start_timeout: float = 60.0,
        call_timeout: float = 120.0,
        close_timeout: float = 10.0,
    ) -> None:
        self.factory = check_factory(factory)
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.close_timeout = close_timeout
        self.starts = 0
        """How many child processes have been started (1 + restarts, so far)."""
        self._context = multiprocessing.get_context("spawn")
        self._child: _Child | None = None
        self._starting: anyio.Event | None = None
        self._start_error: DriverError | None = None
        self._drivers: set[int] = set()
        self._closed = False

    def __call__(self, tenant: str) -> ProcessDriver:
        """Return a driver for ``tenant`` that runs in this process's child."""
        return ProcessDriver._attached(self, validate_tenant(tenant))

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs, else ``None``."""
        child = self._child
        return child.pid if child is not None and child.alive else None

    @property
    def drivers(self) -> int:
        """How many drivers (sessions) use this process now."""
        return len(self._drivers)

    # ------------------------------------------------------------------ lifecycle
    async def _ensure(self) -> _Child:
        """The running child, started (or restarted) if needed."""
        while True:
            if self._closed:
                raise DriverError("the engine process was closed")
            child = self._child
            if child is not None and child.alive:
                return child
            if self._starting is not None:
                await self._starting.wait()
                if self._start_error is not None:
                    raise self._start_error
                continue
            starting = self._starting = anyio.Event()
            self._start_error = None
            try:
                self._child = await self._spawn()
            except DriverError as exc:
                self._start_error = exc
                raise
            finally:
                self._starting = None
                starting.set()

    async def _spawn(self) -> _Child:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=child_main,
            args=(child_conn, self.factory),
            name="wagate-engine",
            daemon=True,
        )
        try:
            await anyio.to_thread.run_sync(process.start)
        except (OSError, *_PICKLE_ERRORS) as exc:
            parent_conn.close()
            raise DriverError(f"cannot start the engine process: {exc}") from None
        finally:
            child_conn.close()  # the child has its own copy; ours would hide its death
        child = _Child(process, parent_conn)
        try:
            with anyio.fail_after(self.start_timeout):
                await child.ready.wait()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._stop(child, graceful=False)
            if isinstance(exc, TimeoutError):
                raise DriverError(
                    f"the engine process (pid {child.pid}) did not start within "
                    f"{self.start_timeout:g}s"
                ) from None
            raise
        if not child.alive:
            await self._stop(child, graceful=False)
            raise DriverError(f"{child.death} while starting; its output (stderr) says why")
        self.starts += 1
        log.info("engine process %d started (start %d)", child.pid, self.starts)
        return child

    async def _stop(self, child: _Child, *, graceful: bool = True) -> None:
        child.stopping = True
        if graceful and child.alive:
            with contextlib.suppress(Exception):
                child.channel.send(("shutdown",))
            with anyio.move_on_after(self.close_timeout):
                await child.dead.wait()
        if child.alive:
            child.kill()
            with anyio.move_on_after(self.close_timeout):
                await child.dead.wait()
        await anyio.to_thread.run_sync(child.channel.close)
        await anyio.to_thread.run_sync(child.process.join, self.close_timeout)

    async def _release(self, did: int) -> None:
        self._drivers.discard(did)
        if not self._drivers:
            await self._stop_child()

    async def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            await self._stop(child)

    async def aclose(self) -> None:
        """Stop the child process; its sessions' connections end as ``closed``. Safe twice."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._stop_child()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<EngineProcess pid={self.pid} drivers={self.drivers} starts={self.starts}>"


P = ParamSpec("P")
R = TypeVar("R")


def _in_child(
    method: Callable[Concatenate[Driver, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Driver, P], Coroutine[Any, Any, R]]:
    """``method`` of :class:`~wagate.Driver`, answered by the driver in the child."""
    name = method.__name__

    async def forward(self: Driver, /, *args: P.args, **kwargs: P.kwargs) -> R:
        assert isinstance(self, ProcessDriver)
        result: R = await self.call(name, *args, **kwargs)
        return result

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"``{name}`` through the driver in the child."
    return forward


class ProcessDriver(Driver):
    """A driver that runs ``factory(tenant)``'s driver in a child process.

    ``ProcessDriver(make_driver, "acme")`` gives one session its own child; for a
    gateway use :meth:`factory`, whose drivers share one child.

    Args:
        factory: ``factory(tenant) -> Driver``, called in the child, so it must be
            importable there (a module-level function or class, or a
            :func:`functools.partial` of one).
        tenant: The tenant passed to ``factory``.
        **options: The :class:`EngineProcess` options (timeouts).

    Raises:
        InvalidInput: ``factory`` cannot be imported by a child process, or the
            tenant id is malformed.
    """

    _process: EngineProcess
    _owns_process: bool

    def __init__(self, factory: DriverFactory, tenant: str = "default", **options: float) -> None:
        self._setup(EngineProcess(factory, **options), validate_tenant(tenant), owns=True)

    @classmethod
    def _attached(cls, process: EngineProcess, tenant: str) -> ProcessDriver:
        driver = cls.__new__(cls)
        driver._setup(process, tenant, owns=False)
        return driver

    def _setup(self, process: EngineProcess, tenant: str, *, owns: bool) -> None:
        self._process = process
        self._owns_process = owns
        self.tenant = tenant
        self._id = _next_id()
        self._closed = False
        process._drivers.add(self._id)

    @staticmethod
    def factory(factory: DriverFactory, **options: float) -> EngineProcess:
        """Wrap a driver factory so that its drivers run in one shared child process.

        Example:
            ```python
            gateway = Gateway(ProcessDriver.factory(make_driver), store=store)
            ```

        Args:
            factory: ``factory(tenant) -> Driver``, importable by the child.
            **options: ``start_timeout``, ``call_timeout``, ``close_timeout``
                (see :class:`EngineProcess`).

        Returns:
            A :class:`EngineProcess`: call it with a tenant to get a driver.
        """
        return EngineProcess(factory, **options)

    @property
    def process(self) -> EngineProcess:
        """The child process this driver runs in."""
        return self._process

    async def _child(self) -> _Child:
        if self._closed:
            raise DriverError("the driver is closed")
        child = await self._process._ensure()
        if self._id not in child.opened:
            await child.request(self._process.start_timeout, "open", self._id, self.tenant)
            child.opened.add(self._id)
        return child

    async def run(self, sink: DriverSink, *, resume: Account | None) -> ConnectionEnded:
        """Run one connection in the child; a dead child ends it as ``engine_crashed``."""
        if self._closed or self._process._closed:
            return ConnectionEnded(reason=DisconnectReason.CLOSED, detail="driver closed")
        try:
            child = await self._child()
        except DriverError as exc:
            log.error("tenant %r: %s", self.tenant, exc.message)  # noqa: TRY400 - no traceback to add
            return ConnectionEnded(reason=DisconnectReason.ENGINE_CRASHED, detail=exc.message)
        rid = _next_id()
        run = child.runs[rid] = _Run(sink)
        try:
            child.channel.send(("run", rid, self._id, resume))
            await run.done.wait()
        except BaseException:
            # Cancelled (restart or close): end the child's run before returning, as an
            # in-process driver would, so that two runs of one driver never overlap.
            run.cancelled = True
            if child.alive and not run.done.is_set():
                with contextlib.suppress(Exception):
                    child.channel.send(("cancel", rid))
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(self._process.close_timeout),
                ):
                    await run.done.wait()
            child.runs.pop(rid, None)
            raise
        if run.error is not None:
            log.error(
                "tenant %r: the driver failed in the engine process: %s", self.tenant, run.error
            )
            return ConnectionEnded(reason=DisconnectReason.ENGINE_CRASHED, detail=run.error)
        if run.ended is None:
            return ConnectionEnded(reason=DisconnectReason.CLOSED, detail="the run was cancelled")
        return run.ended

    async def call(self, path: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``path`` on the driver object in the child and return its (picklable) result.

        ``path`` is a dotted attribute path from the driver, e.g. ``"phone.scan"``
        for a :class:`~wagate.drivers.simulator.SimulatedDriver`; a coroutine's
        result is awaited, and an attribute that is not callable is read
        (``await driver.call("phone.sent")``).  What the call makes the driver report (a message,
        a connection) has reached the session when this returns.

        Raises:
            InvalidInput: ``path`` is not a dotted name of public attributes, or an
                argument cannot be pickled.
            DriverError: the child died or did not answer in time; or the call
                raised (a wagate error comes back as the same class).
        """
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise InvalidInput(
                f"{path!r} is not a dotted path of public attribute names, e.g. 'phone.scan'"
            )
        child = await self._child()
        return await child.request(self._process.call_timeout, "call", self._id, path, args, kwargs)

    async def send_text(self, jid: str, text: str) -> str:
        """Send a text through the driver in the child; return WhatsApp's message id."""
        message_id: str = await self.call("send_text", jid, text)
        return message_id

    async def send(self, jid: str, content: Content, *, quoted: KnownMessage | None) -> str:
        """Send any kind of message through the driver in the child."""
        message_id: str = await self.call("send", jid, content, quoted=quoted)
        return message_id

    async def react(self, message: KnownMessage, emoji: str) -> None:
        """React through the driver in the child."""
        await self.call("react", message, emoji)

    async def edit(self, message: KnownMessage, text: str) -> None:
        """Edit through the driver in the child."""
        await self.call("edit", message, text)

    async def revoke(self, message: KnownMessage) -> None:
        """Revoke through the driver in the child."""
        await self.call("revoke", message)

    async def mark_read(self, chat: str, messages: tuple[KnownMessage, ...]) -> None:
        """Mark read through the driver in the child."""
        await self.call("mark_read", chat, messages)

    async def download(self, media: Media, ref: bytes | None) -> bytes:
        """Download media through the driver in the child."""
        data: bytes = await self.call("download", media, ref)
        return data

    async def set_presence(self, presence: Presence) -> None:
        """Set the presence through the driver in the child."""
        await self.call("set_presence", presence)

    async def send_chat_state(self, jid: str, state: ChatState) -> None:
        """Send a chat state through the driver in the child."""
        await self.call("send_chat_state", jid, state)

    async def subscribe_presence(self, jid: str) -> None:
        """Subscribe to presence through the driver in the child."""
        await self.call("subscribe_presence", jid)

    async def groups(self) -> list[GroupInfo]:
        """List the groups through the driver in the child."""
        groups: list[GroupInfo] = await self.call("groups")
        return groups

    async def group(self, jid: str) -> Group:
        """Read a group through the driver in the child."""
        group: Group = await self.call("group", jid)
        return group

    create_group = _in_child(Driver.create_group)
    leave_group = _in_child(Driver.leave_group)
    set_group_subject = _in_child(Driver.set_group_subject)
    set_group_description = _in_child(Driver.set_group_description)
    update_participants = _in_child(Driver.update_participants)
    group_invite_link = _in_child(Driver.group_invite_link)
    join_group = _in_child(Driver.join_group)
    check_numbers = _in_child(Driver.check_numbers)
    contact = _in_child(Driver.contact)
    profile_picture = _in_child(Driver.profile_picture)
    set_blocked = _in_child(Driver.set_blocked)

    async def request_pairing_code(self, phone: str) -> str:
        """Ask the driver in the child for a pairing code."""
        code: str = await self.call("request_pairing_code", phone)
        return code

    async def logout(self, account: Account) -> None:
        """Log ``account`` out through the driver in the child."""
        await self.call("logout", account)

    async def aclose(self) -> None:
        """Close the driver in the child; the last driver of a child stops it. Safe twice."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            child = self._process._child
            if child is not None and child.alive and self._id in child.opened:
                try:
                    await child.request(self._process.close_timeout, "close", self._id)
                except WagateError as exc:
                    log.warning(
                        "tenant %r: closing the driver in its process: %s", self.tenant, exc
                    )
            if self._owns_process:
                self._process._drivers.discard(self._id)
                await self._process.aclose()
            else:
                await self._process._release(self._id)

    def __repr__(self) -> str:
        return f"<ProcessDriver tenant={self.tenant!r} pid={self._process.pid}>"


if TYPE_CHECKING:
    DriverProcess = EngineProcess
    """Deprecated: the former name of :class:`EngineProcess`."""
else:

    def __getattr__(name: str) -> object:
        # The former name still imports, with a warning: it read too much like
        # ProcessDriver for two different things.
        if name == "DriverProcess":
            warnings.warn(
                "wagate.drivers.process.DriverProcess is now EngineProcess; "
                "the old name will be removed",
                DeprecationWarning,
                stacklevel=2,
            )
            return EngineProcess
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
