"""Push pages: runs, a run's ledger, retry the failed, preview for a subscriber, send now (confirmed)."""
from __future__ import annotations

from datetime import date

from flask import abort, request
from sqlalchemy import select

from bot import subscribers as subs
from bot.admin import pushes
from bot.admin.freshness import freshness
from bot.admin.web import actor, blueprint, bot, db, done, page, t
from bot.audit import audit
from bot.models import PushRun
from bot.push.run import STATUSES


def _today() -> date:
    return bot().clock().date()


@blueprint.get("/pushes")
def pushes_list():
    session = db()
    return page("pushes.html", runs=pushes.recent_runs(session), statuses=STATUSES,
                next_runs=pushes.next_runs(bot().config, bot().clock()), running=pushes.BACKGROUND.running())


@blueprint.get("/pushes/<id:run_id>")
def push_run(run_id: int):
    session = db()
    summary = pushes.get_run(session, run_id)
    if summary is None:
        abort(404)
    shown = request.args.get("status", "")
    if shown not in STATUSES:
        shown = ""
    return page("push_run.html", summary=summary, rows=pushes.ledger(session, run_id, shown), shown=shown,
                statuses=STATUSES)


@blueprint.post("/pushes/<id:run_id>/retry")
def push_retry(run_id: int):
    session = db()
    run = session.get(PushRun, run_id)
    if run is None:
        abort(404)
    if run.kind != "daily":
        return page("error.html", 400, message=t("Only a daily push can be retried from here."))
    if not pushes.BACKGROUND.start(bot(), run.run_date, retry_failed=True):
        return page("error.html", 409, message=t("A push started from this console is still running."))
    audit(session, actor(), "push.retry_failed", f"push:{run.id}", run_date=str(run.run_date))
    session.commit()
    return done("admin.push_run", "push_started", run_id=run_id)


@blueprint.route("/pushes/send", methods=["GET", "POST"])
def push_send():
    """Send today's push now: a page that says what would happen, then a confirmed POST."""
    session = db()
    day = _today()
    catalog = bot().catalog()
    fresh = freshness(session, [catalog.by_code[c] for c in bot().config["default_products"]
                                if c in catalog.by_code], day)
    channels = pushes.configured_channels(bot().config)
    blocked = _blocked(channels, fresh)
    if request.method == "POST":
        if blocked:
            return page("error.html", 409, message=blocked)
        if request.form.get("confirm") != "yes":
            return page("error.html", 400, message=t("Tick the box to confirm the push."))
        if not pushes.BACKGROUND.start(bot(), day):
            return page("error.html", 409, message=t("A push started from this console is still running."))
        audit(session, actor(), "push.send_now", f"push:daily:{day}")
        session.commit()
        return done("admin.pushes_list", "push_started")
    existing = session.scalars(select(PushRun).where(PushRun.kind == "daily", PushRun.run_date == day)).first()
    return page("push_send.html", day=day, existing=existing, recipients=subs.daily_count(session),
                channels=channels, blocked=blocked)


def _blocked(channels: list[str], fresh) -> str:
    """Why "send now" is not offered, in the console's language, or ""."""
    if not channels:
        return t("No channel is configured: nothing would be sent.")
    if fresh.skip_reason:
        return t("Today's push would be skipped: {reason}.").format(reason=t(fresh.skip_reason))
    return ""


@blueprint.get("/pushes/preview")
def push_preview():
    session = db()
    ref = request.args.get("subscriber", "").strip()
    error, sub, content = "", None, None
    try:
        day = date.fromisoformat(request.args.get("date") or _today().isoformat())
    except ValueError:
        day, error = _today(), t("The date must look like 2025-06-11.")
    if ref and not error:
        try:
            sub = subs.find(session, ref)
        except subs.SubscriberError as err:
            error = str(err)
        else:
            content = pushes.preview(bot(), session, sub, day)
    status = 400 if error else 200
    return page("push_preview.html", status, ref=ref, day=day, sub=sub, content=content, error=error,
                mode=bot().config["push.wechat.mode"])

