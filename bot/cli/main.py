"""The `rebot` command line: thin commands over the functions the web app uses."""
from __future__ import annotations

import sys

import click

from bot.cli import admin, ingest, menu, push, qrcode, worker
from bot.cli.env import Env, pass_env, prepare
from bot.config import ConfigError, config_warnings, load_config, push_problems


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="REBOT_CONFIG",
              help="YAML config file (default: $REBOT_CONFIG, else ./config.yaml, else built-in defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None):
    """rebot: the rare-earth market chat bot for WeChat and WeCom."""
    ctx.obj = Env(config_path)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.argument("text", nargs=-1)
@click.option("--user", default="console", show_default=True, help="The user id to chat as.")
@click.option("--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Answer as of that day at 18:00 (the demo data ends 2025-06-11).")
@pass_env
def chat(env: Env, text: tuple[str, ...], user: str, as_of):
    """Talk to the bot: `rebot chat "price PrNd"`, or no TEXT for a session reading stdin until EOF."""
    import re
    from datetime import datetime, time

    from bot.messages import Message

    bot = env.bot
    prepare(bot)
    if as_of is not None:
        moment = datetime.combine(as_of.date(), time(18), bot.config.zone)
        bot.clock = lambda: moment
    link = re.compile(r'<a href="([^"]*)">([^<]*)</a>')

    def say(line: str) -> None:
        reply = bot.answer(Message("console", user, text=line))
        # WeChat shows <a href> as a link; a terminal gets the title and the address.
        click.echo(link.sub(r"\2 <\1>", reply.text) if reply.text else "(no reply)")

    if text:
        say(" ".join(text))
        return
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("rebot chat: type a command (help for the list), Ctrl-D to leave.")
    while True:
        if interactive:
            click.echo("> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip():
            say(line.strip())
            click.echo()  # a blank line between answers, which run to several lines


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduled jobs here (run `rebot scheduler`).")
@pass_env
def serve(env: Env, host: str | None, port: int | None, no_scheduler: bool):
    """Run the bot's web server (webhook, health check) on the configured database."""
    from werkzeug.serving import run_simple

    from bot.app import create_app

    config = env.config
    host, port = host or config["server.host"], port or config["server.port"]
    app = create_app(config)
    bot = app.extensions["rebot"]
    counts = prepare(bot)
    if counts:
        click.echo(f"Loaded the demo data: {counts['products']} products, {counts['quotes']} quotes, "
                   f"{counts['news']} news items.")
    base = f"http://{host}:{port}"
    click.echo(f"rebot is serving on {base} (database: {config.redacted()['database_url']})")
    click.echo(f"  Webhook URL (WeChat console → Basic configuration → URL): {base}/wechat")
    if not config["wechat.token"]:
        click.echo("    (wechat.token is not set: callbacks are refused until you set it, e.g. REBOT_WECHAT_TOKEN)")
    click.echo(f"  Health check: {base}/healthz")
    click.echo(f"  Admin console: {base}/admin/ (first user: rebot admin add-user NAME --password-stdin)")
    click.echo('  Chat without WeChat: rebot chat "价格 镨钕"   (or `rebot chat` for a session)')
    click.echo('  As of a past day:    rebot chat --date 2025-06-11 "行情"   (the demo data ends 2025-06-11)')
    if not no_scheduler:
        from bot.push.leader import lead
        from bot.push.scheduler import build_scheduler

        lead(bot, build_scheduler(bot))  # jobs fire here unless another scheduler process leads
        click.echo(f"  Scheduler: daily push at '{config['push.daily.cron']}' ({config['timezone']})")
    from bot.logs import AccessLogWithoutQuery

    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=AccessLogWithoutQuery)


@main.group()
def db():
    """Database schema and housekeeping."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_env
def db_upgrade(env: Env, revision: str):
    """Apply the schema migrations (up to REVISION, default head)."""
    env.bot.db.upgrade(revision)
    click.echo(f"database is at {revision}")


@main.group()
def demo():
    """The shipped demo data."""


@demo.command("load")
@pass_env
def demo_load(env: Env):
    """Load the demo catalog, price history and news (adds only what is missing)."""
    from bot.demo import load_demo

    bot = env.bot
    bot.db.upgrade()
    with bot.db.session() as session:
        counts = load_demo(session)
    click.echo(f"demo data: {counts['products']} products added or updated, {counts['quotes']} quotes and "
               f"{counts['news']} news items added")


@main.command("check-config")
@click.option("--show", is_flag=True, help="Also print the settings in force (secrets masked).")
@click.pass_obj
def check_config(env: Env, show: bool):
    """Validate the configuration and name every wrong key."""
    try:
        config = load_config(env.path)
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    from datetime import datetime

    problems = push_problems(config)
    for warning in config_warnings(config, datetime.now(config.zone).date()):
        click.echo(f"warning: {warning}", err=True)
    if problems:
        click.echo("invalid configuration for `rebot push daily`:\n" + "\n".join(f"  - {p}" for p in problems),
                   err=True)
        sys.exit(1)
    click.echo(f"configuration OK ({config.source})")
    if show:
        for key, value in sorted(config.redacted().items()):
            click.echo(f"  {key}: {value!r}")


# The command families register themselves on `main`: they import Env from bot.cli.env, never this module.
for family in (admin, ingest, menu, push, qrcode, worker):
    family.register(main)
