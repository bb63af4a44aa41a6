"""price / 价格: the latest quote of one product, or a table of several."""
from __future__ import annotations

import re

from bot.market.quotes import last_trading_day, latest_price
from bot.messages import CommandError, TemplateReply
from bot.router import Context, command

_SPLIT = re.compile(r"[\s,，、;；/]+")


def resolve_products(ctx: Context, args: str):
    """The products named in `args` (one name, or several separated by spaces or commas)."""
    whole = ctx.catalog.resolve(args)
    if whole:
        return [whole]
    products, unknown = [], []
    for word in filter(None, _SPLIT.split(args)):
        product = ctx.catalog.resolve(word)
        (products if product else unknown).append(product or word)
    if unknown or not products:
        query = unknown[0] if unknown else args
        guess = next(iter(ctx.catalog.suggest(query)), None)
        raise CommandError("unknown_product", query=query, suggestion=guess.code if guess else None)
    return list(dict.fromkeys(products))


@command("price", aliases=("价格", "报价", "价钱", "prices", "quote"),
         usage_en="price [product…]", usage_zh="价格 [产品…]",
         help_en="latest price of a product, e.g. price PrNd; alone: your products",
         help_zh="产品最新价格，如：价格 镨钕；不带产品：关注产品一览")
def price(ctx: Context, args: str):
    """The latest quote of the named product(s), or a table of the followed ones."""
    products = resolve_products(ctx, args) if args else ctx.followed_products()
    if len(products) == 1 and args:
        view = latest_price(ctx.session, products[0], ctx.today)
        if view is None:
            raise CommandError("no_quote", product=products[0])
        return TemplateReply("price", {"view": view, "last_trading_day": last_trading_day(ctx.today)})
    rows = [(p, latest_price(ctx.session, p, ctx.today)) for p in products]
    return TemplateReply("price_table", {"rows": rows, "last_trading_day": last_trading_day(ctx.today)})
