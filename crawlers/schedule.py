"""The crawl schedule: rounds handed out by the beat, taken by long-lived crawler replicas.

Why it lives in Redis beside the frontier: a replica may die at any moment (``kill -9``, a lost
node), and nothing it held may be lost or block the next round.  The state is small and every
change of it is one Lua script, so two beats or two replicas can never both win the same step:

``P:next``            ZSET site -> when its next round may be handed out (epoch seconds)
``P:due``             LIST of sites handed out and not yet taken
``P:active``          HASH site -> the round (JSON): from hand-out until the round ends
``P:leases:<site>``   ZSET replica -> lease expiry; a replica renews its lease while it crawls
``P:last``            HASH site -> how its last round ended (JSON)

(``P`` is ``crawl.schedule_key``.)  A round ends when no live lease is left on it and the site's
frontier queue (scrapy-redis ``<site>:requests``) is empty.  A replica that stops or dies with
requests still queued leaves the round active; another replica joins it and drains the queue
(the start URLs are already in the shared dupefilter, so the join fetches nothing twice).  A
dead replica's lease expires after ``crawl.lease_ttl_s``; the beat's sweep then ends or hands on
its round, so the next round comes on time.  The interval counts from one hand-out to the next;
a round none of whose crawls succeeded comes back after ``crawl.round_retry_s`` instead.

Limits: the few requests a killed replica had popped but not yet fetched are in the dupefilter
and so wait for the next freshness window (``crawl.recrawl_after_s``); a round inside that
window re-fetches only what the dupefilter has forgotten, so ``recrawl_s`` below
``crawl.recrawl_after_s`` buys nothing.  The scripts touch keys they derive from site names,
which a single Redis (Dragnet's broker) allows and Redis Cluster does not.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from crawlers.frontier import FRONTIER_QUEUE_SUFFIX
from crawlers.profiles import SiteProfile
from crawlers.runner import SPIDER_KINDS, resolve_targets
from dragnet.settings import DragnetSettings

log = logging.getLogger(__name__)

# A site's frontier queue is <site> + this (scrapy-redis keys its queue by spider = site name).
_QUEUE_SUFFIX = FRONTIER_QUEUE_SUFFIX

# KEYS: next, due, active, last; ARGV: now, prefix, queue key suffix, retry, then (site, interval)
# pairs.
# Sweep each active round first: expired leases out, and a round that was taken but that no live
# replica holds and whose queue is empty has ended (its replica died).  Then hand out every site
# with no active round whose time has come.
_HAND_OUT = """
local now = tonumber(ARGV[1])
local prefix, queue_suffix, retry = ARGV[2], ARGV[3], tonumber(ARGV[4])
local handed = {}
for i = 5, #ARGV, 2 do
  local site, interval = ARGV[i], tonumber(ARGV[i + 1])
  local leases = prefix .. ':leases:' .. site
  local round = redis.call('HGET', KEYS[3], site)
  if round then
    local state = cjson.decode(round)
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
    local queued = redis.call('ZCARD', site .. queue_suffix)
    if state.taken and redis.call('ZCARD', leases) == 0 and queued == 0 then
      redis.call('HDEL', KEYS[3], site)
      local ended = 'swept'
      if state.ok then ended = 'ok' end
      redis.call('HSET', KEYS[4], site, cjson.encode({round = state.round, ended_at = now, ended = ended}))
      if not state.ok and now + retry < tonumber(redis.call('ZSCORE', KEYS[1], site) or '0') then
        redis.call('ZADD', KEYS[1], now + retry, site)
      end
      round = nil
    end
  end
  if not round then
    local due = tonumber(redis.call('ZSCORE', KEYS[1], site) or '0')
    if now >= due then
      local number = redis.call('HINCRBY', prefix .. ':rounds', site, 1)
      redis.call('HSET', KEYS[3], site, cjson.encode({round = number, handed_at = now, taken = false}))
      redis.call('RPUSH', KEYS[2], site)
      redis.call('ZADD', KEYS[1], now + interval, site)
      table.insert(handed, site)
    end
  end
end
return handed
"""

# KEYS: due, active; ARGV: now, prefix, queue key suffix, replica, lease ttl, replicas per site.
# A waiting round first; else join an active round that has queued requests and room for one
# more replica (a dead replica's leftovers, or help on a long crawl).
_TAKE = """
local now, prefix, queue_suffix, replica = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local ttl, per_site = tonumber(ARGV[5]), tonumber(ARGV[6])
while true do
  local site = redis.call('LPOP', KEYS[1])
  if not site then break end
  local round = redis.call('HGET', KEYS[2], site)
  if round then
    local state = cjson.decode(round)
    state.taken = true
    redis.call('HSET', KEYS[2], site, cjson.encode(state))
    redis.call('ZADD', prefix .. ':leases:' .. site, now + ttl, replica)
    return {site, 'new', state.round}
  end
end
local active = redis.call('HGETALL', KEYS[2])
for i = 1, #active, 2 do
  local site, state = active[i], cjson.decode(active[i + 1])
  local leases = prefix .. ':leases:' .. site
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  local queued = redis.call('ZCARD', site .. queue_suffix)
  if state.taken and queued > 0 and redis.call('ZCARD', leases) < per_site
     and not redis.call('ZSCORE', leases, replica) then
    redis.call('ZADD', leases, now + ttl, replica)
    return {site, 'join', state.round}
  end
end
return false
"""

# KEYS: active, last; ARGV: now, prefix, queue key suffix, site, replica, outcome.
_RELEASE = """
local now, prefix, queue_suffix, site, replica = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local outcome, retry = ARGV[6], tonumber(ARGV[7])
local leases = prefix .. ':leases:' .. site
redis.call('ZREM', leases, replica)
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
local round = redis.call('HGET', KEYS[1], site)
if not round then return 'gone' end
local state = cjson.decode(round)
if outcome == 'ok' then state.ok = true end
local queued = redis.call('ZCARD', site .. queue_suffix)
if redis.call('ZCARD', leases) == 0 and queued == 0 then
  redis.call('HDEL', KEYS[1], site)
  local ended = outcome
  if state.ok then ended = 'ok' end
  redis.call('HSET', KEYS[2], site, cjson.encode({round = state.round, ended_at = now, ended = ended}))
  if not state.ok and now + retry < tonumber(redis.call('ZSCORE', KEYS[3], site) or '0') then
    redis.call('ZADD', KEYS[3], now + retry, site)
  end
  return 'ended'
end
redis.call('HSET', KEYS[1], site, cjson.encode(state))
return 'left'
"""


@dataclass(frozen=True)
class Claim:
    """A round a replica holds: ``how`` is ``new`` (it was waiting) or ``join`` (already running)."""

    site: str
    how: str
    round: int


class CrawlSchedule:
    """The schedule's Redis state and its atomic steps (every method takes ``now`` so that tests
    and the beat agree on one clock without sleeping)."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        lease_ttl_s: float = 60.0,
        replicas_per_site: int = 1,
        retry_s: float = 900.0,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_ttl_s = lease_ttl_s
        self.replicas_per_site = replicas_per_site
        self.retry_s = retry_s
        self._hand_out = client.register_script(_HAND_OUT)
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_settings(cls, settings: DragnetSettings) -> CrawlSchedule:
        if not settings.redis.url:
            raise ValueError("the crawl schedule needs redis.url (DRAGNET_REDIS__URL)")
        crawl = settings.crawl
        return cls(
            redis.Redis.from_url(settings.redis.url),
            crawl.schedule_key,
            lease_ttl_s=crawl.lease_ttl_s,
            replicas_per_site=crawl.replicas_per_site,
            retry_s=crawl.round_retry_s,
        )

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def hand_out(self, intervals: dict[str, float], now: float | None = None) -> list[str]:
        """The beat's step: end rounds nobody holds any more, then hand out each site (name ->
        interval in seconds) that has no active round and whose interval has passed."""
        args: list[Any] = [now if now is not None else time.time(), self.prefix, _QUEUE_SUFFIX, self.retry_s]
        for site, interval in sorted(intervals.items()):
            args += [site, interval]
        keys = [self._key("next"), self._key("due"), self._key("active"), self._key("last")]
        return [s.decode() for s in self._hand_out(keys=keys, args=args)]

    def take(self, replica: str, now: float | None = None) -> Claim | None:
        """A replica's step: the next waiting round, or a running one to help drain; ``None``
        when there is nothing to crawl."""
        got = self._take(
            keys=[self._key("due"), self._key("active")],
            args=[
                now if now is not None else time.time(),
                self.prefix,
                _QUEUE_SUFFIX,
                replica,
                self.lease_ttl_s,
                self.replicas_per_site,
            ],
        )
        if not got:
            return None
        return Claim(site=got[0].decode(), how=got[1].decode(), round=int(got[2]))

    def renew(self, claim: Claim, replica: str, now: float | None = None) -> None:
        """Keep a lease alive while the crawl runs (re-adds it if a sweep already dropped it)."""
        at = now if now is not None else time.time()
        self.client.zadd(self._key(f"leases:{claim.site}"), {replica: at + self.lease_ttl_s})

    def release(self, claim: Claim, replica: str, outcome: str, now: float | None = None) -> str:
        """Give a round back: ``ended`` when nobody else holds it and its queue is empty,
        ``left`` when it stays active for others (requests still queued), ``gone`` if it ended.
        A round none of whose crawls succeeded (Tor down, site unreachable, a replica killed)
        comes back after ``retry_s`` rather than a whole interval later."""
        result = self._release(
            keys=[self._key("active"), self._key("last"), self._key("next")],
            args=[
                now if now is not None else time.time(),
                self.prefix,
                _QUEUE_SUFFIX,
                claim.site,
                replica,
                outcome,
                self.retry_s,
            ],
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    def active(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): json.loads(v) for k, v in self.client.hgetall(self._key("active")).items()}

    def waiting(self) -> list[str]:
        return [s.decode() for s in self.client.lrange(self._key("due"), 0, -1)]

    def last(self, site: str) -> dict[str, Any] | None:
        raw = self.client.hget(self._key("last"), site)
        return json.loads(raw) if raw else None

    def next_due(self, site: str) -> float | None:
        return self.client.zscore(self._key("next"), site)


def intervals(profiles: Sequence[SiteProfile], default_s: float) -> dict[str, float]:
    """Each scheduled site's round interval: its profile's ``recrawl_s``, else the default."""
    return {p.name: float(p.recrawl_s or default_s) for p in profiles}


def scheduled_profiles(settings: DragnetSettings) -> list[SiteProfile]:
    """Every profile of ``crawl.profiles_dir`` that ``dragnet crawl --all`` crawls."""
    return list(resolve_targets(list(SPIDER_KINDS), settings.crawl.profiles_dir))


def hand_out_due(settings: DragnetSettings, now: float | None = None) -> list[str]:
    """The beat task's body: hand out every site whose round is due; returns their names."""
    schedule = CrawlSchedule.from_settings(settings)
    return schedule.hand_out(intervals(scheduled_profiles(settings), settings.crawl.recrawl_interval_s), now)


def replica_name() -> str:
    """``host:pid``: unique per process, readable in ``P:leases:<site>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_replica(
    schedule: CrawlSchedule,
    command: Callable[[str], list[str]],
    *,
    replica: str | None = None,
    poll_s: float = 5.0,
    stop: threading.Event | None = None,
    max_rounds: int | None = None,
) -> int:
    """Take rounds and crawl each in a child process (``command(site)``: Scrapy's reactor runs
    once per process) until ``stop`` is set; returns the number of rounds crawled.

    The lease is renewed every third of its TTL while the child runs.  On ``stop`` the child is
    terminated and the round given back with what is still queued, for another replica."""
    replica = replica or replica_name()
    stop = stop or threading.Event()
    rounds = 0
    while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
        claim = schedule.take(replica)
        if claim is None:
            stop.wait(poll_s)
            continue
        log.info("crawl round %d of %s (%s) on %s", claim.round, claim.site, claim.how, replica)
        child = subprocess.Popen(command(claim.site))
        renew_every = max(0.5, schedule.lease_ttl_s / 3)
        while child.poll() is None:
            if stop.wait(renew_every):
                child.terminate()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                break
            schedule.renew(claim, replica)
        code = child.wait()
        outcome = "stopped" if stop.is_set() else ("ok" if code == 0 else f"exit {code}")
        state = schedule.release(claim, replica, outcome)
        log.info("crawl round %d of %s: %s (%s)", claim.round, claim.site, outcome, state)
        rounds += 1
    return rounds
