"""The real app in chromium: every page renders with the banner and a chart, the page links
work, the memory panel toggles and shows live numbers, the watchlist survives a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.ui import layout
from tests.browser.conftest import BANNER, open_page, screenshot, url_for, wait_idle

pytestmark = pytest.mark.browser

ALL_PATHS = ("Home.py", *(p.path for p in layout.PAGES))
EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
PANEL = ".st-key-od-memory-panel"


def _metric(tab, label: str) -> str:
    """The value of the st.metric labelled ``label``."""
    box = tab.locator('[data-testid="stMetric"]').filter(
        has=tab.locator('[data-testid="stMetricLabel"]', has_text=label)).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


@pytest.mark.parametrize("path", ALL_PATHS)
def test_page_renders_with_banner_and_chart(page, server, path):
    open_page(page, server, path)
    page.wait_for_selector(CHART)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.locator(BANNER)).to_contain_text("SIMULATED MARKET — not real quotes")
    expect(page.get_by_text(re.compile(r"as of \d\d:\d\d:\d\d ET")).first).to_be_visible()
    screenshot(page, pathlib_name(path))


def pathlib_name(path: str) -> str:
    return path.removeprefix("pages/").removesuffix(".py")


def test_home_links_point_at_every_page_and_work(page, server):
    open_page(page, server, "Home.py")
    links = page.locator('[data-testid="stMain"] a[data-testid="stPageLink-NavLink"]')
    expect(links).to_have_count(len(layout.PAGES))
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert [h.split("?")[0].strip("/") for h in hrefs] == [
        url_for(server, p.path).removeprefix(server + "/") for p in layout.PAGES]
    target = layout.PAGES[3]
    links.get_by_text(target.title, exact=True).click()
    page.wait_for_url(url_for(server, target.path) + "*")
    wait_idle(page)
    page.wait_for_selector(CHART)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_role("heading", name=target.title)).to_be_visible()


def test_memory_panel_toggles_and_its_numbers_move(page, server):
    open_page(page, server, "Home.py")
    assert page.locator(PANEL).count() == 0
    page.locator('[data-testid="stSidebar"]').get_by_text("Memory debug panel").click()
    page.wait_for_selector(PANEL)
    wait_idle(page)
    assert "debug=memory" in page.url
    rss = _metric(page, "Process RSS")
    assert re.fullmatch(r"[\d,]+ MB", rss) and int(rss.split()[0].replace(",", "")) > 20
    assert int(_metric(page, "Active sessions")) >= 1
    assert re.fullmatch(r"[\d.,]+ KB", _metric(page, "This session's state"))
    calls_before = int(_metric(page, "Upstream calls").replace(",", ""))
    screenshot(page, "Home-memory-panel")
    # another page (a new session from the bookmarked URL), on a symbol no test has fetched:
    # the panel's counters move
    open_page(page, server, "pages/4_Option_Volume_Walls.py", "debug=memory")
    page.wait_for_selector(PANEL)
    symbol = page.get_by_role("textbox", name="Symbol", exact=True)
    symbol.fill("AMD")
    symbol.press("Enter")
    page.locator(f"{CHART} .gtitle", has_text="AMD").first.wait_for()
    wait_idle(page)
    assert int(_metric(page, "Upstream calls").replace(",", "")) > calls_before
    assert page.locator(f"{PANEL} [data-testid='stDataFrame']").count() == 1
    assert page.get_by_role("button", name="Clear all caches").count() == 0  # operator only
    page.locator('[data-testid="stSidebar"]').get_by_text("Memory debug panel").click()
    page.wait_for_selector(PANEL, state="detached")
    assert "debug=memory" not in page.url


def test_watchlist_survives_a_reload(page, server):
    open_page(page, server, "Home.py")
    page.get_by_text("Watchlist", exact=True).click()
    box = page.locator('[data-testid="stTextArea"] textarea')
    box.fill("tsla, amd ^spx")
    page.get_by_role("button", name="Save watchlist").click()
    page.wait_for_url(re.compile(r".*[?&]wl=TSLA%2CAMD%2C%5ESPX.*|.*[?&]wl=TSLA,AMD,\^SPX.*"))
    wait_idle(page)
    page.reload()
    wait_idle(page)
    assert "wl=" in page.url
    page.get_by_text("Watchlist", exact=True).click()
    expect(page.locator('[data-testid="stTextArea"] textarea')).to_have_value("TSLA AMD ^SPX")
    expect(page.get_by_text("Watchlist (3/30 symbols)")).to_have_count(1)
    # a bookmark opened in a fresh browser context (a new session) restores it too
    fresh = page.context.browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        tab = fresh.new_page()
        tab.goto(page.url)
        wait_idle(tab)
        tab.get_by_text("Watchlist", exact=True).click()
        expect(tab.locator('[data-testid="stTextArea"] textarea')).to_have_value("TSLA AMD ^SPX")
    finally:
        fresh.close()
