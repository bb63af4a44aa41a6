"""admin / 管理: the service at a glance and subscriber fixes, for the openids in `admins` only.

Anyone else who types these is answered as for any unknown command (the registry's admin_only flag)."""
from __future__ import annotations

from bot import subscribers as subs
from bot.messages import TemplateReply
from bot.router import Context, command

SUB_ACTIONS = {"pause": "paused", "resume": "active", "remove": None,
               "暂停": "paused", "恢复": "active", "删除": None}


@command("admin", aliases=("管理",), admin_only=True,
         usage_en="admin stats | admin sub <id> pause|resume|remove",
         usage_zh="管理 stats | 管理 sub <编号> pause|resume|remove",
         help_en="service figures; pause, resume or remove a subscriber",
         help_zh="服务概况；暂停、恢复或删除订阅用户")
def admin(ctx: Context, args: str):
    words = args.split()
    head = words[0].lower() if words else ""
    if head in ("stats", "统计"):
        return stats(ctx)
    if head in ("sub", "订阅用户") and len(words) == 3 and words[2].lower() in SUB_ACTIONS:
        return change_subscriber(ctx, words[1], words[2].lower())
    return TemplateReply("admin_usage")


def stats(ctx: Context):
    by_channel = subs.counts(ctx.session)
    daily = subs.daily_count(ctx.session)
    total = sum(sum(row.values()) for row in by_channel.values())
    return TemplateReply("admin_stats", {"by_channel": sorted(by_channel.items()), "total": total, "daily": daily})


def change_subscriber(ctx: Context, ref: str, action: str):
    try:
        sub = subs.find(ctx.session, ref)
    except subs.SubscriberError:
        return TemplateReply("admin_sub_unknown", {"ref": ref})
    actor = f"chat:{ctx.message.user_id}"
    label = sub.display_name or f"{sub.channel}:{sub.external_id}"
    status = SUB_ACTIONS[action]
    if status is None:
        subs.remove(ctx.session, actor, sub)
        return TemplateReply("admin_sub", {"id": sub.id, "label": label, "done": "removed", "changed": True})
    changed = subs.set_status(ctx.session, actor, sub, status)
    return TemplateReply("admin_sub", {"id": sub.id, "label": label, "changed": changed,
                                       "done": "paused" if status == "paused" else "resumed"})
