"""`rebot qrcode create`: parametric QR codes whose scan subscribes to a product."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli.env import Env, pass_env, prepare
from bot.cli.menu import api_failure, wechat_client
from bot.account.qrcode import MAX_TEMPORARY_DAYS


@click.group()
def qrcode():
    """Parametric QR codes (follow or scan → daily summary with a product)."""


@qrcode.command("create")
@click.option("--scene", required=True, help="The product a scan subscribes to: any catalog name (prnd, 镝, Tb metal).")
@click.option("--temporary", "days", type=click.IntRange(1, MAX_TEMPORARY_DAYS), default=None, metavar="DAYS",
              help=f"A code valid DAYS days (1–{MAX_TEMPORARY_DAYS}); default: permanent (100,000 per account).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Where to save the image (default: qrcode-<product>[-<DAYS>d].<jpg|png> here).")
@pass_env
def qrcode_create(env: Env, scene: str, days: int | None, output: str | None):
    """Ask WeChat for a QR code with the product as its scene, and save its image."""
    from bot.channels.api import ApiError
    from bot.account.qrcode import create_qrcode

    bot = env.bot
    prepare(bot)
    catalog = bot.catalog()
    product = catalog.resolve(scene)
    if product is None:
        guess = next(iter(catalog.suggest(scene)), None)
        click.echo(f"--scene {scene!r} names no product" + (f"; did you mean {guess.code}?" if guess else
                                                            " (use a catalog name such as prnd or 镝)"), err=True)
        sys.exit(2)
    client = wechat_client(env)
    try:
        code = create_qrcode(client, env.config, product.code, days)
    except ApiError as err:
        api_failure(err, "the QR code")
    path = Path(output or f"qrcode-{product.code}{f'-{days}d' if days else ''}.{code.extension}")
    path.write_bytes(code.image)
    lasting = f"valid {days} days" if days else "permanent"
    click.echo(f"QR code for {product.name_en} ({product.code}), {lasting}: saved to {path}")
    click.echo(f"  scene: {code.scene}   ticket: {code.ticket}")
    click.echo(f"  a scan subscribes to the daily summary with {product.code} followed")


def register(group: click.Group) -> None:
    """Attach qrcode to the `rebot` group."""
    group.add_command(qrcode)
