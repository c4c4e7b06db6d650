"""Short garbage-collection pauses for a gateway that holds many tenants and connections.

CPython's cyclic collector scans, in a full collection, every object that
survived the earlier ones: with 1,000 tenants and 2,000 open streams that is
about half a million objects and a pause of 0.3-0.5 s, which every event in
flight waits out (a QR code reaches its page half a second late).  Nearly all of
those objects live as long as their tenant or connection does, and each full
collection finds them alive again.

:class:`QuietCollector` moves the survivors of each full collection out of the
collector's reach (:func:`gc.freeze`), so that the next full collection scans
only what was made since.  Objects that die later are still freed when their
last reference goes; only those caught in reference cycles wait, until the
collector takes everything back (:func:`gc.unfreeze`) once every
``rescan_every`` seconds and one full collection scans the whole heap again.
``wagate serve`` installs one; a host app installs its own::

    from wagate.collector import QuietCollector

    collector = QuietCollector()
    collector.install()  # once the app is up
    ...
    collector.uninstall()
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["QuietCollector"]


class QuietCollector:
    """Freeze what survives each full garbage collection; rescan everything now and then.

    Args:
        rescan_every: Seconds between two full collections that scan the whole heap
            (the cyclic garbage of frozen objects is freed then); at least 1.
        clock: Seconds, monotonic (default: :func:`time.monotonic`).

    Raises:
        ValueError: ``rescan_every`` is not a finite number of seconds of at least 1.
    """

    def __init__(
        self, *, rescan_every: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if (
            isinstance(rescan_every, bool)
            or not isinstance(rescan_every, (int, float))
            or not math.isfinite(rescan_every)
            or rescan_every < 1
        ):
            raise ValueError(f"rescan_every must be at least 1 second, got {rescan_every!r}")
        self.rescan_every = float(rescan_every)
        self._clock = clock
        self._installed = False
        self._lock = threading.Lock()
        self._rescanned = clock()
        self.frozen_collections = 0
        """Full collections whose survivors were frozen."""
        self.rescans = 0
        """Times everything frozen was handed back to the collector."""

    @property
    def installed(self) -> bool:
        """Whether the collector is installed."""
        return self._installed

    def install(self) -> None:
        """Collect now (a pause, at a moment the caller chose) and freeze the survivors.

        From then on the survivors of every full collection are frozen.  Installing
        twice does nothing more.
        """
        with self._lock:
            if self._installed:
                return
            self._installed = True
            self._rescanned = self._clock()
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._after)

    def uninstall(self) -> None:
        """Stop freezing, and hand everything frozen back to the collector."""
        with self._lock:
            if not self._installed:
                return
            self._installed = False
        if self._after in gc.callbacks:
            gc.callbacks.remove(self._after)
        gc.unfreeze()

    def _after(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        now = self._clock()
        if now - self._rescanned >= self.rescan_every:
            # The next full collection scans the whole heap again; its survivors
            # are frozen after it, as these were.
            self._rescanned = now
            self.rescans += 1
            gc.unfreeze()
            return
        gc.freeze()
        self.frozen_collections += 1
