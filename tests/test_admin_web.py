"""The admin console through the Flask test client: sign-in, sessions, CSRF, lockout and every page's action."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from admin_helpers import PASSWORD, add_admin, english, sign_in, token
from bot.models import AdminSession, AuditLog, NewsItem, PriceQuote, Subscriber
from conftest import DEMO_NOW

# Every admin route, with a request that a signed-in admin could make.
ROUTES = [
    ("GET", "/admin/"), ("GET", "/admin/stats.json"), ("GET", "/admin/subscribers"),
    ("GET", "/admin/subscribers/new"), ("POST", "/admin/subscribers/new"), ("GET", "/admin/subscribers/1"),
    ("POST", "/admin/subscribers/1/products"), ("POST", "/admin/subscribers/1/pause"),
    ("POST", "/admin/subscribers/1/resume"), ("POST", "/admin/subscribers/1/remove"),
    ("GET", "/admin/subscribers/export.csv"), ("POST", "/admin/subscribers/import"),
    ("GET", "/admin/prices"), ("GET", "/admin/prices/PrNd-oxide"), ("POST", "/admin/prices/PrNd-oxide"),
    ("GET", "/admin/news"), ("POST", "/admin/news/1/hide"), ("POST", "/admin/news/1/show"),
    ("GET", "/admin/audit"), ("GET", "/admin/pushes"), ("GET", "/admin/pushes/1"), ("POST", "/admin/pushes/1/retry"),
    ("GET", "/admin/pushes/send"), ("POST", "/admin/pushes/send"), ("GET", "/admin/pushes/preview?subscriber=1"),
    ("GET", "/admin/sources"), ("POST", "/admin/sources/x/fetch"), ("GET", "/admin/quarantine"),
    ("POST", "/admin/quarantine/1/approve"), ("POST", "/admin/quarantine/1/reject"), ("POST", "/admin/logout"),
]


@pytest.fixture
def admin(app, bot):
    """A test client signed in as alice."""
    add_admin(bot)
    client = english(app)
    assert sign_in(client).status_code == 302
    return client


def add_subscriber(bot, external_id="oAlice", **fields) -> int:
    with bot.db.session() as session:
        sub = Subscriber(channel=fields.pop("channel", "wechat"), external_id=external_id,
                         language=fields.pop("language", "zh"), products=fields.pop("products", []),
                         daily_summary=fields.pop("daily_summary", True), status=fields.pop("status", "active"),
                         display_name=fields.pop("display_name", ""))
        session.add(sub)
        session.flush()
        return sub.id


def post(client, path, data=None, **kwargs):
    """A form POST carrying the session's CSRF token."""
    return client.post(path, data={"csrf_token": token(client, "/admin/"), **(data or {})}, **kwargs)


def audit_actions(bot) -> list[tuple[str, str, str]]:
    with bot.db.session() as session:
        return [(a.actor, a.action, a.target) for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]


# --- sign-in, sessions, CSRF --------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", ROUTES)
def test_every_admin_route_refuses_anonymous_requests(client, bot, method, path):
    add_subscriber(bot)
    response = client.open(path, method=method, data={"csrf_token": "x"})
    if path.endswith(".json"):
        assert response.status_code == 401
        assert response.get_json()["error"] == "sign in first"
    else:
        assert response.status_code == 302
        expected = "/admin/login?next=" if method == "GET" else "/admin/login"
        assert response.headers["Location"].startswith(expected)
    with bot.db.session() as session:  # nothing changed
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
        assert session.get(Subscriber, 1).status == "active"


def test_json_is_refused_with_401_when_asked_for_json(client):
    response = client.get("/admin/subscribers", headers={"Accept": "application/json"})
    assert response.status_code == 401
    anything = client.get("/admin/", headers={"Accept": "*/*"})  # curl, a phone's browser: the sign-in page
    assert anything.status_code == 302 and anything.headers["Location"].startswith("/admin/login")


def test_sign_in_sets_a_hardened_session_cookie_and_returns_to_the_page_asked_for(app, bot):
    add_admin(bot)
    client = english(app)
    assert client.get("/admin/prices").headers["Location"] == "/admin/login?next=/admin/prices"
    response = sign_in(client, next="/admin/prices")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/prices"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("rebot_admin="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie
    assert client.get("/admin/prices").status_code == 200
    with bot.db.session() as session:  # only a hash of the token is stored
        stored = session.scalars(select(AdminSession)).one()
        value = cookie.split(";")[0].split("=", 1)[1]
        assert stored.token_hash != value and len(stored.token_hash) == 64


def test_secure_cookies_behind_https(make_app):
    app = make_app(**{"admin.secure_cookies": True})
    add_admin(app.extensions["rebot"])
    client = english(app)
    cookie = next(c for c in sign_in(client).headers.getlist("Set-Cookie") if c.startswith("rebot_admin="))
    assert "Secure" in cookie


def test_sign_in_never_redirects_to_another_site(app, bot):
    add_admin(bot)
    for target in ("https://evil.example/", "//evil.example/admin/", "/wechat"):
        response = sign_in(english(app), next=target)
        assert response.headers["Location"] == "/admin/"


def test_wrong_password_and_unknown_user_get_the_same_answer(app, bot):
    add_admin(bot)
    client = english(app)
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, name="mallory")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password" in wrong.get_data(as_text=True)
    assert "Wrong user name or password" in unknown.get_data(as_text=True)
    assert "rebot_admin=" not in " ".join(wrong.headers.getlist("Set-Cookie")).replace("rebot_admin_login=", "")
    assert client.get("/admin/").status_code == 302


def test_empty_fields_are_refused(app, bot):
    add_admin(bot)
    response = sign_in(english(app), password="")
    assert response.status_code == 400 and "Enter your user name and password." in response.get_data(as_text=True)


def test_sign_in_without_or_with_a_wrong_csrf_token_is_refused(app, bot):
    add_admin(bot)
    client = english(app)
    client.get("/admin/login")
    missing = client.post("/admin/login", data={"username": "alice", "password": PASSWORD})
    wrong = client.post("/admin/login", data={"csrf_token": "forged", "username": "alice", "password": PASSWORD})
    assert missing.status_code == wrong.status_code == 400
    assert "The form has expired" in missing.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # not signed in


def test_repeated_failures_delay_that_name_from_that_address_growing_each_time(make_app):
    state = {"now": DEMO_NOW}
    app = make_app(clock=lambda: state["now"], **{"admin.lockout_attempts": 3, "admin.lockout_minutes": 10})
    add_admin(app.extensions["rebot"])
    client = english(app)
    assert [sign_in(client, password="wrong!").status_code for _ in range(3)] == [401, 401, 401]
    delayed = sign_in(client)  # the right password, during the delay: the same answer as a wrong one
    assert delayed.status_code == 401 and "wait a minute" in delayed.get_data(as_text=True)
    other = english(app)
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"  # the real admin elsewhere is not locked out
    assert sign_in(other).status_code == 302
    state["now"] = DEMO_NOW + timedelta(seconds=31)  # the first delay is 30 s
    assert [sign_in(client, password="wrong!").status_code for _ in range(3)] == [401, 401, 401]
    state["now"] = DEMO_NOW + timedelta(seconds=31 + 31)  # the second is 60 s
    assert sign_in(client).status_code == 401
    state["now"] = DEMO_NOW + timedelta(seconds=31 + 61)
    assert sign_in(client).status_code == 302


def test_a_success_resets_the_failure_count(make_app):
    app = make_app(**{"admin.lockout_attempts": 3})
    add_admin(app.extensions["rebot"])
    client = english(app)
    sign_in(client, password="wrong!")
    sign_in(client, password="wrong!")
    assert sign_in(client).status_code == 302
    other = english(app)
    assert [sign_in(other, password="wrong!").status_code for _ in range(2)] == [401, 401]


@pytest.mark.parametrize("method,path", [r for r in ROUTES if r[0] == "POST"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(admin, bot, method, path):
    add_subscriber(bot)
    for data in ({}, {"csrf_token": "forged"}):
        response = admin.post(path, data={**data, "confirm": "yes", "date": "2025-06-11", "low": "1", "high": "2"})
        assert response.status_code == 400
        assert "The form has expired or did not come from this console" in response.get_data(as_text=True)
    assert audit_actions(bot) == []
    assert admin.get("/admin/").status_code == 200  # still signed in: logout was refused too


def test_logout_ends_the_session_on_the_server(admin, bot):
    cookie = admin.get_cookie("rebot_admin", path="/admin").value
    response = post(admin, "/admin/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert admin.get("/admin/").status_code == 302
    replay = bot.db.sessions()
    try:
        assert replay.scalar(select(func.count()).select_from(AdminSession)) == 0
    finally:
        replay.close()
    admin.set_cookie("rebot_admin", cookie, path="/admin")  # the old cookie is worthless
    assert admin.get("/admin/").status_code == 302


def test_sessions_expire(make_app):
    state = {"now": DEMO_NOW}
    app = make_app(clock=lambda: state["now"], **{"admin.session_hours": 2})
    add_admin(app.extensions["rebot"])
    client = english(app)
    sign_in(client)
    assert client.get("/admin/").status_code == 200
    state["now"] = DEMO_NOW + timedelta(hours=2, minutes=1)
    assert client.get("/admin/").status_code == 302


def test_pages_in_chinese_and_english(admin):
    admin.get("/admin/lang/zh")
    zh = admin.get("/admin/subscribers").get_data(as_text=True)
    assert "订阅用户" in zh and "导出 CSV" in zh and 'lang="zh"' in zh
    admin.get("/admin/lang/en")
    en = admin.get("/admin/subscribers").get_data(as_text=True)
    assert "Export CSV" in en and "导出 CSV" not in en


def test_the_sign_in_page_follows_the_browser_language(client):
    assert "登录" in client.get("/admin/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    page = client.get("/admin/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "Sign in" in page and "登录" not in page


def test_pages_are_phone_sized_self_contained_and_not_framable(admin):
    response = admin.get("/admin/")
    html = response.get_data(as_text=True)
    assert 'name="viewport" content="width=device-width' in html
    assert "http://" not in html and "https://" not in html  # no CDN
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    with admin.get("/admin/static/admin.css") as css:
        assert css.status_code == 200


# --- dashboard ----------------------------------------------------------------------------------------------

def test_dashboard_counts_subscribers_by_channel_and_status(admin, bot):
    add_subscriber(bot, "a")
    add_subscriber(bot, "b", status="paused")
    add_subscriber(bot, "c", channel="wecom", daily_summary=False)
    stats = admin.get("/admin/stats.json").get_json()
    assert stats == {"subscribers": 3, "daily_summary": 1,
                     "by_channel": {"wechat": {"active": 1, "paused": 1}, "wecom": {"active": 1}}}
    html = admin.get("/admin/").get_data(as_text=True)
    assert "<strong>3</strong>" in html and "/admin/subscribers?channel=wechat&amp;status=paused" in html


# --- subscribers --------------------------------------------------------------------------------------------

def test_search_filters_and_pagination(make_app):
    app = make_app(**{"admin.page_size": 2})
    bot = app.extensions["rebot"]
    add_admin(bot)
    client = english(app)
    sign_in(client)
    add_subscriber(bot, "oA", display_name="Wang Steel", products=["PrNd-oxide"])
    add_subscriber(bot, "oB", display_name="Li Magnets", status="paused", products=["Dy-oxide"])
    add_subscriber(bot, "oC", channel="wecom", display_name="Zhao", products=["PrNd-oxide", "Dy-oxide"])

    def names(query):
        html = client.get("/admin/subscribers" + query).get_data(as_text=True)
        return {n for n in ("Wang Steel", "Li Magnets", "Zhao") if n in html}

    assert names("?q=magnet") == {"Li Magnets"}
    assert names("?q=oC") == {"Zhao"}
    assert names("?channel=wecom") == {"Zhao"}
    assert names("?status=paused") == {"Li Magnets"}
    assert names("?product=PrNd-oxide") == {"Wang Steel", "Zhao"}
    assert names("?product=Dy-oxide&channel=wechat") == {"Li Magnets"}
    first, second = names("?page=1"), names("?page=2")
    assert len(first) == 2 and len(second) == 1 and first | second == {"Wang Steel", "Li Magnets", "Zhao"}
    assert "1 / 2" in client.get("/admin/subscribers").get_data(as_text=True)
    assert names("?page=x") == first  # a bad page number is page 1


def test_add_a_subscriber_and_the_form_s_bad_input(admin, bot):
    response = post(admin, "/admin/subscribers/new", {"channel": "wechat", "external_id": "oNew",
                                                      "display_name": "Chen", "language": "en",
                                                      "products": ["PrNd-oxide", "Tb-oxide"], "daily_summary": "yes"})
    assert response.status_code == 302
    detail = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Chen" in detail and "Subscriber added." in detail
    with bot.db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == "oNew")).one()
        assert (sub.channel, sub.language, sub.products, sub.daily_summary) == ("wechat", "en",
                                                                                ["PrNd-oxide", "Tb-oxide"], True)
    for data, message in [({"channel": "wechat", "external_id": "oNew"}, "wechat:oNew is already subscriber"),
                          ({"channel": "fax", "external_id": "x"}, "unknown channel"),
                          ({"channel": "wechat", "external_id": "  "}, "must not be empty"),
                          ({"channel": "wechat", "external_id": "y", "products": ["Nope"]}, "unknown product code Nope"),
                          ({"channel": "wechat", "external_id": "y", "language": "fr"}, "language must be zh or en")]:
        bad = post(admin, "/admin/subscribers/new", data)
        assert bad.status_code == 400 and message in bad.get_data(as_text=True), message
    with bot.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_detail_edit_products_pause_resume_remove(admin, bot):
    sub_id = add_subscriber(bot, "oEdit", products=["PrNd-oxide"])
    page = admin.get(f"/admin/subscribers/{sub_id}").get_data(as_text=True)
    assert "oEdit" in page and "Delivery history" in page
    assert post(admin, f"/admin/subscribers/{sub_id}/products",
                {"products": ["Dy-oxide", "Tb-metal"]}).status_code == 302
    assert post(admin, f"/admin/subscribers/{sub_id}/products", {"products": ["Bogus"]}).status_code == 400
    assert post(admin, f"/admin/subscribers/{sub_id}/pause").status_code == 302
    with bot.db.session() as session:
        sub = session.get(Subscriber, sub_id)
        assert sub.products == ["Dy-oxide", "Tb-metal"] and sub.daily_summary is False and sub.status == "paused"
    assert "Resume" in admin.get(f"/admin/subscribers/{sub_id}").get_data(as_text=True)
    post(admin, f"/admin/subscribers/{sub_id}/resume")
    with bot.db.session() as session:
        assert session.get(Subscriber, sub_id).status == "active"
    refused = post(admin, f"/admin/subscribers/{sub_id}/remove")  # the confirmation box was not ticked
    assert refused.status_code == 400
    assert post(admin, f"/admin/subscribers/{sub_id}/remove", {"confirm": "yes"}).status_code == 302
    assert admin.get(f"/admin/subscribers/{sub_id}").status_code == 404
    assert [a[1] for a in audit_actions(bot)] == ["subscriber.products", "subscriber.pause", "subscriber.resume",
                                                  "subscriber.remove"]
    assert {a[0] for a in audit_actions(bot)} == {"web:alice"}


def test_actions_on_a_missing_subscriber_are_404(admin):
    assert admin.get("/admin/subscribers/999").status_code == 404
    assert post(admin, "/admin/subscribers/999/pause").status_code == 404


@pytest.mark.parametrize("method, path", [
    ("GET", "/admin/subscribers/{big}"), ("POST", "/admin/subscribers/{big}/products"),
    ("POST", "/admin/subscribers/{big}/pause"), ("POST", "/admin/subscribers/{big}/remove"),
    ("POST", "/admin/subscribers/{sub}/alerts/{big}/delete"), ("POST", "/admin/news/{big}/hide"),
    ("GET", "/admin/pushes/{big}"), ("POST", "/admin/pushes/{big}/retry"),
    ("POST", "/admin/quarantine/{big}/approve"),
])
def test_ids_past_the_databases_integers_are_404_not_errors(admin, bot, method, path):
    """PostgreSQL's integer ids stop at 2³¹−1: a larger number in a URL is a page that does not exist."""
    url = path.format(big=2**31, sub=add_subscriber(bot))
    response = admin.get(url) if method == "GET" else post(admin, url, {"confirm": "yes"})
    assert response.status_code == 404


def test_csv_export_then_import_round_trip(admin, bot):
    add_subscriber(bot, "oA", display_name="王, Wang", products=["PrNd-oxide", "Dy-oxide"])
    exported = admin.get("/admin/subscribers/export.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    text = exported.get_data(as_text=True).lstrip("\ufeff")
    assert text.splitlines()[1] == 'wechat,oA,"王, Wang",PrNd-oxide Dy-oxide,yes,active,zh'
    changed = text.replace("active", "paused") + "wecom,oB,Bo,Tb-oxide,no,active,en\n"
    result = post(admin, "/admin/subscribers/import",
                  {"file": (io.BytesIO(changed.encode("utf-8")), "subs.csv")}, content_type="multipart/form-data")
    assert result.status_code == 200
    assert "Imported: 1 added, 1 updated." in result.get_data(as_text=True)
    with bot.db.session() as session:
        rows = {s.external_id: (s.status, s.products, s.daily_summary) for s in session.scalars(select(Subscriber))}
    assert rows == {"oA": ("paused", ["PrNd-oxide", "Dy-oxide"], True), "oB": ("active", ["Tb-oxide"], False)}


def test_csv_import_reports_every_bad_row_and_changes_nothing(admin, bot):
    add_subscriber(bot, "oA")
    bad = ("channel,external_id,products,daily_summary,status\n"
           "wechat,oA,PrNd-oxide,yes,paused\n"   # fine on its own
           "fax,oB,,yes,active\n"
           "wechat,,PrNd-oxide,maybe,active\n"
           "wechat,oC,Nope,yes,gone\n"
           "wechat,oA,,no,active\n")
    result = post(admin, "/admin/subscribers/import", {"file": (io.BytesIO(bad.encode()), "bad.csv")},
                  content_type="multipart/form-data")
    assert result.status_code == 400
    html = result.get_data(as_text=True)
    for line in ("line 3: unknown channel &#39;fax&#39;", "line 4: empty external_id",
                 "line 4: daily_summary must be yes or no", "line 5: unknown product code Nope",
                 "line 5: status must be one of", "line 6: the same subscriber as line 2"):
        assert line in html, line
    with bot.db.session() as session:
        assert [(s.external_id, s.status) for s in session.scalars(select(Subscriber))] == [("oA", "active")]
    assert audit_actions(bot) == []


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b"name,id\nx,y\n", "the file has no channel, external_id column"),
    (b"channel,external_id,colour\nwechat,x,red\n", "unknown column colour"),
])
def test_csv_import_refuses_unreadable_files(admin, content, message):
    result = post(admin, "/admin/subscribers/import", {"file": (io.BytesIO(content), "f.csv")},
                  content_type="multipart/form-data")
    assert result.status_code == 400 and message in result.get_data(as_text=True)


def test_csv_import_without_a_file(admin):
    result = post(admin, "/admin/subscribers/import")
    assert result.status_code == 400 and "Choose a CSV file" in result.get_data(as_text=True)


# --- prices -------------------------------------------------------------------------------------------------

def test_latest_price_table_and_product_history_chart(admin):
    table = admin.get("/admin/prices").get_data(as_text=True)
    assert "/admin/prices/PrNd-oxide" in table and "2025-06-11" in table and "449,000" in table
    page = admin.get("/admin/prices/PrNd-oxide").get_data(as_text=True)
    assert '<img src="/admin/prices/PrNd-oxide/chart.png"' in page and "2025-06-11" in page
    chart = admin.get("/admin/prices/PrNd-oxide/chart.png")
    assert chart.status_code == 200 and chart.mimetype == "image/png" and chart.data.startswith(b"\x89PNG")
    assert admin.get("/admin/prices/Unobtainium").status_code == 404


def test_manual_entry_then_correction_is_kept_in_the_audit_log(admin, bot):
    entered = post(admin, "/admin/prices/PrNd-oxide", {"date": "2025-06-11", "low": "450,000", "high": "452000"})
    assert entered.status_code == 302
    assert "Quote added." in admin.get(entered.headers["Location"]).get_data(as_text=True)
    corrected = post(admin, "/admin/prices/PrNd-oxide", {"date": "2025-06-11", "low": "451000", "high": "453000"})
    assert "Quote corrected." in admin.get(corrected.headers["Location"]).get_data(as_text=True)
    with bot.db.session() as session:
        quote = session.scalars(select(PriceQuote).where(PriceQuote.product_code == "PrNd-oxide",
                                                         PriceQuote.source == "manual")).one()
        assert (str(quote.date), quote.low, quote.high) == ("2025-06-11", 451000, 453000)
        entries = list(session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("web:alice", "price.add", "price:PrNd-oxide:2025-06-11:manual"),
        ("web:alice", "price.correct", "price:PrNd-oxide:2025-06-11:manual")]
    assert entries[1].detail == {"before": {"low": "450000.00", "high": "452000.00"},
                                 "after": {"low": "451000.00", "high": "453000.00"}}
    log = admin.get("/admin/audit").get_data(as_text=True)
    assert "price.correct" in log and "web:alice" in log


def test_correcting_a_scraped_quote_keeps_its_source(admin, bot):
    with bot.db.session() as session:
        source = session.scalars(select(PriceQuote.source).where(PriceQuote.product_code == "Dy-oxide")).first()
    post(admin, "/admin/prices/Dy-oxide", {"date": "2025-06-11", "low": "1", "high": "2", "source": source})
    with bot.db.session() as session:
        quotes = list(session.scalars(select(PriceQuote).where(PriceQuote.product_code == "Dy-oxide",
                                                               PriceQuote.date == DEMO_NOW.date())))
    assert [(q.source, q.low, q.high) for q in quotes] == [(source, 1, 2)]


@pytest.mark.parametrize("data,message", [
    ({"date": "11/06/2025", "low": "1", "high": "2"}, "date must be YYYY-MM-DD"),
    ({"date": "2025-06-11", "low": "1", "high": "2"}, None),  # the clock reads 2025-06-11 18:00 in Shanghai
    ({"date": "2025-06-12", "low": "1", "high": "2"}, "is in the future"),
    ({"date": "2025-06-11", "low": "abc", "high": "2"}, "low must be a number"),
    ({"date": "2025-06-11", "low": "-5", "high": "2"}, "low must be a positive number"),
    ({"date": "2025-06-11", "low": "NaN", "high": "2"}, "low must be a positive number"),
    ({"date": "2025-06-11", "low": "3", "high": "2"}, "low must not be above high"),
    ({"date": "2025-06-11", "low": "1", "high": "2", "source": "x" * 65}, "at most 64 characters"),
])
def test_manual_entry_bad_input(admin, bot, data, message):
    response = post(admin, "/admin/prices/PrNd-oxide", data)
    if message is None:
        assert response.status_code == 302
        return
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert audit_actions(bot) == []


# --- news ---------------------------------------------------------------------------------------------------

def test_hidden_news_leaves_the_news_replies_and_can_come_back(admin, bot):
    from bot.messages import Message

    with bot.db.session() as session:
        newest = session.scalars(select(NewsItem).order_by(NewsItem.published_at.desc())).first()
        newest_id, title = newest.id, newest.title
    assert title in bot.answer(Message("console", "u1", text="news 1")).text
    assert post(admin, f"/admin/news/{newest_id}/hide").status_code == 302
    reply = bot.answer(Message("console", "u1", text="news 8")).text
    assert title not in reply and reply
    assert title not in bot.answer(Message("console", "u1", text="summary")).text
    page = admin.get("/admin/news?notice=hidden").get_data(as_text=True)
    assert "Hidden from the news replies." in page and title in page
    post(admin, f"/admin/news/{newest_id}/show")
    assert title in bot.answer(Message("console", "u1", text="news 1")).text
    assert [a[1] for a in audit_actions(bot)] == ["news.hide", "news.show"]
    assert post(admin, "/admin/news/99999/hide").status_code == 404


def test_every_english_string_of_the_pages_has_a_chinese_translation():
    import re
    from pathlib import Path

    from bot.admin.i18n import NOTICES, ZH
    from bot.render import TEMPLATES

    sources = [p.read_text(encoding="utf-8") for p in (TEMPLATES / "admin").glob("*.html")]
    sources += [p.read_text(encoding="utf-8") for p in Path("bot/admin").glob("*.py") if p.name != "i18n.py"]
    used = set()
    for text in sources:
        used |= set(re.findall(r"""\bt\(\s*"((?:[^"\\]|\\.)+)"\s*\)""", text))
        used |= set(re.findall(r"""\bt\(\s*'([^']+)'\s*\)""", text))
    used |= set(NOTICES.values())
    missing = sorted(u for u in used if u not in ZH)
    assert not missing


def test_a_subscriber_who_got_pushes_can_be_removed_and_the_run_keeps_its_history(admin, bot):
    from datetime import date

    from bot.models import Delivery, PushRun

    sub_id = add_subscriber(bot, "oPushed", products=["PrNd-oxide"])
    with bot.db.session() as session:
        run = PushRun(kind="daily", run_date=date(2025, 6, 11), status="done")
        session.add(run)
        session.flush()
        session.add(Delivery(run_id=run.id, subscriber_id=sub_id, channel="wechat", recipient="oPushed",
                             status="sent"))
    assert post(admin, f"/admin/subscribers/{sub_id}/remove", {"confirm": "yes"}).status_code == 302
    assert admin.get(f"/admin/subscribers/{sub_id}").status_code == 404
    with bot.db.session() as session:
        kept = session.scalars(select(Delivery).where(Delivery.recipient == "oPushed")).one()
        assert kept.status == "sent" and kept.subscriber_id is None
