"""The /m/ pages in a real headless chromium at 360 px: no horizontal scroll, no word broken over lines,
no line of a single character (element boxes measured, not screenshots alone), dark mode readable."""
from __future__ import annotations

import pytest

from served import served_url
from test_admin_browser import ARTIFACTS, browser, live_server  # noqa: F401 - fixtures

# Every text element's lines: a range per line of its text; a product name must be on one line.
MEASURE = """() => {
  const out = {scroll: document.documentElement.scrollWidth, width: window.innerWidth, names: [], lines: []};
  for (const el of document.querySelectorAll('.name')) {
    const rects = Array.from(el.getClientRects());
    out.names.push({text: el.textContent, lines: new Set(rects.map(r => Math.round(r.top))).size,
                    right: Math.max(...rects.map(r => r.right))});
  }
  // The characters of each line box: grouped by the block (or grid cell) they flow in and their top.
  const blockOf = el => { while (el && getComputedStyle(el).display === 'inline') el = el.parentElement; return el; };
  const blocks = new Map(), range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent;
    if (!text.trim() || node.parentElement.closest('title,style,svg')) continue;
    const block = blockOf(node.parentElement);
    if (!blocks.has(block)) blocks.set(block, new Map());
    const tops = blocks.get(block);
    for (let i = 0; i < text.length; i++) {
      if (!text[i].trim()) continue;
      range.setStart(node, i); range.setEnd(node, i + 1);
      const r = range.getBoundingClientRect();
      if (!r.width) continue;
      const top = Math.round(r.top / 4);  // glyphs of one line differ in top by a pixel or two
      tops.set(top, (tops.get(top) || '') + text[i]);
    }
  }
  for (const tops of blocks.values()) for (const chars of tops.values()) out.lines.push(chars);
  return out;
}"""


@pytest.mark.parametrize("path", ["/m/summary/2025-06-11?lang=zh", "/m/summary/2025-06-11?lang=en",
                                  "/m/price/PrNd?lang=zh", "/m/price/Tb-metal?lang=en", "/m/price/镝铁?lang=zh"])
def test_pages_fit_360_px_without_broken_names_or_one_character_lines(browser, live_server, path):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                      color_scheme=scheme)
        page = context.new_page()
        response = page.goto(live_server + path)
        assert response.status == 200
        found = page.evaluate(MEASURE)
        assert found["scroll"] <= found["width"] == 360  # no horizontal scroll
        assert found["names"], "product names are marked .name"
        for name in found["names"]:
            assert name["lines"] == 1 and name["right"] <= 360, name  # never 氧/化/镨/钕, never off screen
        single = [chars for chars in found["lines"] if len(chars) == 1 and chars not in "0123456789–·•"]
        assert not single, f"lines of one character: {single}"
        if scheme == "dark":  # the text is light on a dark background, not black on black
            colour, background = page.evaluate("""() => [getComputedStyle(document.body).color,
                                                        getComputedStyle(document.querySelector('main')).backgroundColor]""")
            assert colour != background and background != "rgb(255, 255, 255)"
        name = path.strip("/").replace("/", "-").replace("?lang=", "-")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{scheme}.png"), full_page=True)
        context.close()


@pytest.fixture
def monday_server(make_app):
    """The app on a live server whose clock reads Monday 2025-06-16 09:00: no quote yet that day."""
    from datetime import datetime

    from conftest import SHANGHAI

    app = make_app(clock=lambda: datetime(2025, 6, 16, 9, 0, tzinfo=SHANGHAI))
    with served_url(app) as base:
        yield base


def test_a_stale_day_shows_one_banner_not_a_tag_per_row(browser, monday_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(monday_server + "/m/summary/2025-06-16?lang=zh")
    assert page.inner_text(".banner") == "今日暂无新报价，以下为6月11日报价。"
    assert page.locator(".rows li").count() == 5 and "6月11日" not in page.inner_text(".rows")
    context.close()
