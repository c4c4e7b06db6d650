"""How long a session waits before it reconnects after a network loss."""

from __future__ import annotations

import math
import random

import attrs

__all__ = ["Backoff"]


@attrs.frozen(kw_only=True)
class Backoff:
    """Capped exponential backoff with jitter, for reconnects after a network loss.

    The n-th consecutive failure waits ``min(maximum, initial * multiplier**(n-1))``,
    then spread by ``±jitter`` (a fraction) so that many sessions losing the
    network together do not reconnect in lockstep.  The count restarts after a
    connection that came up.

    Example:
        >>> Backoff(initial=1, maximum=30).delay(3, random.Random(0))  # doctest: +SKIP
        3.9...
    """

    initial: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    maximum: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 or more)."""
        exponent = max(0, failures - 1)
        try:
            base = min(self.maximum, self.initial * self.multiplier**exponent)
        except OverflowError:
            # Thousands of failures (an outage of days): worked out in logarithms, so
            # that the session waits its cap instead of dying on a float overflow.
            log_base = math.log(self.initial) + exponent * math.log(self.multiplier)
            base = self.maximum if log_base >= math.log(self.maximum) else math.exp(log_base)
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + rng.uniform(-spread, spread)))
