"""Findings 5 and 6 (sign-in): concurrent guesses past the limit, a locked-out real admin, answers that
tell which names exist, and unbounded concurrent scrypt checks."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import bot.admin.auth as auth
from tests.admin_helpers import PASSWORD, add_admin
from tests.security.live import live_server, serve  # noqa: F401 - a fixture

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Checks:
    """Counts the password checks (werkzeug's scrypt) and how many run at once."""

    def __init__(self, monkeypatch):
        self.real, self.dummy = 0, 0
        self.running = self.most = 0
        self.lock = threading.Lock()
        original = auth.check_password_hash

        def counted(password_hash, password):
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                if password_hash == auth._dummy_hash():
                    self.dummy += 1
                else:
                    self.real += 1
            try:
                return original(password_hash, password)
            finally:
                with self.lock:
                    self.running -= 1

        monkeypatch.setattr(auth, "check_password_hash", counted)


@pytest.fixture
def checks(monkeypatch):
    auth._dummy_hash()
    return Checks(monkeypatch)


def attempt(base: str, name: str, password: str, forwarded_for: str = "") -> requests.Response:
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    if forwarded_for:
        browser.headers["X-Forwarded-For"] = forwarded_for
    form = browser.get(f"{base}/admin/login", timeout=30).text
    return browser.post(f"{base}/admin/login", timeout=60, allow_redirects=False, data={
        "csrf_token": _TOKEN.search(form).group(1), "username": name, "password": password})


def message(response: requests.Response) -> str:
    found = re.search(r'class="error"[^>]*>([^<]*)<', response.text) or re.search(r"<p[^>]*>([^<]*wait[^<]*)<",
                                                                                 response.text)
    return found.group(1) if found else response.text[:300]


def test_twenty_concurrent_guesses_check_at_most_the_limit_of_passwords(bot, live_server, checks):  # noqa: F811
    add_admin(bot)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: attempt(live_server, "alice", f"guess number {i}"), range(20)))
    assert {a.status_code for a in answers} <= {401, 503}  # refused, or told to retry when every check is busy
    assert checks.real <= 5  # admin.lockout_attempts: 5 (today's main checked 19)
    assert checks.most <= 2  # admin.max_password_checks: 2 at once per process


def test_a_guesser_learns_nothing_and_cannot_escape_the_delay_by_writing_x_forwarded_for(
        live_server, bot, checks):  # noqa: F811
    add_admin(bot)
    wrong = [attempt(live_server, "alice", f"guess {i}") for i in range(6)]  # past the limit: delayed
    delayed = attempt(live_server, "alice", PASSWORD)  # even the right password, from the guesser's address
    unknown = attempt(live_server, "nobody-of-that-name", "whatever it is")
    answers = {(r.status_code, message(r)) for r in [*wrong, delayed, unknown]}
    assert len(answers) == 1, answers  # one answer for a wrong password, a delay and an unknown name
    assert checks.real + checks.dummy == 8  # and one password check each: the same time
    # No proxy is trusted: a forged X-Forwarded-For does not make a new address.
    assert attempt(live_server, "alice", PASSWORD, forwarded_for="192.0.2.10").status_code == 401


def test_behind_a_trusted_proxy_the_real_admin_is_not_locked_out_by_a_guesser(make_app):
    app = make_app(**{"server.trusted_proxies": ["127.0.0.1"]})
    add_admin(app.extensions["rebot"])
    with serve(app) as base:
        assert [attempt(base, "alice", f"guess {i}", forwarded_for="198.51.100.66").status_code
                for i in range(7)] == [401] * 7
        assert attempt(base, "alice", PASSWORD, forwarded_for="198.51.100.66").status_code == 401  # delayed
        assert attempt(base, "alice", PASSWORD, forwarded_for="192.0.2.10").status_code == 302  # the admin
