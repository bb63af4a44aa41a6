"""Rendering: number formats, the byte limit, and the reply templates."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.messages import Article, ArticlesReply, Reply, TemplateReply
from bot.render import TEMPLATES, Renderer, fit_bytes, number, percent, signed, unit_label


@pytest.mark.parametrize("value, shown", [
    (449000, "449,000"), (Decimal("449000.00"), "449,000"), (1610000, "1,610,000"), (0, "0"), (-500, "-500"),
    (Decimal("8.5"), "8.5"), (8.5, "8.5"), (Decimal("1234.567"), "1,234.57"), (Decimal("100.10"), "100.1"),
    (Decimal("-0.001"), "0"), (None, "–"), (Decimal("547500.00"), "547,500"),
])
def test_number(value, shown):
    assert number(value) == shown


@pytest.mark.parametrize("value, shown", [
    (Decimal(1000), "+1,000"), (Decimal(-50000), "-50,000"), (Decimal(0), "0"), (Decimal("0.5"), "+0.5"),
    (None, "–"),
])
def test_signed(value, shown):
    assert signed(value) == shown


@pytest.mark.parametrize("value, shown", [
    (Decimal("0.2227"), "+0.22%"), (Decimal("-0.5714"), "-0.57%"), (Decimal(0), "0.00%"), (Decimal("2.02"), "+2.02%"),
    (Decimal("-0.001"), "0.00%"), (Decimal("0.004"), "0.00%"), (Decimal("12.345"), "+12.34%"), (None, "–"),
])
def test_percent(value, shown):
    assert percent(value) == shown


def test_unit_label():
    assert unit_label("yuan/t", "zh") == "元/吨"
    assert unit_label("yuan/kg", "zh") == "元/公斤"
    assert unit_label("usd/kg", "zh") == "美元/公斤"
    assert unit_label("yuan/t", "en") == "yuan/t"
    assert unit_label("lb", "zh") == "lb"


# --- fit_bytes -----------------------------------------------------------------------------------------------

def check_cut(text: str, limit: int) -> str:
    out = fit_bytes(text, limit)
    data = out.encode("utf-8")
    assert len(data) <= limit
    assert data.decode("utf-8") == out
    return out


def test_short_text_is_unchanged():
    assert fit_bytes("price PrNd", 2048) == "price PrNd"
    exact = "镨" * 682 + "ab"  # 2046 + 2 bytes
    assert len(exact.encode()) == 2048 and fit_bytes(exact, 2048) == exact


@pytest.mark.parametrize("text", ["镨钕" * 800, "a镨" * 600, "€" * 1000, "😀" * 600, "氧化镨钕ab" * 200])
def test_multibyte_text_is_never_cut_inside_a_character(text):
    for limit in range(2040, 2049):
        out = check_cut(text, limit)
        assert out.endswith("…")
        assert text.startswith(out[:-1])
        # As much as fits: one more character would not.
        assert len(out.encode()) > limit - 3 - len(text[len(out) - 1].encode())


def test_cut_at_a_multibyte_boundary():
    text = "a" + "镨" * 10  # 1 + 30 bytes
    assert fit_bytes(text, 9) == "a镨…"  # 1 + 3 + 3 = 7 bytes; a second 镨 would make 10
    assert fit_bytes(text, 10) == "a镨镨…"  # exactly 10
    assert fit_bytes(text, 12) == "a镨镨…"  # 11 and 12 cannot hold a third 镨
    assert fit_bytes(text, 13) == "a镨镨镨…"  # 1 + 9 + 3 = 13


def test_cut_prefers_a_line_end():
    lines = [f"{i:02d} 氧化镨钕：449,000 元/吨" for i in range(200)]
    out = check_cut("\n".join(lines), 2048)
    assert out.endswith("\n…")
    kept = out[:-2].split("\n")
    assert kept == lines[: len(kept)] and len(kept) > 50


def test_one_long_line_is_cut_in_the_line():
    out = check_cut("x" * 100 + "\n" + "y" * 5000, 2048)
    assert out.startswith("x" * 100 + "\ny") and out.endswith("y…")


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4])
def test_tiny_limits(limit):
    out = check_cut("镨钕镨钕", limit)
    assert "镨钕镨钕".startswith(out.rstrip("…"))


# --- templates and Renderer ----------------------------------------------------------------------------------

def test_every_reply_template_exists_in_both_languages():
    names = {p.name for p in (TEMPLATES / "replies").glob("*.j2") if not p.name.startswith("_")}
    stems = {re.sub(r"\.(en|zh)\.j2$", "", n) for n in names}
    assert stems >= {"price", "price_table", "news", "news_none", "summary", "subscribed", "unsubscribed",
                     "unfollowed", "my", "help", "help_command", "unknown", "unknown_product", "unknown_menu",
                     "empty", "error", "welcome", "no_quote"}
    for stem in stems:
        assert {f"{stem}.en.j2", f"{stem}.zh.j2"} <= names, stem


def test_render_template_reply():
    renderer = Renderer()
    reply = renderer.render(TemplateReply("unknown", {"suggestion": "price PrNd-oxide"}), "en", 2048)
    assert reply.text.splitlines() == ["Sorry, I did not understand that. Did you mean: price PrNd-oxide?",
                                       "Type help for the commands."]
    assert not reply.articles
    zh = renderer.render(TemplateReply("unknown", {"suggestion": None}), "zh", 2048)
    assert zh.text == "抱歉，没有理解您的意思。\n发送“帮助”查看全部命令。"


def test_render_keeps_the_byte_limit():
    renderer = Renderer()
    reply = renderer.render(TemplateReply("news_none", {"keyword": "镨" * 1000}), "zh", 100)
    assert len(reply.text.encode()) <= 100 and reply.text.endswith("…")


def test_render_articles_at_most_eight():
    articles = tuple(Article(f"title {i}", "d", f"https://example.com/{i}") for i in range(12))
    reply = Renderer().render(ArticlesReply(articles, "news", {"keyword": ""}), "en", 2048)
    assert reply.articles == articles[:8]
    assert "https://example.com/7" in reply.text and "https://example.com/8" not in reply.text


def test_render_passes_replies_and_nothing_through():
    renderer = Renderer()
    assert renderer.render(Reply(text="as is"), "en", 2048) == Reply(text="as is")
    assert renderer.render(None, "zh", 2048).empty


def test_missing_template_data_is_an_error():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        Renderer().text("unknown", "en")
