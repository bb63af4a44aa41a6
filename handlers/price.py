"""price / 价格: the latest quote of one product, or a table of several."""
from __future__ import annotations

from bot.links import price_page
from bot.market.products import resolve_products
from bot.market.quotes import last_trading_day, latest_price
from bot.messages import CommandError, TemplateReply
from bot.router import Context, command
from handlers.trend import chart_reply, split_period


@command("price", aliases=("价格", "报价", "价钱", "prices", "quote"),
         usage_en="price [product…]", usage_zh="价格 [产品…]",
         help_en="latest price of a product, e.g. price PrNd; alone: your products",
         help_zh="产品最新价格，如：价格 镨钕；不带产品：关注产品一览",
         # Alone it shows the sender's products; with a period it is a chart, an image on some channels.
         pure=lambda args: bool(args) and split_period(args)[1] is None)
def price(ctx: Context, args: str):
    """The latest quote of the named product(s), or a table of the followed ones; `price PrNd 30d`: a chart."""
    product_text, days = split_period(args)
    if days is not None:
        return chart_reply(ctx, product_text, days)
    products = resolve_products(ctx.catalog, args, ctx.usage_word("price")) if args else ctx.followed_products()
    if len(products) == 1 and args:
        view = latest_price(ctx.session, products[0], ctx.today)
        if view is None:
            raise CommandError("no_quote", product=products[0])
        return TemplateReply("price", {"view": view, "last_trading_day": last_trading_day(ctx.today),
                                       "page": price_page(ctx.config, view.product.code, ctx.language)})
    rows = [(p, latest_price(ctx.session, p, ctx.today)) for p in products]
    return TemplateReply("price_table", {"rows": rows, "last_trading_day": last_trading_day(ctx.today)})
