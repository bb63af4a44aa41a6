"""The scheduler: APScheduler cron jobs in the configured time zone, each run by one process at a time.

Jobs come from providers listed in JOB_PROVIDERS ("module:function"); a provider takes the Config and
returns ScheduledJobs: the daily push, and a fetch per ingestion source. A job function takes the Bot.
"""
from __future__ import annotations

import functools
import importlib
import logging
import threading
from datetime import datetime, timedelta
from dataclasses import dataclass
from typing import Callable, Iterable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot import cron
from bot.push import leases
from bot.push.outage import Patience
from bot.config import Config

log = logging.getLogger(__name__)

JOB_PROVIDERS = ("bot.push.scheduler:push_jobs", "bot.ingest.jobs:source_jobs", "bot.alerts:alert_jobs",
                 "bot.dedup:dedup_jobs", "bot.channels.late:late_jobs")


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    cron: str  # crontab line (minute hour day month day-of-week) in the configured time zone
    func: Callable[..., object]  # called with the Bot
    # Held while the job runs, renewed every third of it: a dead runner's is free after this (at once on
    # the same host).
    lease_seconds: int = 60
    # Each firing claimed once in the database (a new leader does not fire again what the old one fired).
    # The resume job needs no claim (the run's lease guards it): a new leader checks at once.
    once_per_firing: bool = True


def push_jobs(config: Config) -> list[ScheduledJob]:
    return [ScheduledJob("push.daily", config["push.daily.cron"], run_daily_push),
            ScheduledJob("push.resume", "* * * * *", resume_runs, once_per_firing=False)]


def resume_runs(bot) -> None:
    from bot.push.resume import resume_runs as resume

    resume(bot)


def run_daily_push(bot) -> None:
    from bot.push.worker import daily_push

    report = daily_push(bot).run()  # sent here, or queued for `rebot worker`s (push.delivery)
    log.info("daily push %s: %s %s", report.run_date, report.status, report.counts)


def jobs(config: Config, extra: Iterable[ScheduledJob] = ()) -> list[ScheduledJob]:
    found = []
    for path in JOB_PROVIDERS:
        module, _, name = path.partition(":")
        found.extend(getattr(importlib.import_module(module), name)(config))
    return found + list(extra)


def build_scheduler(bot, blocking: bool = False, extra: Iterable[ScheduledJob] = ()):
    """A scheduler with every job; misfired runs within the grace time still run, piled-up runs coalesce."""
    config = bot.config
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(timezone=config.zone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": config["push.daily.misfire_grace_seconds"]})
    for job in jobs(config, extra):
        scheduler.add_job(run_once, cron.trigger(job.cron, config.zone), args=(bot, job),
                          id=job.id, name=job.id, replace_existing=True)
    return scheduler


def catch_up_all(scheduler) -> None:
    """APScheduler keeps its jobs in memory, so a firing missed while no scheduler ran would be lost: when a
    scheduler starts leading, each job's latest firing within the grace time runs now, in a thread of its
    own, unless someone fired it already (its claim in the database keeps it once)."""
    for job in scheduler.get_jobs():
        if job.func is run_once:
            threading.Thread(target=catch_up, args=job.args, name=f"catch-up:{job.id}", daemon=True).start()


def catch_up(bot, job: ScheduledJob) -> bool:
    """Run `job` if it should have fired within push.daily.misfire_grace_seconds and nobody fired it."""
    from bot.push.leader import latest_slot

    try:
        grace = timedelta(seconds=bot.config["push.daily.misfire_grace_seconds"])
        slot = latest_slot(job.cron, bot.config.zone, datetime.now(bot.config.zone), grace)
        if slot is None:
            return False
        # A job fired every few minutes catches up at every start: worth a line only for one fired once per firing.
        log.log(logging.INFO if job.once_per_firing else logging.DEBUG, "job %s: catching up the firing of %s",
                job.id, slot)
        return run_once(bot, job, slot)
    except Exception:
        log.exception("job %s: the catch-up failed", job.id)
        return False


def run_once(bot, job: ScheduledJob, slot: datetime | None = None) -> bool:
    """Run `job` unless another scheduler process is running it now (a lease in the database); `slot`: the
    firing it runs for (default: the latest one, looked up only for a job fired once per firing).

    The daily push is also safe without the lease (one run per date, one ledger row per recipient);
    the lease spares the second process the work and keeps other jobs from overlapping."""
    from bot.push.leader import claim_slot, latest_slot

    grace = timedelta(seconds=bot.config["push.daily.misfire_grace_seconds"])
    if slot is None and job.once_per_firing:
        slot = latest_slot(job.cron, bot.config.zone, datetime.now(bot.config.zone), grace)
    patience = Patience(bot.config["push.outage_seconds"], what=f"job {job.id}")  # a database blip at firing time
    if job.once_per_firing and slot is not None and \
            not patience.call(claim_slot, bot.db, job.id, slot, grace + timedelta(days=1)):
        log.info("job %s of %s was fired by another scheduler already", job.id, slot)
        return False
    take = functools.partial(patience.call, leases.acquire)
    with leases.held(bot.db, f"job:{job.id}", job.lease_seconds, take) as mine:
        if not mine:
            log.info("job %s is running in another process; not starting it here", job.id)
            return False
        try:
            job.func(bot)
        except Exception:
            log.exception("job %s failed", job.id)
    return True
