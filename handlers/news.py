"""news / 新闻: the newest news items as articles, optionally filtered by a keyword."""
from __future__ import annotations

from bot.market.news import news_matching
from bot.market.quotes import newest_news
from bot.messages import Article, ArticlesReply, TemplateReply
from bot.router import Context, answers, command

DEFAULT_COUNT = 5
MAX_ARTICLES = 8


def _description(summary: str, limit: int = 120) -> str:
    summary = " ".join(summary.split())
    return summary if len(summary) <= limit else summary[: limit - 1].rstrip() + "…"


@command("news", aliases=("latest news", "新闻", "最新新闻", "资讯", "快讯"),
         usage_en="news [N | keyword]", usage_zh="新闻 [条数 | 关键词]",
         help_en="the newest news with links, e.g. news 3, news export",
         help_zh="最新新闻及链接，如：新闻 3、新闻 出口")
def news(ctx: Context, args: str):
    """The newest N news items (1–8), or those matching a keyword. (Answered from the parser's Request: the
    router sends every form of this command to `news_asked`.)"""
    count, keyword = DEFAULT_COUNT, ""
    if args.isdigit():
        count = max(1, min(int(args), MAX_ARTICLES))
    else:
        keyword = args
    return _articles(ctx, newest_news(ctx.session, count if not keyword else MAX_ARTICLES, keyword), keyword)


@answers("news")
def news_asked(ctx: Context, request):
    """新闻, 今天有什么消息, news 3; a keyword also finds items in the other language (新闻 关税 → "Tariff …")."""
    if request.keywords:
        return _articles(ctx, news_matching(ctx.session, request.keywords, MAX_ARTICLES), request.keyword)
    count = max(1, min(DEFAULT_COUNT if request.count is None else request.count, MAX_ARTICLES))
    return _articles(ctx, newest_news(ctx.session, count), "")


def _articles(ctx: Context, items, keyword: str):
    if not items:
        return TemplateReply("news_none", {"keyword": keyword})
    articles = tuple(Article(i.title, _description(i.summary), i.url, i.image_url or "") for i in items)
    return ArticlesReply(articles, "news", {"keyword": keyword})
