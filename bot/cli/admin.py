"""`rebot admin …` (console users) and `rebot subscribers …` (the same actions as the console's pages)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli.env import Env, pass_env, prepare

CLI_ACTOR = "cli"

BOM = "\ufeff"  # spreadsheet programs (Excel) read a CSV as UTF-8 only when it starts with one


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        _fail("no password given (pipe it in: echo \"$PASSWORD\" | rebot admin add-user NAME --password-stdin)")
    return password


@click.group("admin")
def admin():
    """Admin console users (sign-in at /admin/)."""


@admin.command("add-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_env
def add_user(env: Env, name: str, password_stdin: bool):
    """Create the console user NAME."""
    from bot.admin.auth import AdminError, add_user as add

    password = _read_password(password_stdin)
    prepare(env.bot, load_demo=False)
    try:
        with env.bot.db.session() as session:
            add(session, name, password)
    except AdminError as err:
        _fail(str(err))
    click.echo(f"admin user {name} added")


@admin.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_env
def set_password(env: Env, name: str, password_stdin: bool):
    """Change NAME's password (also unlocks it and signs it out everywhere)."""
    from bot.admin.auth import AdminError, set_password as change

    password = _read_password(password_stdin)
    prepare(env.bot, load_demo=False)
    try:
        with env.bot.db.session() as session:
            change(session, name, password)
    except AdminError as err:
        _fail(str(err))
    click.echo(f"password of {name} changed")


@admin.command("remove-user")
@click.argument("name")
@pass_env
def remove_user(env: Env, name: str):
    """Delete the console user NAME."""
    from bot.admin.auth import AdminError, remove_user as remove

    prepare(env.bot, load_demo=False)
    try:
        with env.bot.db.session() as session:
            remove(session, name)
    except AdminError as err:
        _fail(str(err))
    click.echo(f"admin user {name} removed")


@click.group("subscribers")
def subscribers():
    """List, add, pause, resume, remove, export and import subscribers."""


def _codes(env: Env) -> list[str]:
    prepare(env.bot)
    return list(env.bot.catalog().by_code)


@subscribers.command("list")
@click.option("--channel", default="", help="Only this channel (wechat, wecom, wecom_robot, console).")
@click.option("--status", default="", help="Only this status (active, paused, unreachable).")
@click.option("--product", default="", help="Only those following this product code.")
@click.option("--search", "text", default="", help="Name or id contains this.")
@pass_env
def list_(env: Env, channel: str, status: str, product: str, text: str):
    """A header, then one line per subscriber: id, channel, user id, status, daily summary, products, name."""
    from bot import subscribers as subs

    codes = _codes(env)
    if channel and channel not in subs.CHANNELS:
        _fail(f"unknown channel {channel!r} (one of {', '.join(subs.CHANNELS)})")
    if status and status not in subs.STATUSES:
        _fail(f"unknown status {status!r} (one of {', '.join(subs.STATUSES)})")
    if product and product not in codes:
        _fail(f"unknown product code {product!r} (codes look like PrNd-oxide)")
    with env.bot.db.session() as session:
        page = subs.search(session, text, channel, status, product, per_page=10**9)
        click.echo("id\tchannel\tuser_id\tstatus\tdaily\tproducts\tname")
        for s in page.rows:
            click.echo(f"{s.id}\t{s.channel}\t{s.external_id}\t{s.status}\t"
                       f"{'daily' if s.daily_summary else '-'}\t{','.join(s.products or []) or '-'}\t{s.display_name}")
    click.echo(f"{page.total} subscriber(s)", err=True)


@subscribers.command("add")
@click.argument("external_id")
@click.option("--channel", default="wechat", show_default=True)
@click.option("--name", "display_name", default="")
@click.option("--product", "products", multiple=True, help="A product code to follow (repeatable).")
@click.option("--language", default="zh", show_default=True)
@click.option("--no-daily", is_flag=True, help="Do not turn the daily summary on.")
@pass_env
def add(env: Env, external_id: str, channel: str, display_name: str, products: tuple[str, ...], language: str,
        no_daily: bool):
    """Add the subscriber EXTERNAL_ID (the openid / user id on its channel)."""
    from bot import subscribers as subs

    codes = _codes(env)
    try:
        with env.bot.db.session() as session:
            sub = subs.add(session, CLI_ACTOR, channel, external_id, codes, display_name=display_name,
                           products=products, language=language, daily_summary=not no_daily)
            number = sub.id
    except subs.SubscriberError as err:
        _fail(str(err))
    click.echo(f"subscriber {number} added ({channel}:{external_id})")


def _change(env: Env, refs: tuple[str, ...], action: str) -> None:
    from bot import subscribers as subs

    prepare(env.bot)
    try:
        with env.bot.db.session() as session:
            found = [subs.find(session, ref) for ref in refs]  # every id checked before anything changes
            for sub in found:
                label = f"subscriber {sub.id} ({sub.channel}:{sub.external_id})"
                if action == "remove":
                    subs.remove(session, CLI_ACTOR, sub)
                    click.echo(f"{label} removed")
                else:
                    changed = subs.set_status(session, CLI_ACTOR, sub, "paused" if action == "pause" else "active")
                    click.echo(f"{label} {'paused' if action == 'pause' else 'resumed'}"
                               + ("" if changed else " already"))
    except subs.SubscriberError as err:
        _fail(str(err))


@subscribers.command("pause")
@click.argument("refs", nargs=-1, required=True, metavar="ID…")
@pass_env
def pause(env: Env, refs: tuple[str, ...]):
    """Stop pushes to these subscribers (number from `list`, or user id)."""
    _change(env, refs, "pause")


@subscribers.command("resume")
@click.argument("refs", nargs=-1, required=True, metavar="ID…")
@pass_env
def resume(env: Env, refs: tuple[str, ...]):
    """Start pushes to paused subscribers again."""
    _change(env, refs, "resume")


@subscribers.command("remove")
@click.argument("refs", nargs=-1, required=True, metavar="ID…")
@pass_env
def remove(env: Env, refs: tuple[str, ...]):
    """Delete these subscribers and their settings."""
    _change(env, refs, "remove")


@subscribers.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: stdout).")
@pass_env
def export(env: Env, output: Path | None):
    """Every subscriber as CSV (the columns `import` reads), UTF-8 with a BOM so that Excel reads Chinese."""
    from bot import subscribers as subs

    prepare(env.bot)
    with env.bot.db.session() as session:
        text = subs.export_csv(session)
    if output is None:
        click.echo(BOM + text, nl=False)
    else:
        output.write_text(BOM + text, encoding="utf-8")
        click.echo(f"{text.count(chr(10)) - 1} subscriber(s) written to {output}", err=True)


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_env
def import_(env: Env, file: Path):
    """Add or update subscribers from a CSV FILE; any bad line is reported and nothing changes."""
    from bot import subscribers as subs

    try:
        text = file.read_text(encoding="utf-8-sig")  # with or without the BOM export writes
    except FileNotFoundError:
        _fail(f"{file}: no such file")
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text (save it as CSV UTF-8)")
    except OSError as exc:
        _fail(f"{file}: cannot be read: {exc.strerror}")
    codes = _codes(env)
    try:
        with env.bot.db.session() as session:
            result = subs.import_csv(session, CLI_ACTOR, text, codes)
    except subs.SubscriberError as err:
        _fail(f"{file}: {err}")
    click.echo(f"imported {file}: {result.added} added, {result.updated} updated")


def register(group: click.Group) -> None:
    """Attach admin, subscribers to the `rebot` group."""
    group.add_command(admin)
    group.add_command(subscribers)
