"""Health: whether a process is alive, and whether it is ready for traffic.

:meth:`~wagate.Gateway.readiness` checks what a gateway needs to serve: that it
is started and not closing, that its session store answers, and, in a cluster,
that Redis answers.  ``GET /healthz`` (alive) and ``GET /readyz`` (ready) answer
from it, for load balancers and Kubernetes probes.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import attrs

if TYPE_CHECKING:
    from ._gateway import Gateway

__all__ = ["CHECK_TIMEOUT", "OK", "Readiness", "readiness"]

CHECK_TIMEOUT = 2.0
"""How long each readiness check may take before it counts as failed, in seconds."""
OK = "ok"
"""What a check that passed says."""


@attrs.frozen(kw_only=True)
class Readiness:
    """Whether a gateway is ready, and what each of its checks said.

    Attributes:
        ready: Every check passed.
        checks: By name (``gateway``, ``store``, ``redis``): ``"ok"``, or why not.
    """

    ready: bool
    checks: dict[str, str]

    def payload(self) -> dict[str, object]:
        """The JSON ``GET /readyz`` answers."""
        return {"status": "ready" if self.ready else "unready", "checks": dict(self.checks)}


async def _outcome(check: Callable[[], Awaitable[None]], timeout: float) -> str:
    try:
        with anyio.fail_after(timeout):
            await check()
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure of a check is its answer, not a crash
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return f"unreachable: {detail}"
    return OK


async def readiness(gateway: Gateway, *, timeout: float = CHECK_TIMEOUT) -> Readiness:
    """Check ``gateway``: started, its store answering, its cluster's Redis answering.

    The checks run concurrently, each within ``timeout`` seconds.
    """
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    checks: dict[str, str] = {"gateway": OK if gateway.started else "not started, or closing"}
    probes: dict[str, Callable[[], Awaitable[None]]] = {"store": gateway.store.check}
    if gateway.cluster is not None:
        probes["redis"] = gateway.cluster.check

    async def run(name: str, probe: Callable[[], Awaitable[None]]) -> None:
        checks[name] = await _outcome(probe, timeout)

    async with anyio.create_task_group() as tg:
        for name, probe in probes.items():
            tg.start_soon(run, name, probe)
    return Readiness(ready=all(v == OK for v in checks.values()), checks=checks)
