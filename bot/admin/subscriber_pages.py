"""Subscriber pages: search and filters, detail, add, followed products, pause/resume, remove, CSV."""
from __future__ import annotations

from flask import Response, abort, current_app, request, url_for
from sqlalchemy import select

from bot import subscribers as subs
from bot.admin import pushes
from bot.admin.web import actor, blueprint, bot, config, db, done, page, t
from bot.audit import audit
from bot.models import Alert, Subscriber


def _catalog():
    return bot().catalog()


def _codes() -> list[str]:
    return [p.code for p in _catalog().products]


def _subscriber(sub_id: int) -> Subscriber:
    found = db().get(Subscriber, sub_id)
    if found is None:
        abort(404)
    return found


@blueprint.get("/subscribers")
def subscribers():
    args = request.args
    try:
        number = max(1, int(args.get("page", "1")))
    except ValueError:
        number = 1
    filters = {k: args.get(k, "").strip() for k in ("q", "channel", "status", "product")}
    try:
        result = subs.search(db(), filters["q"], filters["channel"], filters["status"], filters["product"],
                             number, config("admin.page_size"))
    except subs.SubscriberError as err:
        current_app.logger.info("admin: subscribers page refused: %s", err)
        return page("error.html", 404, message=str(err))
    return page("subscribers.html", result=result, filters=filters, catalog=_catalog(),
                channels=subs.CHANNELS, statuses=subs.STATUSES)


@blueprint.route("/subscribers/new", methods=["GET", "POST"])
def subscriber_new():
    if request.method == "GET":
        return page("subscriber_new.html", form={}, error="", catalog=_catalog(), channels=subs.CHANNELS)
    form = request.form
    session = db()
    try:
        sub = subs.add(session, actor(), form.get("channel", ""), form.get("external_id", ""), _codes(),
                       display_name=form.get("display_name", ""), products=form.getlist("products"),
                       language=form.get("language", "zh"), daily_summary=form.get("daily_summary") == "yes")
    except subs.SubscriberError as err:
        return page("subscriber_new.html", 400, form=form, error=str(err), catalog=_catalog(),
                    channels=subs.CHANNELS)
    session.commit()
    return done("admin.subscriber", "added", sub_id=sub.id)


@blueprint.get("/subscribers/<id:sub_id>")
def subscriber(sub_id: int):
    sub = _subscriber(sub_id)
    alerts = db().scalars(select(Alert).where(Alert.subscriber_id == sub.id).order_by(Alert.id)).all()
    return page("subscriber.html", sub=sub, catalog=_catalog(), deliveries=pushes.deliveries_of(db(), sub.id),
                alerts=alerts)


@blueprint.post("/subscribers/<id:sub_id>/alerts/<id:alert_id>/delete")
def subscriber_alert_delete(sub_id: int, alert_id: int):
    session = db()
    alert = session.get(Alert, alert_id)
    if alert is None or alert.subscriber_id != _subscriber(sub_id).id:
        abort(404)
    audit(session, actor(), "alert.delete", f"subscriber:{sub_id}", alert=alert_id, product=alert.product_code,
          kind=alert.kind, threshold=str(alert.threshold))
    session.delete(alert)
    session.commit()
    return done("admin.subscriber", "alert_deleted", sub_id=sub_id)


@blueprint.post("/subscribers/<id:sub_id>/products")
def subscriber_products(sub_id: int):
    sub = _subscriber(sub_id)
    session = db()
    try:
        subs.set_products(session, actor(), sub, request.form.getlist("products"), _codes())
    except subs.SubscriberError as err:
        return page("error.html", 400, message=str(err))
    sub.daily_summary = request.form.get("daily_summary") == "yes"
    session.commit()
    return done("admin.subscriber", "saved", sub_id=sub_id)


@blueprint.post("/subscribers/<id:sub_id>/<any(pause, resume):action>")
def subscriber_status(sub_id: int, action: str):
    sub = _subscriber(sub_id)
    session = db()
    subs.set_status(session, actor(), sub, "paused" if action == "pause" else "active")
    session.commit()
    return done("admin.subscriber", "paused" if action == "pause" else "resumed", sub_id=sub_id)


@blueprint.post("/subscribers/<id:sub_id>/remove")
def subscriber_remove(sub_id: int):
    sub = _subscriber(sub_id)
    if request.form.get("confirm") != "yes":
        return page("error.html", 400, message=t("Tick the box to confirm the removal."))
    session = db()
    subs.remove(session, actor(), sub)
    session.commit()
    return done("admin.subscribers", "removed")


@blueprint.get("/subscribers/export.csv")
def subscribers_export():
    body = subs.export_csv(db())
    return Response("\ufeff" + body, mimetype="text/csv",  # the BOM lets spreadsheet programs see UTF-8
                    headers={"Content-Disposition": "attachment; filename=subscribers.csv"})


@blueprint.post("/subscribers/import")
def subscribers_import():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return page("import_result.html", 400, errors=[t("Choose a CSV file to import.")], result=None)
    try:
        text = upload.read().decode("utf-8-sig")  # the BOM of our own export, or none
    except UnicodeDecodeError:
        return page("import_result.html", 400, errors=[t("The file is not UTF-8 text (save it as CSV UTF-8).")],
                    result=None)
    session = db()
    try:
        result = subs.import_csv(session, actor(), text, _codes())
    except subs.SubscriberError as err:
        session.rollback()
        return page("import_result.html", 400, errors=str(err).splitlines(), result=None)
    session.commit()
    return page("import_result.html", errors=[], result=result, back=url_for("admin.subscribers"))
