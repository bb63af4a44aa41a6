"""The Official Account's custom menu: `wechat.menu.button` (WeChat's own JSON shape), checked
against WeChat's rules before anything is sent, and the payload `/cgi-bin/menu/create` takes.

A VIEW button's url may be a path of ours (`/m/summary`); it is sent as `public_base_url` + path.
"""
from __future__ import annotations

import difflib
from typing import Any

from bot.config import Config

KEY = "wechat.menu.button"
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60
MAX_KEY_BYTES, MAX_URL_BYTES = 128, 1024
# type -> the fields it needs (WeChat's menu/create documentation).
TYPES: dict[str, tuple[str, ...]] = {
    "click": ("key",), "view": ("url",), "scancode_push": ("key",), "scancode_waitmsg": ("key",),
    "pic_sysphoto": ("key",), "pic_photo_or_album": ("key",), "pic_weixin": ("key",),
    "location_select": ("key",), "media_id": ("media_id",), "view_limited": ("media_id",),
    "article_id": ("article_id",), "article_view_limited": ("article_id",),
    "miniprogram": ("url", "appid", "pagepath"),
}
FIELDS = {"type", "name", "key", "url", "media_id", "article_id", "appid", "pagepath", "sub_button"}


def _size(value: Any) -> int:
    return len(str(value).encode("utf-8"))


def check_menu(config: Config) -> list[str]:
    """Every way `wechat.menu.button` breaks WeChat's rules or ours, one line each naming the button."""
    buttons = config[KEY]
    if not buttons:
        return [f"{KEY}: no menu is configured"]
    errors: list[str] = []
    if len(buttons) > MAX_BUTTONS:
        errors.append(f"{KEY}: {len(buttons)} buttons; WeChat allows at most {MAX_BUTTONS}")
    keys: dict[str, str] = {}
    for i, button in enumerate(buttons):
        path = f"{KEY}[{i}]"
        if not isinstance(button, dict):
            errors.append(f"{path}: must be a mapping (type, name, key/url… or name and sub_button)")
            continue
        path = _named(path, button)
        subs = button.get("sub_button")
        errors += _check_name(path, button, MAX_NAME_BYTES, "a top-level button")
        if subs is None:
            errors += _check_action(path, button, config, keys, top=True)
            continue
        errors += [f"{path}.{field}: a button with sub_button opens a submenu and takes no {field}"
                   for field in ("type", "key", "url") if field in button]
        if not isinstance(subs, list) or not subs:
            errors.append(f"{path}.sub_button: must list 1 to {MAX_SUB_BUTTONS} buttons")
            continue
        if len(subs) > MAX_SUB_BUTTONS:
            errors.append(f"{path}.sub_button: {len(subs)} buttons; WeChat allows at most {MAX_SUB_BUTTONS}")
        for j, sub in enumerate(subs):
            sub_path = f"{path}.sub_button[{j}]"
            if not isinstance(sub, dict):
                errors.append(f"{sub_path}: must be a mapping (type, name, key or url…)")
                continue
            sub_path = _named(sub_path, sub)
            errors += _check_name(sub_path, sub, MAX_SUB_NAME_BYTES, "a sub-button")
            if "sub_button" in sub:
                errors.append(f"{sub_path}.sub_button: WeChat menus have two levels only")
            errors += _check_action(sub_path, sub, config, keys)
    return errors


def _named(path: str, button: dict) -> str:
    """The path with the button's name, so that `wechat.menu.button[1] (价格)` can be found at a glance."""
    name = button.get("name")
    return f"{path} ({name})" if isinstance(name, str) and name else path


def _check_name(path: str, button: dict, limit: int, what: str) -> list[str]:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        return [f"{path}.name: missing; every button needs a name"]
    if _size(name) > limit:
        return [f"{path}.name: {_size(name)} bytes; WeChat allows {limit} for {what} "
                f"(a Chinese character is 3 bytes)"]
    return []


def _check_action(path: str, button: dict, config: Config, keys: dict[str, str], top: bool = False) -> list[str]:
    errors = [f"{path}.{field}: unknown field (one of {', '.join(sorted(FIELDS))})"
              for field in button if field not in FIELDS]
    kind = button.get("type")
    if kind not in TYPES:
        hint = difflib.get_close_matches(str(kind), TYPES, n=1) if kind is not None else []
        shown = (f"{kind!r}" + (f" (did you mean {hint[0]}?)" if hint else "")) if kind is not None else "missing"
        return errors + [f"{path}.type: {shown}; one of {', '.join(TYPES)}"
                         + (", or sub_button for a submenu" if top else "")]
    for field in TYPES[kind]:
        if not isinstance(button.get(field), str) or not button[field].strip():
            errors.append(f"{path}.{field}: missing; a {kind} button needs one")
    if "key" in button:
        key = str(button["key"])
        if _size(key) > MAX_KEY_BYTES:
            errors.append(f"{path}.key: {_size(key)} bytes; WeChat allows {MAX_KEY_BYTES}")
        if key in keys:
            errors.append(f"{path}.key: {key!r} is used by {keys[key]} too; a click could not tell them apart")
        keys.setdefault(key, path)
        if kind == "click" and key not in config["wechat.menu.commands"]:
            errors.append(f"{path}.key: {key!r} has no command in wechat.menu.commands (add {key}: <command>)")
    if "url" in button and isinstance(button["url"], str):
        errors += _check_url(path, button["url"], config)
    return errors


def _check_url(path: str, url: str, config: Config) -> list[str]:
    if url.startswith("/"):
        if not config["public_base_url"]:
            return [f"{path}.url: {url!r} is a path of ours; set public_base_url so it can be sent as a full URL"]
        url = config["public_base_url"].rstrip("/") + url
    elif not url.startswith(("http://", "https://")):
        return [f"{path}.url: {url!r} must start with https:// (or / for a page of ours)"]
    if _size(url) > MAX_URL_BYTES:
        return [f"{path}.url: {_size(url)} bytes; WeChat allows {MAX_URL_BYTES}"]
    return []


def menu_payload(config: Config) -> dict:
    """The body of `/cgi-bin/menu/create`: the configured buttons, paths of ours made full URLs."""
    base = config["public_base_url"].rstrip("/")

    def full(button: dict) -> dict:
        button = dict(button)
        if isinstance(button.get("url"), str) and button["url"].startswith("/"):
            button["url"] = base + button["url"]
        if "sub_button" in button:
            button["sub_button"] = [full(sub) for sub in button["sub_button"]]
        return button

    return {"button": [full(b) for b in config[KEY]]}


def push_menu(client, config: Config) -> None:
    """Send the configured menu (`/cgi-bin/menu/create`); an ApiError if WeChat refuses it."""
    client.call("/cgi-bin/menu/create", menu_payload(config))


def live_menu(client) -> dict | None:
    """The menu users see now, in the config's shape (`/cgi-bin/get_current_selfmenu_info`), or None."""
    data = client.call("/cgi-bin/get_current_selfmenu_info", method="GET")
    buttons = (data.get("selfmenu_info") or {}).get("button") or []
    if not data.get("is_menu_open") or not buttons:
        return None

    def plain(button: dict) -> dict:
        button = dict(button)
        subs = button.get("sub_button")
        if isinstance(subs, dict):  # this API wraps sub-buttons: {"list": [...]}
            button["sub_button"] = [plain(sub) for sub in subs.get("list", [])]
        return button

    return {"button": [plain(b) for b in buttons]}
