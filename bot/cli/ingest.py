"""`rebot extract` and `rebot fetch`: market data in from texts and configured sources."""
from __future__ import annotations

import json
import sys
from datetime import date

import click


def _iso_date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2025-06-11") from None


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--date", "day", callback=_iso_date, metavar="YYYY-MM-DD",
              help="The quote date when the text states none.")
@click.option("--verbose", "-v", is_flag=True, help="Also report, on stderr, price mentions not understood.")
def extract(file, day: date | None, verbose: bool):
    """Print the quotes found in a report text (FILE, or - for stdin) as a JSON list."""
    from bot.demo import load_catalog
    from bot.ingest.extract import Extractor
    from bot.ingest.http import decode
    from bot.market.catalog import Catalog

    text = decode(file.read(), "")  # UTF-8, or GBK/GB18030 as Chinese sites save it
    result = Extractor(Catalog.from_entries(load_catalog())).extract(text, default_date=day)
    click.echo(json.dumps([q.as_json() for q in result.quotes], ensure_ascii=False, indent=2))
    if verbose:
        for item in result.unparsed:
            click.echo(f"not understood: {item.mention} ({item.reason}) in: {item.sentence}", err=True)
        click.echo(f"{result.sentences} sentences, {len(result.quotes)} quotes, {len(result.unparsed)} not understood"
                   + (f", date {result.date}" if result.date else ", no date"), err=True)


@click.command()
@click.argument("name", required=False)
@click.pass_obj
def fetch(env, name: str | None):
    """Fetch every configured source now, or the one called NAME; exits 1 naming any that failed."""
    from sqlalchemy import func, select

    from bot.demo import load_products
    from bot.ingest.jobs import run_sources, sources_of
    from bot.models import Product

    configured = [source.name for source in sources_of(env.config)]
    if not configured:
        click.echo("no sources configured: add entries under `sources:` (see config.example.yaml)", err=True)
        sys.exit(2)
    if name is not None and name not in configured:
        click.echo(f"no source named {name!r} (sources: {', '.join(configured)})", err=True)
        sys.exit(2)
    bot = env.bot
    bot.db.ensure_schema()
    with bot.db.session() as session:
        if not session.scalar(select(func.count()).select_from(Product)):
            load_products(session)
    results = run_sources(bot.db, env.config, name)
    for result in results:
        bot.metrics.fetch(result.source, result.outcome)
        click.echo(result.describe(), err=not result.ok)
    failed = [r.source for r in results if not r.ok]
    if failed:
        click.echo(f"failed: {', '.join(failed)}", err=True)
        sys.exit(1)


@click.command("sources")
@click.pass_obj
def sources_status(env):
    """Show each configured source: schedule, last run, last success, last error, pending quarantine."""
    from sqlalchemy import func, select

    from bot.ingest.http import shown
    from bot.ingest.jobs import sources_of
    from bot.models import QuarantinedQuote, SourceStatus

    configured = sources_of(env.config)
    if not configured:
        click.echo("no sources configured: add entries under `sources:` (see config.example.yaml)")
        return
    bot = env.bot
    bot.db.ensure_schema()
    with bot.db.session() as session:
        states = {s.name: s for s in session.scalars(select(SourceStatus))}
        held = dict(session.execute(select(QuarantinedQuote.source, func.count())
                                    .where(QuarantinedQuote.status == "pending").group_by(QuarantinedQuote.source)).all())
    for source in configured:
        state = states.get(source.name)
        click.echo(f"{source.name} ({source.type}, '{source.schedule}') {shown(source.url)}")
        if state is None:
            click.echo("  never run")
            continue
        click.echo(f"  last run {_when(state.last_run)}, last success {_when(state.last_success)}, "
                   f"{state.failures} failures in a row")
        click.echo(f"  last success found {state.items_seen} items, {state.quotes_new} new quotes, "
                   f"{state.news_new} new news; {held.get(source.name, 0)} quotes wait in quarantine")
        if state.last_error:
            click.echo(f"  last error ({_when(state.last_error_at)}): {state.last_error}")


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def register(group: click.Group) -> None:
    """Attach the ingest commands to the `rebot` group."""
    group.add_command(extract)
    group.add_command(fetch)
    group.add_command(sources_status)
