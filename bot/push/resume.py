"""Unfinished pushes (daily runs and broadcasts) are resumed, and stalled ones reported, by the scheduler's
`push.resume` job.

Every minute the leading scheduler looks at the runs started within `push.resume_within_hours`:
- a run still `running` whose lease nobody holds (its sender died, lost the database for longer than
  `push.outage_seconds`, or was killed) is resumed through the same DailyPush.run: the ledger keeps it
  exactly once (rows the dead sender left `sending` become `unknown`, never re-sent); a broadcast goes on
  with its stored text;
- a run not done 30 minutes after it started is *stalled*: an ERROR line each time it is checked, the
  metric `rebot_push_run_stalled` and a warning on the console's dashboard.

With `push.delivery: workers` the workers send; the job resumes only a ledger left half-written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.models import Delivery, Lease, PushRun, utcnow
from bot.push import broadcast, leases

log = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class Stalled:
    run_id: int
    run_date: object
    status: str
    reason: str
    minutes: int  # since the run started
    left: int  # deliveries queued or sending
    what: str  # "push" (the daily summary) or "broadcast"


def _what(run: PushRun) -> str:
    return "broadcast" if broadcast.is_broadcast(run) else "push"


def stalled_runs(db, config, now: datetime | None = None) -> list[Stalled]:
    """Pushes started within push.resume_within_hours, more than 30 minutes ago, and not done."""
    now = now or utcnow()
    since = now - timedelta(hours=config["push.resume_within_hours"])
    with db.session() as session:
        runs = session.scalars(select(PushRun).where(
            broadcast.pushed(), PushRun.status.in_(("running", "stopped")), PushRun.created_at >= since,
            PushRun.created_at < now - STALLED_AFTER).order_by(PushRun.run_date)).all()
        left = dict(session.execute(
            select(Delivery.run_id, func.count()).where(Delivery.run_id.in_([r.id for r in runs]),
                                                        Delivery.status.in_(("queued", "sending")))
            .group_by(Delivery.run_id)).all())
        return [Stalled(r.id, r.run_date, r.status, r.reason, int((now - r.created_at).total_seconds() // 60),
                        left.get(r.id, 0), _what(r)) for r in runs]


def resumable_runs(db, config, now: datetime | None = None) -> list[PushRun]:
    """Running pushes started within push.resume_within_hours that no live process holds."""
    from bot.push.worker import FILLING, RUN_LEASE

    now = now or utcnow()
    since = now - timedelta(hours=config["push.resume_within_hours"])
    query = select(PushRun).where(broadcast.pushed(), PushRun.status == "running", PushRun.created_at >= since)
    if config["push.delivery"] == "workers":
        query = query.where(PushRun.reason == FILLING)
    with db.session() as session:
        runs = session.scalars(query.order_by(PushRun.run_date)).all()
        holders = dict(session.execute(select(Lease.name, Lease.owner).where(
            Lease.name.in_([RUN_LEASE.format(r.id) for r in runs]), Lease.expires_at >= now)).all())
    return [r for r in runs if RUN_LEASE.format(r.id) not in holders
            or leases.owner_is_dead(holders[RUN_LEASE.format(r.id)])]


def resume_runs(bot) -> int:
    """The `push.resume` job: report stalled runs, resume the abandoned ones; how many were resumed."""
    from bot.push.worker import resuming_push

    for run in stalled_runs(bot.db, bot.config):
        log.error("%s %s stalled: %s %d minutes after it started, %d deliveries left%s", run.what, run.run_date,
                  run.status, run.minutes, run.left, f" ({run.reason})" if run.reason else "")
    resumed = 0
    for run in resumable_runs(bot.db, bot.config):
        report = resuming_push(bot, run).run(run.run_date)
        if report.status == "busy":  # its sender had only just started (or another scheduler got there first)
            continue
        log.warning("%s %s was unfinished and nobody was sending it: resumed, %s %s", _what(run), report.run_date,
                    report.status, report.counts)
        resumed += 1
    return resumed
