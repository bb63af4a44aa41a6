"""Extraction from prose: the corpus of report sentences, dates, and the `rebot extract` command."""
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import main
from bot.demo import load_catalog
from bot.ingest.extract import Extractor, find_date
from bot.market.catalog import Catalog

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "extract_corpus.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def extractor():
    return Extractor(Catalog.from_entries(load_catalog()))


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 40
    assert sum(1 for case in CORPUS if not case["quotes"]) >= 8


@pytest.mark.parametrize("case", CORPUS, ids=[case["text"][:40] for case in CORPUS])
def test_corpus_sentence_yields_its_quotes(extractor, case):
    result = extractor.extract(case["text"])
    found = [[q.product, q.low, q.high, q.unit] for q in result.quotes]
    expected = [[p, Decimal(str(lo)), Decimal(str(hi)), u] for p, lo, hi, u in case["quotes"]]
    assert found == expected
    assert len(result.unparsed) == case.get("unparsed", 0), result.unparsed


def test_every_catalog_spelling_names_its_product(extractor):
    for entry in load_catalog():
        for name in [entry["code"], entry["en"], entry["zh"], *entry["aliases"]]:
            sentence = f"{name} price was at 1,000-1,001 yuan/t"
            quotes = extractor.extract(sentence).quotes
            assert [q.product for q in quotes] == [entry["code"]], sentence


def test_quotes_carry_the_sentence_and_the_date_of_the_text(extractor):
    text = ("Rare Earth Market - June 11, 2025\n\nThe domestic market was stable. "
            "Dy oxide rose to 1.63-1.64 million yuan/mt. Tb oxide stayed at 7.05 million yuan/t.")
    result = extractor.extract(text, default_date=date(2025, 1, 1))
    assert result.date == date(2025, 6, 11)
    assert [(q.product, q.sentence, q.date) for q in result.quotes] == [
        ("Dy-oxide", "Dy oxide rose to 1.63-1.64 million yuan/mt.", date(2025, 6, 11)),
        ("Tb-oxide", "Tb oxide stayed at 7.05 million yuan/t.", date(2025, 6, 11)),
    ]


@pytest.mark.parametrize("text, expected", [
    ("稀土日评 2025年6月12日", date(2025, 6, 12)),
    ("Published 2025-06-10 09:00", date(2025, 6, 10)),
    ("Rare earth market update on 11 June 2025", date(2025, 6, 11)),
    ("Sept. 3, 2025: market review", date(2025, 9, 3)),
    ("no date here, only 449,000 yuan/t", None),
    ("2025-02-30 is not a day", None),
])
def test_find_date(text, expected):
    assert find_date(text) == expected


def test_cli_extract_prints_json_quotes_with_the_given_date(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("Pr-Nd oxide fell to 444,000-446,000 yuan/mt. 氧化镝下滑1万元/吨至141万元/吨。", encoding="utf-8")
    result = CliRunner().invoke(main, ["extract", str(report), "--date", "2025-06-12"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"product": "PrNd-oxide", "low": 444000, "high": 446000, "unit": "yuan/t",
         "sentence": "Pr-Nd oxide fell to 444,000-446,000 yuan/mt.", "date": "2025-06-12"},
        {"product": "Dy-oxide", "low": 1410000, "high": 1410000, "unit": "yuan/t",
         "sentence": "氧化镝下滑1万元/吨至141万元/吨。", "date": "2025-06-12"},
    ]


def test_cli_extract_files_neodymium_praseodymium_under_the_pair():
    result = CliRunner().invoke(main, ["extract", "-"],
                                input="Neodymium-praseodymium oxide export prices were $53-55 per kg.\n")
    assert result.exit_code == 0, result.output
    assert [(q["product"], q["low"], q["high"], q["unit"]) for q in json.loads(result.stdout)] == [
        ("PrNd-oxide", 53, 55, "usd/kg")]


def test_cli_extract_reads_stdin_and_reports_what_it_did_not_understand():
    result = CliRunner().invoke(main, ["extract", "-", "--verbose"],
                                input="PrNd and Dy oxide traded at 449,000 yuan/t.\nNd oxide at $70/kg.\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"product": "Nd-oxide", "low": 70, "high": 70, "unit": "usd/kg",
                                          "sentence": "Nd oxide at $70/kg."}]
    assert "not understood: 449,000 yuan/t" in result.stderr
    assert "one price for several products (PrNd-oxide, Dy-oxide)" in result.stderr


def test_cli_extract_refuses_a_bad_date(tmp_path):
    result = CliRunner().invoke(main, ["extract", "-", "--date", "11/06/2025"], input="x")
    assert result.exit_code == 2
    assert "--date" in result.stderr


def test_cli_extract_reads_a_gbk_file(tmp_path):
    report = tmp_path / "cn.txt"
    report.write_bytes("稀土日评 2025年6月12日\n氧化镝价格为164万元/吨。".encode("gbk"))
    result = CliRunner().invoke(main, ["extract", str(report)])
    assert result.exit_code == 0, result.output
    assert [(q["product"], q["low"], q["date"]) for q in json.loads(result.stdout)] == [
        ("Dy-oxide", 1640000, "2025-06-12")]
