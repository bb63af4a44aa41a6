"""The chat corpus (tests/data/parse_corpus.yaml): every phrasing parses to its expected request, no database."""
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from bot.demo import load_catalog
from bot.market.catalog import Catalog
from bot.market.parse import Parser

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "parse_corpus.yaml").read_text(encoding="utf-8"))
TODAY = CORPUS["today"]
CASES = CORPUS["cases"]
PRICE_INTENTS = {"price", "compare", "price_on_date"}
CHECKED = ("date", "since", "days", "kind", "direction", "count", "keyword", "args", "guessed", "language")


@pytest.fixture(scope="module")
def parser():
    return Parser(Catalog.from_entries(load_catalog()))


def test_corpus_is_big_and_varied():
    assert len(CASES) >= 300
    assert sum(1 for case in CASES if case.get("price") is False) >= 50
    texts = [case["text"] for case in CASES]
    assert len(set(texts)) == len(texts), "a phrasing is listed twice"
    assert sum(1 for t in texts if re.search(r"[\u4e00-\u9fff]", t)) >= 150
    assert sum(1 for t in texts if not re.search(r"[\u4e00-\u9fff]", t)) >= 100


@pytest.mark.parametrize("case", CASES, ids=[case["text"] for case in CASES])
def test_phrasing_parses_to_its_request(parser, case):
    request = parser.parse(case["text"], TODAY)
    assert request.intent == case["intent"]
    assert list(request.products) == case.get("products", [])
    expected_language = "zh" if re.search(r"[\u4e00-\u9fff]", case["text"]) else "en"
    assert request.language == case.get("language", expected_language)
    for key in CHECKED:
        if key in case:
            assert getattr(request, key) == case[key], key
    if "threshold" in case:
        assert request.threshold == Decimal(str(case["threshold"]))
    if "keywords" in case:
        assert list(request.keywords) == case["keywords"]
    if case.get("price") is False:
        assert request.intent not in PRICE_INTENTS
    if request.guessed:
        assert request.understood

