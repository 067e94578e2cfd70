"""The three multi-symbol pages in chromium: each loads with its charts and no exception, a cold
scan shows a progress bar and completes, and the CSV export downloads a well-formed file."""

from __future__ import annotations

import io
import pathlib
import re

import pandas as pd
import pytest

from core.analytics import bias_score, command_center, whale_flows
from tests.browser.conftest import (SERVER_LOG, open_page, running_server, screenshot, url_for,
                                     wait_idle)

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
PROGRESS = '[data-testid="stProgress"]'
SCAN_PAGES = ("pages/1_Command_Center.py", "pages/2_Trading_Dashboard.py",
              "pages/7_Whale_Flows.py")
# symbols no other browser test scans, so the scan below starts cold on the shared server
COLD_WATCHLIST = "KO,PEP,CVX,WFC,MRK,PFE,ABBV,LLY,CAT,DE"


SMALL_WATCHLIST = "AAPL,SPY,NVDA"
SCAN_TIMEOUT_MS = 150_000  # a cold scan on a busy 2-core machine


@pytest.mark.parametrize("path", SCAN_PAGES)
def test_scan_page_loads_with_charts(page, server, path):
    page.set_default_timeout(SCAN_TIMEOUT_MS)
    open_page(page, server, path, f"wl={SMALL_WATCHLIST}")
    page.wait_for_selector(CHART)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(CHART).count() >= (3 if "Trading" in path else 1)
    assert page.locator(PROGRESS).count() == 0  # the scan finished before the run ended
    screenshot(page, "scan-" + path.removeprefix("pages/").removesuffix(".py"))


GATED_SERVE = str(pathlib.Path(__file__).with_name("gated_serve.py"))


@pytest.fixture
def gated_server(tmp_path):
    """A server of its own whose provider holds every call for COLD_WATCHLIST's symbols until
    the gate file exists (tests/browser/gated_serve.py): the cold scan is still running when
    the test looks, whatever the machine's speed."""
    gate = tmp_path / "gate"
    with running_server(entry=[GATED_SERVE], log_path=SERVER_LOG.with_name("gated-server.log"),
                        TEST_GATE_SYMBOLS=COLD_WATCHLIST, TEST_GATE_FILE=str(gate)) as base:
        yield base, gate


def test_a_cold_scan_shows_progress_then_its_cards(page, gated_server):
    base, gate = gated_server
    page.set_default_timeout(SCAN_TIMEOUT_MS)
    page.goto(url_for(base, "pages/1_Command_Center.py", f"wl={COLD_WATCHLIST}"))
    # the scan cannot finish while the gate is shut: its progress bar is on the page
    bar = page.locator(PROGRESS)
    bar.wait_for()
    assert bar.inner_text().strip().startswith("Scanning 10 watchlist symbols"), bar.inner_text()
    assert page.locator(CHART).count() == 0
    gate.touch()  # let the upstream answer
    wait_idle(page)
    page.wait_for_selector(CHART)
    assert page.locator(PROGRESS).count() == 0  # gone once the scan completed
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().strip() == "10 / 10"
    assert page.locator(CHART).count() >= 1 + 9  # the score chart and the cards


def _download(page) -> pd.DataFrame:
    """Click the page's (single) CSV button and parse what the browser saved."""
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Download CSV")).click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), "rb") as fh:
        raw = fh.read()
    return pd.read_csv(io.BytesIO(raw))


def test_csv_exports_are_well_formed(page, server):
    page.set_default_timeout(SCAN_TIMEOUT_MS)
    open_page(page, server, "pages/1_Command_Center.py", f"wl={COLD_WATCHLIST}")
    page.wait_for_selector(CHART)
    table = _download(page)
    assert list(table.columns) == command_center.COMMAND_COLUMNS
    assert set(table["symbol"]) == set(COLD_WATCHLIST.split(","))
    assert table["score"].between(0, 100).all()
    assert set(table["band"]) <= set(bias_score.BANDS)

    open_page(page, server, "pages/7_Whale_Flows.py")
    page.wait_for_selector(CHART)
    whales = _download(page)
    assert list(whales.columns) == whale_flows.WHALE_COLUMNS
    assert len(whales) > 0 and whales["whale_score"].is_monotonic_decreasing
    assert set(whales["type"]) <= {"call", "put"}
