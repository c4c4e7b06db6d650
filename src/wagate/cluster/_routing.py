"""Commands to the process that holds a tenant, over Redis pub/sub, answered with its result.

Each cluster member listens on its own channel, ``<name>:member:<id>``.  A call is
one JSON message there; the answer comes back on the caller's inbox channel,
``<name>:inbox:<random>``, which stays the same for the life of the process (a
process that rejoins under a new member id still gets the answers it waits for).  Redis
says how many processes received a published message: none means the holder
is gone (or cut off from Redis), which is answered at once with
:class:`~wagate.NoOwner` instead of waiting out the timeout.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import redis.asyncio
import redis.exceptions

from .._errors import InternalError, NoOwner, OwnerTimeout, WagateError
from ._wire import decode_error, decode_result, dumps, encode_error, encode_result

__all__ = ["Router"]

log = logging.getLogger("wagate.cluster")

Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]

_REDIS_DOWN = (redis.exceptions.RedisError, OSError)


class _Pending:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.reply: Mapping[str, Any] | None = None


async def _nothing_runs_here(tenant: str, command: str, args: Mapping[str, Any]) -> Any:
    raise NoOwner("this process runs no sessions yet", tenant=tenant)


class Router:
    """Sends commands to other members and runs the ones sent to this member.

    Args:
        client: The Redis client.
        prefix: The cluster's key prefix, ``"<name>:"``.
        execute: Runs a command here: ``await execute(tenant, command, args)``
            (or later, :meth:`bind`).
        takeover_within: Seconds until a dead holder's tenants are taken (for messages).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str,
        execute: Execute | None = None,
        takeover_within: float,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._execute = execute or _nothing_runs_here
        self.takeover_within = takeover_within
        self._pending: dict[str, _Pending] = {}
        self._member: str | None = None
        self._listening: str | None = None
        self._switched = anyio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.inbox = f"{prefix}inbox:{uuid.uuid4().hex}"
        """The channel this process's answers come back on."""

    def bind(self, execute: Execute) -> None:
        """Run the commands sent to this member with ``execute`` (the cluster's own)."""
        self._execute = execute

    def channel(self, member: str) -> str:
        """The channel ``member`` listens on."""
        return f"{self.prefix}member:{member}"

    async def listen_as(self, member: str) -> None:
        """Listen on ``member``'s channel (instead of the previous one); wait until it does."""
        self._member = member
        while self._listening != member:
            await self._switched.wait()

    async def listen(self, tg: anyio.abc.TaskGroup) -> None:
        """Receive calls and replies for ever, reconnecting as needed; calls run in ``tg``."""
        delay = 0.1
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._receive(pubsub, tg)
            except _REDIS_DOWN as exc:
                log.debug("command channel lost (%s); listening again", exc)
                self._listening = None
                await anyio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()

    async def _receive(self, pubsub: Any, tg: anyio.abc.TaskGroup) -> None:
        await pubsub.subscribe(self.inbox)
        self._listening = None
        while True:
            member = self._member
            if member is not None and member != self._listening:
                if self._listening is not None:
                    await pubsub.unsubscribe(self.channel(self._listening))
                await pubsub.subscribe(self.channel(member))
                self._listening = member
                self._switched.set()
                self._switched = anyio.Event()
            message = await pubsub.get_message(timeout=0.25)
            if message is None or message.get("type") != "message":
                continue
            try:
                body = json.loads(message["data"])
            except ValueError:
                log.warning("a malformed message on the command channel was ignored")
                continue
            if body.get("op") == "reply":
                pending = self._pending.get(str(body.get("id")))
                if pending is not None:
                    pending.reply = body
                    pending.done.set()
            elif body.get("op") == "call":
                call_id = str(body.get("id"))
                if call_id in self._seen:
                    continue  # sent twice (a retried publish): run once
                self._seen[call_id] = None
                if len(self._seen) > 10_000:
                    self._seen.popitem(last=False)
                tg.start_soon(self._serve, body)

    async def _serve(self, body: Mapping[str, Any]) -> None:
        tenant = str(body.get("tenant"))
        try:
            result = encode_result(
                await self._execute(tenant, str(body.get("command")), body.get("args") or {})
            )
        except WagateError as exc:
            result = encode_error(exc)
        except Exception:
            log.exception("tenant %r: command %r failed", tenant, body.get("command"))
            result = encode_error(
                InternalError("the command failed on the process holding the tenant", tenant=tenant)
            )
        reply = dumps({"op": "reply", "id": body.get("id"), "result": result})
        reply_to = str(body.get("reply_to"))
        if not reply_to.startswith(f"{self.prefix}inbox:"):
            log.warning("tenant %r: a command without a valid inbox was not answered", tenant)
            return
        try:
            await self.client.publish(reply_to, reply)
        except _REDIS_DOWN as exc:
            log.warning("tenant %r: the answer to a command was lost (%s)", tenant, exc)

    async def _listening_as(self, member: str) -> bool:
        try:
            counts: Any = await self.client.pubsub_numsub(self.channel(member))
        except _REDIS_DOWN:
            return True  # cannot tell: keep waiting for the answer
        return bool(counts and counts[0][1])

    async def send(
        self,
        member: str,
        tenant: str,
        command: str,
        args: Mapping[str, Any],
        timeout: float,
    ) -> Any:
        """Run ``command`` in ``member``'s process and return its result (or raise its error).

        Raises:
            NoOwner: Redis is unreachable, or nobody listens as ``member``.
            OwnerTimeout: no answer within ``timeout`` seconds.
        """
        if self._member is None:
            raise NoOwner("this process has not joined its cluster yet", tenant=tenant)
        call_id = uuid.uuid4().hex
        pending = self._pending[call_id] = _Pending()
        message = dumps(
            {
                "op": "call",
                "id": call_id,
                "reply_to": self.inbox,
                "tenant": tenant,
                "command": command,
                "args": dict(args),
            }
        )
        try:
            try:
                receivers = await self.client.publish(self.channel(member), message)
            except _REDIS_DOWN as exc:
                raise NoOwner(
                    f"cannot reach the process holding the tenant: Redis is unreachable ({exc})",
                    tenant=tenant,
                ) from None
            gone = NoOwner(
                f"the process holding the tenant (cluster member {member}) is not "
                f"answering; another one takes the tenant over within "
                f"{self.takeover_within:.0f} s: retry then",
                tenant=tenant,
            )
            if not receivers:
                raise gone
            with anyio.move_on_after(timeout):
                # A process that dies while we wait stops listening: no need to wait it out.
                while not pending.done.is_set():
                    with anyio.move_on_after(0.5):
                        await pending.done.wait()
                    if not pending.done.is_set() and not await self._listening_as(member):
                        raise gone
            if pending.reply is None:
                raise OwnerTimeout(
                    f"the process holding the tenant (cluster member {member}) did not answer "
                    f"{command!r} within {timeout:.1f} s",
                    tenant=tenant,
                )
            result = pending.reply.get("result") or {}
            if result.get("type") == "error":
                raise decode_error(result)
            return decode_result(result)
        finally:
            del self._pending[call_id]
