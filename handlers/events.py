"""Events: follow, unfollow and menu clicks."""
from __future__ import annotations

from bot.messages import TemplateReply
from bot.router import Context, command, normalise


@command("_event", hidden=True)
def event(ctx: Context, name: str):
    """Answer a channel event: welcome a follower, forget an unfollower, run a menu click's command."""
    if name == "subscribe":
        sub = ctx.subscriber()
        sub.status = "active"
        return TemplateReply("welcome", {})
    if name == "unsubscribe":
        sub = ctx.subscriber(create=False)
        if sub is not None:
            sub.status = "unreachable"
        return None
    if name == "click":
        text = ctx.config["wechat.menu.commands"].get(ctx.message.event_key)
        if not text:
            return TemplateReply("unknown_menu", {"key": ctx.message.event_key})
        return ctx.router.dispatch(ctx, normalise(text))
    return None
