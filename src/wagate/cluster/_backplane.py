"""The Redis backplane: events of every process to every process, and the shared replay log.

Keys (all under the cluster's prefix ``<name>:``):

- ``events``: one stream of every tenant's events, an entry per batch a process
  wrote at once, capped at about ``stream_length`` events (``events:size`` counts
  them); each process reads it from where it last was (``XREAD``), so a process
  that loses Redis for a moment catches up without loss when it is back;
- ``log:<tenant>``: the tenant's replay log, a stream whose entry ids are the
  events' seqs (so Redis itself refuses a seq out of order), capped by length and
  expiring after ``replay_age`` without events;
- ``fence``: a hash tenant -> the highest lease token that published; an event
  with a lower token is refused, so a process that lost a tenant cannot emit for it;
- ``current`` / ``pairing``: hashes tenant -> the last state event and the pending
  pairing code, so a process that starts late knows where every tenant stands.

One Lua script call checks the fences and writes a batch of events to all of them
at once; an entry of ``events`` names the process that delivered it already, which
skips it unread.
Events of this process's sessions are delivered to its own subscribers at once
(they do not wait for Redis) and queued for Redis; while Redis is unreachable
the queue holds up to ``outbox`` events, then drops the oldest and publishes a
``stream:gap`` naming them when Redis is back.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import anyio.abc
import redis.asyncio
import redis.exceptions

from .._events import STATE_EVENTS, Event, Gap, PairingCode, utcnow
from .._hub import Backplane, Hub, with_gap
from ._wire import decode_event, encode_event

__all__ = ["RedisBackplane"]

log = logging.getLogger("wagate.cluster")

# One call writes a batch of events, in order, as if each were written alone.
# KEYS: fence, events, events' size, current, pairing, then the log and the jumps set
#       of each tenant of ARGV, in its order.
# ARGV: log length, stream length, log ttl (ms), member, sent (l: this process's
#       subscribers have them, r: they wait for them from Redis), T (how many
#       tenants), the T tenants, then one string per event: "<tenant's index, from 1>
#       <token> <seq> <kind: s state, p pairing, -> <wire name>" "\n" <JSON data>.
# Returns one character per event: 1 written, 0 refused (a newer lease published
# for the tenant), - its seq is already in the log.
# The fence, the log's newest seq and the expiries are read and set once per tenant.
# A seq more than one above the log's newest is a jump (a new owner after a crash
# starts past the dead one's reserved block): the jumps set remembers it (score: the
# seq after the jump, member: the seq before), so that a gap in the trimmed log counts
# events, never the skipped seqs.
# The events written go to the events stream as one entry of one field, e =
# <member when sent is l, else ''> then "\n" <name> "\n" <data> for each: a process
# skips its own entries unread, and a reader parses one entry per batch.  The
# stream is trimmed to about `stream length` events, plus one entry: the size hash
# counts the events and entries added (halved now and then, to follow recent batches).
_PUBLISH = """
local log_length, stream_length, ttl, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local tenants = tonumber(ARGV[6])
local fences, newest, touched, results, written = {}, {}, {}, {}, {}
for i = 7 + tenants, #ARGV do
    local event = ARGV[i]
    local cut = string.find(event, '\\n', 1, true)
    local index, token, seq, kind, name =
        string.match(string.sub(event, 1, cut - 1), '^(%d+) (%d+) (%d+) (%S) (%S+)$')
    local data = string.sub(event, cut + 1)
    local t = tonumber(index)
    local tenant, log, jumps = ARGV[6 + t], KEYS[4 + 2 * t], KEYS[5 + 2 * t]
    local fence = fences[t]
    if fence == nil then fence = tonumber(redis.call('HGET', KEYS[1], tenant) or '0') end
    local tok = tonumber(token)
    if tok < fence then
        results[#results + 1] = '0'
    else
        if tok > fence then
            redis.call('HSET', KEYS[1], tenant, token)
            fence = tok
        end
        local last = newest[t]
        if last == nil then
            last = false
            local top = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]
            if top then last = tonumber(string.match(top[1], '^(%d+)')) end
        end
        local added = redis.pcall('XADD', log, 'MAXLEN', '~', log_length, seq .. '-0',
            'n', name, 'd', data, 'k', token, 'm', member)
        if type(added) == 'table' and added.err then
            results[#results + 1] = '-'
        else
            local number = tonumber(seq)
            if last and number > last + 1 then redis.call('ZADD', jumps, number, last) end
            last = number
            touched[t] = true
            written[#written + 1] = name
            written[#written + 1] = data
            if kind == 's' then
                redis.call('HSET', KEYS[4], tenant, name .. '\\n' .. data)
                if name ~= 'qr:generated' then redis.call('HDEL', KEYS[5], tenant) end
            elseif kind == 'p' then
                redis.call('HSET', KEYS[5], tenant, name .. '\\n' .. data)
            end
            results[#results + 1] = '1'
        end
        newest[t] = last
    end
    fences[t] = fence
end
for t in pairs(touched) do
    redis.call('PEXPIRE', KEYS[4 + 2 * t], ttl)
    redis.call('PEXPIRE', KEYS[5 + 2 * t], ttl)
end
if #written > 0 then
    local events = redis.call('HINCRBY', KEYS[3], 'events', #written / 2)
    local entries = redis.call('HINCRBY', KEYS[3], 'entries', 1)
    if entries >= 10000 then
        events, entries = math.ceil(events / 2), math.ceil(entries / 2)
        redis.call('HSET', KEYS[3], 'events', events, 'entries', entries)
    end
    local keep = math.ceil(tonumber(stream_length) * entries / events) + 1
    local from = ''
    if ARGV[5] == 'l' then from = member end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', keep, '*',
        'e', from .. '\\n' .. table.concat(written, '\\n'))
end
return table.concat(results)
"""

# KEYS: fence.  ARGV: tenant, token.  Raises the fence (never lowers it).
_RAISE_FENCE = """
local fence = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > fence then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return fence
"""

# Any failure of Redis: the loops report it and try again, they never stop the gateway.
_REDIS_DOWN = (redis.exceptions.RedisError, OSError)

_FIRST_RETRY = 0.1
"""Seconds the reader and the writer wait after Redis first fails; doubled on each failure..."""
_LAST_RETRY = 2.0
"""...up to this many."""


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


class RedisBackplane(Backplane):
    """A :class:`~wagate.Backplane` on one Redis (see the module's description).

    Made by :class:`~wagate.cluster.Cluster`; it runs inside the cluster's task group.

    Args:
        client: The Redis client (``decode_responses`` off).
        prefix: The keys' prefix, ``"<cluster name>:"``.
        token_for: The lease token this process may publish a tenant's events
            with, or ``None`` when it holds no valid lease of the tenant (or
            later, :meth:`bind`).
        member: This process's member id (recorded with each event in the logs).
        log_length: Events kept per tenant in the replay log.
        stream_length: Events kept in the stream every process reads.
        replay_age: How long a tenant's log lives after its last event.
        outbox: Events kept for Redis while it is unreachable.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str,
        token_for: Callable[[str], int | None] = lambda tenant: None,
        member: Callable[[], str] = lambda: "",
        log_length: int,
        stream_length: int,
        replay_age: timedelta,
        outbox: int,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._token_for = token_for
        self._member = member
        self.log_length = log_length
        self.stream_length = stream_length
        self.replay_age = replay_age
        self.outbox_limit = outbox
        self.hub: Hub | None = None
        """The hub the events read from Redis go to (:meth:`bind` sets it)."""
        self._outbox: deque[tuple[Event, int]] = deque()
        self._gaps: dict[str, tuple[int, int, int]] = {}
        self._wake = anyio.Event()
        self._flushed = anyio.Event()
        self._position = b"$"
        self._caught_up_to = b"0-0"
        self._progress = anyio.Event()
        self._publish = client.register_script(_PUBLISH)
        self._raise_fence = client.register_script(_RAISE_FENCE)
        self.connected = True
        """Whether the last exchange with Redis worked."""
        self.published = 0
        """Events written to Redis by this process."""
        self.refused = 0
        """Events refused because this process no longer held the tenant's lease."""
        self.dropped = 0
        """Events dropped because Redis was unreachable for too long (reported as gaps)."""
        self.received = 0
        """Events of other processes (and those :meth:`publish_for` wrote) read from Redis."""

    def bind(
        self, hub: Hub, *, token_for: Callable[[str], int | None], member: Callable[[], str]
    ) -> None:
        """Carry ``hub``'s events, publishing with ``token_for``'s tokens as ``member()``."""
        self.hub = hub
        self._token_for = token_for
        self._member = member

    def key(self, *parts: str) -> str:
        """A Redis key under the cluster's prefix."""
        return self.prefix + ":".join(parts)

    # ------------------------------------------------------------------ Backplane
    def publish(self, event: Event) -> bool:
        """Queue an event of this process's session for Redis (see :class:`~wagate.Backplane`)."""
        token = self._token_for(event.tenant)
        if token is None:
            self.refused += 1
            log.warning(
                "tenant %r: %s (seq %d) not emitted: this process no longer holds the tenant",
                event.tenant,
                type(event).__name__,
                event.seq,
            )
            return False
        self._outbox.append((event, token))
        if len(self._outbox) > self.outbox_limit:
            old, old_token = self._outbox.popleft()
            first, _, _ = self._gaps.get(old.tenant, (old.seq, old.seq, old_token))
            self._gaps[old.tenant] = (first, old.seq, old_token)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "Redis unreachable: %d event(s) dropped so far; the other processes' "
                    "subscribers will get a stream:gap for them",
                    self.dropped,
                )
        self._wake.set()
        return True

    async def publish_for(self, event: Event, token: int) -> bool:
        """Write an event of a tenant this process does not hold, under the holder's ``token``.

        What the cluster says for a tenant whose holder is gone (``owner_lost``).
        Returns whether Redis took it: it refuses it once a newer lease published
        (the takeover came first), or when the tenant's log already holds its seq.
        It reaches this process's subscribers when it comes back from Redis, as
        other processes' events do.  Raises redis' own errors.
        """
        taken = await self._write([(event, token)], sent=False) == "1"
        if taken:
            self.published += 1
        return taken

    async def history(self, tenant: str, after_seq: int) -> list[Event] | None:
        """The tenant's events after ``after_seq``, from its log in Redis."""
        key = self.key("log", tenant)
        try:
            info = await self.client.xinfo_stream(key)
        except redis.exceptions.ResponseError:
            return None  # no such key: nothing logged lately
        newest = _seq(info["last-generated-id"])
        if after_seq > newest:
            return None
        entries: Any = await self.client.xrange(key, min=f"{after_seq + 1}-0", max="+")
        horizon = utcnow() - self.replay_age
        events: list[Event] = []
        for _, fields in entries:
            event = decode_event(fields[b"n"], fields[b"d"])
            if event.at < horizon:
                continue  # too old to replay: counted as missed below
            events.append(event)
        first_kept = events[0].seq if events else newest + 1
        if first_kept == after_seq + 1:
            return events
        missed = await self._missed(tenant, info, after_seq, first_kept)
        return with_gap(tenant, after_seq, first_kept, missed, events)

    async def newest(self, tenant: str) -> int | None:
        """The seq of the tenant's newest event in its log in Redis (``None``: no log)."""
        entries: Any = await self.client.xrevrange(self.key("log", tenant), count=1)
        return _seq(entries[0][0]) if entries else None

    async def _missed(self, tenant: str, info: Any, after_seq: int, before_seq: int) -> int | None:
        """How many events had seqs strictly between the two (``None``: unknown).

        Within the log's lifetime every seq was an event, trimmed or not, or was
        skipped by a jump, which the jumps set records.  Before the log's first
        event (it expired, or Redis lost it) nobody knows.
        """
        jumps: Any = await self.client.zrange(self.key("jumps", tenant), 0, -1, withscores=True)
        skips = [(int(before) + 1, int(after) - 1) for before, after in jumps]

        def skipped(low: int, high: int) -> int:  # skipped seqs within [low, high]
            return sum(max(0, min(last, high) - max(first, low) + 1) for first, last in skips)

        added, length = info.get("entries-added"), info.get("length", 0)
        if added is None:
            return None  # a Redis before 7.0 does not say how many were trimmed
        first_entry = _seq(info["recorded-first-entry-id"]) if length else before_seq
        trimmed = int(added) - int(length)
        first_ever = first_entry - trimmed - skipped(0, first_entry - 1)
        if after_seq + 1 < first_ever:
            return None
        return before_seq - after_seq - 1 - skipped(after_seq + 1, before_seq - 1)

    # ------------------------------------------------------------------ cluster's use
    async def check(self) -> None:
        """Ping Redis (raises redis' own errors)."""
        await self.client.ping()

    async def current_states(self) -> dict[str, tuple[Event, ...]]:
        """Every tenant's current state as last published (for a process that starts)."""
        states: Any = await self.client.hgetall(self.key("current"))
        pairings: Any = await self.client.hgetall(self.key("pairing"))
        result: dict[str, tuple[Event, ...]] = {}
        for raw_tenant, raw in states.items():
            name, _, data = raw.partition(b"\n")
            events: list[Event] = [decode_event(name, data)]
            pairing = pairings.get(raw_tenant)
            if pairing is not None:
                pname, _, pdata = pairing.partition(b"\n")
                events.append(decode_event(pname, pdata))
            result[raw_tenant.decode()] = tuple(events)
        return result

    async def raise_fence(self, tenant: str, token: int) -> None:
        """Refuse from now on any event of ``tenant`` published with a token below ``token``."""
        await self._raise_fence(keys=[self.key("fence")], args=[tenant, token])

    async def start_reading(self) -> None:
        """Read the stream from its current end on (call before :meth:`read`)."""
        last: Any = await self.client.xrevrange(self.key("events"), count=1)
        self._position = last[0][0] if last else b"0-0"
        self._caught_up_to = self._position

    async def caught_up(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until every event in Redis now has been delivered here."""
        with anyio.move_on_after(timeout):
            last: Any = await self.client.xrevrange(self.key("events"), count=1)
            if not last:
                return
            target = last[0][0]
            while _stream_id(self._caught_up_to) < _stream_id(target):
                await self._progress.wait()

    async def read(self) -> None:
        """Deliver every process's events to the hub, for ever (reconnecting as needed)."""
        stream = self.key("events")
        delay = _FIRST_RETRY
        while True:
            try:
                batches: Any = await self.client.xread(
                    {stream: self._position}, count=1000, block=1000
                )
                if not self.connected:
                    await self._check_loss(stream)
            except _REDIS_DOWN as exc:
                delay = await self._retry_later(exc, delay)
                continue
            self._up()
            delay = _FIRST_RETRY
            own = self._member().encode()
            for _, entries in batches:
                for _, fields in entries:
                    self._deliver(fields, own)
                if entries:
                    self._position = entries[-1][0]
                await anyio.lowlevel.checkpoint()
            self._caught_up_to = self._position
            self._progress.set()
            self._progress = anyio.Event()

    async def _check_loss(self, stream: str) -> None:
        info = await self.client.xinfo_stream(stream)
        if _stream_id(info.get("max-deleted-entry-id") or b"0-0") > _stream_id(self._position):
            log.error(
                "Redis was unreachable long enough for events of other processes to be "
                "trimmed from %s before this process read them; its subscribers miss them "
                "(raise the cluster's stream_length)",
                stream,
            )

    def _deliver(self, fields: dict[bytes, bytes], own: bytes) -> None:
        """Decode an entry of the events stream and deliver its events, unless ``own`` sent it."""
        parts = fields.get(b"e", b"").split(b"\n")
        if len(parts) < 3 or len(parts) % 2 == 0:
            log.error("a malformed entry in the cluster stream was skipped: %r", fields)
            return
        if own and parts[0] == own:
            return  # this process's subscribers had them when they were published
        hub = self.hub
        for i in range(1, len(parts), 2):
            try:
                event = decode_event(parts[i], parts[i + 1])
            except Exception:
                log.exception("a malformed event in the cluster stream was skipped: %r", parts[i])
                continue
            self.received += 1
            if hub is not None:
                hub.deliver(event)

    async def flush_forever(self) -> None:
        """Write the queued events to Redis, in order, for ever (retrying while it is down)."""
        delay = _FIRST_RETRY
        while True:
            if not self._outbox and not self._gaps:
                self._flushed.set()
                self._flushed = anyio.Event()
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            try:
                await self._flush_batch()
            except _REDIS_DOWN as exc:
                delay = await self._retry_later(exc, delay)
                continue
            self._up()
            delay = _FIRST_RETRY

    async def flushed(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until the queue is empty; return whether it is."""
        with anyio.move_on_after(timeout):
            while self._outbox or self._gaps:
                self._wake.set()
                await self._flushed.wait()
        return not self._outbox and not self._gaps

    @property
    def pending(self) -> int:
        """Events waiting for Redis."""
        return len(self._outbox)

    async def _flush_batch(self) -> None:
        gaps = list(self._gaps.items())
        batch = [self._outbox[i] for i in range(min(len(self._outbox), 512))]
        items: list[tuple[Event, int]] = [
            (
                Gap(tenant=tenant, seq=last, at=utcnow(), first_seq=first, last_seq=last),
                token,
            )
            for tenant, (first, last, token) in gaps
        ]
        items.extend(batch)
        results = await self._write(items, sent=True)
        # Only now, once Redis has them: a failure above leaves the queue as it was.
        for tenant, _ in gaps:
            self._gaps.pop(tenant, None)
        for _ in batch:
            self._outbox.popleft()
        for (event, token), result in zip(items, results, strict=True):
            if result == "1":
                self.published += 1
            elif result == "0":
                self.refused += 1
                log.warning(
                    "tenant %r: %s (seq %d) refused by Redis: another process holds the "
                    "tenant now (token %d is stale)",
                    event.tenant,
                    type(event).__name__,
                    event.seq,
                    token,
                )
            else:
                log.debug("tenant %r: seq %d was already in its log", event.tenant, event.seq)

    async def _write(self, items: list[tuple[Event, int]], *, sent: bool) -> str:
        """Write ``items`` (event, token) in one call; one result character each (see _PUBLISH).

        ``sent``: this process's subscribers have them already (so it skips them
        when they come back from Redis).  Raises redis' own errors.
        """
        key = self.key
        keys = [key("fence"), key("events"), key("events", "size"), key("current"), key("pairing")]
        tenants: dict[str, int] = {}
        lines: list[str] = []
        for event, token in items:
            tenant = event.tenant
            index = tenants.get(tenant)
            if index is None:
                index = tenants[tenant] = len(tenants) + 1
                keys += (key("log", tenant), key("jumps", tenant))
            name, data = encode_event(event)
            if isinstance(event, STATE_EVENTS):
                kind = "s"
            elif isinstance(event, PairingCode):
                kind = "p"
            else:
                kind = "-"
            lines.append(f"{index} {token} {event.seq} {kind} {name}\n{data}")
        args: list[int | str] = [
            self.log_length,
            self.stream_length,
            int(self.replay_age.total_seconds() * 1000),
            self._member(),
            "l" if sent else "r",
            len(tenants),
            *tenants,
            *lines,
        ]
        result: Any = await self._publish(keys=keys, args=args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def _retry_later(self, exc: BaseException, delay: float) -> float:
        """After a failed call: Redis is down; wait ``delay`` s, return the next wait (doubled)."""
        self._down(exc)
        await anyio.sleep(delay)
        return min(delay * 2, _LAST_RETRY)

    def _down(self, exc: BaseException) -> None:
        if self.connected:
            log.error(
                "Redis is unreachable (%s): events of this process are kept for it "
                "(%d waiting), commands for other processes fail until it is back",
                exc,
                len(self._outbox),
            )
        self.connected = False

    def _up(self) -> None:
        if not self.connected:
            log.warning(
                "Redis is reachable again; %d event(s) waiting are being sent", self.pending
            )
        self.connected = True


def _stream_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
