"""What the console and the chat `admin push` commands need from the push ledger: runs and their counts,
the next scheduled runs, a preview for one subscriber, and starting a push in the background."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import Delivery, PushRun, Subscriber
from bot.push.content import Content, DailyContent
from bot.push.run import STATUSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    run: PushRun
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def duration(self) -> float | None:
        """Seconds from creation to the end, for a finished run."""
        if self.run.finished_at is None:
            return None
        return (self.run.finished_at - self.run.created_at).total_seconds()


def _counts(session: Session, run_ids: list[int]) -> dict[int, dict[str, int]]:
    table = {run_id: dict.fromkeys(STATUSES, 0) for run_id in run_ids}
    for run_id, status, n in session.execute(
            select(Delivery.run_id, Delivery.status, func.count()).where(Delivery.run_id.in_(run_ids))
            .group_by(Delivery.run_id, Delivery.status)):
        table[run_id][status] = n
    return table


def recent_runs(session: Session, limit: int = 30) -> list[RunSummary]:
    runs = list(session.scalars(select(PushRun).order_by(PushRun.run_date.desc(), PushRun.id.desc()).limit(limit)))
    counts = _counts(session, [r.id for r in runs])
    return [RunSummary(r, counts[r.id]) for r in runs]


def get_run(session: Session, run_id: int) -> RunSummary | None:
    run = session.get(PushRun, run_id)
    return RunSummary(run, _counts(session, [run_id])[run_id]) if run else None


def ledger(session: Session, run_id: int, status: str = "", limit: int = 500) -> list[tuple[Delivery, str]]:
    """A run's deliveries (with the subscriber's name when known), problems first."""
    query = (select(Delivery, Subscriber.display_name).outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .where(Delivery.run_id == run_id))
    if status:
        query = query.where(Delivery.status == status)
    order = {"failed": 0, "unknown": 1, "sending": 2, "queued": 3, "skipped": 4, "sent": 5}
    rows = [(d, name or "") for d, name in session.execute(query.order_by(Delivery.id).limit(limit))]
    return sorted(rows, key=lambda row: order.get(row[0].status, 9))


def deliveries_of(session: Session, subscriber_id: int, limit: int = 30) -> list[tuple[Delivery, PushRun]]:
    """A subscriber's delivery history, newest first."""
    return list(session.execute(
        select(Delivery, PushRun).join(PushRun, PushRun.id == Delivery.run_id)
        .where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id.desc()).limit(limit)))


def next_runs(config, now: datetime, count: int = 3) -> list[tuple[str, datetime]]:
    """The next fire times of the scheduled pushes (aware, in the configured time zone), soonest first."""
    from bot.cron import trigger as cron_trigger
    from bot.push.scheduler import jobs

    found = []
    for job in jobs(config):
        if not job.id.startswith("push."):  # not the fetches, nor the alerts' minute-by-minute delivery
            continue
        trigger = cron_trigger(job.cron, config.zone)
        when = now
        for _ in range(count):
            fire = trigger.get_next_fire_time(None, when)
            if fire is None:
                break
            found.append((job.id, fire))
            when = fire + timedelta(seconds=1)
    return sorted(found, key=lambda item: item[1])[:count]


def preview(bot, session: Session, subscriber: Subscriber, day: date) -> Content:
    """What the daily push of `day` would send this subscriber (rendered, nothing sent or written)."""
    content = DailyContent(bot.config, session, bot.catalog(), day, bot.router.renderer)
    return content.for_subscriber(subscriber.products, subscriber.language)


class Background:
    """Pushes started from the console or chat ("send now", retry, a broadcast) run in a thread, so the request
    answers at once. They take the scheduled push's delivery path (`push.delivery`): sent here by the same
    DailyPush, or only the ledger written here and the sending left to `rebot worker`s.

    One at a time per process (`BACKGROUND`); across processes the run's lease and the ledger keep anything
    from being sent twice. `wait()` is for tests."""

    def __init__(self):
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, bot, day: date, retry_failed: bool = False, retry_unknown: bool = False,
              broadcast: str | None = None) -> bool:
        """Start the daily push of `day` with the running `bot` (or the `broadcast` text); False when one started
        here is still running."""
        from bot.push.worker import broadcast_push, daily_push

        def work():
            try:
                push = broadcast_push(bot, broadcast) if broadcast else daily_push(bot)
                report = push.run(day, retry_failed=retry_failed, retry_unknown=retry_unknown)
                log.info("push %s started by an admin: %s %s", day, report.status, report.counts)
            except Exception:
                log.exception("push %s started by an admin failed", day)

        with self._lock:
            if self.running():
                return False
            self._thread = threading.Thread(target=work, name=f"admin-push-{day}", daemon=True)
            self._thread.start()
            return True

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


BACKGROUND = Background()


def configured_channels(config) -> list[str]:
    """The channels a push would use (the same conditions as bot.push.senders.build_senders)."""
    names = []
    if config["wechat.app_id"] and config["wechat.app_secret"]:
        names.append("wechat")
    if config["wecom.corp_id"] and config["wecom.secret"]:
        names.append("wecom")
    if config["robots"]:
        names.append("wecom_robot")
    return names
