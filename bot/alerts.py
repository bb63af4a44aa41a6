"""Price alerts: evaluated whenever quotes are stored, delivered once per firing through the push channels.

Every path that stores a quote (a fetch, manual entry, a quarantine approval) goes through an ORM
session, so the hook is one pair of session events: `after_flush` notes the quotes written, and
`before_commit` evaluates the alerts of their products in the same transaction. A firing is a
PushRun (kind `alert:<id>`, the quote's date: unique, so an alert fires at most once per quote day)
with one queued Delivery; the alert is disarmed by a conditional UPDATE, so two processes storing
quotes at once cannot both fire it. After the commit, the process that stored the quotes calls
`deliver_pending`, which claims each queued alert delivery with a conditional UPDATE and sends it; a
delivery left queued (a busy API) goes out with the next fetch run or the scheduler's `alerts.deliver`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import chain

from sqlalchemy import event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.push import leases
from bot.channels.api import ApiError
from bot.config import Config
from bot.db import Database
from bot.models import Alert, AlertFiring, Delivery, PriceQuote, Product, PushRun, Subscriber, utcnow
from bot.push.content import TEXT_BYTES, Content, text_fields
from bot.render import Renderer, fit_bytes

log = logging.getLogger(__name__)

_STORED = "alerts.stored_quotes"
_SETTINGS = "alerts.settings"
RUN_PREFIX = "alert:"


@dataclass(frozen=True)
class Settings:
    hysteresis_pct: Decimal = Decimal(1)
    cooldown: timedelta = timedelta(0)
    renderer: Renderer | None = None


def configure(db: Database, config: Config, renderer: Renderer | None = None) -> None:
    """Give the sessions of `db` the alert settings of `config` (else the defaults apply)."""
    settings = Settings(Decimal(str(config["alerts.hysteresis_pct"])),
                        timedelta(minutes=config["alerts.cooldown_minutes"]), renderer)
    db.sessions.configure(info={_SETTINGS: settings})


# ----- the hook ------------------------------------------------------------------------------------------
@event.listens_for(Session, "after_flush")
def _note_quotes(session: Session, _context) -> None:
    quotes = [o for o in chain(session.new, session.dirty) if isinstance(o, PriceQuote)]
    if quotes:
        session.info.setdefault(_STORED, {}).update((q.id, q) for q in quotes)


@event.listens_for(Session, "before_commit")
def _evaluate_on_commit(session: Session) -> None:
    session.flush()  # quotes added since the last flush are noted too
    stored = session.info.pop(_STORED, None)
    if stored:
        evaluate(session, list(stored.values()))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_STORED, None)


# ----- evaluation ----------------------------------------------------------------------------------------
def evaluate(session: Session, quotes: list[PriceQuote]) -> list[AlertFiring]:
    """Fire or re-arm the alerts of the products whose newest quote is among `quotes`."""
    codes = {q.product_code for q in quotes}
    alerts = session.scalars(select(Alert).join(Subscriber, Subscriber.id == Alert.subscriber_id)
                             .where(Alert.product_code.in_(codes), Subscriber.status == "active")
                             .order_by(Alert.id)).all()
    if not alerts:
        return []
    settings: Settings = session.info.get(_SETTINGS) or Settings()
    ids = {q.id for q in quotes}
    fired = []
    for code in sorted({a.product_code for a in alerts}):
        product = session.get(Product, code)
        newest = session.scalars(select(PriceQuote).where(PriceQuote.product_code == code,
                                                          PriceQuote.unit == product.unit)
                                 .order_by(PriceQuote.date.desc(), PriceQuote.id.desc()).limit(1)).first()
        if newest is None or newest.id not in ids:
            continue  # a back-filled or non-product-unit quote is not the price now
        earlier = (select(PriceQuote).where(PriceQuote.product_code == code, PriceQuote.unit == newest.unit,
                                            PriceQuote.date < newest.date)
                   .order_by(PriceQuote.date.desc(), PriceQuote.id.desc()).limit(1))
        # The day's move against the same source, else against what was published before (a new source).
        previous = (session.scalars(earlier.where(PriceQuote.source == newest.source)).first()
                    or session.scalars(earlier).first())
        move = (newest.mid - previous.mid) / previous.mid * 100 if previous is not None and previous.mid else None
        for alert in (a for a in alerts if a.product_code == code):
            firing = _step(session, alert, product, newest, move, settings)
            if firing is not None:
                fired.append(firing)
    return fired


def crossed(kind: str, threshold: Decimal, price: Decimal, move: Decimal | None, direction: str | None = None) -> bool:
    """Whether the price is past the alert's line (or the day's move is at least its size, that way if given)."""
    if kind == "above":
        return price > threshold
    if kind == "below":
        return price < threshold
    if move is None:
        return False
    return {"up": move, "down": -move}.get(direction or "", abs(move)) >= threshold


def rearms(kind: str, threshold: Decimal, price: Decimal, hysteresis_pct: Decimal) -> bool:
    """Whether the price has moved back past the line by the hysteresis margin."""
    margin = threshold * hysteresis_pct / 100
    if kind == "above":
        return price < threshold - margin
    if kind == "below":
        return price > threshold + margin
    return True  # a daily move alert fires at most once per quote day


def _step(session: Session, alert: Alert, product: Product, quote: PriceQuote, move: Decimal | None,
          settings: Settings) -> AlertFiring | None:
    now = utcnow()
    price = quote.mid
    if not crossed(alert.kind, alert.threshold, price, move, alert.direction):
        if not alert.armed and rearms(alert.kind, alert.threshold, price, settings.hysteresis_pct):
            session.execute(update(Alert).where(Alert.id == alert.id).values(armed=True))
        return None
    if not alert.armed or (alert.fired_at and now - alert.fired_at < settings.cooldown):
        return None
    if alert.kind != "move":
        disarmed = session.execute(update(Alert).where(Alert.id == alert.id, Alert.armed.is_(True))
                                   .values(armed=False, fired_at=now)).rowcount
        if not disarmed:
            return None  # another process fired it a moment ago
    else:
        session.execute(update(Alert).where(Alert.id == alert.id).values(fired_at=now))
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    run_id = session.execute(insert(PushRun).values(
        kind=f"{RUN_PREFIX}{alert.id}", run_date=quote.date, status="running", data_date=quote.date, reason="",
        created_at=now).on_conflict_do_nothing(index_elements=["kind", "run_date"])
        .returning(PushRun.id)).scalar()
    if run_id is None:
        return None  # this alert already fired on this quote day
    sub = session.get(Subscriber, alert.subscriber_id)
    language = sub.language if sub.language in ("zh", "en") else "zh"
    text = _message(settings, language, alert, product, quote, move)
    firing = AlertFiring(run_id=run_id, alert_id=alert.id, product_code=product.code, date=quote.date,
                         price=price.quantize(Decimal("0.01")), language=language, text=text, created_at=now)
    session.add(firing)
    session.add(Delivery(run_id=run_id, subscriber_id=sub.id, channel=sub.channel, recipient=sub.external_id,
                         status="queued", attempts=0, error_message="", claimed_by="", created_at=now,
                         updated_at=now))
    session.flush()
    log.info("alert %d fired on %s of %s", alert.id, quote.date, product.code)
    return firing


def _message(settings: Settings, language: str, alert: Alert, product: Product, quote: PriceQuote,
             move: Decimal | None) -> str:
    renderer = settings.renderer or _default_renderer()
    return fit_bytes(renderer.text("alert_fired", language, alert=alert, product=product, quote=quote,
                                   move=move), TEXT_BYTES)


_renderer: Renderer | None = None


def _default_renderer() -> Renderer:
    global _renderer
    if _renderer is None:
        _renderer = Renderer()
    return _renderer


# ----- delivery ------------------------------------------------------------------------------------------
def deliver_pending(db: Database, config: Config, channels: dict | None = None) -> int:
    """Send every queued alert delivery once; returns how many went out.

    Each row is claimed `queued → sending` by one conditional UPDATE, so concurrent callers never send
    a row twice; a failed call that may be retried goes back to `queued` until `push.max_attempts`."""
    with db.session() as session:
        pending = session.execute(
            select(Delivery.id, Delivery.channel, Delivery.recipient, Delivery.run_id, AlertFiring.text,
                   AlertFiring.language, AlertFiring.date, AlertFiring.id.label("firing_id"))
            .join(PushRun, PushRun.id == Delivery.run_id).join(AlertFiring, AlertFiring.run_id == PushRun.id)
            .where(Delivery.status == "queued", PushRun.kind.like(f"{RUN_PREFIX}%"))
            .order_by(Delivery.id)).all()
    if not pending:
        return 0
    if channels is None:
        from bot.push.senders import build_senders

        channels = build_senders(config, db, workers=1)
    owner, sent = leases.new_owner(), 0
    for row in pending:
        with db.session() as session:
            claimed = session.execute(update(Delivery).where(Delivery.id == row.id, Delivery.status == "queued")
                                      .values(status="sending", claimed_by=owner, attempts=Delivery.attempts + 1,
                                              updated_at=utcnow())).rowcount
        if not claimed:
            continue
        status, code, message = _send(config, channels.get(row.channel), row)
        now = utcnow()
        with db.session() as session:
            values = {"status": status, "error_code": code, "error_message": message[:255], "updated_at": now}
            if status == "sent":
                values["sent_at"] = now
                sent += 1
            if status == "queued":
                attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == row.id))
                if attempts >= config["push.max_attempts"]:
                    values["status"] = "failed"
                else:
                    values["claimed_by"] = ""
            session.execute(update(Delivery).where(Delivery.id == row.id, Delivery.claimed_by == owner)
                            .values(**values))
            if values["status"] != "queued":
                session.execute(update(PushRun).where(PushRun.id == row.run_id)
                                .values(status="done", finished_at=now))
    return sent


def _send(config: Config, channel, row) -> tuple[str, int | None, str]:
    """(ledger status, error code, error message) of sending one alert."""
    if channel is None:
        return "skipped", None, f"channel {row.channel} is not configured"
    content = alert_content(config, row.firing_id, row.language, row.text, str(row.date))
    try:
        if row.channel == "wechat":
            outcome = channel.send(content, [row.recipient], personal=True)[row.recipient]
        else:
            outcome = channel.send(content, [row.recipient])[row.recipient]
    except ApiError as err:
        if err.kind == "transient":
            return "queued", err.errcode, err.errmsg  # tried again by the next delivery pass
        if err.kind == "ambiguous" and not channel.idempotent:
            return "unknown", err.errcode, err.errmsg
        return ("queued" if err.kind == "ambiguous" else "failed"), err.errcode, err.errmsg
    return outcome.status, outcome.code, outcome.message


def alert_content(config: Config, firing_id: int, language: str, text: str, day: str) -> Content:
    """An alert in every shape a channel may need (template fields as the daily push configures them)."""
    title = text.partition("\n")[0]
    return Content(f"alert-{firing_id}", language, title, text, text, text_fields(config, text, day))


def alert_jobs(config: Config) -> list:
    """The scheduler's catch-all: every minute, send alert deliveries still queued (e.g. after a failure)."""
    from bot.push.scheduler import ScheduledJob

    return [ScheduledJob("alerts.deliver", "* * * * *", lambda bot: deliver_pending(bot.db, bot.config),
                         lease_seconds=120)]
