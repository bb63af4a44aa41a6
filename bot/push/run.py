"""The daily summary push: a run per date, the ledger written before sending, resumable, exactly once.

How "exactly once" holds:
- one PushRun per (kind, date) (a unique constraint), so two schedulers share one run;
- one Delivery per (run, channel, recipient) (a unique constraint), inserted `queued` before sending;
- a row is claimed `queued → sending` by one conditional UPDATE, so two processes never send it both;
- a database lease on the run keeps a second process from working on it at the same time;
- a row still `sending` when a process takes the run over may have gone out: it becomes `unknown` and
  is reported, never re-sent unless an admin asks (`--retry-unknown`).
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy import DateTime, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.push import leases
from bot.channels.api import RECIPIENT_ERRORS, ApiError
from bot.market import calendar
from bot.push.outage import STORE_ERRORS, Outage, Patience, describe
from bot.market.quotes import latest_date
from bot.models import Delivery, PushRun, Subscriber, utcnow
from bot.push.senders import Sender, Outcome, build_senders
from bot.push.content import Content, DailyContent, preview

log = logging.getLogger(__name__)

SUBSCRIBER_CHANNELS = ("wechat", "wecom")
STATUSES = ("queued", "sending", "sent", "failed", "skipped", "unknown")
FLUSH_EVERY = 0.25  # seconds between ledger writes while sending (the window a crash turns into `unknown`)

# The mark made before every call, in plain SQL on the sending thread's DB-API connection (`{ids}`: one
# placeholder per row): through Core it cost twice the statement itself, a seventh of a push's GIL time.
_MARK_SENDING = ("UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ? "
                 "WHERE status = 'queued' AND claimed_by = ? AND id IN ({ids})")
_STILL_MINE = "SELECT id FROM deliveries WHERE status = 'sending' AND claimed_by = ? AND id IN ({ids})"
# The statements of every flush, built once, in Core: the ORM's bulk UPDATE (with its session
# synchronisation) cost more of the GIL than the HTTP calls themselves.
_d = Delivery.__table__
_ids, _owner = bindparam("ids", expanding=True), bindparam("owner")
_SETTLE = (_d.update().where(_d.c.id.in_(_ids), _d.c.claimed_by == _owner)
           .values(status=bindparam("status"), error_code=bindparam("code"), error_message=bindparam("message"),
                   updated_at=bindparam("now"), attempts=_d.c.attempts + bindparam("retries"),
                   sent_at=func.coalesce(bindparam("sent_at", type_=DateTime), _d.c.sent_at),
                   claimed_by=bindparam("claimed_by")))
_UNREACHABLE = Subscriber.__table__.update().where(Subscriber.__table__.c.id.in_(_ids)).values(status="unreachable")


@dataclass
class RunReport:
    run_date: date
    # done | stopped | skipped | busy (another process runs it) | interrupted (resumable: the lease went to
    # another process, or the database stayed away) | running (queued for `rebot worker`s)
    status: str
    reason: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))  # {}: unknown
    run_id: int | None = None
    sent_now: int = 0  # sent by this invocation

    def text(self, renderer, language: str) -> str:
        return renderer.env.get_template(f"push/report.{language}.j2").render(
            run_date=self.run_date, status=self.status, reason=self.reason, counts=self.counts).strip()


@dataclass
class _Result:
    delivery_id: int
    subscriber_id: int | None
    outcome: Outcome
    tries: int


@dataclass(frozen=True)
class Skip:
    """Whether the daily push of a day goes out: `why` is "" or the short rule that skips it (the console
    translates it), `reason` the same with its particulars (the run's recorded reason)."""

    newest: date | None  # the newest quote date up to that day
    why: str = ""
    reason: str = ""


def skip_rule(session: Session, day: date) -> Skip:
    """The one rule for skipping the daily push of `day`: no quotes; a day that is not a trading day, unless a
    quote of that very day is newer than the last push; no quote newer than the last push."""
    newest = latest_date(session, day)
    previous = session.scalars(
        select(PushRun).where(PushRun.kind == "daily", PushRun.run_date < day, PushRun.status != "skipped",
                              PushRun.data_date.is_not(None)).order_by(PushRun.run_date.desc()).limit(1)).first()
    if newest is None:
        return Skip(newest, "no quotes at all", "no quotes at all")
    if not calendar.current().is_trading_day(day) and (previous is None or newest <= previous.data_date
                                                         or newest < day):
        return Skip(newest, "not a trading day",
                    f"not a trading day ({calendar.current().holiday_name(day) or 'weekend'})")
    if previous is not None and newest <= previous.data_date:
        return Skip(newest, "no quote newer than the last push",
                    f"no quote newer than the last push ({previous.run_date}, quotes of {previous.data_date})")
    return Skip(newest)


def run_report(db, run_id: int) -> RunReport:
    """The figures of a run from the ledger."""
    with db.session() as session:
        row = session.get(PushRun, run_id)
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(session.execute(select(Delivery.status, func.count()).where(Delivery.run_id == run_id)
                                      .group_by(Delivery.status)).all())
        return RunReport(row.run_date, row.status, row.reason, counts, row.id)


def requeue(session: Session, run: PushRun, retry_failed: bool, retry_unknown: bool) -> None:
    """Queue again a run's failed deliveries (not those the recipient refused) and/or its unknown ones."""
    again = []
    if retry_failed:
        again.append((Delivery.status == "failed")
                     & (Delivery.error_code.is_(None) | Delivery.error_code.not_in(RECIPIENT_ERRORS)))
    if retry_unknown:
        again.append(Delivery.status == "unknown")
    for condition in again:
        session.execute(update(Delivery).where(Delivery.run_id == run.id, condition)
                        .values(status="queued", claimed_by="", updated_at=utcnow()))


class DailyPush:
    """Runs (or resumes) the daily summary push of a date for every channel the config enables."""

    def __init__(self, bot, channels: dict[str, Sender] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.bot, self.config, self.db = bot, bot.config, bot.db
        self.channels = channels if channels is not None else build_senders(self.config, self.db)
        self.sleep = sleep
        self.owner = leases.new_owner()
        self.lease_seconds = self.config["push.lease_seconds"]
        self.stopped: dict[str, str] = {}  # channel -> why it stopped
        self._stop_lock = threading.Lock()
        self.patience = Patience(self.config["push.outage_seconds"], sleep)
        self.lost = False  # the run's lease went to another process: this one stops, the run is not finished
        self.outage = ""  # why a sending thread gave up on the stores: the run stops here, resumable

    # ----- the run ------------------------------------------------------------------------------------
    def run(self, day: date | None = None, retry_failed: bool = False, retry_unknown: bool = False) -> RunReport:
        day = day or self.bot.clock().date()
        try:
            return self._run(day, retry_failed, retry_unknown)
        except Outage as exc:
            log.error("push %s: giving up for now, %s; the run stays resumable", day, exc)
            return RunReport(day, "interrupted", f"{exc}; the scheduler resumes the run", counts={})

    def _run(self, day: date, retry_failed: bool, retry_unknown: bool) -> RunReport:
        run = self.patience.call(self._get_or_create_run, day)
        if run.status == "skipped":
            return self._report(run)
        if run.status == "done" and not (retry_failed or retry_unknown):
            return self._report(run)
        lease = f"push:run:{run.id}"
        if not self.patience.call(leases.acquire, self.db, lease, self.owner, self.lease_seconds):
            log.info("push %s: another process is running it", day)
            report = self.patience.call(self._report, run)
            report.status, report.reason = "busy", "another process is running this push"
            return report
        try:
            # another process may have finished it while we waited
            report = self.patience.call(self._report, run)
            if report.status == "done" and not (retry_failed or retry_unknown):
                return report
            sent_now = self._work(run, lease, retry_failed, retry_unknown)
        finally:
            try:
                leases.release(self.db, lease, self.owner)
            except STORE_ERRORS:
                log.warning("push %s: cannot release the run's lease (it runs out by itself)", day)
        report = self.patience.call(self._report, run)
        report.sent_now = sent_now
        if self.lost:
            report.status = "interrupted"
            report.reason = "another process took the run over (this one was held up past push.lease_seconds)"
            return report
        if report.status in ("done", "stopped"):
            self._tell_admins(report)
        return report

    def _get_or_create_run(self, day: date) -> PushRun:
        with self.db.session() as session:
            run = session.scalars(select(PushRun).where(PushRun.kind == "daily", PushRun.run_date == day)).first()
            if run is not None:
                return run
            skip = skip_rule(session, day)
            run = PushRun(kind="daily", run_date=day, status="running", data_date=skip.newest, reason="")
            if skip.why:
                run.status, run.reason, run.finished_at = "skipped", skip.reason, utcnow()
        try:
            with self.db.session() as session:
                session.add(run)
        except IntegrityError:  # another process created it a moment ago
            with self.db.session() as session:
                return session.scalars(select(PushRun).where(PushRun.kind == "daily", PushRun.run_date == day)).one()
        if run.status == "skipped":
            log.info("push %s skipped: %s", day, run.reason)
        return run

    def _work(self, run: PushRun, lease: str, retry_failed: bool, retry_unknown: bool) -> int:
        self.patience.call(self._take_over, run, retry_failed, retry_unknown)
        self.patience.call(self._fill_ledger, run)
        sent = self._send_all(run, lease)
        if self.outage:
            raise Outage(self.outage)
        if not self.lost:
            self.patience.call(self._finish_run, run)
        return sent

    def _take_over(self, run: PushRun, retry_failed: bool, retry_unknown: bool) -> None:
        """Start (or resume) `run`: rows left `sending` by a dead sender become `unknown`, others' claims go."""
        with self.db.session() as session:
            orphans = session.execute(
                update(Delivery).where(Delivery.run_id == run.id, Delivery.status == "sending",
                                       Delivery.claimed_by != self.owner)
                .values(status="unknown", error_message="the sender stopped during the call: may have been sent",
                        updated_at=utcnow())).rowcount
            session.execute(update(Delivery).where(Delivery.run_id == run.id, Delivery.status == "queued",
                                                   Delivery.claimed_by != self.owner).values(claimed_by=""))
            if orphans:
                log.warning("push %s: %d deliveries were in flight when a sender died; marked unknown",
                            run.run_date, orphans)
            requeue(session, run, retry_failed, retry_unknown)
            session.execute(update(PushRun).where(PushRun.id == run.id).values(status="running", reason=""))

    def _finish_run(self, run: PushRun) -> None:
        """Done only when nothing is left to send; stopped (with the reason) when a channel cannot go on."""
        with self.db.session() as session:
            left = dict(session.execute(
                select(Delivery.channel, func.count()).where(Delivery.run_id == run.id,
                                                             Delivery.status.in_(("queued", "sending")))
                .group_by(Delivery.channel)).all())
            why = dict(self.stopped)
            for channel, n in left.items():
                if channel not in self.channels:
                    why[channel] = f"not configured in this process ({n} queued)"
            row = session.get(PushRun, run.id)
            if why:
                row.status = "stopped"
                row.reason = "; ".join(f"{name}: {text}" for name, text in sorted(why.items()))[:255]
            elif left:  # rows another sender holds: not finished, the scheduler resumes it
                row.reason = f"{sum(left.values())} deliveries left"
                return
            else:
                row.status, row.reason = "done", ""
            row.finished_at = utcnow()

    def _fill_ledger(self, run: PushRun) -> None:
        """One queued row per recipient; rows that exist (a resumed run) are kept as they are."""
        mass = "wechat" in self.channels and self.config["push.wechat.mode"] == "mass"
        per_subscriber = [c for c in SUBSCRIBER_CHANNELS if c in self.channels and not (c == "wechat" and mass)]
        batch = self.config["push.batch_size"]
        last_id = 0
        while per_subscriber:
            with self.db.session() as session:
                rows = session.execute(
                    select(Subscriber.id, Subscriber.channel, Subscriber.external_id)
                    .where(Subscriber.id > last_id, Subscriber.daily_summary.is_(True),
                           Subscriber.status == "active", Subscriber.channel.in_(per_subscriber))
                    .order_by(Subscriber.id).limit(batch)).all()
                if not rows:
                    break
                self._insert(session, [{"run_id": run.id, "subscriber_id": r.id, "channel": r.channel,
                                        "recipient": r.external_id} for r in rows])
            last_id = rows[-1].id
        extra = []
        if mass:
            extra.append({"run_id": run.id, "subscriber_id": None, "channel": "wechat",
                          "recipient": f"tag:{self.config['push.wechat.mass_tag_id']}"})
        if "wecom_robot" in self.channels:
            extra += [{"run_id": run.id, "subscriber_id": None, "channel": "wecom_robot", "recipient": r["name"]}
                      for r in self.config["robots"]]
        if extra:
            with self.db.session() as session:
                self._insert(session, extra)

    @staticmethod
    def _insert(session, rows: list[dict]) -> None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        now = utcnow()
        for row in rows:
            row.update(status="queued", attempts=0, error_message="", claimed_by="", created_at=now, updated_at=now)
        session.execute(insert(Delivery).on_conflict_do_nothing(
            index_elements=["run_id", "channel", "recipient"]), rows)

    def _send_all(self, run: PushRun, lease: str) -> int:
        """Send the run's queued rows while this process holds `lease`. Every database statement here waits
        out an outage (Patience); losing the lease stops the claiming, lets the calls in flight finish and
        hands this process's claims back."""
        # A claim holds a few full calls of every channel (1000 WeCom members each), so they run in parallel.
        batch = max([self.config["push.batch_size"], *(4 * c.batch for c in self.channels.values())])
        # Calls marked `sending` and handed to the workers, at most one each: as calls finish, this thread
        # marks the next ones in one transaction (group commit, on plain Core: no worker thread touches the
        # database), so a crash leaves no more `sending` rows than calls in flight.
        window = self.config["push.workers"]
        sent = settled = 0
        renewed = time.monotonic()
        self.lost = False
        ledger = _Ledger(self.db)
        with self.db.session() as content_session, \
                ThreadPoolExecutor(self.config["push.workers"], thread_name_prefix="push") as pool:
            content = self._content(content_session, run)
            done: queue.Queue = queue.Queue()
            waiting: deque = deque()  # calls claimed, not yet marked `sending`
            outstanding, exhausted, buffered = 0, False, []
            flushed = logged = time.monotonic()
            try:
                while True:
                    if not self.lost and time.monotonic() - renewed > self.lease_seconds / 3:
                        self.lost = not self.patience.call(leases.acquire, self.db, lease, self.owner,
                                                           self.lease_seconds)
                        renewed = time.monotonic()
                        if self.lost:
                            log.error("push %s: lost the run's lease to another process; stopping", run.run_date)
                            waiting.clear()  # claimed, not marked: handed back to the lease's holder
                            self.patience.call(self._unclaim, run)
                    if not (exhausted or self.lost or self.outage) and len(waiting) < window:
                        active = [c for c in self.channels if c not in self.stopped]
                        claimed = self.patience.call(self._claim, run, active, batch) if active else []
                        exhausted = not claimed
                        waiting.extend(self.patience.call(_reading, content_session, self._tasks, claimed,
                                                          content))
                    if self.outage:
                        waiting.clear()
                    if waiting and outstanding < window:
                        ready = [waiting.popleft() for _ in range(min(window - outstanding, len(waiting)))]
                        for channel, body, rows in self.patience.call(ledger.use, self._mark_sending, ready):
                            pool.submit(self._deliver_counted, channel, body, rows).add_done_callback(done.put)
                            outstanding += 1
                    if outstanding == 0 and not buffered and not waiting:
                        break
                    try:
                        future = done.get(timeout=FLUSH_EVERY) if outstanding else None
                    except queue.Empty:
                        future = None
                    while future is not None:  # every call finished meanwhile
                        outstanding -= 1
                        buffered.extend(future.result())
                        try:
                            future = done.get_nowait()
                        except queue.Empty:
                            future = None
                    now = time.monotonic()
                    if buffered and (outstanding == 0 or now - flushed >= FLUSH_EVERY):
                        sent += self.patience.call(self._record, buffered)
                        settled += len(buffered)
                        buffered, flushed = [], now
                    if now - logged > 10:
                        log.info("push %s: %d settled so far (%d sent)", run.run_date, settled, sent)
                        logged = now
            finally:
                ledger.close()
            log.info("push %s: %d settled (%d sent)", run.run_date, settled, sent)
        return sent

    def _unclaim(self, run: PushRun) -> None:
        """Hand back the queued rows this process reserved (they were never marked `sending`)."""
        with self.db.session() as session:
            session.execute(update(Delivery).where(Delivery.run_id == run.id, Delivery.status == "queued",
                                                   Delivery.claimed_by == self.owner).values(claimed_by=""))

    def _content(self, session, run: PushRun) -> DailyContent:
        """What the run sends: anything with `for_subscriber(codes, language) -> Content` (a broadcast differs)."""
        return DailyContent(self.config, session, self.bot.catalog(), run.run_date, self.bot.router.renderer)

    def _claim(self, run: PushRun, channels: list[str], batch: int) -> list:
        """Reserve up to `batch` queued rows for this process (they stay `queued` until their call)."""
        with self.db.session() as session:
            ids = list(session.scalars(
                select(Delivery.id).where(Delivery.run_id == run.id, Delivery.status == "queued",
                                          Delivery.claimed_by == "", Delivery.channel.in_(channels))
                .order_by(Delivery.id).limit(batch)))
            if not ids:
                return []
            session.execute(update(Delivery).where(Delivery.id.in_(ids), Delivery.status == "queued",
                                                   Delivery.claimed_by == "")
                            .values(claimed_by=self.owner, updated_at=utcnow()))
        with self.db.session() as session:
            return session.execute(
                select(Delivery.id, Delivery.channel, Delivery.recipient, Delivery.subscriber_id,
                       Subscriber.products, Subscriber.language)
                .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.id.in_(ids), Delivery.status == "queued", Delivery.claimed_by == self.owner)
                .order_by(Delivery.id)).all()

    def _mark_sending(self, conn, calls: list) -> list:
        """Durably mark the rows of the next `calls` `sending`, in one transaction on `conn` (DB-API), before
        they go out: after a crash they are `unknown`. The calls come back with the rows still this process's."""
        ids = [r.id for _, _, rows in calls for r in rows]
        placeholders = ", ".join("?" * len(ids))
        cursor = conn.cursor()
        cursor.execute(self.db.sql(_MARK_SENDING.format(ids=placeholders)),
                       (self.db.timestamp(utcnow()), self.owner, *ids))
        if cursor.rowcount == len(ids):
            mine = set(ids)
        else:
            cursor.execute(self.db.sql(_STILL_MINE.format(ids=placeholders)), (self.owner, *ids))
            mine = {row[0] for row in cursor.fetchall()}
        conn.commit()
        marked = []
        for channel, body, rows in calls:
            rows = [r for r in rows if r.id in mine]
            if rows:
                marked.append((channel, body, rows))
        return marked

    def _tasks(self, claimed: list, content: DailyContent) -> list[tuple[Sender, Content, list]]:
        """Rows grouped by channel and identical message, cut into API calls of the channel's batch size."""
        groups: dict[tuple[str, int], tuple[Content, list]] = {}
        for row in claimed:
            body = content.for_subscriber(row.products, row.language)  # cached: equal messages are one object
            groups.setdefault((row.channel, id(body)), (body, []))[1].append(row)
        tasks = []
        for (name, _), (body, rows) in groups.items():
            channel = self.channels[name]
            tasks += [(channel, body, rows[i:i + channel.batch]) for i in range(0, len(rows), channel.batch)]
        return tasks

    def _deliver_counted(self, channel: Sender, content: Content, rows: list) -> list[_Result]:
        """`_deliver`, counted in the metrics: each recipient a call reached or failed for (not the rows left queued)."""
        results = self._deliver(channel, content, rows)
        for result in results:
            outcome = result.outcome
            if outcome.status == "sent":
                self.bot.metrics.push(channel.name, True)
            elif outcome.status != "queued" or outcome.code is not None:
                self.bot.metrics.push(channel.name, False, outcome.code if outcome.code is not None else outcome.status)
        return results

    def _deliver(self, channel: Sender, content: Content, rows: list) -> list[_Result]:
        """Send one call's worth, retrying transient failures with exponential backoff and jitter.

        A database or Redis error (the token store, the rate counters) comes before the call: the rows go
        back to `queued` once it has lasted `push.outage_seconds`. Only an error during the call itself
        may hide a delivery: such rows are `unknown`."""
        if channel.name in self.stopped:
            return self._all(rows, Outcome("queued", None, f"not sent: {self.stopped[channel.name]}"), 0)
        if self.outage:
            return self._all(rows, Outcome("queued", None, f"not sent: {self.outage}"), 0)
        tries = 0
        patience = Patience(self.config["push.outage_seconds"], self.sleep, f"push via {channel.name}")
        while True:
            tries += 1
            try:
                outcomes = channel.send(content, [r.recipient for r in rows])
                return [_Result(r.id, r.subscriber_id, outcomes[r.recipient], tries) for r in rows]
            except STORE_ERRORS as exc:
                tries -= 1  # nothing went out
                try:
                    patience.failed(exc)
                except Outage as outage:
                    self.outage = str(outage)
                    return self._all(rows, Outcome("queued", None, f"not sent: {describe(exc)}"), tries)
                continue
            except ApiError as err:
                retryable = err.kind == "transient" or (err.kind == "ambiguous" and channel.idempotent)
                if err.kind == "ambiguous" and not retryable:
                    return self._all(rows, Outcome("unknown", None, err.errmsg), tries)
                if retryable and tries < self.config["push.max_attempts"] and channel.name not in self.stopped:
                    delay = self.config["push.backoff_seconds"] * 2 ** (tries - 1) * random.uniform(0.5, 1.5)
                    self.sleep(delay)
                    continue
                if retryable:
                    return self._all(rows, Outcome("failed", err.errcode, err.errmsg), tries)
                # quota (45009), a token refused after a refresh, or a configuration error: sending more
                # on this channel would fail the same way. Stop it; its rows stay queued for a later run.
                self._stop(channel.name, err)
                return self._all(rows, Outcome("queued", err.errcode, err.errmsg), tries)
            except Exception as exc:  # a bug somewhere in the call: it may have gone out
                log.exception("push via %s: the call failed unexpectedly", channel.name)
                return self._all(rows, Outcome("unknown", None, f"internal error during the call: "
                                                               f"{type(exc).__name__}"), tries)

    def _stop(self, channel: str, err: ApiError) -> None:
        with self._stop_lock:
            if channel not in self.stopped:
                what = {"quota": "daily API quota reached", "token": "access token refused after a refresh"}
                self.stopped[channel] = f"{what.get(err.kind, 'error')} ({err})"
                log.error("push: stopping channel %s: %s", channel, self.stopped[channel])

    @staticmethod
    def _all(rows: list, outcome: Outcome, tries: int) -> list[_Result]:
        return [_Result(r.id, r.subscriber_id, outcome, tries) for r in rows]

    def _record(self, results: list[_Result]) -> int:
        """Write outcomes to the ledger: one UPDATE per kind of outcome (most are plain `sent`)."""
        now = utcnow()
        groups: dict[tuple[Outcome, int], list[_Result]] = {}
        for result in results:
            groups.setdefault((result.outcome, result.tries), []).append(result)
        with self.db.engine.begin() as conn:
            for (outcome, tries), group in groups.items():
                conn.execute(_SETTLE, {
                    "ids": [r.delivery_id for r in group], "owner": self.owner, "status": outcome.status,
                    "code": outcome.code, "message": outcome.message[:255], "now": now, "retries": max(tries - 1, 0),
                    "sent_at": now if outcome.status == "sent" else None,
                    "claimed_by": "" if outcome.status == "queued" else self.owner})
                unreachable = [r.subscriber_id for r in group if r.subscriber_id]
                if outcome.unreachable and unreachable:
                    conn.execute(_UNREACHABLE, {"ids": unreachable})
        return sum(1 for r in results if r.outcome.status == "sent")

    # ----- reporting ----------------------------------------------------------------------------------
    def _report(self, run: PushRun) -> RunReport:
        return run_report(self.db, run.id)

    def _tell_admins(self, report: RunReport) -> None:
        """One message to each admin (WeChat openids in `admins`) with the run's figures."""
        wechat = self.channels.get("wechat")
        client = getattr(wechat, "client", None)
        if client is None or not self.config.admin_ids("wechat"):
            return
        text = report.text(self.bot.router.renderer, self.config["language"])
        for admin in self.config.admin_ids("wechat"):
            try:
                client.send_custom_text(admin, text)
            except ApiError as err:
                log.warning("push report to an admin failed: %s", err)


class _Ledger:
    """The sending loop's DB-API connection, replaced by a fresh one after a store error."""

    def __init__(self, db):
        self.db, self.conn = db, None

    def use(self, fn, *args):
        if self.conn is None:
            self.conn = self.db.engine.raw_connection()
        try:
            return fn(self.conn, *args)
        except STORE_ERRORS:
            self.conn.invalidate()  # closed by the server, or in a failed transaction: never reused
            self.conn = None
            raise

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except STORE_ERRORS:
                pass


def _reading(session, fn, *args):
    """`fn(*args)` reading through `session`, whose connection goes back to the pool afterwards (an idle one
    may die in an outage); after a store error the session is rolled back, so that a retry can use it."""
    try:
        result = fn(*args)
    except STORE_ERRORS:
        session.rollback()
        raise
    session.commit()
    return result


def dry_run(bot, day: date | None = None, echo: Callable[[str], None] = print,
            channels: dict[str, Sender] | None = None) -> int:
    """Print what each recipient would get today, per channel, without sending or writing anything.
    Returns the number of messages that would be sent."""
    config = bot.config
    channels = channels if channels is not None else build_senders(config, bot.db)
    day = day or bot.clock().date()
    mass = "wechat" in channels and config["push.wechat.mode"] == "mass"
    count = 0
    with bot.db.session() as session:
        content = DailyContent(config, session, bot.catalog(), day, bot.router.renderer)
        skip = skip_rule(session, day)
        existing = session.scalars(select(PushRun).where(PushRun.kind == "daily", PushRun.run_date == day)).first()
        echo(f"Daily summary for {day} — dry run, nothing is sent.")
        if existing is not None:
            echo(f"Note: the push of {day} already exists ({existing.status}); `rebot push daily` would only "
                 f"send what it has not sent.")
        if skip.why:
            echo(f"The push would be skipped: {skip.reason}. Below is what it would contain.")
        if not channels:
            echo("No channel is configured (wechat.app_id/app_secret, wecom.corp_id/secret, robots): nothing "
                 "would be sent. PREVIEW of what a subscriber of each kind would receive:")
            for kind, text in preview(content, config):
                echo(f"\n=== PREVIEW · {kind}")
                echo(text)

        def show(channel: str, recipient: str, how: str, text: str) -> None:
            nonlocal count
            count += 1
            echo(f"\n=== {channel} → {recipient} ({how})")
            echo(text)

        last_id, skipped = 0, {}
        while True:
            rows = session.execute(
                select(Subscriber.id, Subscriber.channel, Subscriber.external_id, Subscriber.products,
                       Subscriber.language)
                .where(Subscriber.id > last_id, Subscriber.daily_summary.is_(True), Subscriber.status == "active")
                .order_by(Subscriber.id).limit(config["push.batch_size"])).all()
            if not rows:
                break
            last_id = rows[-1].id
            for row in rows:
                if row.channel not in channels or (row.channel == "wechat" and mass):
                    skipped[row.channel] = skipped.get(row.channel, 0) + 1
                    continue
                body = content.for_subscriber(row.products, row.language)
                if row.channel == "wechat" and config["push.wechat.mode"] == "template":
                    fields = "\n".join(f"{k}: {v}" for k, v in body.template_fields.items())
                    show("wechat", row.external_id, f"template {config['push.wechat.template_id']}, {body.language}",
                         fields)
                else:
                    how = f"{config['push.wechat.mode']} message" if row.channel == "wechat" else "app message"
                    show(row.channel, row.external_id, f"{how}, {body.language}", body.text)
        default = content.for_subscriber(None, None)
        if mass:
            show("wechat", f"tag:{config['push.wechat.mass_tag_id']}", f"mass send, {default.language}", default.text)
            if skipped.get("wechat"):
                echo(f"({skipped.pop('wechat')} WeChat subscribers are reached through the tag)")
        for robot in config["robots"] if "wecom_robot" in channels else []:
            show("wecom_robot", robot["name"], f"group robot markdown, {default.language}", default.markdown)
        for name, n in sorted(skipped.items()):
            echo(f"({n} subscriber(s) on {name}: that channel is not configured, nothing would be sent)")
    echo(f"\n{count} message(s) would be sent.")
    return count
