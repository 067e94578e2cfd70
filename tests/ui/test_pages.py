"""Every page renders (simulated market, pinned clock); navigation cleans page namespaces;
errors are messages, not tracebacks; the watchlist and debug flag live in the URL."""

from __future__ import annotations

import pytest

from core import cache, clock, config
from core.errors import Unavailable
from core.ui import layout, session
from tests.conftest import SATURDAY, TRADING_DAY
from tests.ui.apptest import (
    ALL_PATHS, HOME, PAGE_IDS, PAGE_PATHS, assert_page_ok, exceptions, namespace_keys,
    page_key, run_page, state_bytes, state_keys, texts,
)


PRE_MARKET = "2026-11-20 08:00"  # a session day before the open: option OI not published yet


@pytest.mark.parametrize("when", [TRADING_DAY, SATURDAY, PRE_MARKET],
                         ids=["friday-session", "saturday", "pre-market"])
@pytest.mark.parametrize("path", ALL_PATHS)
def test_every_page_renders(path, when):
    with clock.frozen(when):
        at = run_page(path)
    # before the open no share has traded: Whale Flows says so instead of charting scores
    assert_page_ok(at, charts=0 if when == PRE_MARKET and "Whale" in path else 1)


@pytest.mark.parametrize("path", [p for p in PAGE_PATHS if "Volume_Walls" in p
                                  or "Trading_Dashboard" in p])
def test_pre_market_pages_say_open_interest_is_not_published(path):
    """Before the open every OI is 0 (as on Yahoo): OI levels are not shown as numbers, and the
    page says why."""
    with clock.frozen(PRE_MARKET):
        at = run_page(path)
    assert_page_ok(at)
    assert any("not published yet" in t for t in texts(at, "caption"))


def test_home_shows_clock_source_snapshot_and_links():
    at = run_page(HOME)
    metrics = texts(at, "metric")
    assert "Market clock (ET): 11:30:00" in metrics
    assert "Session: Open" in metrics
    assert "Time to close: 4h 30m" in metrics
    assert "Data source: Simulated" in metrics
    for sym in ("SPY", "QQQ", "IWM", "^SPX"):
        assert any(m.startswith(f"{sym}: ") for m in metrics), sym
    assert sum("ATM IV" in t and "EM" in t for t in texts(at, "markdown")) == 4
    links = [(link.proto.label, link.proto.page) for link in at.page_link]
    assert links == [(p.title, p.path.split("_", 1)[1].removesuffix(".py"))
                     for p in layout.PAGES]


def test_home_on_saturday_shows_next_session():
    with clock.frozen(SATURDAY):
        at = run_page(HOME)
    metrics = texts(at, "metric")
    assert "Session: Closed" in metrics
    assert "Next session: Mon 23 Nov 09:30" in metrics
    assert any("Closed (weekend)" in t for t in texts(at, "markdown"))


def test_visiting_all_pages_drops_the_previous_namespace_and_stays_small():
    at = run_page(HOME)
    previous = "home"
    for path in (*PAGE_PATHS, HOME):
        at.session_state[page_key(previous, "marker")] = 1  # a value the page itself stored
        run_page(path, at=at)
        assert not exceptions(at), exceptions(at)
        assert namespace_keys(at, previous) == [], f"{previous} namespace left after {path}"
        current = PAGE_IDS[path]
        assert at.session_state[session.PAGE_KEY] == current
        others = [k for k in state_keys(at) if k.startswith(session.PAGE_PREFIX)
                  and not k.startswith(session.page_prefix(current))]
        assert others == []
        assert state_bytes(at) < session.STATE_BUDGET_BYTES, state_bytes(at)
        previous = current


def test_symbol_carries_across_pages():
    at = run_page("pages/2_Trading_Dashboard.py")
    at.text_input(key=page_key("trading", "symbol.input")).set_value("nvda").run()
    assert_page_ok(at)
    assert at.session_state[session.SYMBOL_KEY] == "NVDA"
    run_page("pages/4_Option_Volume_Walls.py", at=at)
    assert_page_ok(at)
    assert at.text_input(key=page_key("walls", "symbol.input")).value == "NVDA"


def test_upstream_down_is_a_message_on_every_page(upstream):
    upstream.fail_with = Unavailable("The data source timed out.")
    for path in ALL_PATHS:
        at = run_page(path)
        assert not exceptions(at), (path, exceptions(at))
        shown = texts(at, "error") + texts(at, "warning") + texts(at, "info")
        assert any("Data source unavailable" in t or "The data source timed out" in t
                   or "is down since 11:30 ET" in t for t in shown), (path, shown)


def test_debug_panel_from_the_url_shows_real_numbers(loopback):
    at = run_page(HOME, query={"debug": "memory"})
    assert_page_ok(at)
    metrics = texts(at, "metric")
    rss = [m for m in metrics if m.startswith("Process RSS: ")]
    assert rss and float(rss[0].split(": ")[1].split(" ")[0].replace(",", "")) > 10
    assert any(m.startswith("Cache budget (of 128 MB): ") for m in metrics)
    assert any(m.startswith("This session's state: ") for m in metrics)
    table = at.dataframe[-1].value
    assert {"quote", "expirations", "chain", "derived"} <= set(table["cache"])
    assert table.loc[table["cache"] == "chain", "upstream calls"].iloc[0] > 0
    assert not [b for b in at.button if b.key == "od-clear-caches"]  # operator-only
    assert at.query_params.get("debug") == "memory"


def test_debug_toggle_writes_the_url_and_survives_navigation(loopback):
    at = run_page(HOME)
    assert not any(m.startswith("Process RSS") for m in texts(at, "metric"))
    at.toggle(key=page_key("home", "debug.toggle")).set_value(True).run()
    assert at.query_params.get("debug") == "memory"
    assert any(m.startswith("Process RSS") for m in texts(at, "metric"))
    run_page("pages/5_0DTE.py", at=at)
    assert at.toggle(key=page_key("zero_dte", "debug.toggle")).value is True
    assert any(m.startswith("Process RSS") for m in texts(at, "metric"))
    at.toggle(key=page_key("zero_dte", "debug.toggle")).set_value(False).run()
    assert "debug" not in at.query_params


def test_clear_caches_button_only_for_the_operator(monkeypatch, loopback):
    monkeypatch.setenv("OPTIONS_DASH_ALLOW_CACHE_CLEAR", "1")
    config.reload()
    at = run_page(HOME, query={"debug": "memory"})
    [button] = [b for b in at.button if b.key == "od-clear-caches"]
    button.click().run()
    assert not exceptions(at)
    assert cache.REGISTRY["chain"].evictions["cleared"] > 0


def test_watchlist_from_the_url_is_validated_and_kept():
    at = run_page(HOME, query={"wl": "nvda,AAPL,bad$,nvda"})
    assert at.session_state[session.WATCHLIST_KEY] == ("NVDA", "AAPL")
    assert any("1 entry was not a symbol: 'bad$'" in w.replace("\\", "")
               for w in texts(at, "warning"))
    assert at.query_params["wl"] == "NVDA,AAPL"
    run_page("pages/1_Command_Center.py", at=at)
    assert at.query_params["wl"] == "NVDA,AAPL"  # navigation keeps it in the URL


def test_watchlist_editor_saves_to_the_url_and_enforces_the_cap():
    at = run_page(HOME)
    text = at.text_area(key=page_key("home", "watchlist.text"))
    text.set_value("tsla, amd  ^spx")
    at.form_submit_button[0].click().run()
    assert at.session_state[session.WATCHLIST_KEY] == ("TSLA", "AMD", "^SPX")
    assert at.query_params["wl"] == "TSLA,AMD,^SPX"
    many = " ".join(f"S{i}" for i in range(35))
    at.text_area(key=page_key("home", "watchlist.text")).set_value(many)
    at.form_submit_button[0].click().run()
    assert len(at.session_state[session.WATCHLIST_KEY]) == 30
    assert any("at most 30" in w and "S34" in w for w in texts(at, "warning"))
    # reset returns to the default and cleans the URL
    at.form_submit_button[1].click().run()
    assert at.session_state[session.WATCHLIST_KEY] == session.default_watchlist()
    assert "wl" not in at.query_params
