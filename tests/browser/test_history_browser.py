"""History views in chromium: with simulated history the new views render; with none, each
says so plainly. Two real servers: one on a folder of simulated recordings, one on an empty one."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_page, running_server, screenshot
from tests.history.fixtures import write_history

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
TITLE = '[data-testid="stPlotlyChart"] .js-plotly-plot .gtitle'
QUERY = "wl=SPY,AAPL,NVDA"
NONE = "No recorded history for"


@pytest.fixture(scope="module")
def history_server(tmp_path_factory):
    folder = write_history(tmp_path_factory.mktemp("rec"))
    with running_server(OPTIONS_DASH_RECORD_DIR=str(folder)) as base:
        yield base


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    with running_server(OPTIONS_DASH_RECORD_DIR=str(tmp_path_factory.mktemp("empty"))) as base:
        yield base


def _titles(tab) -> list[str]:
    return [t.strip() for t in tab.locator(TITLE).all_text_contents()]


def test_dashboard_history_views_render_with_history(page, history_server):
    open_page(page, history_server, "pages/2_Trading_Dashboard.py", QUERY)
    page.get_by_text("Level history · last 10 sessions").wait_for()
    page.locator(TITLE, has_text="levels at the open vs the close").wait_for()
    assert page.locator(EXCEPTION).count() == 0
    titles = _titles(page)
    assert any(t.startswith("ΔOI (all)") for t in titles)
    assert any("30-day ATM IV by session" in t for t in titles)
    assert page.get_by_text("3 days of history").count() == 1
    assert page.get_by_text(NONE).count() == 0
    screenshot(page, "History-Trading_Dashboard")


def test_command_center_what_changed_with_history(page, history_server):
    open_page(page, history_server, "pages/1_Command_Center.py", QUERY)
    page.get_by_text("What changed · since the open / since yesterday").wait_for()
    page.get_by_text("1 symbols have no recording yet", exact=False).wait_for()
    assert page.locator(EXCEPTION).count() == 0


def test_each_view_says_so_without_history(page, empty_server):
    open_page(page, empty_server, "pages/2_Trading_Dashboard.py", QUERY)
    page.get_by_text("Level history · last 10 sessions").wait_for()
    assert page.locator(EXCEPTION).count() == 0
    assert page.get_by_text(NONE).count() == 3  # ΔOI, IV rank, level history
    assert not any(t.startswith("ΔOI") for t in _titles(page))
    screenshot(page, "History-Trading_Dashboard-none")
    open_page(page, empty_server, "pages/1_Command_Center.py", QUERY)
    page.get_by_text("No recorded history for the watchlist yet").wait_for()
    assert page.locator(EXCEPTION).count() == 0
