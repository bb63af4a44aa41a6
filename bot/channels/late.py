"""Answers that missed their callback's budget (the callback answered `success`), sent through the API.

Each is a `late_answers` row written before the first call, so a restart loses none: sent at once, and after
a failure retried with backoff (in this process, and by the scheduled job `answers.late` in any process)
until WeChat's 48-hour customer-service window closes; then it is `failed`, logged and counted in
`rebot_late_answers_failed_total`. A process killed during a call may send that answer twice (after the
claim's lease), never lose it.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update

from bot.messages import Reply
from bot.models import LateAnswer, utcnow

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=48)  # WeChat takes customer-service messages this long after the user's message
BACKOFF_SECONDS = (2, 10, 60, 300, 1800, 3600)  # after the 1st, 2nd… failure; the last repeats
LEASE = timedelta(minutes=5)  # a claimed row is not claimed again before this (its sender may be mid-call)
GIVE_UP_AT_ONCE = {"recipient", "permanent"}  # ApiError kinds a retry cannot mend (unfollowed, bad account)
# Each channel's API methods for a text and an image: (user, text), (user, media_id).
SENDS = {"wechat": ("send_custom_text", "send_custom_image"), "wecom": ("send_text", "send_image")}


class LateAnswers:
    """The late answers of one process (`Bot.late_answers`): `register` each channel's API, then `send`."""

    def __init__(self, bot):
        self.bot = bot
        self._senders: dict[str, tuple[Any, str, str]] = {}
        self._timer_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._stopped = False
        bot.db.on_dispose(self.stop)

    def register(self, channel: str, api) -> None:
        self._senders[channel] = (api, *SENDS[channel])

    def send(self, channel: str, user: str, reply: Reply, received_at: datetime | None = None) -> None:
        """Keep the answer, then send it (retried later when the call fails)."""
        now = utcnow()
        received = received_at.astimezone(timezone.utc).replace(tzinfo=None) if received_at else now
        row = LateAnswer(channel=channel, user_id=user, text=reply.text, media_id=reply.media_id, status="queued",
                         attempts=0, next_at=now + LEASE, received_at=min(received, now), error="")
        try:
            with self.bot.db.session() as session:
                session.add(row)
        except Exception:  # the database is away: one try, not kept
            log.exception("%s: could not keep a late answer; sending it once", channel)
            try:
                self._call(channel, user, reply.text, reply.media_id)
            except Exception as exc:  # noqa: BLE001 - logged and counted
                self._failed(channel, exc)
            return
        self._attempt(row)

    def send_due(self) -> int:
        """Send the answers whose retry is due (claimed one by one, so two processes never both send one)."""
        now = utcnow()
        with self.bot.db.session() as session:
            due = session.scalars(select(LateAnswer).where(
                LateAnswer.status == "queued", LateAnswer.next_at <= now,
                LateAnswer.channel.in_(list(self._senders))).order_by(LateAnswer.id).limit(100)).all()
        sent = 0
        for row in due:
            with self.bot.db.session() as session:
                claimed = session.execute(update(LateAnswer).where(
                    LateAnswer.id == row.id, LateAnswer.status == "queued", LateAnswer.next_at <= now)
                    .values(next_at=now + LEASE)).rowcount
            if claimed:
                sent += self._attempt(row)
        return sent

    def _attempt(self, row: LateAnswer) -> bool:
        try:
            self._call(row.channel, row.user_id, row.text, row.media_id)
        except Exception as exc:  # noqa: BLE001 - every failure is retried or counted
            self._retry_or_fail(row, exc)
            return False
        self._set(row.id, status="sent", attempts=row.attempts + 1, error="")
        return True

    def _call(self, channel: str, user: str, text: str, media_id: str) -> None:
        api, send_text, send_image = self._senders[channel]
        if media_id:
            getattr(api, send_image)(user, media_id)
        else:
            getattr(api, send_text)(user, text)

    def _retry_or_fail(self, row: LateAnswer, exc: Exception) -> None:
        attempts = row.attempts + 1
        delay = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
        next_at = utcnow() + timedelta(seconds=delay)
        error = str(exc)[:255]
        if getattr(exc, "kind", "transient") in GIVE_UP_AT_ONCE or next_at > row.received_at + WINDOW:
            self._set(row.id, status="failed", attempts=attempts, error=error)
            self._failed(row.channel, exc)
            return
        log.warning("%s: a late answer failed (%s); trying again in %d s", row.channel, type(exc).__name__, delay)
        self._set(row.id, attempts=attempts, next_at=next_at, error=error)
        self._wake_in(delay)

    def _failed(self, channel: str, exc: Exception) -> None:
        log.error("%s: a late answer could not be sent and is given up: %s", channel, exc)
        self.bot.metrics.late_answer_failed(channel)

    def _set(self, row_id: int, **values) -> None:
        try:
            with self.bot.db.session() as session:
                session.execute(update(LateAnswer).where(LateAnswer.id == row_id).values(**values))
        except Exception:  # noqa: BLE001 - the row stays claimed: the job tries it again after the lease
            log.exception("could not record a late answer's state")

    def stop(self) -> None:
        """No more retries in this process (the scheduled job sends what is left)."""
        with self._timer_lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _wake_in(self, seconds: float) -> None:
        """A retry in this process when it is due (the scheduled job covers a restart)."""
        with self._timer_lock:
            if self._stopped or (self._timer is not None and self._timer.is_alive()):
                return  # the pending wake-up sends whatever is due by then, and sets the next one
            self._timer = threading.Timer(seconds, self._wake)
            self._timer.daemon = True
            self._timer.start()

    def _wake(self) -> None:
        with self._timer_lock:
            self._timer = None
        try:
            self.send_due()
        except Exception:  # noqa: BLE001 - the scheduled job tries again
            log.exception("late answers: sending the due ones failed")


def send_due_answers(bot) -> int:
    """The scheduled job `answers.late`: send the late answers due for a retry, with this process's API clients."""
    sent = bot.late_answers.send_due()
    if sent:
        log.info("late answers: %d sent", sent)
    return sent


def late_jobs(_config) -> list:
    from bot.push.scheduler import ScheduledJob

    return [ScheduledJob("answers.late", "* * * * *", send_due_answers, once_per_firing=False)]
