"""core.ui.figures: a live page's figures are built once per data version and shared by every
session (counted builds, never times), rebuilt when a source changes, and show exactly what a
freshly built figure shows."""

from __future__ import annotations

import collections

import plotly.io as pio
import pytest

from core import clock, config, fetch
from core.analytics import levels, zero_dte
from core.ui import charts, charts_0dte, charts_scan, figures
from tests.test_fetch import wait_idle
from tests.ui.apptest import assert_page_ok, plotly_charts, run_page

KINDS = ("spot", "zero_gamma", "max_pain")


def _spy():
    expiry = zero_dte.choose_expiry(fetch.expirations("SPY"), clock.market_status()).expiry
    fetch.chain("SPY", expiry)  # loaded; the next read makes the cached chain live
    return expiry, fetch.chain("SPY", expiry), fetch.key_levels("SPY", expiry)


@pytest.fixture
def builds(monkeypatch):
    """How many times each chart builder ran (the real builders, counted)."""
    counts: collections.Counter = collections.Counter()

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    counted(charts_0dte, "compact_strike_bars")
    counted(charts_0dte, "price_volume_gex")
    counted(charts_scan, "intraday_chart")
    counted(charts, "net_bars")
    counted(charts, "heatmap")
    return counts


def test_one_figure_per_chain_version_then_a_new_one_when_the_chain_refreshes(upstream, builds):
    expiry, chain, kl = _spy()
    first = figures.volume_column(chain, kl, KINDS, title="SPY · volume by strike")
    again = figures.volume_column(fetch.chain("SPY", expiry), fetch.key_levels("SPY", expiry),
                                  KINDS, title="SPY · volume by strike")
    assert again is first and builds["compact_strike_bars"] == 1
    # another title (or level set) is another figure, the same chain's
    figures.volume_column(chain, kl, KINDS[:2], title="SPY · volume by strike")
    assert builds["compact_strike_bars"] == 2

    clock.advance(config.settings().ttl_chain_near + 1)  # the market moves: a new version
    fetch.chain("SPY", expiry)
    wait_idle()
    chain2 = fetch.chain("SPY", expiry)
    assert chain2.as_of > chain.as_of
    # the refresh built the new version's figures (both were read on the old one) before
    # readers saw it: nobody waits for them, and asking builds nothing more
    assert builds["compact_strike_bars"] == 4
    fresh = figures.volume_column(chain2, fetch.key_levels("SPY", expiry), KINDS,
                                  title="SPY · volume by strike")
    assert fresh is not first and builds["compact_strike_bars"] == 4


def test_a_shared_figure_shows_what_a_freshly_built_one_shows(upstream):
    _, chain, kl = _spy()
    shared = figures.volume_column(chain, kl, KINDS, title="SPY · volume by strike")
    table = levels.by_strike(chain.frame)
    built = charts_0dte.compact_strike_bars(table["strike"], table["call_volume"],
                                            table["put_volume"], title="SPY · volume by strike",
                                            levels=charts.key_level_lines(kl, KINDS))
    assert isinstance(shared, figures.SharedFigure)
    assert pio.to_json(shared, validate=False) == pio.to_json(built, validate=False)
    assert shared.to_dict() is shared.to_dict()  # no deep copy per run


def test_bars_are_versioned_by_content(upstream, builds):
    expiry, chain, kl = _spy()
    bars = fetch.history("SPY", "1d", "5m")
    assert fetch.Content(bars).key == fetch.Content(bars.copy()).key
    first = figures.index_chart(chain, kl, bars, KINDS, title="SPY")
    assert figures.index_chart(chain, kl, bars.copy(), KINDS, title="SPY") is first
    changed = bars.copy()
    changed.iloc[-1, changed.columns.get_loc("close")] += 0.01  # the last bar ticks
    assert fetch.Content(changed).key != fetch.Content(bars).key
    assert figures.index_chart(chain, kl, changed, KINDS, title="SPY") is not first
    assert builds["price_volume_gex"] == 2


def test_sessions_on_the_live_pages_share_one_build_per_figure(builds):
    """Two sessions (two AppTests) on each live page: the second builds no figure."""
    for page, charts_shown in (("pages/5_0DTE.py", 4), ("pages/6_0DTE_by_Index.py", 1),
                               ("pages/2_Trading_Dashboard.py", 3)):
        first = run_page(page)
        assert_page_ok(first, charts=charts_shown)
        before = sum(builds.values())
        second = run_page(page)
        assert_page_ok(second, charts=charts_shown)
        assert sum(builds.values()) == before, page  # nothing rebuilt for the same versions
        assert plotly_charts(second) == plotly_charts(first)
    assert builds["compact_strike_bars"] == 4 and builds["price_volume_gex"] == 1
    assert builds["intraday_chart"] == builds["net_bars"] == builds["heatmap"] == 1
