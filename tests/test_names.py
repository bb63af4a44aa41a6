"""The one product-name matcher (bot/market/names.py) shared by the extractor and the chat parser."""
import pytest

from bot.demo import load_catalog
from bot.market.catalog import Catalog
from bot.market.names import ProductNames, element


@pytest.fixture(scope="module")
def catalog():
    return Catalog.from_entries(load_catalog())


def codes(names, text):
    return [m.code for m in names.mentions(text)]


def test_the_longest_spelling_wins_in_either_order(catalog):
    names = ProductNames(catalog)
    assert codes(names, "neodymium-praseodymium oxide at $53-55 per kg") == ["PrNd-oxide"]
    assert codes(names, "praseodymium-neodymium oxide and praseodymium oxide") == ["PrNd-oxide", "Pr-oxide"]
    assert codes(names, "cerium-lanthanum metal") == ["LaCe-metal"]
    assert codes(names, "氧化镨钕和氧化镨") == ["PrNd-oxide", "Pr-oxide"]
    assert codes(names, "dysprosium-iron alloy") == ["DyFe"]


def test_magnets_are_not_the_metal(catalog):
    names = ProductNames(catalog, strict=False)
    assert codes(names, "钕铁硼价格") == []
    assert codes(names, "NdFeB magnets") == []
    assert codes(names, "ndfeb") == []


def test_symbols_keep_their_case_in_reports_but_not_in_chat(catalog):
    assert codes(ProductNames(catalog), "TB and DY rose") == []
    assert codes(ProductNames(catalog, strict=False), "TB and DY rose") == ["Tb-oxide", "Dy-oxide"]
    assert codes(ProductNames(catalog, strict=False), "price pricey prnd") == ["PrNd-oxide"]


def test_every_spelling_of_the_catalog_names_its_product_in_chat(catalog):
    names = ProductNames(catalog, strict=False)
    for entry in load_catalog():
        for name in [entry["code"], entry["en"], entry["zh"], *entry["aliases"]]:
            assert codes(names, f"{name} ?") == [entry["code"]], name


def test_element_groups_oxide_metal_and_iron_alloy():
    assert element("Dy-oxide") == element("Dy-metal") == element("DyFe") == "Dy"
    assert element("PrNd-oxide") == "PrNd" != element("Pr-oxide")
