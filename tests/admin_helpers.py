"""Shared by the admin tests: an admin user, signing in through the real form, reading CSRF tokens."""
from __future__ import annotations

import re

from bot.admin import auth

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_admin(bot, name: str = "alice", password: str = PASSWORD) -> None:
    with bot.db.session() as session:
        auth.add_user(session, name, password)


def token(client, path: str = "/admin/login") -> str:
    """The CSRF token in the form of the page at `path`."""
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found, f"no csrf_token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client, name: str = "alice", password: str = PASSWORD, **extra):
    return client.post("/admin/login", data={"csrf_token": token(client), "username": name, "password": password,
                                             **extra})


def english(app):
    """A test client whose browser asks for English pages (the configured default language is zh)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client
