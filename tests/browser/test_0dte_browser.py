"""The 0DTE pages in chromium: both load with their charts; the live fragment refreshes (its
"as of" time advances when the simulated market ticks) without a full page rerun; the pause
toggle stops it.

The refresh test starts its own server with 5 s TTLs (so ``run_every`` is 5 s) and a clock that
starts 15 s before a minute boundary, so the simulated market ticks soon after the page loads.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import SERVER_LOG, open_page, running_server, screenshot, wait_idle

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
AS_OF = re.compile(r"as of (\d\d:\d\d:\d\d) ET · (\d+ (?:s|min|h|d) old)")
LOADED = re.compile(r"page loaded (\d\d:\d\d:\d\d) ET")
FAST_TTL = 5
FAST_NOW = "2026-11-20T11:30:45-05:00"


@pytest.fixture(scope="module")
def fast_server():
    """The app with 5 s chain/quote TTLs (live sections refresh every 5 s)."""
    with running_server(FAST_NOW, log_path=SERVER_LOG.with_name("browser-server-0dte-fast.log"),
                        OPTIONS_DASH_TTL_CHAIN_NEAR=str(FAST_TTL),
                        OPTIONS_DASH_TTL_QUOTE=str(FAST_TTL)) as base:
        yield base


def _text(tab, pattern: re.Pattern) -> re.Match:
    """The first match of ``pattern`` in the main area's visible text."""
    found = pattern.search(tab.locator('[data-testid="stMain"]').inner_text())
    assert found, f"{pattern.pattern} not on the page"
    return found


def _wait_for(tab, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        tab.wait_for_timeout(500)
    return False


def test_0dte_page_loads_with_four_charts(page, server):
    open_page(page, server, "pages/5_0DTE.py")
    page.wait_for_selector(CHART)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(CHART).count() == 4
    for sym in ("SPY", "QQQ", "^SPX", "IWM"):
        assert page.locator(f"{CHART} .gtitle", has_text=f"{sym} · volume by strike").count() == 1
    assert page.get_by_text("Time to close").count() == 1
    assert page.get_by_text(AS_OF).count() == 5  # divergence section + one per column
    screenshot(page, "0DTE-browser")


def test_0dte_by_index_page_loads_with_its_chart_and_mag7(page, server):
    open_page(page, server, "pages/6_0DTE_by_Index.py")
    page.wait_for_selector(CHART)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(f"{CHART} .gtitle", has_text="SPY · price").count() == 1
    assert page.get_by_text("Key strikes", exact=True).count() == 1
    for sym in ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA"):
        assert page.locator('[data-testid="stMetricLabel"]', has_text=sym).count() == 1
    screenshot(page, "0DTE_by_Index-browser")


def test_fragment_refreshes_without_a_full_rerun_and_pause_stops_it(page, fast_server):
    open_page(page, fast_server, "pages/5_0DTE.py")
    page.wait_for_selector(CHART)
    # a widget outside the fragment gets a non-default value (a full rerun)
    page.get_by_role("button", name="Remove IWM").click()
    page.wait_for_function(f"document.querySelectorAll('{CHART}').length === 3")
    wait_idle(page)
    loaded = _text(page, LOADED).group(1)
    first_as_of = _text(page, AS_OF).group(1)
    # the simulated market ticks each minute; the fragment (every 5 s) must pick it up
    assert _wait_for(page, lambda: _text(page, AS_OF).group(1) != first_as_of, 120), \
        f"'as of {first_as_of}' never advanced"
    assert _text(page, LOADED).group(1) == loaded  # the part outside the fragment did not rerun
    chips = page.locator('[data-testid="stMultiSelect"] [data-tag]')
    assert chips.all_inner_texts() == ["SPY", "QQQ", "^SPX"]
    # a fragment rerun briefly shows its previous elements as stale beside the new ones: the
    # page must settle back to exactly the three selected indexes' charts
    page.wait_for_function(f"document.querySelectorAll('{CHART}').length === 3", timeout=20_000)
    assert page.locator(EXCEPTION).count() == 0
    # pause: the badge (whose age text changes on every refresh) stops changing
    page.get_by_text("Pause live refresh").click()
    page.get_by_text("Paused").wait_for()
    wait_idle(page)
    badge = _text(page, AS_OF).group(0)
    page.wait_for_timeout(3 * FAST_TTL * 1000)
    assert _text(page, AS_OF).group(0) == badge
    # resume: refreshing again
    page.get_by_text("Pause live refresh").click()
    page.get_by_text("Live").first.wait_for()
    wait_idle(page)
    resumed = _text(page, AS_OF).group(0)
    assert _wait_for(page, lambda: _text(page, AS_OF).group(0) != resumed, 6 * FAST_TTL)
