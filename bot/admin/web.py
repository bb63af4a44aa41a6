"""The admin blueprint's frame: sign-in, sessions, CSRF, language, and helpers the pages share."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from flask import (Blueprint, Response, abort, current_app, g, jsonify, make_response, redirect, render_template,
                   request, url_for)
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from bot.admin import auth
from bot.admin.i18n import NOTICES, translate
from bot.render import TEMPLATES, number, percent, unit_label
from bot.service import Bot

SESSION_COOKIE = "rebot_admin"
LOGIN_CSRF_COOKIE = "rebot_admin_login"
LANG_COOKIE = "rebot_admin_lang"
PUBLIC_ENDPOINTS = {"admin.login", "admin.static", "admin.language"}

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder=str(TEMPLATES),
                      static_folder=str(Path(__file__).parent / "static"))


class RowId(IntegerConverter):
    """`<id:name>` in the console's routes: a row id, within the 32-bit integer columns of PostgreSQL (a larger
    number in a URL is a 404, not a database error)."""

    def __init__(self, url_map):
        super().__init__(url_map, max=2**31 - 1)


# Registered before the blueprint's routes are added to the app (deferred functions run in order).
blueprint.record_once(lambda state: state.app.url_map.converters.setdefault("id", RowId))


def bot() -> Bot:
    return current_app.extensions["rebot"]


def config(key: str):
    return bot().config[key]


def db() -> Session:
    """This request's database session (closed at the end of the request; commit explicitly)."""
    if "admin_db" not in g:
        g.admin_db = bot().db.sessions()
    return g.admin_db


def now() -> datetime:
    """The bot's clock as naive UTC, the way the database stores times."""
    return bot().clock().astimezone(timezone.utc).replace(tzinfo=None)


def language() -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in ("zh", "en"):
        return chosen
    return request.accept_languages.best_match(["zh", "en"]) or config("language")


def actor() -> str:
    return f"web:{g.admin_user.username}"


def wants_json() -> bool:
    return request.path.endswith(".json") or (
        request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json")


def page(template: str, status: int = 200, **data) -> Response:
    return make_response(render_template(f"admin/{template}", **data), status)


def done(endpoint: str, notice: str, **values) -> Response:
    """After a change: back to a page (POST-redirect-GET) with a notice key shown there."""
    return redirect(url_for(endpoint, notice=notice, **values))


def safe_next(target: str | None) -> str:
    """Only a path inside the console, never another site."""
    if target and target.startswith("/admin/") and not urlsplit(target).netloc and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


def _set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/admin", httponly=True, samesite="Lax",
                        secure=config("admin.secure_cookies"))


@blueprint.app_template_global()
def t(text: str) -> str:
    return translate(text, language())


@blueprint.app_template_global()
def notice_text() -> str:
    key = request.args.get("notice", "")
    return t(NOTICES[key]) if key in NOTICES else ""


blueprint.add_app_template_filter(number, "number")
blueprint.add_app_template_filter(percent, "percent")


@blueprint.app_template_filter("local")
def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (naive UTC) time in the configured `timezone`, e.g. 2025-06-11 18:00."""
    if moment is None:
        return "–"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(bot().config.zone).strftime(fmt)


@blueprint.app_template_global()
def shown(view):
    """How a quote's prices are shown in the console's language (万元/吨 in Chinese)."""
    return bot().router.renderer.units.view(view, g.lang)


@blueprint.app_template_global()
def stored_unit(unit: str) -> str:
    """A stored unit as the console's language writes it (元/吨): what a manual entry is typed in."""
    return unit_label(unit, g.lang)


@blueprint.app_template_global()
def shown_product(product):
    """How a product's prices (in its own unit) are shown in the console's language."""
    return bot().router.renderer.units.of(product.code, product.unit, g.lang)


@blueprint.app_template_global()
def product_names(codes) -> str:
    """Product codes as names in the console's language: 氧化镨钕、氧化镝."""
    catalog = bot().catalog()
    names = [catalog.by_code[c].name(g.lang) if c in catalog.by_code else c for c in codes or []]
    return ("、" if g.lang == "zh" else ", ").join(names)


@blueprint.app_template_global()
def csrf_token() -> str:
    found = g.get("admin_session")
    return found.csrf_token if found else g.get("login_csrf", "")


@blueprint.before_request
def guard():
    """Who is asking: a signed-in admin or nobody; anonymous requests are sent to the sign-in page."""
    g.lang = language()
    found = auth.find_session(db(), request.cookies.get(SESSION_COOKIE), now())
    g.admin_session = found
    g.admin_user = found.user if found else None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if found is None:
        if wants_json():
            return jsonify(error="sign in first", login=url_for("admin.login")), 401
        back = request.full_path.rstrip("?") if request.method == "GET" else None  # never replay a POST
        return redirect(url_for("admin.login", next=back))
    if request.method == "POST" and not auth.same_secret(request.form.get("csrf_token"), found.csrf_token):
        return page("error.html", 400, message=t("The form has expired or did not come from this console. "
                                                 "Go back, reload the page and try again."))
    return None


@blueprint.teardown_request
def close_db(_exc):
    session = g.pop("admin_db", None)
    if session is not None:
        session.close()


@blueprint.after_request
def headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "img-src 'self' data:; form-action 'self'; "
                                                   "frame-ancestors 'none'")
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.admin_user:
            return redirect(safe_next(request.args.get("next")))
        return _login_form()
    # Before sign-in there is no session: the token is a double-submit cookie.
    if not auth.same_secret(request.form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_form(t("The form has expired. Please try again."), 400)
    username, password = request.form.get("username", ""), request.form.get("password", "")
    if not username or not password:
        return _login_form(t("Enter your user name and password."), 400)
    session = db()
    try:
        user = auth.authenticate(session, username, password, request.remote_addr or "", now(),
                                 config("admin.lockout_attempts"), config("admin.lockout_minutes"),
                                 config("admin.max_password_checks"))
    except auth.LoginRefused as refused:
        current_app.logger.warning("admin: refused sign-in (%s) from %s", refused.reason, request.remote_addr)
        return _login_form(t("Wrong user name or password, or too many attempts: wait a minute and try again."), 401)
    except auth.SignInBusy:
        current_app.logger.warning("admin: sign-in from %s turned away: every password check is busy "
                                   "(admin.max_password_checks)", request.remote_addr)
        response = _login_form(t("Too many sign-ins at this moment. Please try again in a few seconds."), 503)
        response.headers["Retry-After"] = "5"
        return response
    token = auth.start_session(session, user, now(), config("admin.session_hours"))
    session.commit()
    response = redirect(safe_next(request.form.get("next")))
    _set_cookie(response, SESSION_COOKIE, token, config("admin.session_hours") * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return response


def _login_form(error: str = "", status: int = 200) -> Response:
    g.login_csrf = secrets.token_urlsafe(32)
    response = page("login.html", status, error=error, next=request.values.get("next", ""))
    _set_cookie(response, LOGIN_CSRF_COOKIE, g.login_csrf)
    return response


@blueprint.post("/logout")
def logout():
    session = db()
    auth.end_session(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = redirect(url_for("admin.login"))
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


@blueprint.get("/lang/<code>", endpoint="language")
def language_choice(code: str):
    if code not in ("zh", "en"):
        abort(404)
    response = redirect(safe_next(request.args.get("next")))
    _set_cookie(response, LANG_COOKIE, code, 365 * 24 * 3600)
    return response

