"""summary / 行情: today's market summary (the template the daily push uses)."""
from __future__ import annotations

from bot.links import summary_page
from bot.market.summary import build_summary
from bot.messages import TemplateReply
from bot.router import Context, answers, command


@command("summary", aliases=("market", "行情", "日报", "今日行情", "市场"),
         usage_en="summary", usage_zh="行情",
         help_en="today's market summary for your products",
         help_zh="今日市场行情摘要（你关注的产品）")
def summary(ctx: Context, args: str):
    """The market summary of today for the followed (or default) products."""
    data = build_summary(ctx.session, ctx.followed_products(), ctx.today, ctx.language, zone=ctx.config.zone)
    return TemplateReply("summary", {"summary": data, "page": summary_page(ctx.config, ctx.today, ctx.language)})


@answers("summary")
def summary_asked(ctx: Context, request):
    return summary(ctx, "")
