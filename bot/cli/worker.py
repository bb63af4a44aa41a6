"""`rebot worker`: deliver queued push ledger rows (run as many as you like, on any host)."""
from __future__ import annotations

import signal
import threading

import click

from bot.cli.env import Env, pass_env, prepare


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is queued now, then exit (default: run until stopped).")
@pass_env
def worker(env: Env, once: bool):
    """Deliver the daily push's ledger rows (with push.delivery: workers); SIGTERM stops after the batch in hand."""
    from bot.push.worker import Worker

    bot = env.bot
    prepare(bot, load_demo=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    this = Worker(bot)
    if not this.channels:
        click.echo("No channel is configured (wechat.app_id/app_secret, wecom.corp_id/secret, robots).", err=True)
    click.echo(f"worker {this.owner} delivering ({env.config['push.workers']} threads)")
    this.run_forever(stop, once=once)
    click.echo(f"worker {this.owner} stopped: {this.claimed} deliveries claimed, {this.sent} sent")


def register(group: click.Group) -> None:
    """Attach worker to the `rebot` group."""
    group.add_command(worker)
