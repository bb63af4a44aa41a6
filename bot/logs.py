"""Logging to stderr as text or JSON lines (`logging.format`), with configured secrets masked.

Log calls never pass message texts or secrets; the mask is a second line of defence for the
secrets we know (a token pasted into an error message, a URL with the app secret in it).
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from werkzeug.serving import WSGIRequestHandler

from bot.config import SECRETS, Config

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
_MIN_SECRET = 6  # shorter values (e.g. a test's "x") would mask ordinary words
# The values of URL parameters that carry credentials (apikey=, access_token=, key=, secret=, signature=…),
# and the password of user:password@host, wherever they appear in a message.
_URL_SECRET = re.compile(r"([?&;](?:[a-z0-9_-]*key|[a-z0-9_-]*token|[a-z0-9_-]*secret|password|passwd|pwd|sig|"
                         r"signature|msg_signature|sign|auth)=)[^&;#\s\"'<>]*", re.I)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(@)", re.I)


def mask_urls(text: str) -> str:
    """`text` with credentials in the URLs it contains masked."""
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", _URL_SECRET.sub(rf"\g<1>{MASK}", text))


class AccessLogWithoutQuery(WSGIRequestHandler):
    """`rebot serve`'s access log: the path without its query string (signatures, openids, nonces)."""

    def log_request(self, code="-", size="-") -> None:
        path = getattr(self, "path", None)
        if path is None:
            self.requestline = self.requestline.split("?", 1)[0]
        else:
            self.path = path.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            if path is not None:
                self.path = path


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is at the time (it may be replaced after set-up)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class _Masking(logging.Formatter):
    def __init__(self, secrets: list[str], fmt: str | None = None):
        super().__init__(fmt)
        self.secrets = secrets

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return mask_urls(text)


class TextFormatter(_Masking):
    def format(self, record: logging.LogRecord) -> str:
        return self.mask(super().format(record))


class JsonFormatter(_Masking):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, pid, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return self.mask(json.dumps(entry, ensure_ascii=False))


def setup_logging(config: Config) -> None:
    """One rebot handler on the root logger (added once per process, re-formatted per config)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Stderr)), None)
    if handler is None:
        handler = _Stderr()
        root.addHandler(handler)
    secrets = sorted({str(config[key]) for key in SECRETS if key not in ("database_url", "robots") and config[key]}
                     | _database_password(config) | _robot_keys(config), key=len, reverse=True)
    secrets = [s for s in secrets if len(s) >= _MIN_SECRET]
    if config["logging.format"] == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(TextFormatter(secrets, TEXT_FORMAT))
    logging.getLogger("bot").setLevel(config["logging.level"].upper())


def _robot_keys(config: Config) -> set[str]:
    """Each group robot's webhook URL and the key in it."""
    found = set()
    for robot in config["robots"]:
        url = str(robot.get("webhook", "")) if isinstance(robot, dict) else ""
        found |= {url} | {value for _name, value in parse_qsl(urlsplit(url).query)} if url else set()
    return found


def _database_password(config: Config) -> set[str]:
    from sqlalchemy.engine import make_url

    password = make_url(config["database_url"]).password
    return {str(password)} if password else set()
