"""Several `rebot scheduler` processes, one of them firing the jobs: the leader.

The leader holds the lease `scheduler:leader` (scheduler.leader_seconds, 30 s by default) and renews it
every third of that; the others wait with their scheduler paused and try to take the lease as often.
When the leader dies its lease runs out and a standby takes over within `leader_seconds` plus one
renewal (40 s by default): its scheduler resumes, and a job whose time came while nobody led still runs
(within the misfire grace time).

Each firing is also claimed once in the database (`fired:<job>:<time>`, see claim_slot): a new leader
does not fire again what the old one fired just before dying, nor does a leader that stalled past its
lease and has not noticed yet.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import delete

from bot.push import leases
from bot.cron import trigger as cron_trigger
from bot.db import Database
from bot.models import Lease, utcnow

log = logging.getLogger(__name__)

LEADER = "scheduler:leader"


def lead(bot, scheduler) -> "Leadership":
    """Start `scheduler` (a BackgroundScheduler) paused, to fire its jobs while this process leads (catching
    up, when it takes the lead, the firings nobody made)."""
    from bot.push.scheduler import catch_up_all

    scheduler.start(paused=True)
    return Leadership(bot.db, scheduler, bot.config["scheduler.leader_seconds"],
                      on_lead=lambda: catch_up_all(scheduler)).start()


class Leadership:
    """Runs `scheduler` (started paused) only while this process holds the leader lease."""

    def __init__(self, db: Database, scheduler, seconds: float, on_lead: Callable[[], None] = lambda: None):
        self.db, self.scheduler, self.seconds, self.on_lead = db, scheduler, seconds, on_lead
        self.owner = leases.new_owner()
        self.leading = False
        self._stop = threading.Event()
        self._renewed = 0.0
        self._thread = threading.Thread(target=self._loop, name="leader", daemon=True)

    def start(self) -> "Leadership":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Step down (the lease is released at once, so a standby need not wait for it to run out)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.seconds)
        if self.leading:
            self._change(False)
        try:
            leases.release(self.db, LEADER, self.owner)
        except Exception:  # the database is gone: the lease runs out by itself
            log.warning("scheduler: could not release the leader lease")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.seconds / 3)

    def check(self) -> bool:
        """Take or renew the lease once; resume or pause the scheduler when that changes anything."""
        try:
            held = leases.acquire(self.db, LEADER, self.owner, self.seconds)
            if held:
                self._renewed = time.monotonic()
        except Exception as exc:  # the database is unreachable: lead only while the lease surely holds
            log.error("scheduler: cannot renew the leader lease: %s", type(exc).__name__)
            held = self.leading and time.monotonic() - self._renewed < self.seconds * 2 / 3
        if held != self.leading:
            self._change(held)
        return held

    def _change(self, leading: bool) -> None:
        self.leading = leading
        if leading:
            log.info("scheduler: this process (%s) leads; jobs fire here", self.owner)
            self.scheduler.resume()
            self.on_lead()
        else:
            log.warning("scheduler: leadership lost; jobs paused here")
            self.scheduler.pause()


def latest_slot(cron: str, zone, now: datetime, within: timedelta) -> datetime | None:
    """The newest time `cron` fired at, not after `now` and not before `now - within` (None: none)."""
    trigger = cron_trigger(cron, zone)  # crontab day numbers, not APScheduler's
    slot, found = trigger.get_next_fire_time(None, now - within), None
    while slot is not None and slot <= now:
        found = slot
        slot = trigger.get_next_fire_time(slot, slot + timedelta(seconds=1))
    return found


def claim_slot(db: Database, job_id: str, slot: datetime, keep: timedelta) -> bool:
    """True for the first process to claim this firing of `job_id`; the claim is kept for `keep`."""
    name = f"fired:{job_id}:{slot.astimezone(timezone.utc).strftime('%Y%m%dT%H%MZ')}"[:128]
    now = utcnow()
    with db.session() as session:  # old claims: nobody asks about them any more
        session.execute(delete(Lease).where(Lease.name.like("fired:%"), Lease.expires_at < now))
    return leases.acquire(db, name, leases.new_owner(), keep.total_seconds(), from_dead=False)  # a record
