"""Reaching Redis: the client a cluster uses, and what a failure to reach it says."""

from __future__ import annotations

import urllib.parse

import anyio
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from .._errors import InvalidInput, WagateError

REDIS_DOWN = (redis.exceptions.RedisError, OSError)
"""What redis-py raises when Redis is unreachable."""


class BackplaneError(WagateError, code="backplane_unavailable", status_code=503):
    """Redis cannot be used: unreachable, a refused login, or not a Redis server."""


def redis_display_url(url: str) -> str:
    """A Redis URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    who = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{who}{host}{port}{parts.path}"


def redis_client(url: str, connect_timeout: float) -> redis.asyncio.Redis:
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise InvalidInput("the Redis URL must start with redis://, rediss:// or unix://")
    try:
        return redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=max(10.0, connect_timeout),
            socket_keepalive=True,
            health_check_interval=15,
            # A pooled connection that died while Redis was away is replaced, not
            # reported: every command here is safe to repeat (events are keyed by
            # seq, command calls by id).
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        )
    except ValueError:
        # redis-py's message may quote the URL, password included: say less.
        raise InvalidInput("the Redis URL is malformed; check its syntax") from None


def redis_problem(url: str, exc: BaseException) -> BackplaneError:
    where = redis_display_url(url)
    text = " ".join(str(exc).split())
    if isinstance(exc, redis.exceptions.AuthenticationError) or any(
        word in text.upper() for word in ("WRONGPASS", "NOAUTH", "AUTH ")
    ):
        return BackplaneError(
            f"Redis at {where} refused the login ({text}): check the user and password "
            "in the Redis URL"
        )
    if isinstance(exc, TimeoutError):
        text = "no answer in time"
    return BackplaneError(f"cannot reach Redis at {where}: {text or type(exc).__name__}")


async def check_redis(url: str, *, timeout: float = 5.0) -> None:
    """Connect to Redis once and ping it, so a bad URL is reported before serving.

    Raises:
        InvalidInput: the URL is malformed.
        BackplaneError: Redis is unreachable or refuses the login.
    """
    client = redis_client(url, timeout)
    try:
        with anyio.fail_after(timeout):
            await client.ping()
    except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
        raise redis_problem(url, exc) from None
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await client.aclose()
