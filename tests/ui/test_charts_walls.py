"""core.ui.charts_walls: stacked wall bars add up to the strength score, intraday candles drop the
overnight gap and never join sessions, the term structure keeps a flat curve flat."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from core.analytics import walls
from core.ui import charts, charts_walls
from tests.analytics.chains import make_chain

E1, E2 = dt.date(2026, 1, 9), dt.date(2026, 1, 16)


def test_stacked_bars_add_up_to_the_strength_and_puts_hang_below_zero():
    frames = [make_chain([{"type": "call", "strike": 100, "open_interest": 50},
                          {"type": "call", "strike": 110, "open_interest": 100},
                          {"type": "put", "strike": 90, "open_interest": 40}], expiry=e)
              for e in (E1, E2)]
    stack = walls.stacked_walls(frames, 100.0, "oi")
    fig = charts_walls.stacked_walls(stack.layers, stack.expiries, title="t", kind_label="OI",
                                     unit="contracts", levels=[charts.level("spot", 100.0), None])
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == ["Calls 09 Jan", "Puts 09 Jan", "Calls 16 Jan", "Puts 16 Jan"]
    assert fig.layout.barmode == "relative"
    height = {}
    for b in bars:
        for x, y in zip(b.x, b.y):
            height[(b.legendgroup, x)] = height.get((b.legendgroup, x), 0.0) + y
    strength = stack.strength.set_index(["side", "strike"])["strength"]
    assert height[("call", 110.0)] == pytest.approx(strength[("call", 110.0)]) == 2.0
    assert height[("call", 100.0)] == pytest.approx(1.0)
    assert height[("put", 90.0)] == pytest.approx(-2.0)
    assert [t.name for t in fig.data if t.type == "scatter"] == ["Spot"]
    assert "this expiry's wall" in bars[0].hovertext[list(bars[0].x).index(110.0)]


def test_intraday_removes_the_overnight_gap_and_draws_the_overlay_per_session():
    idx = pd.DatetimeIndex(["2026-01-08 15:50", "2026-01-08 15:55", "2026-01-09 09:30",
                            "2026-01-09 09:35"]).tz_localize("America/New_York")
    bars = pd.DataFrame({"open": [1.0, 2, 3, 4], "high": [2.0, 3, 4, 5], "low": [0.5, 1, 2, 3],
                         "close": [2.0, 3, 4, 5], "volume": [10, 10, 10, 10]}, index=idx)
    vwap = pd.Series([1.5, 2.0, 3.5, 4.0], index=idx)
    fig = charts_walls.intraday(bars, title="t", levels=[charts.level("max_pain", 3.0)],
                                overlays={"VWAP": vwap})
    kinds = [t.type for t in fig.data]
    assert kinds == ["candlestick", "scatter", "scatter", "scatter"]
    day1, day2 = fig.data[1], fig.data[2]
    assert list(day1.y) == [1.5, 2.0] and list(day2.y) == [3.5, 4.0]
    assert day1.showlegend and not day2.showlegend
    assert fig.data[3].name == "Max pain" and list(fig.data[3].y) == [3.0, 3.0]
    breaks = fig.layout.xaxis.rangebreaks
    assert any(b.pattern == "hour" and tuple(b.bounds) == (16, 9.5) for b in breaks)
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0


def test_term_structure_keeps_a_flat_curve_flat():
    table = pd.DataFrame({"expiry": [E1, E2], "dte": pd.array([0, 7], dtype="Int64"),
                          "atm_iv": [0.2000, 0.2004]})
    fig = charts_walls.term_structure(table, title="t")
    assert list(fig.data[0].x) == ["09 Jan (0 DTE)", "16 Jan (7 DTE)"]
    np.testing.assert_allclose(fig.data[0].y, [20.0, 20.04])
    low, high = fig.layout.yaxis.range
    assert high - low == pytest.approx(2 * charts_walls.MIN_IV_SPAN)
    steep = table.assign(atm_iv=[0.20, 0.30])
    assert charts_walls.term_structure(steep, title="t").layout.yaxis.range is None


def test_band_levels_are_defined_lines_or_nothing():
    low, high = charts_walls.band_levels((95.0, 105.0))
    assert (low.value, high.value) == (95.0, 105.0)
    assert "70%" in low.definition and low.name == "Gamma band low"
    assert charts_walls.band_levels(None) == []
