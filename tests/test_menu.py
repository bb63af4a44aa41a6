"""The custom menu: `wechat.menu.button` checked against WeChat's rules by `rebot menu check`."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import main
from bot.config import build_config
from bot.account.menu import check_menu, menu_payload

BASE = "https://rebot.example.com"
MENU = [
    {"type": "click", "name": "行情", "key": "SUMMARY"},
    {"name": "价格", "sub_button": [
        {"type": "click", "name": "镨钕", "key": "PRICE_PRND"},
        {"type": "click", "name": "镝", "key": "PRICE_DY"},
        {"type": "click", "name": "铽", "key": "PRICE_TB"},
        {"type": "view", "name": "行情图表", "url": "/m/summary"},
    ]},
    {"type": "click", "name": "订阅", "key": "SUBSCRIBE"},
]
COMMANDS = {"SUMMARY": "summary", "PRICE_PRND": "price PrNd", "PRICE_DY": "价格 镝", "PRICE_TB": "价格 铽",
            "SUBSCRIBE": "subscribe"}


def config(button=None, commands=None, **settings):
    return build_config({"wechat": {"menu": {"button": MENU if button is None else button,
                                             "commands": COMMANDS if commands is None else commands}},
                         "public_base_url": BASE, **settings}, environ={})


def run_cli(tmp_path, data: dict, *args: str):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return CliRunner().invoke(main, ["--config", str(path), "menu", *args])


def test_the_example_menu_passes_and_our_paths_become_full_urls(tmp_path):
    assert check_menu(config()) == []
    payload = menu_payload(config())
    assert payload["button"][1]["sub_button"][3]["url"] == BASE + "/m/summary"
    assert payload["button"][0] == MENU[0]

    data = {"public_base_url": BASE, "wechat": {"menu": {"button": MENU, "commands": COMMANDS}}}
    result = run_cli(tmp_path, data, "check", "--show")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("menu OK: 3 buttons, 4 sub-buttons\n")
    shown = json.loads(result.output.split("\n", 1)[1])
    assert shown == payload


def test_the_menu_can_come_from_the_environment():
    cfg = build_config({}, environ={"REBOT_WECHAT_MENU_BUTTON": json.dumps(MENU[:1]),
                                    "REBOT_WECHAT_MENU_COMMANDS": "{SUMMARY: summary}"})
    assert check_menu(cfg) == []


def broken(errors: list[str], path: str, words: str) -> bool:
    return any(e.startswith(path) and words in e for e in errors)


def test_every_rule_is_checked_and_each_error_names_the_button():
    menu = [
        {"type": "click", "name": "行情行情行情", "key": "SUMMARY"},       # 18 bytes > 16
        {"name": "价格", "type": "click", "sub_button": [
            {"type": "click", "name": "镨钕", "key": "PRICE_PRND"},
            {"type": "click", "name": "镝" * 21, "key": "PRICE_DY"},   # 63 bytes > 60
            {"type": "click", "name": "铽", "key": "K" * 129},         # key too long, unmapped
            {"type": "clik", "name": "Ho", "key": "PRICE_HO"},         # unknown type
            {"type": "view", "name": "ftp", "url": "ftp://x.example.com"},
            {"type": "click", "name": "again", "key": "PRICE_PRND", "urll": "x"},  # duplicate key, typo
        ]},
        {"name": "空", "sub_button": []},
        {"type": "view", "url": "/m/summary"},                          # no name
    ]
    errors = check_menu(config(menu, public_base_url=""))
    assert broken(errors, "wechat.menu.button:", "4 buttons; WeChat allows at most 3")
    assert broken(errors, "wechat.menu.button[0] (行情行情行情).name", "18 bytes; WeChat allows 16")
    assert broken(errors, "wechat.menu.button[1] (价格).type", "takes no type")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button:", "6 buttons; WeChat allows at most 5")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[1]", "63 bytes; WeChat allows 60")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[2] (铽).key", "129 bytes; WeChat allows 128")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[2] (铽).key", "has no command in wechat.menu.commands")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[3] (Ho).type", "'clik' (did you mean click?); one of click, view")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[4] (ftp).url", "must start with https://")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[5] (again).key", "is used by")
    assert broken(errors, "wechat.menu.button[1] (价格).sub_button[5] (again).urll", "unknown field")
    assert broken(errors, "wechat.menu.button[2] (空).sub_button", "must list 1 to 5 buttons")
    assert broken(errors, "wechat.menu.button[3].name", "missing")
    assert broken(errors, "wechat.menu.button[3].url", "set public_base_url")
    assert len(errors) == 14, errors


@pytest.mark.parametrize("button, words", [
    ({"type": "view", "name": "站", "url": "https://x.example.com/" + "a" * 1010}, "1032 bytes; WeChat allows 1024"),
    ({"type": "miniprogram", "name": "小程序", "url": "https://x.example.com", "appid": "wx1"}, "pagepath: missing"),
    ({"type": "media_id", "name": "图片"}, "media_id: missing"),
    ({"name": "价格", "sub_button": [{"name": "镨钕", "sub_button": []}]}, "two levels only"),
    ("price", "must be a mapping"),
])
def test_more_rules(button, words):
    errors = check_menu(config([button]))
    assert any(words in e for e in errors), errors


def test_menu_check_fails_with_every_error_and_no_menu_is_an_error(tmp_path):
    data = {"wechat": {"menu": {"button": [{"type": "click", "name": "行情", "key": "SUMMARY"}]}}}
    result = run_cli(tmp_path, data, "check")
    assert result.exit_code == 1
    assert "wechat.menu.button[0] (行情).key: 'SUMMARY' has no command in wechat.menu.commands" in result.output

    result = run_cli(tmp_path, {}, "check")
    assert result.exit_code == 1 and "no menu is configured" in result.output


# --- push and show, against the emulator over real HTTP --------------------------------------------------

@pytest.fixture
def api_data(emulator, db_url):
    """Settings for a config file that reaches the emulator."""
    from emulator import APP_ID, APP_SECRET

    return {"database_url": db_url, "public_base_url": BASE,
            "wechat": {"app_id": APP_ID, "app_secret": APP_SECRET, "api_base_url": emulator.url,
                       "menu": {"button": MENU, "commands": COMMANDS}},
            "http": {"timeout_seconds": 2.0}}


def test_menu_push_creates_the_checked_menu_and_show_prints_it(tmp_path, emulator, api_data):
    result = run_cli(tmp_path, api_data, "show")
    assert result.exit_code == 0, result.output
    assert "no menu is live" in result.output

    result = run_cli(tmp_path, api_data, "push")
    assert result.exit_code == 0, result.output
    assert "menu pushed: 3 buttons, 4 sub-buttons" in result.output
    sent = menu_payload(config())
    assert emulator.menu == sent  # our /m/summary went out as a full URL
    assert emulator.menu["button"][1]["sub_button"][3]["url"] == BASE + "/m/summary"

    result = run_cli(tmp_path, api_data, "show")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == sent  # back in the config's shape (sub_button unwrapped)


def test_an_invalid_menu_is_never_sent(tmp_path, emulator, api_data):
    api_data["wechat"]["menu"]["commands"] = {}
    result = run_cli(tmp_path, api_data, "push")
    assert result.exit_code == 1
    assert "has no command in wechat.menu.commands" in result.output
    assert emulator.calls("/cgi-bin/menu/create") == [] and emulator.calls("/cgi-bin/token") == []


def test_a_refused_menu_says_why(tmp_path, emulator, api_data):
    emulator.fault("/cgi-bin/menu/create", errcode=48001, errmsg="api unauthorized")
    result = run_cli(tmp_path, api_data, "push")
    assert result.exit_code == 1
    assert "WeChat refused the menu: 48001: api unauthorized (the account lacks this permission" in result.output
    assert emulator.menu is None


def test_an_expired_token_is_renewed_once_for_the_menu(tmp_path, emulator, api_data):
    assert run_cli(tmp_path, api_data, "push").exit_code == 0
    emulator.expire_tokens()
    result = run_cli(tmp_path, api_data, "show")
    assert result.exit_code == 0, result.output
    assert emulator.token_fetches["/cgi-bin/token"] == 2


def test_the_api_needs_the_app_secret(tmp_path, emulator, api_data):
    api_data["wechat"]["app_secret"] = ""
    result = run_cli(tmp_path, api_data, "show")
    assert result.exit_code == 2
    assert "wechat.app_secret must be set to call the WeChat API" in result.output
