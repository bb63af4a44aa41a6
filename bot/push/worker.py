"""`rebot worker`: any number of processes, on any host, deliver the push ledger's queued rows.

With `push.delivery: workers` a push (the scheduler's, or `rebot push daily`) only writes its ledger
(QueuedPush); workers deliver it, with the same channels, retries and ledger states as the inline push:

- a worker takes a run once its ledger is complete (nobody holds the run's lease) and claims a batch
  of its queued rows: `SELECT … FOR UPDATE SKIP LOCKED` then UPDATE on PostgreSQL, so concurrent
  claims skip each other's rows; on SQLite one conditional UPDATE, made atomic by its single writer;
- a claim is `claimed_by` = the worker and `updated_at` = when. A row goes `queued → sending` only
  under its claimant's name (one conditional UPDATE), so a row is sent by one worker at most, whatever
  the timing. A claim older than `worker.claim_seconds` is free again: a dead (or stuck) worker's
  `queued` rows are claimed and sent by another, its `sending` rows (the call may have gone out)
  become `unknown`, never re-sent unless an admin asks (`rebot push daily --retry-unknown`);
- the worker that finds a run with nothing queued or in flight marks it done and tells the admins;
- a database or Redis outage is waited out (bot.push.outage), however long: the worker never exits for it.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Callable

from sqlalchemy import exists, select, update

from bot.push import broadcast, leases
from bot.push.outage import FIRST_DELAY, MAX_DELAY, STORE_ERRORS, Outage, describe
from bot.models import Delivery, Lease, PushRun, Subscriber, utcnow
from bot.push.senders import Sender
from bot.push.run import DailyPush, RunReport, requeue

log = logging.getLogger(__name__)

RUN_LEASE = "push:run:{}"  # held by DailyPush.run while it fills (inline: sends) a run's ledger
# A queued run's reason while its ledger is written, then once it is complete: workers take only the latter
# (a process that died filling it leaves FILLING, and the scheduler's resume job fills the rest).
FILLING, QUEUED = "filling the ledger", "queued for rebot worker"


def daily_push(bot, channels: dict[str, Sender] | None = None) -> DailyPush:
    """The daily push as `push.delivery` says: sent by this process, or queued for `rebot worker`s."""
    kind = QueuedPush if bot.config["push.delivery"] == "workers" else DailyPush
    return kind(bot, channels)


def broadcast_push(bot, text: str, channels: dict[str, Sender] | None = None,
                   resume: PushRun | None = None) -> broadcast.Broadcast:
    """An admin's broadcast of `text` (or the unfinished broadcast `resume`), sent as `push.delivery` says (like
    the daily push)."""
    kind = QueuedBroadcast if bot.config["push.delivery"] == "workers" else broadcast.Broadcast
    return kind(bot, text, resume=resume, channels=channels)


def resuming_push(bot, run: PushRun) -> DailyPush:
    """The push that goes on with `run`: the daily push of its date, or its broadcast."""
    if broadcast.is_broadcast(run):
        return broadcast_push(bot, run.text or "", resume=run)
    return daily_push(bot)


class QueuedPush(DailyPush):
    """The daily push that writes the ledger and leaves the sending to workers."""

    def _work(self, run: PushRun, lease: str, retry_failed: bool, retry_unknown: bool) -> int:
        self.patience.call(self._start, run, retry_failed, retry_unknown)
        self.patience.call(self._fill_ledger, run)
        self.patience.call(self._queued, run)
        return 0

    def _start(self, run: PushRun, retry_failed: bool, retry_unknown: bool) -> None:
        with self.db.session() as session:
            requeue(session, run, retry_failed, retry_unknown)
            session.execute(update(PushRun).where(PushRun.id == run.id)
                            .values(status="running", reason=FILLING, finished_at=None))

    def _queued(self, run: PushRun) -> None:
        """The ledger is complete: over to the workers (or done now when there is nobody to send to)."""
        with self.db.session() as session:
            session.execute(update(PushRun).where(PushRun.id == run.id).values(reason=QUEUED))
            session.execute(update(PushRun).where(PushRun.id == run.id, ~exists().where(Delivery.run_id == run.id))
                            .values(status="done", reason="", finished_at=utcnow()))

    def _tell_admins(self, report: RunReport) -> None:
        """Nothing yet: the worker that finishes the run reports it."""


class QueuedBroadcast(broadcast.Broadcast, QueuedPush):
    """A broadcast that writes its ledger (and text) and leaves the sending to workers."""


class Worker(DailyPush):
    """Claims batches of queued deliveries of any running push and sends them (DailyPush's sending loop)."""

    def __init__(self, bot, channels: dict[str, Sender] | None = None, sleep: Callable[[float], None] = time.sleep):
        super().__init__(bot, channels, sleep)
        self.claim_seconds = self.config["worker.claim_seconds"]
        self.claimed = self.sent = 0

    def run_forever(self, stop: threading.Event, once: bool = False) -> None:
        """Deliver until `stop` is set (after the run in hand); with `once`, until nothing is left.
        A database or Redis outage is waited out, however long (its rows are picked up again after it)."""
        delay = FIRST_DELAY
        while not stop.is_set():
            try:
                if self.work_once():
                    delay = FIRST_DELAY
                    continue
            except (Outage, *STORE_ERRORS) as exc:
                log.error("worker: %s; trying again in %g s", exc if isinstance(exc, Outage) else describe(exc),
                          delay)
                stop.wait(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            if once:
                return
            stop.wait(self.config["worker.idle_seconds"])

    def work_once(self) -> int:
        """Deliver what can be claimed of the running pushes; the number of rows claimed (0: nothing to do)."""
        before = self.claimed
        for run in self.patience.call(self._ready_runs):
            self.outage = ""
            self.patience.call(self._expire, run)
            # A heartbeat of this worker that DailyPush's loop renews; the run's own lease stays free.
            heartbeat = f"push:worker:{self.owner}"
            self.patience.call(leases.acquire, self.db, heartbeat, self.owner, self.lease_seconds)
            try:
                self.sent += self._send_all(run, heartbeat)
            finally:
                try:
                    leases.release(self.db, heartbeat, self.owner)
                except STORE_ERRORS:
                    pass  # it runs out by itself
            if self.outage:
                raise Outage(self.outage)
            if self.stopped:
                self.patience.call(self._stop_run, run)
            self.patience.call(self._finish, run)
        return self.claimed - before

    # ----- which runs, which rows ---------------------------------------------------------------------
    def _ready_runs(self) -> list[PushRun]:
        """Running pushes whose ledger is complete: no live lease (a process filling or sending it inline)."""
        now = utcnow()
        with self.db.session() as session:
            runs = session.scalars(select(PushRun).where(
                PushRun.status == "running", PushRun.reason != FILLING, broadcast.pushed()).order_by(PushRun.id)).all()
            held = set(session.scalars(select(Lease.name).where(
                Lease.name.in_([RUN_LEASE.format(r.id) for r in runs]), Lease.expires_at > now)))
        return [r for r in runs if RUN_LEASE.format(r.id) not in held]

    def _claim(self, run: PushRun, channels: list[str], batch: int) -> list:
        """Reserve up to `batch` queued rows nobody holds: never claimed, given back, or held by another
        worker that stopped renewing them `worker.claim_seconds` ago (it cannot send them any more: its
        marking them `sending` requires its own claim). Never rows this worker holds already."""
        stale = utcnow() - timedelta(seconds=self.claim_seconds)
        free = (Delivery.claimed_by == "") | ((Delivery.updated_at < stale) & (Delivery.claimed_by != self.owner))
        pick = (select(Delivery.id).where(Delivery.run_id == run.id, Delivery.status == "queued",
                                          Delivery.channel.in_(channels), free)
                .order_by(Delivery.id).limit(batch))
        claim = update(Delivery).values(claimed_by=self.owner, updated_at=utcnow()).execution_options(
            synchronize_session=False)
        with self.db.session() as session:
            if self.db.engine.dialect.name == "postgresql":
                # The picked rows stay locked until the claim commits; other workers' picks skip them
                # instead of waiting. (Two statements: inside `UPDATE … WHERE id IN (SELECT … FOR UPDATE)`
                # PostgreSQL may re-run the sub-select and claim far more than `batch` rows.)
                ids = session.scalars(pick.with_for_update(skip_locked=True)).all()
                if not ids:
                    return []
                session.execute(claim.where(Delivery.id.in_(ids), Delivery.status == "queued", free))
            else:
                # SQLite: one writer at a time, so one conditional UPDATE is the whole claim.
                ids = session.scalars(claim.where(Delivery.id.in_(pick.scalar_subquery())).returning(Delivery.id)).all()
                if not ids:
                    return []
            rows = session.execute(
                select(Delivery.id, Delivery.channel, Delivery.recipient, Delivery.subscriber_id,
                       Subscriber.products, Subscriber.language)
                .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.id.in_(ids), Delivery.status == "queued", Delivery.claimed_by == self.owner)
                .order_by(Delivery.id)).all()
        self.claimed += len(rows)
        return rows

    def _expire(self, run: PushRun) -> None:
        """Rows a dead worker left `sending`: they may have gone out, so `unknown` (as the ledger defines)."""
        stale = utcnow() - timedelta(seconds=self.claim_seconds)
        with self.db.session() as session:
            lost = session.execute(
                update(Delivery).where(Delivery.run_id == run.id, Delivery.status == "sending",
                                       Delivery.updated_at < stale)
                .values(status="unknown", error_message="the worker stopped during the call: may have been sent",
                        updated_at=utcnow())
                .execution_options(synchronize_session=False)).rowcount
        if lost:
            log.warning("push %s: %d deliveries were in flight when a worker died; marked unknown",
                        run.run_date, lost)

    def _content(self, session, run: PushRun):
        if broadcast.is_broadcast(run):
            return broadcast.content_of(self.config, run)
        return super()._content(session, run)

    # ----- the end of a run ---------------------------------------------------------------------------
    def _stop_run(self, run: PushRun) -> None:
        """A channel cannot go on (quota, refused token): the run stops until an admin resumes it."""
        reason = "; ".join(f"{name}: {why}" for name, why in sorted(self.stopped.items()))
        self.stopped.clear()  # the run's status keeps the workers off now; a resumed run starts afresh
        with self.db.session() as session:
            stopped = session.execute(update(PushRun).where(PushRun.id == run.id, PushRun.status == "running")
                                      .values(status="stopped", reason=reason[:255], finished_at=utcnow())).rowcount
        if stopped:
            self._report_end(run, self._report(run))

    def _finish(self, run: PushRun) -> None:
        """Mark the run done when its ledger is complete and nothing is queued or in flight; only the worker
        that does it reports."""
        with self.db.session() as session:
            rows = exists().where(Delivery.run_id == run.id)  # an empty run is finished by QueuedPush
            left = exists().where(Delivery.run_id == run.id, Delivery.status.in_(("queued", "sending")))
            filling = exists().where(Lease.name == RUN_LEASE.format(run.id), Lease.expires_at > utcnow())
            done = session.execute(update(PushRun).where(PushRun.id == run.id, PushRun.status == "running",
                                                         rows, ~left, ~filling)
                                   .values(status="done", reason="", finished_at=utcnow())
                                   .execution_options(synchronize_session=False)).rowcount
        if done:
            report = self._report(run)
            log.info("push %s done: %s", run.run_date, report.counts)
            self._report_end(run, report)

    def _report_end(self, run: PushRun, report: RunReport) -> None:
        """The admins get the figures of a daily run that ended (done or stopped); of a broadcast, as inline, not:
        the admin who sent it sees it in the console."""
        if not broadcast.is_broadcast(run):
            self._tell_admins(report)
