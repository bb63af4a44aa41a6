"""Logging to stderr as text or JSON lines (`logging.format`), with configured secrets masked.

Log calls never pass message texts or secrets; the mask is a second line of defence for the
secrets we know (a token pasted into an error message, a URL with the app secret in it).
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from bot.config import SECRETS, Config

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
_MIN_SECRET = 6  # shorter values (e.g. a test's "x") would mask ordinary words


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
        return text


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
    secrets = sorted({str(config[key]) for key in SECRETS if key != "database_url" and config[key]}
                     | _database_password(config), key=len, reverse=True)
    secrets = [s for s in secrets if len(s) >= _MIN_SECRET]
    if config["logging.format"] == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(TextFormatter(secrets, TEXT_FORMAT))
    logging.getLogger("bot").setLevel(config["logging.level"].upper())


def _database_password(config: Config) -> set[str]:
    from sqlalchemy.engine import make_url

    password = make_url(config["database_url"]).password
    return {str(password)} if password else set()
