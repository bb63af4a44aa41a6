"""The `sources:` configuration: every wrong key is named as sources[i].key."""
import pytest

from bot.config import ConfigError, build_config
from bot.ingest.jobs import sources_of


def errors(*sources, **settings):
    with pytest.raises(ConfigError) as info:
        build_config({"sources": list(sources), **settings}, environ={})
    return info.value.errors


GOOD = {"name": "site", "type": "html_list", "url": "https://news.example.com/", "schedule": "0 18 * * 1-5"}


def test_a_good_entry_with_options_is_accepted():
    config = build_config({"sources": [
        {**GOOD, "follow": True, "selectors": {"item": "li.news", "title": "h3"}, "report_titles": ["日评"]},
        {"name": "feed", "type": "csv", "url": "file:///srv/prices.csv", "schedule": "*/15 9-17 * * *"},
        {"name": "old", "type": "rss", "url": "https://x.example/rss", "schedule": "0 * * * *", "enabled": False},
    ]}, environ={})
    sources = sources_of(config)
    assert [s.name for s in sources] == ["site", "feed"]
    assert sources[0].selector("item") == "li.news" and sources[0].selector("link").startswith("a.read-more")
    assert sources[0].option("follow") is True and sources[0].option("max_items") == 20
    assert sources[0].report_titles.search("稀土日评") and not sources[0].report_titles.search("Market update")


def test_missing_and_wrong_common_keys_are_named():
    assert errors({"type": "rss", "url": "ftp://x", "schedule": "61 * * * *"},
                  {**GOOD, "type": "html-list"},
                  {**GOOD, "name": "site"},
                  "just a string") == [
        "sources[0].name: required (text)",
        "sources[0].url: must start with http:// or https://, not 'ftp://x'",
        "sources[0].schedule: '61 * * * *' is not a valid cron expression: "
        "Error validating expression '61': the last value (61) is higher than the maximum value (59)",
        "sources[1].type: 'html-list' is not one of html_list, rss, price_table, report, json, csv "
        "(did you mean html_list?)",
        "sources[2].name: 'site' is used by another source",
        "sources[3]: must be a mapping with name, type, url and schedule",
    ]


def test_schedule_needs_five_fields():
    assert errors({**GOOD, "schedule": "daily"}) == [
        "sources[0].schedule: 'daily' must have five fields: minute hour day month day-of-week (e.g. '0 18 * * 1-5')"]


def test_type_specific_options_are_checked():
    assert errors({**GOOD, "folow": True, "selectors": {"item": "li[", "table": "table"}, "max_items": 0},
                  {**GOOD, "name": "t", "type": "price_table", "follow": True},
                  {**GOOD, "name": "j", "type": "json", "url": "file:///x.json", "report_titles": ["("]}) == [
        "sources[0].folow: unknown option for a html_list source (did you mean follow?)",
        "sources[0].selectors.item: not a valid CSS selector 'li[': Malformed attribute selector at position 2",
        "sources[0].selectors.table: unknown selector for a html_list source; "
        "it takes item, title, link, summary, image, date, body",
        "sources[0].max_items: must be at least 1",
        "sources[1].follow: unknown option for a price_table source; it takes selectors",
        "sources[2].report_titles: unknown option for a json source",
    ]


def test_ingest_settings_are_validated_and_come_from_the_environment():
    assert errors(**{"ingest.max_jump_pct": 0, "ingest.retries": -1}) == [
        "ingest.max_jump_pct: must be greater than 0", "ingest.retries: must not be negative"]
    config = build_config({}, environ={"REBOT_INGEST_MAX_JUMP_PCT": "20",
                                       "REBOT_SOURCES": '[{"name": "a", "type": "rss", "url": "https://x.example/",'
                                                        ' "schedule": "0 * * * *"}]'})
    assert config["ingest.max_jump_pct"] == 20.0 and [s.name for s in sources_of(config)] == ["a"]
