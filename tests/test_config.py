"""Configuration: defaults, YAML, REBOT_* environment, validation that names every wrong key."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import SCHEMA, ConfigError, build_config, config_path, env_name, load_config

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def errors_of(data=None, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config(data, environ or {})
    return info.value.errors


def keys_of(errors: list[str]) -> list[str]:
    return [e.split(":", 1)[0] for e in errors]


def test_defaults():
    config = build_config({}, environ={})
    assert config["timezone"] == "Asia/Shanghai"
    assert str(config.zone) == "Asia/Shanghai"
    assert config["language"] == "zh"
    assert config["wechat.api_base_url"] == "https://api.weixin.qq.com"
    assert config["wechat.max_clock_skew"] == 300
    assert config["wechat.token"] == "" and config["wechat.encoding_aes_key"] == ""
    assert config["admins"] == [] and config["wechat.menu.commands"] == {}
    assert config["default_products"][0] == "PrNd-oxide"
    assert config["database_url"].startswith("sqlite:///")
    assert config.source == "defaults"
    assert set(config.as_dict()) == set(SCHEMA)


def test_yaml_nested_and_dotted_keys(tmp_path):
    path = tmp_path / "rebot.yaml"
    path.write_text(
        "language: en\n"
        "timezone: Europe/Berlin\n"
        "admins: [boss, deputy]\n"
        "default_products: [Dy-oxide, Tb-metal]\n"
        "server:\n  port: 9000\n"
        "wechat:\n"
        f"  token: tok\n  app_id: wx123\n  encoding_aes_key: {AES_KEY}\n  max_clock_skew: 60\n"
        "  menu:\n    commands:\n      M_PRICE: price\n      M_NEWS: 新闻 3\n"
        "wechat.app_secret: s3cret\n",
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert config.source == str(path)
    assert (config["language"], config["timezone"], config["server.port"]) == ("en", "Europe/Berlin", 9000)
    assert config["admins"] == ["boss", "deputy"]
    assert config["default_products"] == ["Dy-oxide", "Tb-metal"]
    assert config["wechat.token"] == "tok" and config["wechat.app_secret"] == "s3cret"
    assert config["wechat.encoding_aes_key"] == AES_KEY and config["wechat.max_clock_skew"] == 60
    assert config["wechat.menu.commands"] == {"M_PRICE": "price", "M_NEWS": "新闻 3"}
    assert config["server.host"] == "127.0.0.1"  # untouched keys keep their default


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "rebot.yaml"
    path.write_text("wechat:\n  token: from-file\nadmins: [file-admin]\n", encoding="utf-8")
    environ = {
        "REBOT_WECHAT_TOKEN": "from-env",
        "REBOT_DATABASE_URL": "postgresql://rebot:pw@db.internal/rebot",
        "REBOT_ADMINS": "oA1, oB2,,oC3 ",
        "REBOT_SERVER_PORT": "8081",
        "REBOT_WECHAT_REPLY_WAIT_SECONDS": "2.5",
        "REBOT_WECHAT_APP_SECRET": "secret",
        "REBOT_WECHAT_MENU_COMMANDS": "{M_PRICE: price PrNd}",
    }
    config = load_config(path, environ=environ)
    assert config["wechat.token"] == "from-env"
    assert config["database_url"] == "postgresql://rebot:pw@db.internal/rebot"
    assert config["admins"] == ["oA1", "oB2", "oC3"]
    assert config["server.port"] == 8081
    assert config["wechat.reply_wait_seconds"] == 2.5
    assert config["wechat.app_secret"] == "secret"
    assert config["wechat.menu.commands"] == {"M_PRICE": "price PrNd"}


def test_env_names():
    assert env_name("wechat.token") == "REBOT_WECHAT_TOKEN"
    assert env_name("wechat.encoding_aes_key") == "REBOT_WECHAT_ENCODING_AES_KEY"
    assert env_name("database_url") == "REBOT_DATABASE_URL"


def test_every_wrong_key_is_named_at_once():
    errors = errors_of({
        "timezon": "Asia/Shanghai",
        "timezone": "Mars/Olympus",
        "language": "fr",
        "server": {"port": "eighty"},
        "wechat": {"tokn": "x", "encoding_aes_key": "tooshort", "api_base_url": "ftp://api.weixin.qq.com",
                   "max_clock_skew": -5},
        "logging": {"level": "loud"},
        "database_url": "not a url",
    })
    by_key = dict(e.split(": ", 1) for e in errors)
    assert "did you mean timezone?" in by_key["timezon"]
    assert "did you mean wechat.token?" in by_key["wechat.tokn"]
    assert "Mars/Olympus" in by_key["timezone"]
    assert "zh or en" in by_key["language"] and "'fr'" in by_key["language"]
    assert "whole number" in by_key["server.port"]
    assert "43 characters" in by_key["wechat.encoding_aes_key"]
    assert "http://" in by_key["wechat.api_base_url"]
    assert "greater than 0" in by_key["wechat.max_clock_skew"]
    assert "INFO" in by_key["logging.level"]
    assert "database URL" in by_key["database_url"]
    assert "wechat.app_id" in by_key  # the AES key needs the app id
    assert "wechat.token" in by_key   # and the token
    assert len(errors) == 12


def test_aes_key_checks():
    assert "43 characters" in errors_of({"wechat": {"token": "t", "app_id": "wx1", "encoding_aes_key": "a" * 42}})[0]
    bad_base64 = "!" * 43
    assert "base64" in errors_of({"wechat": {"token": "t", "app_id": "wx1", "encoding_aes_key": bad_base64}})[0]
    assert keys_of(errors_of({"wechat": {"token": "t", "encoding_aes_key": AES_KEY}})) == ["wechat.app_id"]
    config = build_config({"wechat": {"token": "t", "app_id": "wx1", "encoding_aes_key": AES_KEY}}, environ={})
    assert config["wechat.encoding_aes_key"] == AES_KEY


@pytest.mark.parametrize("data, key, words", [
    ({"server": {"port": True}}, "server.port", "whole number"),
    ({"server": {"port": None}}, "server.port", "must not be empty"),
    ({"admins": "boss"}, "admins", "list"),
    ({"admins": ["wechat:boss", 7]}, "admins[1]", "wechat:oXXXX"),
    ({"admins": ["wecom:zhangsan", "qq:12345"]}, "admins[1]", "CHANNEL:ID"),
    ({"wechat": {"menu": {"commands": ["price"]}}}, "wechat.menu.commands", "mapping"),
    ({"wechat": {"menu": {"commands": {"M1": ""}}}}, "wechat.menu.commands.M1", "command text"),
    ({"wechat": 5}, "wechat", "section with the keys"),
    ({"wechat": {"reply_wait_seconds": "soon"}}, "wechat.reply_wait_seconds", "number"),
    ({"default_products": ["PrNd", "Dy-oxide"]}, "default_products", "did you mean PrNd-oxide?"),
    ({"api_base_url": "https://x"}, "api_base_url", "did you mean wechat.api_base_url or wecom.api_base_url?"),
])
def test_wrong_values_name_their_key(data, key, words):
    errors = errors_of(data)
    assert keys_of(errors) == [key]
    assert words in errors[0]


def test_a_secret_of_the_wrong_type_is_not_printed():
    errors = errors_of({"wechat": {"token": 123456789, "app_secret": 987654321}})
    assert keys_of(errors) == ["wechat.token", "wechat.app_secret"]
    assert "123456789" not in "".join(errors) and "987654321" not in "".join(errors)
    assert "quote it" in errors[0]


def test_bad_environment_values_name_the_variable():
    errors = errors_of({}, {"REBOT_SERVER_PORT": "http", "REBOT_LANGUAGE": "de"})
    assert keys_of(errors) == ["server.port", "language"]
    assert "REBOT_SERVER_PORT='http'" in errors[0]


def test_a_misspelt_environment_variable_is_named():
    errors = errors_of({}, {"REBOT_WECHAT_TOKN": "x", "REBOT_CONFIG": "ignored.yaml", "HOME": "/root"})
    assert errors == ["REBOT_WECHAT_TOKN: unknown environment variable (did you mean REBOT_WECHAT_TOKEN?)"]


def test_config_error_message_lists_every_error():
    with pytest.raises(ConfigError) as info:
        build_config({"language": "fr", "timezone": "Nowhere"}, environ={})
    message = str(info.value)
    assert message.startswith("invalid configuration:")
    assert "  - timezone: " in message and "  - language: " in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", environ={})
    assert info.value.errors == [f"config file {tmp_path / 'nope.yaml'} does not exist"]


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("wechat:\n  token: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.errors[0].startswith(f"{path}: not valid YAML")


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- language: en\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, environ={})


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path, environ={})


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n", encoding="utf-8")
    assert load_config(path, environ={})["language"] == "zh"


def test_config_path_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_path(None, environ={}) is None  # nothing anywhere: built-in defaults
    assert load_config(environ={}).source == "defaults"

    Path("config.yaml").write_text("language: en\n", encoding="utf-8")
    assert config_path(None, environ={}) == Path("config.yaml")
    assert load_config(environ={})["language"] == "en"

    (tmp_path / "env.yaml").write_text("language: zh\ntimezone: UTC\n", encoding="utf-8")
    environ = {"REBOT_CONFIG": str(tmp_path / "env.yaml")}
    assert config_path(None, environ) == tmp_path / "env.yaml"
    assert load_config(environ=environ)["timezone"] == "UTC"

    (tmp_path / "explicit.yaml").write_text("timezone: Asia/Tokyo\n", encoding="utf-8")
    assert config_path(str(tmp_path / "explicit.yaml"), environ) == tmp_path / "explicit.yaml"
    assert load_config(tmp_path / "explicit.yaml", environ=environ)["timezone"] == "Asia/Tokyo"


def test_redacted_masks_secrets_and_database_passwords():
    config = build_config({
        "database_url": "postgresql://rebot:hunter2@db.internal:5432/rebot",
        "wechat": {"token": "tok-123", "app_id": "wx1", "app_secret": "sec-456", "encoding_aes_key": AES_KEY},
    }, environ={})
    shown = config.redacted()
    printed = repr(shown)
    for secret in ("hunter2", "tok-123", "sec-456", AES_KEY):
        assert secret not in printed
    assert shown["wechat.token"] == shown["wechat.app_secret"] == shown["wechat.encoding_aes_key"] == "***"
    assert shown["database_url"] == "postgresql://rebot:***@db.internal:5432/rebot"
    assert shown["wechat.app_id"] == "wx1"  # not a secret
    assert config["wechat.token"] == "tok-123"  # the config itself is unchanged


def test_redacted_leaves_unset_secrets_empty():
    shown = build_config({}, environ={}).redacted()
    assert shown["wechat.token"] == "" and shown["database_url"] == "sqlite:///instance/rebot.db"


@pytest.mark.parametrize("data, key, words", [
    ({"push": {"daily": {"cron": "every day"}}}, "push.daily.cron", "crontab"),
    ({"push": {"wechat": {"mode": "broadcast"}}}, "push.wechat.mode", "template, custom, mass"),
    ({"wechat": {"token_endpoint": "fast"}}, "wechat.token_endpoint", "token, stable"),
    ({"robots": [{"name": "desk"}]}, "robots", "name and webhook"),
    ({"robots": [{"name": "desk", "webhook": "ftp://x"}]}, "robots", "http://"),
    ({"robots": [{"name": "a", "webhook": "https://x"}, {"name": "a", "webhook": "https://y"}]}, "robots", "twice"),
    ({"wecom": {"corp_id": "ww1"}}, "wecom.agent_id", "AgentId"),
    ({"push": {"wecom": {"duplicate_check_seconds": 20000}}}, "push.wecom.duplicate_check_seconds", "14400"),
    ({"push": {"wechat": {"template_fields": {"first": "{{ title"}}}}, "push.wechat.template_fields", "first: not"),
    ({"push": {"wechat": {"template_fields": {"first": "{{ titel }}"}}}}, "push.wechat.template_fields", "titel"),
])
def test_push_keys_name_their_errors(data, key, words):
    errors = errors_of(data)
    assert keys_of(errors) == [key]
    assert words in errors[0]


def test_robots_from_the_environment_as_yaml():
    config = build_config({}, environ={"REBOT_ROBOTS": "[{name: desk, webhook: 'https://x/y?key=k'}]"})
    assert config["robots"] == [{"name": "desk", "webhook": "https://x/y?key=k"}]
    assert config.redacted()["robots"] == "***"  # the webhook key is a secret


def test_the_operators_guide_lists_every_environment_variable():
    from pathlib import Path

    from bot.config import SCHEMA, env_name

    guide = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [env_name(key) for key in SCHEMA if f"`{env_name(key)}`" not in guide]
    assert not missing, f"add these to docs/operations.md § 9 (Every environment variable): {missing}"
