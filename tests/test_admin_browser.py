"""The console in a real headless browser (Debian's chromium driven by Playwright) against a live server.

Skipped, with the reason in the test summary, when chromium or Playwright is missing (.ci/run installs both).
The screenshots are kept in $REBOT_TEST_ARTIFACTS (default: test-artifacts/ in the checkout)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from admin_helpers import PASSWORD, add_admin
from served import served_url
from bot.models import Subscriber

ARTIFACTS = Path(os.environ.get("REBOT_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("NO BROWSER: Debian's chromium is not installed (apt-get install chromium); "
                    "the end-to-end console test did not run")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("NO PLAYWRIGHT: pip install playwright (it is in the [test] extra); "
                    "the end-to-end console test did not run")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The app on a free port of 127.0.0.1, served over real HTTP from a thread."""
    with served_url(app) as base:
        yield base


def test_sign_in_add_and_pause_a_subscriber_preview_a_push_then_sign_out(browser, live_server, bot):
    add_admin(bot)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # A phone-sized window in English.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)

    page.goto(f"{live_server}/admin/subscribers")
    assert page.url.startswith(f"{live_server}/admin/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/subscribers")

    page.click("text=Add a subscriber")
    page.select_option("select[name=channel]", "wechat")
    page.fill("input[name=external_id]", "oBrowser")
    page.fill("input[name=display_name]", "Browser Test Co")
    page.check("input[name=products][value='PrNd-oxide']")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=Subscriber added.")
    assert page.inner_text("h1").startswith("Browser Test Co")

    page.click("button:has-text('Pause')")
    page.wait_for_selector("text=Paused: no more pushes")
    assert page.inner_text("#status") == "paused"
    page.screenshot(path=str(ARTIFACTS / "admin-subscriber-paused.png"), full_page=True)

    page.click("text=Preview today's push for this subscriber")
    page.wait_for_selector("#preview-text")
    preview = page.inner_text("#preview-text")
    assert "6月11日" in preview and "氧化镨钕" in preview  # zh subscriber, the followed product; nothing sent
    page.screenshot(path=str(ARTIFACTS / "admin-push-preview.png"), full_page=True)

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{live_server}/admin/login")
    page.goto(f"{live_server}/admin/")
    assert "/admin/login" in page.url  # signed out for real
    context.close()

    with bot.db.session() as session:
        sub = session.scalar(select(Subscriber).where(Subscriber.external_id == "oBrowser"))
        assert (sub.display_name, sub.status, sub.products) == ("Browser Test Co", "paused", ["PrNd-oxide"])
