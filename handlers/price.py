"""price / 价格: the latest quote of one product, or a table of several; in words also several side by side,
the price on a past date and the change over a period."""
from __future__ import annotations

from bot.links import price_page
from bot.market.history import change_over, price_table, quote_on
from bot.market.products import resolve_products
from bot.market.quotes import last_trading_day, latest_price
from bot.messages import CommandError, TemplateReply
from bot.router import Context, answers, command
from handlers.trend import chart_reply, split_period


@command("price", aliases=("价格", "报价", "价钱", "prices", "quote"),
         usage_en="price [product…]", usage_zh="价格 [产品…]",
         help_en="latest price of a product, e.g. price PrNd; alone: your products",
         help_zh="产品最新价格，如：价格 镨钕；不带产品：关注产品一览")
def price(ctx: Context, args: str):
    """The latest quote of the named product(s), or a table of the followed ones; `price PrNd 30d`: a chart."""
    product_text, days = split_period(args)
    if days is not None:
        return chart_reply(ctx, product_text, days)
    products = resolve_products(ctx.catalog, args, ctx.usage_word("price")) if args else ctx.followed_products()
    if len(products) == 1 and args:
        return latest(ctx, products[0])
    rows = [(p, latest_price(ctx.session, p, ctx.today)) for p in products]
    return TemplateReply("price_table", {"rows": rows, "last_trading_day": last_trading_day(ctx.today)})


def latest(ctx: Context, product, understood: str = ""):
    """The latest quote of one product (`understood`: the line saying how guessed words were read)."""
    view = latest_price(ctx.session, product, ctx.today)
    if view is None:
        raise CommandError("no_quote", product=product)
    return TemplateReply("price", {"view": view, "last_trading_day": last_trading_day(ctx.today),
                                   "page": price_page(ctx.config, view.product.code, ctx.language),
                                   "understood": understood})


def _products(ctx: Context, request):
    return [ctx.catalog.by_code[c] for c in request.products if c in ctx.catalog.by_code]


@answers("price")
def price_asked(ctx: Context, request):
    """镨钕多少钱, how much is Tb oxide; `price` alone: the followed products."""
    products = _products(ctx, request)
    if not products:
        return price(ctx, "")
    return latest(ctx, products[0], request.understood)


@answers("compare")
def compare(ctx: Context, request):
    """镨钕和铽的价格, Dy and Tb prices: one compact table."""
    return TemplateReply("compare", {"table": price_table(ctx.session, _products(ctx, request), ctx.today),
                                     "understood": request.understood})


@answers("price_on_date")
def price_on_date(ctx: Context, request):
    """6月4日氧化镝, PrNd on 2025-06-04: that day's quote, or the nearest earlier one, saying so."""
    product = _products(ctx, request)[0]
    quote = quote_on(ctx.session, product, request.date)
    if quote is None:
        raise CommandError("no_quote", product=product)
    return TemplateReply("price_on_date", {"quote": quote, "understood": request.understood})


@answers("change")
def change(ctx: Context, request):
    """镨钕这周涨了多少: from, to, change and %, over the period the data really covers."""
    product = _products(ctx, request)[0]
    since = request.since
    if since is None:  # no period named: since the previous quote
        view = latest_price(ctx.session, product, ctx.today)
        since = view.previous_date if view is not None and view.previous_date else ctx.today
    moved = change_over(ctx.session, product, since, ctx.today)
    if moved is None:  # no quote in the period (or only one): the latest, with its date and stale note
        return latest(ctx, product, request.understood)
    return TemplateReply("change", {"change": moved, "understood": request.understood})
