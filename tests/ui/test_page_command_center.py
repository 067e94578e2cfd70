"""Command Center page (AppTest): the watchlist scan renders on a trading day and a Saturday, the
inputs change what is shown, the scan is shared and cached, and only choices are in state."""

from __future__ import annotations

import datetime as dt

from core import clock
from core.ui import session
from tests.conftest import SATURDAY
from tests.ui.apptest import (
    assert_page_ok, exceptions, namespace_keys, page_key, plotly_charts, run_page, state_keys,
    texts,
)

PATH = "pages/1_Command_Center.py"
WL = "AAPL,SPY,XOM,^SPX"
SMALL = {"wl": WL}
ALLOWED_TYPES = (str, int, float, bool, tuple, list, dt.date, type(None))


def metric(at, label: str) -> str:
    return next(m.split(": ", 1)[1] for m in texts(at, "metric") if m.startswith(label + ": "))


def table(at):
    return at.dataframe[0].value


def upstream_total(provider) -> int:
    return sum(v for k, v in provider.calls.items() if isinstance(k, str))


def assert_only_choices_in_state(at) -> None:
    for key in state_keys(at):
        assert key.startswith(("g.", "p.command.", "FormSubmitter:")), key
        assert isinstance(at.session_state[key], ALLOWED_TYPES), (key, at.session_state[key])


def test_trading_day_scan_shows_summary_tabs_and_cards():
    at = run_page(PATH, query=SMALL)
    assert_page_ok(at, charts=5)  # the score chart + a card per symbol
    assert metric(at, "Symbols") == "4 / 4"
    counts = [int(metric(at, band)) for band in ("Bullish", "Neutral", "Bearish")]
    assert sum(counts) == 4
    t = table(at)
    assert set(t["symbol"]) == set(WL.split(","))
    assert t["score"].between(0, 100).all() and t["score"].is_monotonic_decreasing
    assert (t["expiry"] == dt.date(2026, 11, 20)).all()  # 0DTE: the nearest expiry on Friday
    assert [tab.label for tab in at.tabs] == ["All", "Top 10", "Bullish", "Bearish"]
    assert metric(at, "Average score") == f"{t['score'].mean():.1f}"
    captions = texts(at, "caption")
    assert any("no Reg SHO record" in c for c in captions)  # ^SPX: a cash index
    assert sum("Reg SHO, simulated" in c for c in captions) == 3
    assert [b.label for b in at.download_button] == ["Download CSV"]
    assert_only_choices_in_state(at)


def test_saturday_scans_the_next_expiry():
    with clock.frozen(SATURDAY):
        at = run_page(PATH, query=SMALL)
    assert_page_ok(at, charts=5)
    t = table(at).set_index("symbol")
    assert t.loc["SPY", "expiry"] == dt.date(2026, 11, 23)   # daily listing: Monday
    assert t.loc["AAPL", "expiry"] == dt.date(2026, 11, 27)  # weekly listing: next Friday
    assert not any("Scanning" in t for t in texts(at, "markdown"))


def test_filters_sort_and_tabs_change_what_is_shown():
    at = run_page(PATH, query=SMALL)
    scores = table(at).set_index("symbol")["score"]
    at.selectbox(key=page_key("command", "sort")).set_value("Symbol").run()
    assert list(table(at)["symbol"]) == sorted(WL.split(","))
    at.multiselect(key=page_key("command", "bands")).set_value(["Bearish", "Neutral"]).run()
    kept = sorted(s for s, v in scores.items() if v < 70)
    assert metric(at, "Symbols") == f"{len(kept)} / 4"
    if kept:
        assert sorted(table(at)["symbol"]) == kept
    else:
        assert any("No symbol in All" in i for i in texts(at, "info"))
    at.multiselect(key=page_key("command", "bands")).set_value(list(("Bullish", "Neutral",
                                                                    "Bearish"))).run()
    at.number_input(key=page_key("command", "min_vol_oi")).set_value(1000.0).run()
    assert metric(at, "Symbols") == "0 / 4"
    assert any("No symbol in All with these filters" in i for i in texts(at, "info"))
    at.number_input(key=page_key("command", "min_vol_oi")).set_value(0.0).run()
    at.session_state[page_key("command", "tab")] = "Top 10"
    at.run()
    assert_page_ok(at, charts=4)  # cards only: the score chart is on the All tab
    assert "Bias score by symbol" not in [f["layout"]["title"]["text"] for f in plotly_charts(at)
                                          if f["layout"].get("title")]


def test_one_symbol_mode_scans_just_that_symbol():
    at = run_page(PATH, query=SMALL)
    at.segmented_control(key=page_key("command", "mode")).set_value("One symbol").run()
    at.text_input(key=page_key("command", "symbol.input")).set_value("nvda").run()
    assert_page_ok(at, charts=2)
    assert metric(at, "Symbols") == "1 / 1" and list(table(at)["symbol"]) == ["NVDA"]
    at.text_input(key=page_key("command", "symbol.input")).set_value("ZZZZ").run()
    assert not exceptions(at)
    assert any("ZZZZ" in w for w in texts(at, "warning"))  # skipped, with the reason
    assert any("No symbol could be scanned" in i for i in texts(at, "info"))


def test_leaving_and_coming_back_reuses_the_scan_and_a_second_session_joins_it(upstream):
    at = run_page(PATH, query=SMALL)
    calls = upstream_total(upstream)
    assert calls > 0
    shown = table(at)
    run_page("Home.py", at=at)
    assert namespace_keys(at, "command") == []  # the page's choices went with it
    run_page(PATH, at=at)
    assert upstream_total(upstream) == calls  # no rescan: the cached result is served
    assert table(at).equals(shown)
    other = run_page(PATH, query=SMALL)  # another session asking for the same scan
    assert upstream_total(upstream) == calls and table(other).equals(shown)


def test_watchlist_editor_refuses_the_31st_symbol():
    at = run_page(PATH, query={"wl": "AAPL"})
    many = ["AAPL"] + [f"ZZ{i}" for i in range(1, 31)]  # 31 valid-looking symbols
    at.text_area(key=page_key("command", "watchlist.text")).set_value(" ".join(many))
    at.form_submit_button[0].click().run()
    assert not exceptions(at)
    saved = at.session_state[session.WATCHLIST_KEY]
    assert len(saved) == 30 and "ZZ30" not in saved and saved[0] == "AAPL"
    assert any("at most 30" in w and "ZZ30" in w for w in texts(at, "warning"))
    # the scan covers the 30 kept; the unknown ones are skipped with a reason, AAPL is shown
    assert metric(at, "Symbols") == "1 / 1"
    assert any("ZZ29" in w and "Skipped" in w for w in texts(at, "warning"))

