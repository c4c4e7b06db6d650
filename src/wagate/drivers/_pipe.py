"""The pipe between a :class:`~wagate.drivers.process.EngineProcess` and its child.

Both ends speak in frames: pickled tuples whose first item names the kind
(``"run"``, ``"call"``, ``"result"``, ``"done"``, ...).  This module holds what
both sides share: the channel that moves frames, how an error is put into a
frame so the host can rebuild it, and the check that a driver factory can cross.
"""

from __future__ import annotations

import pickle
import queue
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import anyio.from_thread
import anyio.lowlevel

from .._driver import Driver
from .._errors import DriverError, InvalidInput, WagateError, error_response

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

DriverFactory = Callable[[str], Driver]
Frame = tuple[Any, ...]

# What pickle raises for objects it cannot serialise.
PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError)


class Channel:
    """One end of the pipe: pickled tuples, written and read by two daemon threads.

    Sending never blocks the event loop (a writer thread drains a queue); each frame
    read is handed to ``deliver`` in the event loop thread, in order, and ``None``
    is handed over once the other end is gone.
    """

    def __init__(
        self,
        conn: Connection[Any, Any],
        deliver: Callable[[Frame | None], object],
        name: str,
        *,
        on_eof: Callable[[], object] | None = None,
    ) -> None:
        self._conn = conn
        self._deliver = deliver
        self._on_eof = on_eof
        self._token = anyio.lowlevel.current_token()
        self._out: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name=f"{name}-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._writer.start()
        self._reader.start()

    def send(self, frame: Frame) -> None:
        """Queue ``frame``; raises at once if it cannot be pickled."""
        self._out.put(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))

    def _write(self) -> None:
        while (data := self._out.get()) is not None:
            try:
                self._conn.send_bytes(data)
            except OSError:
                return  # the other end is gone; the reader reports it

    def _read(self) -> None:
        while True:
            frame: Frame | None
            try:
                data = self._conn.recv_bytes()
            except (EOFError, OSError):
                frame = None
                if self._on_eof is not None:
                    self._on_eof()
            else:
                frame = pickle.loads(data)  # noqa: S301 - our own process, over a private pipe
            try:
                anyio.from_thread.run_sync(self._deliver, frame, token=self._token)
            except RuntimeError:
                return  # the event loop has ended
            if frame is None:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (up to ``timeout``), then stop writing."""
        self._out.put(None)
        self._writer.join(timeout)

    def join_reader(self, timeout: float) -> None:
        """Wait for the reader thread to end (after the other end closed)."""
        self._reader.join(timeout)


def describe(exc: BaseException) -> tuple[str, str]:
    message = exc.message if isinstance(exc, WagateError) else str(exc)
    return type(exc).__name__, message


def crossing(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """What the host rebuilds ``exc`` from (:func:`~wagate.error_from_body`).

    A wagate error crosses as itself; any other as a :class:`DriverError` naming it.
    """
    if not isinstance(exc, WagateError):
        name, message = describe(exc)
        exc = DriverError(f"{name}: {message}" if message else name)
    answer = error_response(exc, complete=True)
    return answer.status, answer.body


def check_factory(factory: object) -> DriverFactory:
    """``factory`` if the child can be given it (callable, importable, picklable).

    Raises:
        InvalidInput: it cannot cross to the child, and why.
    """
    if not callable(factory):
        raise InvalidInput(f"the driver factory must be callable, got {type(factory).__name__}")
    module = getattr(factory, "__module__", None)
    main = sys.modules.get("__main__")
    if module == "__main__" and getattr(main, "__file__", None) is None:
        raise InvalidInput(
            "the driver factory is defined in an interactive __main__ (python -c, a REPL or "
            "a notebook), which the child process cannot import; define it in a module"
        )
    try:
        pickle.dumps(factory)
    except PICKLE_ERRORS as exc:
        raise InvalidInput(
            "the driver factory must be importable by the child process: a module-level "
            "function or class, or a functools.partial of one (not a lambda or a nested "
            f"function); pickling it failed: {exc}"
        ) from None
    return cast("DriverFactory", factory)
