"""The Walls and Finder pages in chromium: they load with their charts and no exception, and a
quick symbol button switches every chart to the new symbol."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_page, screenshot, wait_idle

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
TITLE = f"{CHART} .gtitle"


def _titles(tab) -> list[str]:
    return [t.strip() for t in tab.locator(TITLE).all_text_contents()]


def _switch(tab, symbol: str, charts: int) -> None:
    tab.get_by_role("button", name=symbol, exact=True).click()
    tab.locator(TITLE, has_text=f"{symbol} ·").first.wait_for()
    wait_idle(tab)
    tab.wait_for_function(
        """([sel, sym, n]) => {
            const t = [...document.querySelectorAll(sel)].map(e => e.textContent);
            return t.length >= n && t.every(x => x.startsWith(sym + " ·"));
        }""", arg=[TITLE, symbol, charts])


def test_walls_page_loads_and_a_quick_button_switches_symbol(page, server):
    open_page(page, server, "pages/4_Option_Volume_Walls.py")
    page.wait_for_selector(CHART)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(CHART).count() >= 5
    titles = _titles(page)
    assert any("volume walls" in t for t in titles) and any("5-min bars" in t for t in titles)
    assert page.get_by_text("Call wall (volume)").count() >= 1
    screenshot(page, "Option_Volume_Walls-SPY")
    _switch(page, "NVDA", 5)
    assert page.locator(EXCEPTION).count() == 0
    assert all(t.startswith("NVDA ·") for t in _titles(page))
    screenshot(page, "Option_Volume_Walls-NVDA")


def test_finder_page_loads_and_a_quick_button_switches_symbol(page, server):
    open_page(page, server, "pages/3_Stock_Option_Finder.py")
    page.wait_for_selector(CHART)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(CHART).count() >= 4
    assert page.get_by_text("Contracts matching the filters").count() == 1
    page.get_by_text("One shared scan for every session").wait_for(timeout=60_000)
    wait_idle(page)
    screenshot(page, "Stock_Option_Finder-SPY")
    _switch(page, "QQQ", 4)
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "Stock_Option_Finder-QQQ")
