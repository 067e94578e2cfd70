"""Figure builders of core.ui.history: data in, figure out."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.ui import history as history_ui


def test_level_history_chart_draws_open_with_its_expected_move_and_the_levels():
    table = pd.DataFrame({"session": [dt.date(2026, 11, 19), dt.date(2026, 11, 20)],
                          "open": [100.0, 101.0], "close": [101.0, 100.5],
                          "expected_move": [0.5, None], "call_wall_oi": [102.0, None],
                          "put_wall_oi": [95.0, 100.6], "zero_gamma": [99.0, 100.0]})
    fig = history_ui.level_history_chart(table, title="t")
    names = [t.name for t in fig.data]
    assert names == ["Open ± EM (1σ)", "Call wall (OI)", "Put wall (OI)", "Zero gamma", "Close"]
    em = fig.data[0]
    assert list(em.y) == [100.0, 101.0] and list(em.error_y.array)[0] == 0.5
    assert list(em.x) == ["19 Nov", "20 Nov"]


def test_iv_history_chart_in_percent_with_today():
    series = pd.DataFrame({"session": [dt.date(2026, 11, 19)], "iv": [0.2],
                           "snapshot": [pd.Timestamp("2026-11-19 21:15", tz="UTC")]})
    fig = history_ui.iv_history_chart(series, 0.25, title="t")
    assert list(fig.data[0].y) == [20.0] and list(fig.data[1].y) == [25.0]
    assert len(history_ui.iv_history_chart(series, None, title="t").data) == 1
