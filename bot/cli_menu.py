"""`rebot menu check|push|show`: the Official Account's custom menu."""
from __future__ import annotations

import json
import sys

import click

from bot.cli import Env, pass_env


@click.group()
def menu():
    """The Official Account's custom menu (wechat.menu.button)."""


@menu.command("check")
@click.option("--show", is_flag=True, help="Also print the JSON that `menu push` would send.")
@pass_env
def menu_check(env: Env, show: bool):
    """Validate wechat.menu.button against WeChat's rules; name every wrong button."""
    from bot.menu import check_menu, menu_payload

    errors = check_menu(env.config)
    if errors:
        click.echo("the menu is not valid:\n" + "\n".join(f"  - {e}" for e in errors), err=True)
        sys.exit(1)
    payload = menu_payload(env.config)
    subs = sum(len(b.get("sub_button", [])) for b in payload["button"])
    click.echo(f"menu OK: {len(payload['button'])} buttons, {subs} sub-buttons")
    if show:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
