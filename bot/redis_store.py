"""Redis (optional, `redis_url`): what every process shares on the hot paths, faster than the database.

- access tokens and the lock that lets one process refresh them (bot.channels.api.TokenStore);
- inbound message de-duplication (`RedisStore`, bot.dedup's Store): claim, reply and signature keys expiring
  by themselves;
- rate counters per API account, so several push workers together keep to the account's rate.

Without `redis_url` the database does the first two jobs and each process keeps its own rate.
Keys start with `redis_prefix` ("rebot:"), so deployments (or tests) can share one Redis.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)
# A callback must answer within WeChat's 5 s: a Redis that is away (or hung: it accepts and never answers)
# costs at most this per call, once; callers then use the database for a while (AWAY_SECONDS).
T = TypeVar("T")
CONNECT_TIMEOUT, READ_TIMEOUT = 0.25, 0.5
AWAY_SECONDS = 5.0
RUNNING_SECONDS = 300  # a first attempt that died this long ago no longer blocks its retries
DONE = "done:"

_LOCK = ("local v = redis.call('get', KEYS[1]) if v == false or v == ARGV[1] then "
         "redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0")
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# KEYS: the signature, the message; ARGV: body digest ("": no signature to keep), its expiry, the claim's expiry.
# -1: the signature came with another body; 1: the first attempt; 0: a repeat.
_BEGIN = ("if ARGV[1] ~= '' and not redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) "
          "and redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end "
          "if redis.call('set', KEYS[2], 'running', 'NX', 'EX', ARGV[3]) then return 1 end return 0")
# The same, keeping the reply (ARGV[4], with its expiry ARGV[3]) at once: 1 kept, else the stored value.
_RECORD = ("if ARGV[1] ~= '' and not redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) "
           "and redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end "
           "if redis.call('set', KEYS[2], ARGV[4], 'NX', 'EX', ARGV[3]) then return 1 end "
           "return redis.call('get', KEYS[2])")
_INVALIDATE = ("if redis.call('hget', KEYS[1], 'token') == ARGV[1] then "
               "return redis.call('hset', KEYS[1], 'expires_at', ARGV[2]) end return 0")


class Shared:
    """A Redis connection pool and the key prefix; one per process (see Bot)."""

    def __init__(self, url: str, prefix: str = "rebot:"):
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=READ_TIMEOUT,
                                           socket_connect_timeout=CONNECT_TIMEOUT, retry=Retry(NoBackoff(), 0),
                                           health_check_interval=30)
        self.prefix = prefix
        self.away_until = 0.0  # monotonic time until which Redis is not asked (see try_first)
        self._lock = self.client.register_script(_LOCK)
        self._unlock = self.client.register_script(_UNLOCK)
        self._invalidate = self.client.register_script(_INVALIDATE)
        self.begin_script = self.client.register_script(_BEGIN)
        self.record_script = self.client.register_script(_RECORD)

    def try_first(self, what: str, shared: Callable[[], T], fallback: Callable[[], T]) -> T:
        """`shared()` (a Redis call), or `fallback()` (the database's way) while Redis does not answer: after a
        failure Redis is left alone for AWAY_SECONDS, so a dead or hung Redis costs a request one timeout."""
        if time.monotonic() < self.away_until:
            return fallback()
        try:
            result = shared()
        except redis.RedisError as exc:
            if not self.away_until:
                log.warning("Redis is unreachable (%s, during %s); using the database", type(exc).__name__, what)
            self.away_until = time.monotonic() + AWAY_SECONDS
            return fallback()
        if self.away_until:
            log.warning("Redis answers again")
            self.away_until = 0.0
        return result

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()

    # ----- locks --------------------------------------------------------------------------------------
    def lock(self, name: str, owner: str, seconds: float) -> bool:
        """Take the lock `name` for `seconds` unless someone else holds it (renew it if we do)."""
        return bool(self._lock(keys=[self.key("lock", name)], args=[owner, max(1, int(seconds * 1000))]))

    def unlock(self, name: str, owner: str) -> None:
        self._unlock(keys=[self.key("lock", name)], args=[owner])

    # ----- access tokens ------------------------------------------------------------------------------
    def token(self, name: str) -> tuple[str, datetime] | None:
        found = self.client.hgetall(self.key("token", name))
        if not found.get("token"):
            return None
        return found["token"], datetime.fromisoformat(found["expires_at"])

    def save_token(self, name: str, token: str, expires_at: datetime, keep_seconds: int) -> None:
        key = self.key("token", name)
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping={"token": token, "expires_at": expires_at.isoformat()})
            pipe.expire(key, keep_seconds)
            pipe.execute()

    def invalidate_token(self, name: str, token: str, expired: datetime) -> None:
        """Mark `token` refused (unless another process has replaced it already)."""
        self._invalidate(keys=[self.key("token", name)], args=[token, expired.isoformat()])

    # ----- rate counters ------------------------------------------------------------------------------
    def rate_limiter(self, name: str, rate: float) -> "SharedRate":
        return SharedRate(self, name, rate)


class SharedRate:
    """At most `rate` calls a second for `name`, counted in Redis over every process (fixed windows).
    While Redis does not answer, this process keeps to `rate` alone (Shared.try_first asks again later)."""

    def __init__(self, shared: Shared, name: str, rate: float):
        from bot.push.senders import RateLimiter

        self.shared, self.name = shared, name
        self.window = max(1.0, 1.0 / rate)
        self.limit = max(1, int(rate * self.window))
        self.local = RateLimiter(rate)

    def wait(self) -> None:
        self.shared.try_first(f"rate {self.name}", self._wait_shared, self.local.wait)

    def _wait_shared(self) -> None:
        while True:
            now = time.time()
            slot = int(now // self.window)
            key = self.shared.key("rate", self.name, str(slot))
            with self.shared.client.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, int(self.window) + 5)
                count, _ = pipe.execute()
            if count <= self.limit:
                return
            time.sleep((slot + 1) * self.window - now)


class RedisStore:
    """bot.dedup's Store in Redis: one round trip to claim a message (and check its signature), one to finish."""

    def __init__(self, shared: Shared, keep_seconds: int, signature_seconds: int):
        self.shared, self.keep_seconds, self.signature_seconds = shared, keep_seconds, signature_seconds

    def begin(self, key: str, seal) -> bool:
        from bot.dedup import Replayed

        found = self.shared.begin_script(keys=self._keys(key, seal), args=[*self._seal(seal), RUNNING_SECONDS])
        if found == -1:
            raise Replayed
        return found == 1

    def record(self, key: str, seal, reply: str) -> tuple[bool, str | None]:
        from bot.dedup import Replayed

        found = self.shared.record_script(keys=self._keys(key, seal),
                                          args=[*self._seal(seal), self.keep_seconds, DONE + reply])
        if found == -1:
            raise Replayed
        if found == 1:
            return True, reply
        return False, found[len(DONE):] if isinstance(found, str) and found.startswith(DONE) else None

    def _keys(self, key: str, seal) -> list[str]:
        """KEYS of _BEGIN and _RECORD: the signature (unused without a seal), the message."""
        return [self.shared.key("sig", seal.signature if seal else ""), self.shared.key("msg", key)]

    def _seal(self, seal) -> list:
        """The first ARGV of _BEGIN and _RECORD: the body digest ("" without a seal) and its expiry."""
        return [seal.body_sha256 if seal else "", self.signature_seconds]

    def finish(self, key: str, reply: str) -> None:
        self.shared.client.set(self.shared.key("msg", key), DONE + reply, ex=self.keep_seconds)

    def give_up(self, key: str) -> None:
        self.shared.client.delete(self.shared.key("msg", key))

    def reply(self, key: str) -> str | None:
        value = self.shared.client.get(self.shared.key("msg", key))
        return value[len(DONE):] if value is not None and value.startswith(DONE) else None

    def state(self, key: str) -> str | None:
        """'running', 'done' or None: for tests and the operator."""
        value = self.shared.client.get(self.shared.key("msg", key))
        return None if value is None else "done" if value.startswith(DONE) else value
