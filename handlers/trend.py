"""trend / 走势 (and `price PrNd 30d`): a product's price over a period, as a chart or a text sparkline."""
from __future__ import annotations

import re
from datetime import timedelta

from bot.charts import chart_data, summary
from bot.market.products import resolve_products
from bot.messages import ChartReply, CommandError, TemplateReply
from bot.router import Context, answers, command

# Searched for at the end of the text: linear in its length (a leading `.*?` was quadratic on long digit runs).
# It starts only where a run of digits starts, so each digit is looked at a bounded number of times.
_PERIOD = re.compile(r"(?<!\d)(?P<n>\d+)\s*(?P<unit>days?|d|天|日|weeks?|w|周|months?|m|个月|月)$", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "天": 1, "日": 1, "w": 7, "week": 7, "weeks": 7, "周": 7,
              "m": 30, "month": 30, "months": 30, "个月": 30, "月": 30}
MIN_DAYS, MAX_DAYS = 2, 730


def split_period(args: str) -> tuple[str, int | None]:
    """('PrNd', 30) for 'PrNd 30d' / '镨钕 30天' / 'PrNd 1m'; (args, None) without a period."""
    args = args.strip()
    found = _PERIOD.search(args)
    if not found or not args[:found.start()].strip():
        return args, None
    count = int(found["n"]) if len(found["n"]) <= 6 else 10 ** 6  # beyond MAX_DAYS either way
    return args[:found.start()].strip(), count * _UNIT_DAYS[found["unit"].lower()]


@command("trend", aliases=("走势", "趋势", "图表"),
         usage_en="trend <product> [30d]", usage_zh="走势 <产品> [90天]",
         help_en="price chart over a period, e.g. trend PrNd 90d (also: price PrNd 30d)",
         help_zh="价格走势图，如：走势 镨钕 90天（也可：价格 镨钕 30天）")
def trend(ctx: Context, args: str):
    product_text, days = split_period(args)
    return chart_reply(ctx, product_text, days or ctx.config["charts.default_days"])


def chart_reply(ctx: Context, product_text: str, days: int):
    """The chart of one product over `days` days, with its text version."""
    if not product_text.strip():
        raise CommandError("trend_usage")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise CommandError("trend_usage", days=days, min=MIN_DAYS, max=MAX_DAYS)
    products = resolve_products(ctx.catalog, product_text, ctx.usage_word("trend"))
    if len(products) != 1:
        raise CommandError("trend_usage")
    return chart(ctx, products[0], days)


def chart(ctx: Context, product, days: int, understood: str = ""):
    """The chart of `product` over `days` days; its title gives the dates the data covers when it starts later."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise CommandError("trend_usage", days=days, min=MIN_DAYS, max=MAX_DAYS)
    data = chart_data(ctx.session, product, days, ctx.today, ctx.language, ctx.router.renderer.units)
    if data is None:
        raise CommandError("no_quote", product=product)
    # Quotes are on trading days: the data covers the period asked when it starts within a week of its start.
    shorter = data.first - (data.last - timedelta(days=days)) > timedelta(days=7)
    return ChartReply(data, TemplateReply("trend", {"data": data, "shorter": shorter, "understood": understood,
                                                    **summary(data)}))


@answers("trend")
def trend_asked(ctx: Context, request):
    """镨钕走势, 镨钕近三个月走势, Dy chart 30 days."""
    product = ctx.catalog.by_code[request.products[0]]
    return chart(ctx, product, request.days or ctx.config["charts.default_days"], request.understood)
