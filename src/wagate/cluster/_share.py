"""Keeping this process's share of the tenants: renewals, takeovers, rebalancing, hand-overs."""

from __future__ import annotations

import logging

import anyio

from .._errors import NotOwner, StoreError, WagateError
from .._events import State
from .._telemetry import TAKEOVERS, TELEMETRY
from ._lease import Orphan, rendezvous
from ._parts import new_member
from ._state import ClusterState

log = logging.getLogger("wagate.cluster")


class TenantShare(ClusterState):
    """Renews the membership and moves tenants in and out (a mixin of the cluster)."""

    async def _keep(self, scope: anyio.CancelScope) -> None:
        with scope:
            # One interval first: processes started together see each other before
            # taking tenants, instead of the first one taking them all.
            while True:
                await anyio.sleep(self.interval)
                # A stop waits for the renewal in flight (bounded by the leases' timeout)
                # rather than cutting a query off.
                with anyio.CancelScope(shield=True):
                    try:
                        await self._tick()
                    except Exception:
                        log.exception("cluster upkeep failed; trying again")

    async def _tick(self) -> None:
        try:
            deadline = await self.leases.renew(self.member)
        except StoreError as exc:
            await self._renewal_failed(exc)
            return
        if self._pg_down:
            log.warning("PostgreSQL is reachable again")
            self._pg_down = False
        if deadline is None:
            log.error(
                "this process was silent for longer than its lease (%.1f s; paused, or cut "
                "off from PostgreSQL): another process may hold its tenants now; it gives "
                "them up and joins again",
                self.lease_ttl,
            )
            self._deadline = 0.0
            await self._give_up_all(emit=False)
            await self._rejoin()
            return
        self._deadline = deadline
        self._members = await self.leases.live_members()
        held = await self.leases.held(self.member)
        for tenant, token in list(self._owned.items()):
            if held.get(tenant) != token and tenant not in self._leaving:
                log.error("tenant %r was taken by another process; its session here stops", tenant)
                self._owned.pop(tenant, None)
                await self._close_session(tenant)
        await self._adopt(await self.leases.orphans())
        await self._rebalance()

    async def _renewal_failed(self, exc: StoreError) -> None:
        if not self._pg_down:
            log.error("cannot renew this process's cluster membership: %s", exc)
            self._pg_down = True
        # Stop before the lease runs out, while the sessions may still say so.
        if self._owned and anyio.current_time() > self._deadline - 1.5 * self.interval:
            log.error(
                "PostgreSQL unreachable for too long: this process stops its %d session(s); "
                "they resume (here or elsewhere) once it is back",
                len(self._owned),
            )
            await self._give_up_all(emit=True)

    async def _rejoin(self) -> None:
        self.member = new_member()
        with anyio.fail_after(self.connect_timeout):
            await self.router.listen_as(self.member)
        self._deadline = await self._join()
        self._members = await self.leases.live_members()
        log.info("joined cluster %r again as %s", self.name, self.member)

    async def _give_up_all(self, *, emit: bool) -> None:
        tenants = list(self._owned)
        if not emit:
            self._owned.clear()
        async with anyio.create_task_group() as tg:
            for tenant in tenants:
                tg.start_soon(self._close_session, tenant)
        self._owned.clear()

    async def _close_session(self, tenant: str) -> None:
        gateway = self._gateway
        if gateway is None:
            return
        # A session being created now would start after the lease is gone: wait for it.
        await gateway.wait_started(tenant)
        session = gateway.get(tenant)
        if session is not None:
            await session.aclose()

    async def _adopt(self, orphans: list[Orphan]) -> None:
        members = self._members or [self.member]
        dead: list[Orphan] = []
        for orphan in orphans:
            candidates = [m for m in members if m != orphan.holder] or [self.member]
            if rendezvous(orphan.tenant, candidates) != self.member:
                continue
            if not orphan.linked:
                dead.append(orphan)
            elif orphan.tenant not in self._taking and self._tg is not None:
                self._taking.add(orphan.tenant)
                self._tg.start_soon(self._take, orphan.tenant)
        if dead:
            await self.leases.release_dead(dead)

    async def _take(self, tenant: str) -> None:
        gateway = self._gateway
        try:
            async with self._limiter:
                if gateway is not None and not self._stopping:
                    # Taking the lease resumes a linked tenant (see claim).
                    await gateway.session(tenant)
                    TELEMETRY.add(TAKEOVERS, tenant=tenant)
        except NotOwner:
            pass  # another process was quicker
        except WagateError as exc:
            log.warning("could not take tenant %r: %s", tenant, exc)
        finally:
            self._taking.discard(tenant)

    async def _resume(self, tenant: str) -> None:
        gateway = self._gateway
        if gateway is None or self._stopping:
            return
        session = await gateway.session(tenant)
        await session.connect()

    async def _rebalance(self) -> None:
        members = self._members
        if self.member not in members:
            return
        moving = [
            tenant
            for tenant in self._owned
            if tenant not in self._leaving
            and tenant not in self._busy  # moved at a later renewal, not mid-command
            and not self._logging_in(tenant)  # moving would lose the QR code being shown
            and rendezvous(tenant, members) != self.member
        ]
        # A few at a time: a process that joins gets its share over a few renewals.
        for tenant in moving[:32]:
            if self._tg is not None:
                self._tg.start_soon(self._hand_over, tenant)

    def _logging_in(self, tenant: str) -> bool:
        gateway = self._gateway
        session = gateway.get(tenant) if gateway is not None else None
        return (
            session is not None
            and session.account is None
            and session.state in (State.CONNECTING, State.AWAITING_SCAN)
        )

    async def _hand_over(self, tenant: str) -> None:
        token = self._owned.get(tenant)
        if token is None or tenant in self._leaving:
            return
        self._leaving.add(tenant)
        try:
            await self._close_session(tenant)
            await self.backplane.flushed(2.0)
            self._owned.pop(tenant, None)
            await self.leases.release(tenant, self.member, token)
        except StoreError as exc:
            log.warning("tenant %r: could not release its lease (%s)", tenant, exc)
        finally:
            self._leaving.discard(tenant)
