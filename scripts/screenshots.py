"""Render the screenshots of docs/screenshots/ at a phone's width (390 CSS px, 2× density) in chromium.

    .venv/bin/python scripts/screenshots.py [OUT_DIR]

A throw-away SQLite database with the demo data, a clock at 2025-06-11 18:00 (the demo's last day), a few
subscribers and one push ledger; the pushes as each channel shows them are simple HTML mock-ups of the phone
view built from the real content (`DailyContent`), the pages and the console are the real ones."""
from __future__ import annotations

import html
import re
import sys
import tempfile
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app  # noqa: E402
from bot.charts import chart_data, render_png  # noqa: E402
from bot.config import build_config  # noqa: E402
from bot.push.content import DailyContent  # noqa: E402

NOW = datetime(2025, 6, 11, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PASSWORD = "screenshots only"
PHONE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body{margin:0;background:#ededed;font:16px/1.5 "PingFang SC","WenQuanYi Micro Hei",sans-serif;color:#111}
.bar{background:#ededed;text-align:center;padding:10px;font-weight:600;border-bottom:1px solid #d9d9d9}
.chat{padding:12px}.time{text-align:center;color:#999;font-size:12px;margin:6px 0 10px}
.row{display:flex;gap:8px;align-items:flex-start}.avatar{width:40px;height:40px;border-radius:6px;background:#0b6e4f;
color:#fff;display:flex;align-items:center;justify-content:center;font-size:13px;flex:none}
.bubble{background:#fff;border-radius:6px;padding:10px 12px;white-space:pre-wrap;word-break:break-word;max-width:290px;font-size:15px}
.bubble a{color:#576b95;text-decoration:none}
.card{background:#fff;border-radius:8px;padding:14px 16px;max-width:300px;font-size:15px}
.card h3{margin:0 0 10px;font-size:17px}.kv{display:grid;grid-template-columns:72px 1fr;gap:6px 8px}
.kv span:nth-child(odd){color:#888}.more{border-top:1px solid #eee;margin-top:12px;padding-top:10px;color:#111;
display:flex;justify-content:space-between}.md blockquote{margin:0;padding-left:8px;border-left:3px solid #ddd;color:#333}
.md p{margin:0 0 6px}.md a{color:#576b95;text-decoration:none}.warning{color:#f37b1d}.info{color:#28a745}.comment{color:#999}
</style></head><body><div class="bar">{title}</div><div class="chat"><div class="time">{time}</div>{body}</div></body></html>"""
# The template to apply for (docs/operations.md § 1): the names WeChat shows beside each value.
FIELD_NAMES = {"keyword1": "最大涨跌", "keyword2": "关注产品", "keyword3": "涨跌家数", "keyword4": "市场情况",
               "keyword5": "行情日期"}


def markdown_html(text: str) -> str:
    """WeCom's markdown subset as a phone shows it: bold, quotes, coloured text, links."""
    out = []
    for line in text.splitlines():
        quoted = line.startswith("> ")
        line = html.escape(line[2:] if quoted else line, quote=False)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r'&lt;font color="(\w+)"&gt;(.+?)&lt;/font&gt;', r'<span class="\1">\2</span>', line)
        line = re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', line)
        out.append(f"<blockquote>{line}</blockquote>" if quoted else f"<p>{line or '&nbsp;'}</p>")
    return "".join(out)


def text_html(text: str) -> str:
    """A WeChat/WeCom text message: line breaks kept, <a href> shown as links."""
    parts = re.split(r'(<a href="[^"]*">[^<]*</a>)', text)
    return "".join(p if p.startswith("<a ") else html.escape(p, quote=False) for p in parts)


def mockups(app, out: Path) -> dict[str, str]:
    bot = app.extensions["rebot"]
    with bot.db.session() as session:
        content = DailyContent(bot.config, session, bot.catalog(), NOW.date(), bot.router.renderer)
        zh = content.for_subscriber(None, "zh")
        chart = chart_data(session, bot.catalog().by_code["PrNd-oxide"], 90, NOW.date(), "zh", bot.router.renderer.units)
    (out / "chart-zh.png").write_bytes(render_png(chart))
    rows = "".join(f"<span>{FIELD_NAMES.get(k, k)}</span><span>{html.escape(v)}</span>"
                   for k, v in zh.template_fields.items())
    template = (f'<div class="card"><h3>稀土行情日报</h3><div class="kv">{rows}</div>'
                f'<div class="more"><span>详情</span><span>›</span></div></div>')
    avatar = '<div class="row"><div class="avatar">稀土</div>{}</div>'
    return {
        "push-wechat-template": PHONE.replace("{title}", "服务通知").replace("{time}", "17:30")
        .replace("{body}", template),
        "push-wecom-text": PHONE.replace("{title}", "稀土行情（应用）").replace("{time}", "17:30")
        .replace("{body}", avatar.format(f'<div class="bubble">{text_html(zh.text)}</div>')),
        "push-robot-markdown": PHONE.replace("{title}", "行情交流群").replace("{time}", "17:30")
        .replace("{body}", avatar.format(f'<div class="bubble md">{markdown_html(zh.markdown)}</div>')),
    }


def seed(app) -> None:
    """A few subscribers, one finished push with its ledger, an alert: what the console pages show."""
    from bot.admin.auth import hash_password
    from bot.models import AdminUser, Alert, Delivery, PushRun, Subscriber

    bot = app.extensions["rebot"]
    with bot.db.session() as session:
        session.add(AdminUser(username="alice", password_hash=hash_password(PASSWORD)))
        people = [("wechat", "oX7a1-fake-openid-0001", "上海磁材采购部 王经理", ["PrNd-oxide", "Dy-oxide"], "active"),
                  ("wecom", "zhangsan", "张三（贸易部）", ["Tb-oxide", "Tb-metal", "DyFe"], "active"),
                  ("wechat", "oX7a1-fake-openid-0002", "Ningbo Magnetics — purchasing", [], "paused"),
                  ("wechat", "oX7a1-fake-openid-0003", "", ["Ho-oxide"], "unreachable")]
        subs = [Subscriber(channel=c, external_id=e, display_name=n, products=p, daily_summary=True, status=s,
                           language="zh") for c, e, n, p, s in people]
        session.add_all(subs)
        session.flush()
        session.add(Alert(subscriber_id=subs[0].id, product_code="PrNd-oxide", kind="above", threshold=460000))
        session.add(Alert(subscriber_id=subs[0].id, product_code="Dy-oxide", kind="move", threshold=3))
        start = datetime(2025, 6, 11, 9, 30)  # naive UTC: 17:30 in Shanghai
        run = PushRun(kind="daily", run_date=date(2025, 6, 11), status="done", data_date=date(2025, 6, 11),
                      reason="", created_at=start, finished_at=start + timedelta(seconds=4))
        session.add(run)
        session.flush()
        for i, sub in enumerate(subs):
            failed = sub.status == "unreachable"
            session.add(Delivery(run_id=run.id, channel=sub.channel, recipient=sub.external_id, subscriber_id=sub.id,
                                 status="failed" if failed else "sent", attempts=1,
                                 error_code=43004 if failed else None,
                                 error_message="require subscribe (the user unfollowed)" if failed else "",
                                 sent_at=None if failed else start + timedelta(seconds=1 + i)))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    config = build_config({"database_url": f"sqlite:///{work}/shots.db", "public_base_url": "https://rebot.example.com"},
                          environ={})
    app = create_app(config, clock=lambda: NOW)
    from bot.cli.env import prepare

    prepare(app.extensions["rebot"])
    seed(app)
    pages = mockups(app, out)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
        page = context.new_page()
        for name, body in pages.items():
            page.set_content(body)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        for name, path in (("m-summary", "/m/summary/2025-06-11?lang=zh"), ("m-price", "/m/price/镨钕?lang=zh")):
            page.goto(base + path)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        page.goto(base + "/admin/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/admin/")
        for name, path in (("console-dashboard", "/admin/"), ("console-subscribers", "/admin/subscribers"),
                           ("console-ledger", "/admin/pushes/1"), ("console-subscriber", "/admin/subscribers/1")):
            page.goto(base + path)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        browser.close()
    server.shutdown()
    print("\n".join(sorted(str(f.relative_to(ROOT)) if f.is_relative_to(ROOT) else str(f) for f in out.glob("*.png"))))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
