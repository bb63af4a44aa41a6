"""The product catalog: every spelling a trader types resolves to one product."""
from __future__ import annotations

import pytest

from bot.demo import load_catalog
from bot.market.catalog import Catalog, fold

# Every name in the catalog table of shared/docs/market.md, with the product it means.
MARKET_MD = [
    # PrNd-oxide: praseodymium-neodymium oxide | 氧化镨钕 / 镨钕氧化物 | PrNd, NdPr, Pr-Nd, 镨钕
    ("praseodymium-neodymium oxide", "PrNd-oxide"), ("氧化镨钕", "PrNd-oxide"), ("镨钕氧化物", "PrNd-oxide"),
    ("PrNd", "PrNd-oxide"), ("NdPr", "PrNd-oxide"), ("Pr-Nd", "PrNd-oxide"), ("镨钕", "PrNd-oxide"),
    # PrNd-metal: Pr-Nd metal / alloy | 镨钕金属 / 金属镨钕 | PrNd metal
    ("Pr-Nd metal", "PrNd-metal"), ("Pr-Nd alloy", "PrNd-metal"), ("镨钕金属", "PrNd-metal"),
    ("金属镨钕", "PrNd-metal"), ("PrNd metal", "PrNd-metal"),
    # Nd-oxide / Nd-metal: neodymium oxide / metal | 氧化钕 / 金属钕 | Nd
    ("neodymium oxide", "Nd-oxide"), ("neodymium metal", "Nd-metal"), ("氧化钕", "Nd-oxide"),
    ("金属钕", "Nd-metal"), ("Nd", "Nd-oxide"),
    # Pr-oxide / Pr-metal
    ("praseodymium oxide", "Pr-oxide"), ("praseodymium metal", "Pr-metal"), ("氧化镨", "Pr-oxide"),
    ("金属镨", "Pr-metal"), ("Pr", "Pr-oxide"),
    # Dy-oxide / Dy-metal
    ("dysprosium oxide", "Dy-oxide"), ("dysprosium metal", "Dy-metal"), ("氧化镝", "Dy-oxide"),
    ("金属镝", "Dy-metal"), ("Dy", "Dy-oxide"),
    # DyFe: dysprosium-iron alloy | 镝铁合金 | Dy-Fe
    ("dysprosium-iron alloy", "DyFe"), ("镝铁合金", "DyFe"), ("Dy-Fe", "DyFe"),
    # Tb-oxide / Tb-metal
    ("terbium oxide", "Tb-oxide"), ("terbium metal", "Tb-metal"), ("氧化铽", "Tb-oxide"), ("金属铽", "Tb-metal"),
    ("Tb", "Tb-oxide"),
    # Gd-oxide / GdFe: gadolinium oxide / Gd-Fe alloy | 氧化钆 / 钆铁合金 | Gd
    ("gadolinium oxide", "Gd-oxide"), ("Gd-Fe alloy", "GdFe"), ("氧化钆", "Gd-oxide"), ("钆铁合金", "GdFe"),
    ("Gd", "Gd-oxide"),
    # Ho-oxide / HoFe
    ("holmium oxide", "Ho-oxide"), ("Ho-Fe alloy", "HoFe"), ("氧化钬", "Ho-oxide"), ("钬铁合金", "HoFe"),
    ("Ho", "Ho-oxide"),
    # Er-oxide
    ("erbium oxide", "Er-oxide"), ("氧化铒", "Er-oxide"), ("Er", "Er-oxide"),
    # La-oxide, Ce-oxide, LaCe-metal
    ("lanthanum oxide", "La-oxide"), ("cerium oxide", "Ce-oxide"), ("La-Ce metal", "LaCe-metal"),
    ("氧化镧", "La-oxide"), ("氧化铈", "Ce-oxide"), ("镧铈金属", "LaCe-metal"), ("La", "La-oxide"), ("Ce", "Ce-oxide"),
    # Y, Sm, Eu, Lu, Yb oxides
    ("氧化钇", "Y-oxide"), ("氧化钐", "Sm-oxide"), ("氧化铕", "Eu-oxide"), ("氧化镥", "Lu-oxide"), ("氧化镱", "Yb-oxide"),
    # RE-carbonate, monazite
    ("rare earth carbonate", "RE-carbonate"), ("monazite", "monazite"), ("碳酸稀土", "RE-carbonate"),
    ("独居石", "monazite"),
]


@pytest.fixture
def catalog(bot) -> Catalog:
    """The catalog as the bot reads it from the demo database."""
    return bot.catalog()


@pytest.mark.parametrize("name, code", MARKET_MD)
def test_every_name_in_market_md_resolves(catalog, name, code):
    assert catalog.resolve(name).code == code


@pytest.mark.parametrize("name, code", MARKET_MD)
def test_case_hyphens_spaces_and_full_width_do_not_matter(catalog, name, code):
    wide = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in name)  # ASCII -> full width
    for variant in (name.upper(), name.lower(), name.replace("-", " "), name.replace("-", ""), wide,
                    f"  {name}  "):
        product = catalog.resolve(variant)
        assert product is not None and product.code == code, variant


def test_every_catalog_name_resolves_to_its_own_product(catalog):
    for entry in load_catalog():
        for name in (entry["code"], entry["en"], entry["zh"], entry["short_en"], *entry["aliases"]):
            assert catalog.resolve(name).code == entry["code"], name


def test_prnd_alone_is_the_oxide(catalog):
    for name in ("PrNd", "prnd", "NDPR", "pr nd", "Nd-Pr", "镨钕"):
        assert catalog.resolve(name).code == "PrNd-oxide", name


@pytest.mark.parametrize("name, code", [
    ("PrNd metal", "PrNd-metal"), ("metal PrNd", "PrNd-metal"), ("PrNd alloy", "PrNd-metal"),
    ("NdPr metal", "PrNd-metal"), ("镨钕 金属", "PrNd-metal"), ("Dy metal", "Dy-metal"), ("metal Dy", "Dy-metal"),
    ("dy-metal", "Dy-metal"), ("镝金属", "Dy-metal"), ("金属 镝", "Dy-metal"), ("Tb metal", "Tb-metal"),
    ("铽金属", "Tb-metal"), ("Nd metal", "Nd-metal"), ("Pr metal", "Pr-metal"), ("LaCe", "LaCe-metal"),
    ("Dy oxide", "Dy-oxide"), ("氧化 镝", "Dy-oxide"), ("PrNd oxide", "PrNd-oxide"),
])
def test_metal_and_oxide_forms(catalog, name, code):
    assert catalog.resolve(name).code == code


@pytest.mark.parametrize("name", ["", "   ", "metal", "oxide", "金属", "xyz", "PrNdd", "Er metal", "iron",
                                  "price PrNd", "镨钕钕"])
def test_unknown_names_resolve_to_nothing(catalog, name):
    assert catalog.resolve(name) is None


@pytest.mark.parametrize("typo, code", [("PrNdd", "PrNd-oxide"), ("prdn", "PrNd-oxide"), ("Dyy", "Dy-oxide"),
                                        ("dysprosum", "Dy-oxide"), ("terbum metal", "Tb-metal"),
                                        ("镨钕钕", "PrNd-oxide"), ("monazit", "monazite")])
def test_suggest_the_closest_product(catalog, typo, code):
    assert [p.code for p in catalog.suggest(typo)] == [code]


def test_suggest_nothing_for_nonsense(catalog):
    assert catalog.suggest("qqqqqq") == []
    assert catalog.suggest("") == []


def test_suggest_several_distinct_products(catalog):
    found = catalog.suggest("Dy", limit=3)
    assert found[0].code == "Dy-oxide"
    assert len({p.code for p in found}) == len(found) <= 3


def test_display_names(catalog):
    prnd = catalog.by_code["PrNd-oxide"]
    assert (prnd.name("en"), prnd.name("zh")) == ("PrNd oxide", "氧化镨钕")
    assert [p.code for p in catalog.products][:3] == ["PrNd-oxide", "PrNd-metal", "Nd-oxide"]  # catalog order


def test_fold():
    assert fold("  Pr-Nd / Oxide ") == fold("prndoxide") == fold("ＰＲ－ＮＤ　ＯＸＩＤＥ") == "prndoxide"
    assert fold("镨钕（氧化物）") == "镨钕氧化物"
