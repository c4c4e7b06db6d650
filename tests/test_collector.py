"""QuietCollector: the survivors of a full collection are frozen, cyclic garbage is still freed.

The collector is the real one (``gc``), driven with ``gc.collect()``; the rescan's
clock is moved by hand.  Each test uninstalls what it installed, so the rest of
the suite runs with the collector as it was.
"""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Iterator

import pytest

from wagate.collector import QuietCollector


class Cycle:
    """An object in a reference cycle with itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def clock() -> list[float]:
    return [0.0]


@pytest.fixture
def collector(clock: list[float]) -> Iterator[QuietCollector]:
    quiet = QuietCollector(rescan_every=60, clock=lambda: clock[0])
    quiet.install()
    try:
        yield quiet
    finally:
        quiet.uninstall()
    assert gc.get_freeze_count() == 0


def test_installing_freezes_what_is_alive_and_each_full_collections_survivors(
    collector: QuietCollector,
) -> None:
    assert collector.installed
    assert gc.get_freeze_count() > 0
    kept = [Cycle() for _ in range(1000)]
    before = gc.get_freeze_count()
    gc.collect()
    assert collector.frozen_collections == 1
    assert gc.get_freeze_count() >= before + len(kept)
    assert len(gc.get_objects(generation=2)) < len(kept)  # the next one scans only new objects
    collector.install()  # twice: nothing more
    assert gc.callbacks.count(collector._after) == 1


def test_cyclic_garbage_made_after_the_freeze_is_still_freed(collector: QuietCollector) -> None:
    cycle = Cycle()
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None


def test_frozen_cyclic_garbage_is_freed_after_the_rescan(
    collector: QuietCollector, clock: list[float]
) -> None:
    cycle = Cycle()
    gone = weakref.ref(cycle)
    gc.collect()  # it survives, so it is frozen
    del cycle
    gc.collect()
    assert gone() is not None  # frozen: the collector does not look at it
    clock[0] += 61
    gc.collect()  # due: everything goes back to the collector
    assert collector.rescans == 1
    gc.collect()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # the survivors of that scan are frozen again


def test_uninstalling_hands_everything_back(clock: list[float]) -> None:
    quiet = QuietCollector(clock=lambda: clock[0])
    quiet.install()
    quiet.uninstall()
    quiet.uninstall()  # twice: nothing more
    assert not quiet.installed
    assert gc.get_freeze_count() == 0
    assert quiet._after not in gc.callbacks
    cycle = Cycle()
    gone = weakref.ref(cycle)
    gc.collect()
    del cycle
    gc.collect()
    assert gone() is None and quiet.frozen_collections == 0


@pytest.mark.parametrize("bad", [0, 0.5, -1, math.nan, math.inf, True, "60", None], ids=repr)
def test_a_rescan_period_under_a_second_or_not_a_number_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="rescan_every"):
        QuietCollector(rescan_every=bad)  # type: ignore[arg-type]
