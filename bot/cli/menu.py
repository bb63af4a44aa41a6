"""`rebot menu check|push|show`: the Official Account's custom menu."""
from __future__ import annotations

import json
import sys

import click

from bot.cli.env import Env, pass_env

# What to do about the errors an operator meets here (docs/operations.md has the full table).
HINTS = {
    40164: "add this host's public IP to the console's IP whitelist",
    40013: "wechat.app_id is wrong", 40125: "wechat.app_secret is wrong",
    48001: "the account lacks this permission (it must be verified)",
    40016: "run `rebot menu check`", 40018: "run `rebot menu check`", 40023: "run `rebot menu check`",
    40025: "run `rebot menu check`", 40054: "a VIEW url's domain is not allowed", 40055: "a VIEW url's domain is not allowed",
}


def wechat_client(env: Env):
    """The Official Account API client, or exit 2 saying which keys are missing."""
    config = env.config
    missing = [key for key in ("wechat.app_id", "wechat.app_secret") if not config[key]]
    if missing:
        click.echo(f"{' and '.join(missing)} must be set to call the WeChat API", err=True)
        sys.exit(2)
    from bot.channels.api import WeChatClient

    env.bot.db.ensure_schema()  # the shared access_token lives in the database
    client = WeChatClient(config, env.bot.db)
    click.get_current_context().call_on_close(client.http.close)
    return client


def api_failure(err, what: str) -> None:
    """Report an ApiError and exit 1."""
    hint = HINTS.get(err.errcode)
    click.echo(f"WeChat refused {what}: {err}" + (f" ({hint})" if hint else ""), err=True)
    sys.exit(1)


@click.group()
def menu():
    """The Official Account's custom menu (wechat.menu.button)."""


def _checked(env: Env) -> dict:
    from bot.account.menu import check_menu, menu_payload

    errors = check_menu(env.config)
    if errors:
        click.echo("the menu is not valid:\n" + "\n".join(f"  - {e}" for e in errors), err=True)
        sys.exit(1)
    return menu_payload(env.config)


def _summary(payload: dict) -> str:
    subs = sum(len(b.get("sub_button", [])) for b in payload["button"])
    return f"{len(payload['button'])} buttons, {subs} sub-buttons"


@menu.command("check")
@click.option("--show", is_flag=True, help="Also print the JSON that `menu push` would send.")
@pass_env
def menu_check(env: Env, show: bool):
    """Validate wechat.menu.button against WeChat's rules; name every wrong button."""
    payload = _checked(env)
    click.echo(f"menu OK: {_summary(payload)}")
    if show:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))


@menu.command("push")
@pass_env
def menu_push(env: Env):
    """Check the menu, then make it the account's menu (/cgi-bin/menu/create)."""
    from bot.channels.api import ApiError
    from bot.account.menu import push_menu

    payload = _checked(env)
    client = wechat_client(env)
    try:
        push_menu(client, env.config)
    except ApiError as err:
        api_failure(err, "the menu")
    click.echo(f"menu pushed: {_summary(payload)} (users see it within minutes)")


@menu.command("show")
@pass_env
def menu_show(env: Env):
    """Print the menu users see now, as JSON in the shape of wechat.menu.button."""
    from bot.channels.api import ApiError
    from bot.account.menu import live_menu

    client = wechat_client(env)
    try:
        live = live_menu(client)
    except ApiError as err:
        api_failure(err, "to show the menu")
    if live is None:
        click.echo("no menu is live (set wechat.menu.button, then `rebot menu push`)")
        return
    click.echo(json.dumps(live, ensure_ascii=False, indent=2))


def register(group: click.Group) -> None:
    """Attach menu to the `rebot` group."""
    group.add_command(menu)
