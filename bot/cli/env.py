"""What every `rebot` command shares: the --config option's Config, the Bot made on first use, `prepare`."""
from __future__ import annotations

import sys

import click

from bot.config import ConfigError, load_config


class Env:
    """The --config option, with the Config and Bot made on first use."""

    def __init__(self, path: str | None):
        self.path = path
        self._config = None
        self._bot = None

    @property
    def config(self):
        if self._config is None:
            try:
                self._config = load_config(self.path)
            except ConfigError as err:
                click.echo(str(err), err=True)
                sys.exit(2)
        return self._config

    def close(self) -> None:
        """Close the database connections (a command may run inside another process, e.g. a test)."""
        if self._bot is not None:
            self._bot.db.dispose()

    @property
    def bot(self):
        if self._bot is None:
            from bot.logs import setup_logging
            from bot.service import Bot

            setup_logging(self.config)
            self._bot = Bot(self.config)
            ctx = click.get_current_context(silent=True)
            if ctx is not None:  # close pooled connections when the command ends (in-process runs too)
                ctx.find_root().call_on_close(self._bot.db.dispose)
        return self._bot


pass_env = click.make_pass_decorator(Env)


def prepare(bot, load_demo: bool = True) -> dict | None:
    """Bring the schema up to date and, into an empty database, load the demo data."""
    from sqlalchemy import func, select

    from bot.demo import load_demo as demo
    from bot.models import Product

    bot.db.ensure_schema()
    if not load_demo:
        return None
    with bot.db.session() as session:
        if session.scalar(select(func.count()).select_from(Product)):
            return None
        counts = demo(session)
    return counts
