"""`rebot push …`: the daily summary push, run by hand (the scheduler calls the same code)."""
from __future__ import annotations

import sys
from datetime import date

import click

from bot.cli.env import Env, pass_env, prepare


@click.group()
def push():
    """Push the daily market summary to subscribers."""


@push.command("daily")
@click.option("--dry-run", is_flag=True, help="Print what each subscriber would get, per channel; send nothing.")
@click.option("--date", "day", metavar="YYYY-MM-DD", default=None,
              help="The summary of this date (default: today in the configured time zone).")
@click.option("--retry-failed", is_flag=True, help="Send again the deliveries that failed for a passing reason.")
@click.option("--retry-unknown", is_flag=True,
              help="Send again the deliveries interrupted mid-call (they may have gone out already).")
@pass_env
def daily(env: Env, dry_run: bool, day: str | None, retry_failed: bool, retry_unknown: bool):
    """Send today's summary now (or resume today's run: only what was not sent goes out)."""
    from bot.config import ConfigError
    from bot.push.run import dry_run as show
    from bot.push.worker import daily_push

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date like 2025-06-11", param_hint="--date") from None
    bot = env.bot
    prepare(bot)
    try:
        if dry_run:
            show(bot, when, click.echo)
            return
        report = daily_push(bot).run(when, retry_failed=retry_failed, retry_unknown=retry_unknown)
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    click.echo(report.text(bot.router.renderer, "en"))
    if report.status in ("stopped", "busy", "interrupted"):
        sys.exit(1)


@click.command()
@pass_env
def scheduler(env: Env):
    """Run the scheduled jobs (the daily push …) alone, without the web server.

    Run several for safety: one leads and fires the jobs, the others take over if it dies."""
    import signal
    import threading

    from bot.push.leader import lead
    from bot.push.scheduler import build_scheduler

    bot = env.bot
    prepare(bot)
    sched = build_scheduler(bot)
    for job in sched.get_jobs():
        click.echo(f"job {job.id}: {job.trigger}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    leadership = lead(bot, sched)
    click.echo(f"scheduler running in {env.config['timezone']} (Ctrl-C to stop); jobs fire in the leading process")
    while not stop.wait(1):
        pass
    leadership.stop()
    sched.shutdown(wait=False)


@push.command("status")
@click.option("--date", "day", metavar="YYYY-MM-DD", default=None, help="The run of this date (default: today).")
@click.option("--limit", type=int, default=20, show_default=True, help="How many failed/unknown deliveries to list.")
@pass_env
def status(env: Env, day: str | None, limit: int):
    """The daily push run of a date: figures, and the deliveries that failed or may not have gone out."""
    from sqlalchemy import select

    from bot.models import Delivery, Lease, PushRun, utcnow
    from bot.push import leases
    from bot.push.run import run_report
    from bot.push.worker import QUEUED, RUN_LEASE

    try:
        when = date.fromisoformat(day) if day else env.bot.clock().date()
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date like 2025-06-11", param_hint="--date") from None
    bot = env.bot
    prepare(bot, load_demo=False)
    with bot.db.session() as session:
        run = session.scalars(select(PushRun).where(PushRun.kind == "daily", PushRun.run_date == when)).first()
        if run is None:
            click.echo(f"No daily push for {when} yet.")
            return
        rows = session.execute(
            select(Delivery.channel, Delivery.recipient, Delivery.status, Delivery.error_code, Delivery.error_message,
                   Delivery.attempts)
            .where(Delivery.run_id == run.id, Delivery.status.in_(("failed", "unknown")))
            .order_by(Delivery.id).limit(limit)).all()
        lease = session.get(Lease, RUN_LEASE.format(run.id))
        sender = lease.owner if lease is not None and lease.expires_at > utcnow() else None
    if sender and leases.owner_is_dead(sender):
        sender = None
    click.echo(run_report(bot.db, run.id).text(bot.router.renderer, "en"))
    if run.status == "running" and run.reason != QUEUED:
        click.echo(f"being sent by {sender}" if sender else
                   "nobody is sending it now: the scheduler resumes it within a minute (or run `rebot push daily`)")
    for row in rows:
        code = "" if row.error_code is None else f" {row.error_code}"
        click.echo(f"  {row.status:7} {row.channel}:{row.recipient} (attempts {row.attempts}){code} {row.error_message}")


def register(group: click.Group) -> None:
    """Attach push, scheduler to the `rebot` group."""
    group.add_command(push)
    group.add_command(scheduler)
