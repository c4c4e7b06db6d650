"""A member seen gone: its tenants are reported ``owner_lost`` before the takeover."""

from __future__ import annotations

import logging
from typing import Any

import anyio

from .._errors import StoreError
from .._events import Disconnected, DisconnectReason, utcnow
from ._lease import rendezvous
from ._redis import REDIS_DOWN
from ._state import ClusterState

log = logging.getLogger("wagate.cluster")


class MemberWatch(ClusterState):
    """Watches the other members' presence in Redis (a mixin of the cluster)."""

    async def _watch(self) -> None:
        """Report the tenants of a member seen gone from Redis, without waiting for its lease."""
        gone_since: dict[str, float] = {}
        while True:
            await anyio.sleep(min(0.25, self.interval))
            try:
                await self._look_for_lost(gone_since)
            except (StoreError, *REDIS_DOWN) as exc:
                log.debug("could not look for lost members (%s); trying again", exc)

    async def _look_for_lost(self, gone_since: dict[str, float]) -> None:
        self._lost &= set(self._members)  # forgotten once its lease is gone too
        others = [m for m in self._members if m != self.member and m not in self._lost]
        if not others or not self._valid() or self._stopping:
            gone_since.clear()
            return
        counts: Any = await self._client.pubsub_numsub(*(self.router.channel(m) for m in others))
        listened = {(c.decode() if isinstance(c, bytes) else c) for c, n in counts if n}
        now = anyio.current_time()
        for member in others:
            if self.router.channel(member) in listened:
                gone_since.pop(member, None)
                continue
            silent = now - gone_since.setdefault(member, now)
            if silent < self.presence_grace:
                continue
            # Silent on Redis is not dead: a live member cut off from Redis only still
            # renews in PostgreSQL (every `interval`), and reporting it would number a
            # notice above the seqs it is still using.  Dead is silent *and* overdue.
            since_renewal = await self.leases.since_renewal(member)
            if since_renewal is not None and since_renewal < self.interval + self.presence_grace:
                continue
            del gone_since[member]
            self._lost.add(member)
            await self._report_lost(member)

    async def _report_lost(self, member: str) -> None:
        survivors = [m for m in self._members if m not in self._lost] or [self.member]
        held = await self.leases.held(member)
        mine = [t for t in held if rendezvous(t, survivors) == self.member]  # one teller each
        log.warning(
            "cluster member %s is gone from Redis; its %d tenant(s) are reported owner_lost "
            "until they are taken over",
            member,
            len(held),
        )
        for tenant in mine:
            await self._tell_owner_lost(tenant, held[tenant], member)

    async def _tell_owner_lost(self, tenant: str, token: int, member: str) -> None:
        current = self.hub.current(tenant)
        if current and isinstance(current[0], Disconnected):
            return  # it already says so
        # The holder's seqs stay at or below the stored high-water mark, and the next
        # holder starts above it: the notice takes the mark itself.  Redis refuses it
        # if the holder had used that seq (or if the takeover published first).
        stored = await self.store.load(tenant)
        seq = stored.seq if stored is not None else 0
        if seq <= (self.hub.last_seq(tenant) or 0):
            return  # no seq left to number it with
        event = Disconnected(
            tenant=tenant,
            seq=seq,
            at=utcnow(),
            reason=DisconnectReason.OWNER_LOST,
            will_retry=True,
            detail=(
                f"the process running the session (cluster member {member}) is gone; "
                f"another takes it over within {self.takeover_bound:.0f} s"
            ),
        )
        if await self.backplane.publish_for(event, token):
            # Socket.IO (through its own Redis manager) and webhooks carry this
            # process's events: the notice is this process's to send, once.
            self.hub.local.publish(event)
