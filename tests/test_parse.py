"""The chat parser beyond the corpus: numbers, dates, typos that never cross elements, memoising, hostile input."""
from datetime import date
from decimal import Decimal

import pytest

from bot.demo import load_catalog
from bot.market.catalog import Catalog
from bot.market.names import element
from bot.market.parse import Parser, normalise

TODAY = date(2025, 6, 11)  # a Wednesday


@pytest.fixture(scope="module")
def parser():
    return Parser(Catalog.from_entries(load_catalog()))


@pytest.mark.parametrize("text, threshold", [
    ("alert PrNd > 46万", 460_000), ("alert PrNd > 四十六万", 460_000), ("alert PrNd > 1.6 million", 1_600_000),
    ("alert PrNd > 1.6M", 1_600_000), ("alert PrNd > 460k", 460_000), ("alert PrNd > 460,000", 460_000),
    ("alert PrNd > 460000", 460_000), ("镨钕涨到46.5万提醒我", 465_000), ("alert PrNd above 0.46 mln", 460_000),
])
def test_numbers_as_traders_write_them(parser, text, threshold):
    request = parser.parse(text, TODAY)
    assert (request.intent, request.kind, request.threshold) == ("alert_set", "above", Decimal(threshold))


@pytest.mark.parametrize("text, day", [
    ("镨钕 昨天", date(2025, 6, 10)), ("镨钕 上周五", date(2025, 6, 6)), ("PrNd yesterday", date(2025, 6, 10)),
    ("PrNd last Friday", date(2025, 6, 6)), ("镨钕 6月4日", date(2025, 6, 4)), ("镨钕 6/4", date(2025, 6, 4)),
    ("PrNd June 3", date(2025, 6, 3)), ("PrNd 2025-06-04", date(2025, 6, 4)),
    ("镨钕 12月1日", date(2024, 12, 1)),  # a day still to come this year is last year's
])
def test_dates_resolve_from_today(parser, text, day):
    assert parser.parse(text, TODAY).date == day


def test_relative_dates_follow_today(parser):
    assert parser.parse("镨钕 上周五", date(2025, 6, 16)).date == date(2025, 6, 13)
    assert parser.parse("镨钕 昨天", date(2025, 1, 1)).date == date(2024, 12, 31)


def _typos(word):
    yield from (word[:i] + word[i + 1:] for i in range(1, len(word)))  # a letter left out
    yield from (word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(1, len(word) - 1))  # two swapped


def test_a_typo_never_crosses_to_another_element(parser):
    """Every element name with a letter left out or two swapped names that element, or nothing."""
    tried = 0
    for entry in load_catalog():
        for name in {entry["en"].split()[0], *[a for a in entry["aliases"] if a.isascii() and a.isalpha() and len(a) >= 6]}:
            for typo in _typos(name.lower()):
                request = parser.parse(f"{typo} price", TODAY)
                tried += 1
                assert {element(c) for c in request.products} <= {element(entry["code"])}, (typo, request)
                if request.intent == "unknown":
                    assert {element(c) for c in request.suggestions} <= {element(entry["code"])}, (typo, request)
    assert tried > 300


@pytest.mark.parametrize("text, code", [("terbuim", "Tb-oxide"), ("镨女", "PrNd-oxide"), ("pirce PrNd", "PrNd-oxide"),
                                        ("dysprosim metal", "Dy-metal"), ("鏑鐵多少錢", "DyFe")])
def test_typos_and_traditional_characters_resolve(parser, text, code):
    assert parser.parse(text, TODAY).products == (code,)


def test_a_guess_says_what_it_understood_in_the_users_language(parser):
    zh = parser.parse("镨女价格", TODAY)
    assert (zh.guessed, zh.understood) == (True, "按 氧化镨钕 价格回答")
    en = parser.parse("pirce PrNd", TODAY)
    assert (en.guessed, en.understood) == (True, "Showing: PrNd oxide price")
    assert not parser.parse("price PrNd", TODAY).guessed


def test_a_slip_is_only_corrected_next_to_a_product_name(parser):
    assert parser.parse("美女", TODAY).products == ()


def test_out_of_scope_names_the_closest_quoted_products_never_a_match(parser):
    request = parser.parse("钕铁硼多少钱", TODAY)
    assert (request.intent, request.products, request.term) == ("out_of_scope", (), "钕铁硼")
    assert request.suggestions == ("PrNd-metal", "Nd-metal", "PrNd-oxide")


def test_news_keywords_cross_languages_through_the_glossary(parser):
    assert parser.parse("新闻 关税", TODAY).keywords == ("关税", "tariff", "tariffs")
    assert parser.parse("news export", TODAY).keywords == ("export", "出口")
    assert parser.parse("news 稀土永磁", TODAY).keywords[0] == "稀土永磁"


def test_a_text_is_parsed_once_per_catalog_version_and_day(parser):
    first = parser.parse("镨钕现在啥价", TODAY)
    assert parser.parse("镨钕现在啥价", TODAY) is first
    assert parser.parse("镨钕现在啥价", date(2025, 6, 12)) is not first
    newer = Parser(parser.catalog, version=2)
    assert newer.parse("镨钕现在啥价", TODAY) == first and newer.parse("镨钕现在啥价", TODAY) is not first


@pytest.mark.parametrize("text", ["1" * 500, "1," * 250, "a " * 250, "镨" * 500, "price " * 80, "-" * 500,
                                  "alert PrNd > " + "9" * 480, "6/" * 250, "上周" * 250, "PrNd " * 100])
def test_hostile_input_parses_to_an_answer(parser, text):
    request = parser.parse(text, TODAY)
    assert request.intent  # bench/parse.py times these: linear, like any other message


def test_normalise_keeps_500_characters_and_folds_width_and_script():
    assert normalise("ＰｒＮｄ　價格！") == "PrNd 价格"
    assert len(normalise("镨" * 2000)) == 500


def test_a_mistake_in_a_data_file_is_named_with_file_and_key():
    from bot.market.parse import LexiconError, _check
    good = {s: {} for s in ("intents", "directions", "periods", "period_units", "days_ago", "weekdays",
                            "out_of_scope", "glossary")} | {"fillers": [], "last_week": []}
    with pytest.raises(LexiconError, match=r"nlu.en.yaml: intents.unsubscribe: False is not a word: put it in quotes"):
        _check("nlu.en.yaml", good | {"intents": {"unsubscribe": ["stop", False]}})
    with pytest.raises(LexiconError, match=r"nlu.zh.yaml: intents.prices: unknown intent"):
        _check("nlu.zh.yaml", good | {"intents": {"prices": ["价"]}})
    with pytest.raises(LexiconError, match=r"nlu.zh.yaml: periods.这周: expected week, month, year"):
        _check("nlu.zh.yaml", good | {"periods": {"这周": "weeks"}})
    with pytest.raises(LexiconError, match=r"nlu.zh.yaml: glossary: section missing"):
        _check("nlu.zh.yaml", {k: v for k, v in good.items() if k != "glossary"})
