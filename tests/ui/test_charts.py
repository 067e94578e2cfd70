"""core.ui.charts: colours, mirrored bars, level lines with definitions, units in hover text."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from core.ui import charts


def _levels():
    return [charts.level("spot", 101.0), charts.level("zero_gamma", 99.5)]


def test_level_is_none_when_undefined():
    assert charts.level("max_pain", None) is None
    assert charts.level("max_pain", float("nan")) is None
    lv = charts.level("max_pain", 100)
    assert lv.name == "Max pain" and lv.value == 100.0 and "payoff" in lv.definition


def test_every_level_has_a_one_line_definition():
    for kind, (label, definition, color, dash) in charts.LEVELS.items():
        assert label and definition and "\n" not in definition, kind
        assert color.startswith("#") and dash


def test_key_level_lines_skips_missing_and_builds_the_em_band():
    @dataclasses.dataclass
    class KL:
        spot: float = 100.0
        zero_gamma: float | None = None
        max_pain: float | None = 98.0
        one_sigma_iv: float | None = 2.5

    lines = charts.key_level_lines(KL(), ("spot", "zero_gamma", "max_pain", "em_upper",
                                          "em_lower", "volume_pivot"))
    assert [(lv.name, lv.value) for lv in lines] == [
        ("Spot", 100.0), ("Max pain", 98.0), ("EM upper", 102.5), ("EM lower", 97.5)]


def test_level_notes_one_line_per_level():
    text = charts.level_notes(_levels())
    assert text.splitlines() == [
        "**Spot** 101.00 — last price of the underlying  ",
        "**Zero gamma** 99.50 — " + charts.LEVELS["zero_gamma"][1]]


def test_strike_bars_mirrors_puts_in_red_and_calls_in_green():
    fig = charts.strike_bars([99, 100, 101], [10, 20, 5], [7, 3, 0], title="t",
                             levels=_levels())
    call, put = fig.data[0], fig.data[1]
    assert call.marker.color == charts.CALL_COLOR and put.marker.color == charts.PUT_COLOR
    assert list(call.y) == [10, 20, 5]
    assert list(put.y) == [-7, -3, 0]           # mirrored below zero...
    assert list(put.customdata) == [7, 3, 0]    # ...but hover shows the amount
    assert "contracts" in call.hovertemplate and "%{customdata" in put.hovertemplate
    assert fig.layout.barmode == "relative"
    spot_line, zg_line = fig.data[2], fig.data[3]
    assert list(spot_line.x) == [101.0, 101.0]
    assert list(zg_line.y) == [-7.0, 20.0]  # spans the bars
    assert "changes sign" in zg_line.hovertemplate and zg_line.name == "Zero gamma"


def test_strike_bars_side_by_side():
    fig = charts.strike_bars([1, 2], [1, 2], [3, 4], title="t", mirrored=False,
                             measure="Open interest")
    assert list(fig.data[1].y) == [3, 4] and fig.layout.barmode == "group"
    assert fig.data[0].name == "Call open interest"


def test_net_bars_colour_by_sign_with_units():
    fig = charts.net_bars([1, 2, 3], [5e6, -2e6, 0.0], title="GEX")
    assert list(fig.data[0].marker.color) == [charts.CALL_COLOR, charts.PUT_COLOR,
                                              charts.CALL_COLOR]
    assert "$ per 1% move" in fig.data[0].hovertemplate


def test_heatmap_is_centred_on_zero_and_keeps_gaps():
    wide = pd.DataFrame({pd.Timestamp("2026-11-20").date(): [1.0, -3.0, np.nan],
                         pd.Timestamp("2026-11-27").date(): [2.0, 0.0, 0.5]},
                        index=[99.0, 100.0, 101.0])
    fig = charts.heatmap(wide, title="h", spot=100.2)
    hm = fig.data[0]
    assert hm.zmid == 0 and hm.zmin == -3 and hm.zmax == 3
    assert list(hm.x) == ["20 Nov 26", "27 Nov 26"]
    assert math.isnan(np.asarray(hm.z, dtype=float)[2][0])
    assert "$ per 1% move" in hm.hovertemplate
    assert fig.data[1].name == "Spot" and list(fig.data[1].y) == [100.2, 100.2]


def test_smile_in_percent():
    table = pd.DataFrame({"call": [0.20, 0.18], "put": [0.22, np.nan]}, index=[95.0, 100.0])
    fig = charts.smile(table, title="s", spot=98.0)
    assert list(fig.data[0].y) == pytest.approx([20.0, 18.0])
    assert fig.data[0].line.color == charts.CALL_COLOR
    assert fig.data[1].line.color == charts.PUT_COLOR
    assert "%" in fig.data[0].hovertemplate
    assert fig.data[2].name == "Spot"


def test_price_chart_candles_overlays_and_horizontal_levels():
    idx = pd.date_range("2026-11-02", periods=5, freq="B", tz="America/New_York")
    bars = pd.DataFrame({"open": [1, 2, 3, 4, 5], "high": [2, 3, 4, 5, 6],
                         "low": [0, 1, 2, 3, 4], "close": [2, 1, 4, 5, 5]}, index=idx,
                        dtype=float)
    fig = charts.price_chart(bars, title="p", levels=[charts.level("call_wall_oi", 5.5)],
                             overlays={"EMA21": bars["close"].rolling(2).mean()})
    candle, ema, wall = fig.data
    assert candle.increasing.line.color == charts.CALL_COLOR
    assert candle.decreasing.line.color == charts.PUT_COLOR
    assert ema.name == "EMA21"
    assert list(wall.y) == [5.5, 5.5] and wall.x[0] == idx[0] and wall.x[-1] == idx[-1]
    assert "call open interest" in wall.hovertemplate


def test_move_bars_band_markers_skip_missing():
    fig = charts.move_bars(["SPY", "QQQ"], [0.5, -1.2], [0.8, float("nan")], title="m")
    assert list(fig.data[0].marker.color) == [charts.CALL_COLOR, charts.PUT_COLOR]
    assert list(fig.data[1].x) == [0.8] and list(fig.data[2].x) == [-0.8]
    assert list(fig.data[1].y) == ["SPY"]
