"""The one neonize engine of a process, and the rules that keep it alive.

neonize runs whatsmeow (Go) as a shared library with process-global state:
maps of clients written without locks, one module-global event loop for
callbacks, a finalizer that stops "its" Go client by key when a Python object
is collected.  Anything that breaks those rules ends the whole process.  This
module is the single owner of that global state, so the rules hold by
construction:

- neonize is imported lazily, once, and its import side effects on the root
  logger are undone;
- every engine call that writes the Go maps (starting or stopping a client) is
  exclusive, and every call that reads them (sending, pairing, logging out)
  excludes writers: a readers-writer :class:`Gate`, FIFO-fair;
- one Python client object per key (:class:`Slot`), kept until its Go call has
  returned, never collected while Go may use it;
- neonize's event loop is the running one; each connection's long engine call
  runs on a daemon thread of its own (:class:`EngineCalls`), and the loop's
  default executor grows with the number of live clients for the short calls;
- after a failed dial, the engine is redialled only once a plain TCP probe of
  the endpoint succeeds: every engine connect leaks one database handle, so an
  outage must not turn into thousands of connects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import gc
import logging
import os
import subprocess
import threading
import warnings
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import attrs

from .._errors import DriverError
from ._neonize_gate import Gate

__all__ = [
    "WHATSAPP_ENDPOINT",
    "Engine",
    "EngineCalls",
    "Gate",
    "GoListener",
    "Neonize",
    "Slot",
    "engine",
    "load_neonize",
    "probe",
]

log = logging.getLogger("wagate.neonize")

WHATSAPP_ENDPOINT = ("web.whatsapp.com", 443)
"""Where whatsmeow dials its websocket; the probe checks this (or the proxy)."""

EXECUTOR_HEADROOM = 8
"""Default-executor threads kept free for short engine calls (sends, pairing...)."""

FD_BUDGET = 0.8
"""Engine connects stop when open file descriptors pass this share of the limit."""

PROBE_INTERVAL = 1.0
"""Seconds a failed probe's answer is reused before the endpoint is probed again."""


class GoListener(Protocol):
    """What a client forwards from the engine's own threads (see :class:`Neonize`)."""

    def go_login_status(self, status: str) -> None:
        """The QR login finished with ``status`` (``success``, ``timeout``, ``err-...``)."""

    def go_me(self) -> None:
        """The engine sent the account's device record: its event stream starts."""


@attrs.frozen
class Neonize:
    """The parts of neonize the driver uses, loaded once."""

    client_class: Any
    proto: Any
    e2e: Any
    events_module: Any
    proxy_settings: Any
    device_props: Any
    error: type[Exception]
    media_type: Any
    """neonize's ``MediaType`` enum: what an upload is (``MediaImage``...)."""
    receipt_type: Any
    """neonize's ``ReceiptType`` enum: which receipt ``mark_read`` sends."""
    presence: Any
    """neonize's ``Presence`` enum: what ``send_presence`` broadcasts."""
    chat_presence: Any
    """neonize's ``ChatPresence`` enum: composing or paused, for ``send_chat_presence``."""
    chat_presence_media: Any
    """neonize's ``ChatPresenceMedia`` enum: text or audio (recording), likewise."""
    participant_change: Any
    """neonize's ``ParticipantChange`` enum: add, remove, promote or demote."""
    blocklist_action: Any
    """neonize's ``BlocklistAction`` enum: block or unblock, for ``update_blocklist``."""


_loaded: Neonize | None = None
_load_lock = threading.Lock()


def load_neonize() -> Neonize:
    """Import neonize (about a second, once per process) without touching root logging.

    neonize's import calls ``logging.basicConfig(level=INFO)``; the root logger's
    level and handlers are put back as they were, so the host's logging stays
    its own.
    """
    global _loaded  # noqa: PLW0603 - the process has exactly one engine
    with _load_lock:
        if _loaded is not None:
            return _loaded
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            # neonize's import also runs "uname -a" through os.popen twice without
            # closing it (ResourceWarnings that a host running with -W error would
            # see as errors): they are neonize's, and harmless.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                modules = _import_neonize()
                _reap_neonize_pipes()
        except ImportError as exc:
            raise DriverError(f"the WhatsApp engine (neonize) cannot be loaded: {exc}") from None
        except OSError as exc:
            raise DriverError(
                f"the WhatsApp engine's native library cannot be loaded: {exc}"
            ) from None
        finally:
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        aclient, aevents, proxy_settings, neonize_error, proto, companion, e2e, enums = modules
        if not hasattr(aclient.NewAClient, "_NewAClient__onLoginStatus"):
            log.warning(
                "this neonize version has no login-status callback: QR timeouts are "
                "detected from the codes' expiry instead"
            )
        _loaded = Neonize(
            client_class=_client_class(aclient.NewAClient, aevents.Event, aclient.gocode),
            proto=proto,
            e2e=e2e,
            events_module=aevents,
            proxy_settings=proxy_settings,
            device_props=companion.DeviceProps,
            error=neonize_error,
            media_type=enums.MediaType,
            receipt_type=enums.ReceiptType,
            presence=enums.Presence,
            chat_presence=enums.ChatPresence,
            chat_presence_media=enums.ChatPresenceMedia,
            participant_change=enums.ParticipantChange,
            blocklist_action=enums.BlocklistAction,
        )
        return _loaded


def _reap_neonize_pipes() -> None:
    # The abandoned "uname -a" processes wait in subprocess's list of children to
    # reap; the next Popen anywhere in the process would finalize their pipes and
    # warn then.  Reap them now, while the warnings are off.
    active = getattr(subprocess, "_active", None)
    if not active:
        return
    for proc in list(active):
        if getattr(proc, "args", None) == "uname -a":
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
    cleanup = getattr(subprocess, "_cleanup", None)
    if cleanup is not None:
        cleanup()
    gc.collect()


def _import_neonize() -> tuple[Any, ...]:
    import neonize.aioze.client as aclient  # noqa: PLC0415 - heavy: loaded on first use
    import neonize.aioze.events as aevents  # noqa: PLC0415
    from neonize._binder import ProxySettings  # noqa: PLC0415
    from neonize.exc import NeonizeError  # noqa: PLC0415
    from neonize.proto import Neonize_pb2  # noqa: PLC0415
    from neonize.proto.waCompanionReg import (  # noqa: PLC0415
        WAWebProtobufsCompanionReg_pb2 as companion,
    )
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e  # noqa: PLC0415
    from neonize.utils import enum as enums  # noqa: PLC0415

    return aclient, aevents, ProxySettings, NeonizeError, Neonize_pb2, companion, e2e, enums


def _client_class(new_client: Any, event_class: Any, gocode: Any) -> Any:
    """Neonize's async client, with the engine callbacks the driver needs to see."""

    class Events(event_class):  # type: ignore[misc]
        def execute(self, uuid: Any, binary: int, size: int, code: int) -> None:
            # The engine's event entry point (called on a Go thread).  neonize decodes
            # and dispatches; code 0 (the device record) has no handler, but it marks
            # the end of the engine's start-up reads, which the gate waits for.
            try:
                super().execute(uuid, binary, size, code)
            except Exception:
                log.exception("the WhatsApp engine sent an event (code %s) that failed", code)
            finally:
                if code == 0:
                    _notify(self.client, "go_me")

    class Client(new_client):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.event = Events(self)
            self.paircode = self.event.paircode
            self.qr = self.event.qr
            self.wagate_listener: GoListener | None = None
            calls: Any = getattr(self, "_NewAClient__client")  # noqa: B009 - neonize's private
            self._NewAClient__client = EngineCalls(calls, gocode)

        def _NewAClient__onLoginStatus(self, uuid: int, status: int) -> None:
            # neonize's own callback ignores how the QR login ended; the engine
            # calls it on its Go thread right before it reads its maps again.
            try:
                text = ctypes.string_at(status).decode(errors="replace") if status else ""
            except Exception:
                log.exception("unreadable login status from the WhatsApp engine")
                text = "error"
            _notify(self, "go_login_status", text)

    return Client


class EngineCalls:
    """neonize's engine-call table, except that the connection call gets its own thread.

    neonize runs every engine call with ``asyncio.to_thread``.  The connection
    call (``Neonize``) lasts as long as the connection, and after a QR login that
    nobody completes it never returns at all (neonize 0.5.2 waits forever for a
    device id).  On an executor thread that would hold a worker per client and
    keep the interpreter from exiting; on a daemon thread of its own it does
    neither.
    """

    def __init__(self, calls: Any, gocode: Any) -> None:
        self._calls = calls
        self._gocode = gocode

    def __getattr__(self, name: str) -> Any:
        if name == "Neonize":
            return self._connection
        return getattr(self._calls, name)

    async def _connection(self, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def deliver(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def call() -> None:
            result, error = None, None
            try:
                result = self._gocode.Neonize(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop may be gone by now
                loop.call_soon_threadsafe(deliver, result, error)

        threading.Thread(target=call, name="wagate-engine-connection", daemon=True).start()
        return await future


def _notify(client: Any, method: str, *args: Any) -> None:
    listener = getattr(client, "wagate_listener", None)
    if listener is None:
        return
    try:
        getattr(listener, method)(*args)
    except Exception:
        log.exception("wagate could not handle an engine callback (%s)", method)


# -------------------------------------------------------------------------------- slots


class Slot:
    """The one neonize client object of a key (the engine's client id), kept alive.

    neonize stops the Go client of a key when *any* Python object of that key is
    collected, so there is one object per key, reused across connection
    attempts, and released only once its Go call has returned.

    Attributes:
        key: The engine's client id (``uuid``).
        client: The neonize client object.
        spec: What the client was made for (the device JID, or ``None`` for a new login).
        owner: The driver using it, if any.
        task: neonize's task for the current or last Go connection call.
    """

    def __init__(self, key: str, client: Any, spec: str | None) -> None:
        self.key = key
        self.client = client
        self.spec = spec
        self.owner: object | None = None
        self.task: asyncio.Task[Any] | None = None
        self.abandoned = False
        """Its Go call was left parked in the engine for good (see the driver)."""

    @property
    def busy(self) -> bool:
        """Whether the engine's Go call for this client is still running."""
        return self.task is not None and not self.task.done()

    async def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the Go call to return; return whether it did."""
        task = self.task
        if task is None or task.done():
            return True
        with anyio.move_on_after(timeout):
            await asyncio.wait({task})
        return task.done()


class Engine:
    """The process's neonize engine: loop binding, gate, client slots, dial health."""

    def __init__(self) -> None:
        self.neonize: Neonize | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gate = Gate()
        self.slots: dict[str, Slot] = {}
        self.live = 0
        """Go connection calls running now (each holds an executor thread)."""
        self.starts = 0
        """Go connection calls made by this process (each leaves a database handle open)."""
        self._unreachable: set[tuple[str, int]] = set()
        self._executor_size = 0
        self._retired: list[Slot] = []
        self._probes: dict[tuple[str, int], tuple[float, str]] = {}

    async def bind(self) -> Neonize:
        """Load neonize and bind the engine to the running event loop.

        Raises:
            DriverError: neonize cannot be loaded, the loop is not asyncio, or the
                engine has live clients on another event loop.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise DriverError("the neonize driver runs on asyncio only (not trio)") from None
        if self.neonize is None:
            self.neonize = await anyio.to_thread.run_sync(load_neonize)
        if self.loop is not loop:
            if self.loop is not None and not self.loop.is_closed() and self._in_use():
                raise DriverError(
                    "the WhatsApp engine is serving clients on another event loop; "
                    "run every NeonizeDriver of a process on one asyncio loop"
                )
            self.loop = loop
            self.gate = Gate()
            self._executor_size = 0
            self._forget_stale_slots()
        # neonize dispatches every handler to its module-global loop: point it here.
        self.neonize.events_module.event_global_loop = loop
        return self.neonize

    def _in_use(self) -> bool:
        # A parked (abandoned) call never calls back into Python: it does not pin the loop.
        return any(
            slot.owner is not None or (slot.busy and not slot.abandoned)
            for slot in self.slots.values()
        )

    def _forget_stale_slots(self) -> None:
        # Slots of a closed loop whose Go call has ended can go; their finalizers are
        # detached first so that collecting them stops nothing.
        for key, slot in list(self.slots.items()):
            if not slot.busy and slot.owner is None:
                self._drop(key)

    # ------------------------------------------------------------------ slots
    def claim(self, key: str, owner: object, spec: str | None) -> Slot:
        """The slot of ``key`` for ``owner``, with a client made for ``spec``.

        Raises:
            DriverError: another driver of this process is using the key.
        """
        assert self.neonize is not None
        slot = self.slots.get(key)
        if slot is not None and slot.owner is not None and slot.owner is not owner:
            raise DriverError(
                "this WhatsApp account is already connected by another session of "
                "this process; one account can be served by one session at a time"
            )
        if slot is not None and slot.spec != spec and not slot.busy:
            self._drop(key)
            slot = None
        if slot is None:
            slot = Slot(key, None, spec)
            self.slots[key] = slot
        slot.owner = owner
        return slot

    def make_client(self, slot: Slot, database: str, jid: Any, props: Any) -> Any:
        """Create the slot's client object if it has none."""
        assert self.neonize is not None
        if slot.client is None:
            if jid is not None:
                slot.client = self.neonize.client_class(database, jid=jid, props=props)
            else:
                slot.client = self.neonize.client_class(
                    database, uuid=slot.key, props=props, new_device=True
                )
        return slot.client

    def release(self, slot: Slot, owner: object) -> None:
        """``owner`` is done with ``slot``; it is dropped once its Go call has returned."""
        if slot.owner is owner:
            slot.owner = None
        if not slot.busy and slot.owner is None and self.slots.get(slot.key) is slot:
            self._drop(slot.key)

    def _drop(self, key: str) -> None:
        slot = self.slots.pop(key)
        finalizer = getattr(slot.client, "_stop_finalizer", None)
        if finalizer is not None:
            finalizer.detach()
        elif slot.client is not None:
            # No way to disarm neonize's stop-on-collect: keep the object for good.
            self._retired.append(slot)

    def track(self, slot: Slot, task: asyncio.Task[Any]) -> None:
        """Count ``task`` (neonize's Go connection call) as live until it ends."""
        slot.task = task
        self.live += 1
        self.starts += 1

        def ended(_: asyncio.Task[Any]) -> None:
            self.live -= 1
            if slot.owner is None and self.slots.get(slot.key) is slot:
                self._drop(slot.key)

        task.add_done_callback(ended)

    # ------------------------------------------------------------------ resources
    def ensure_executor(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the loop's default executor a thread per live client, plus headroom.

        neonize runs every short engine call (send, pair, log out) with
        ``asyncio.to_thread``; each can take a network round trip, so a pool
        smaller than the number of clients would queue one tenant's send behind
        everyone else's.  The pool only ever grows; a replaced pool finishes its
        running work.
        """
        needed = self.live + 1 + EXECUTOR_HEADROOM
        current = getattr(loop, "_default_executor", None)
        size = self._executor_size or getattr(current, "_max_workers", 0)
        if current is None:
            size = min(32, (os.cpu_count() or 1) + 4)
        if needed <= size:
            return
        new_size = max(needed, 2 * size)
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(
                max_workers=new_size, thread_name_prefix="wagate-engine"
            )
        )
        self._executor_size = new_size
        if isinstance(current, concurrent.futures.Executor):
            current.shutdown(wait=False)
        log.debug("default executor grown to %d threads for %d live clients", new_size, self.live)

    def fd_problem(self) -> str | None:
        """Why no new engine connection should be opened now, if there is a reason."""
        try:
            import resource  # noqa: PLC0415 - POSIX only

            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            used = len(os.listdir("/proc/self/fd"))
        except (ImportError, OSError):
            return None
        if soft != resource.RLIM_INFINITY and used > soft * FD_BUDGET:
            return (
                f"the process has {used} open files of its limit {soft}; the engine leaves one "
                f"open per connection ({self.starts} so far): restart the process, or run the "
                "driver in a ProcessDriver"
            )
        return None

    # ------------------------------------------------------------------ dial health
    def needs_probe(self, target: tuple[str, int]) -> bool:
        """Whether the last engine dial to ``target`` failed (probe before redialling)."""
        return target in self._unreachable

    def dial_result(self, target: tuple[str, int], *, ok: bool) -> None:
        """Record whether an engine dial (or a probe) reached ``target``."""
        if ok:
            self._unreachable.discard(target)
            self._probes.pop(target, None)
        else:
            self._unreachable.add(target)

    async def probe(self, target: tuple[str, int]) -> str | None:
        """Probe ``target`` (see :func:`probe`), at most once per ``PROBE_INTERVAL`` s.

        Every session of the process shares the answer: a thousand tenants
        waiting out an outage cost one DNS lookup and one TCP attempt a second.
        """
        now = anyio.current_time()
        last = self._probes.get(target)
        if last is not None and now - last[0] < PROBE_INTERVAL:
            return last[1]
        problem = await probe(target)
        if problem is None:
            self._probes.pop(target, None)
        else:
            self._probes[target] = (anyio.current_time(), problem)
        return problem


_engine: Engine | None = None


def engine() -> Engine:
    """The process's engine."""
    global _engine  # noqa: PLW0603 - the process has exactly one engine
    if _engine is None:
        _engine = Engine()
    return _engine


def probe_target(proxy: str | None) -> tuple[str, int]:
    """What the engine dials first: the proxy if there is one, else WhatsApp."""
    if proxy is None:
        return WHATSAPP_ENDPOINT
    parts = urlsplit(proxy)
    default = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}.get(parts.scheme, 1080)
    return (parts.hostname or "localhost", parts.port or default)


async def probe(target: tuple[str, int], timeout: float = 10.0) -> str | None:
    """Open and close a TCP connection to ``target``; return why it failed, or ``None``."""
    host, port = target
    try:
        with anyio.fail_after(timeout):
            stream = await anyio.connect_tcp(host, port)
    except TimeoutError:
        return f"{host}:{port} did not answer within {timeout:g} s"
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc.strerror or exc})"
    await stream.aclose()
    return None
