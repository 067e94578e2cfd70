"""core.ui.session on plain dicts: the guard, page namespaces, watchlist <-> URL, sessions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.schema import Chain, Quote, empty_chain_frame
from core.ui import session
from core.ui.session import SessionStateMisuse


def _chain() -> Chain:
    now = dt.datetime(2026, 11, 20, 11, 30, tzinfo=dt.timezone.utc)
    return Chain("SPY", dt.date(2026, 11, 20), 670.0, now, "simulated", empty_chain_frame())


# --- the guard ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, what", [
    (pd.DataFrame({"a": [1]}), "DataFrame"),
    (pd.Series([1.0]), "Series"),
    (np.zeros(3), "numpy array"),
    (go.Figure(), "figure"),
    (_chain(), "Chain"),
    ([1, {"nested": pd.DataFrame()}], "DataFrame"),
])
def test_guard_refuses_data_and_figures(value, what):
    state = {}
    with pytest.raises(SessionStateMisuse, match=what):
        session.put("p.walls.x", value, state)
    assert state == {}


def test_guard_refuses_large_values_and_accepts_small_ones():
    state = {}
    with pytest.raises(SessionStateMisuse, match="bytes"):
        session.put("p.walls.blob", "x" * (session.MAX_VALUE_BYTES + 1), state)
    session.put("p.walls.expiry", dt.date(2026, 11, 20), state)
    session.put("g.watchlist", tuple(f"S{i}" for i in range(30)), state)
    quote = Quote("SPY", 670.0, 665.0, dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc), "sim")
    session.put("p.walls.quote", quote, state)  # a small frozen value is fine
    assert set(state) == {"p.walls.expiry", "g.watchlist", "p.walls.quote"}


def test_audit_names_the_offending_key_and_sums_sizes():
    state = {"g.symbol": "SPY", "p.walls.n": 3}
    total = session.audit(state)
    assert total == session.state_bytes(state) > 0
    state["p.walls.table"] = pd.DataFrame({"strike": [1.0, 2.0]})  # written around the guard
    with pytest.raises(SessionStateMisuse, match=r"p\.walls\.table"):
        session.audit(state)


def test_page_state_writes_through_the_guard():
    state = {}
    ns = session.PageState("walls", state)
    ns["strikes"] = 40
    assert state == {"p.walls.strikes": 40}
    assert ns.key("expiry") == "p.walls.expiry"
    assert dict(ns) == {"strikes": 40} and len(ns) == 1
    with pytest.raises(SessionStateMisuse):
        ns["chart"] = go.Figure()
    del ns["strikes"]
    assert state == {}


# --- namespaces --------------------------------------------------------------------------------

def test_entering_another_page_deletes_every_other_namespace():
    state = {"g.symbol": "NVDA", "g.watchlist": ("SPY",), "p.walls.expiry": 1,
             "p.walls.symbol.input": "NVDA", "p.finder.type": "calls", "other": 1}
    session.enter_page("walls", state)
    assert state["g.page"] == "walls"
    assert "p.finder.type" not in state  # a stale namespace goes too
    assert state["p.walls.expiry"] == 1
    session.enter_page("trading", state)
    assert [k for k in state if k.startswith("p.")] == []
    assert state["g.symbol"] == "NVDA" and state["other"] == 1


def test_re_entering_the_same_page_keeps_its_namespace():
    state = {}
    ns = session.enter_page("walls", state)
    ns["expiry"] = "2026-11-20"
    session.enter_page("walls", state)
    assert state["p.walls.expiry"] == "2026-11-20"


def test_page_ids_must_not_contain_dots():
    with pytest.raises(ValueError):
        session.enter_page("a.b", {})


def test_page_state_needs_a_current_page():
    with pytest.raises(RuntimeError):
        session.page_state({})
    state = {}
    session.enter_page("finder", state)
    assert session.page_state(state).prefix == "p.finder."
    assert session.current_page(state) == "finder"


# --- watchlist ---------------------------------------------------------------------------------

def test_parse_watchlist_normalises_dedups_and_explains_rejects():
    items, notes = session.parse_watchlist("nvda, aapl;spx\nNVDA  bad$ toolongsymbolx")
    assert items == ("NVDA", "AAPL", "^SPX")
    assert len(notes) == 1  # one message for every reject, naming them
    assert "2 entries were not symbols" in notes[0]
    assert "'BAD$'" in notes[0].upper() and "'TOOLONGSYMB" in notes[0].upper()


def test_parse_watchlist_enforces_the_cap_and_names_the_dropped():
    items, notes = session.parse_watchlist([f"S{i}" for i in range(33)], cap=30)
    assert len(items) == 30 and items[-1] == "S29"
    assert notes == ["The watchlist holds at most 30 symbols: dropped S30, S31, S32."]


def test_set_watchlist_writes_the_url_and_default_cleans_it():
    state, query = {}, {}
    assert session.set_watchlist("tsla amd", state, query) == []
    assert state["g.watchlist"] == ("TSLA", "AMD")
    assert query == {"wl": "TSLA,AMD"}
    session.set_watchlist(session.default_watchlist(), state, query)
    assert query == {}


def test_set_watchlist_refuses_an_empty_result():
    state, query = {"g.watchlist": ("SPY",)}, {}
    notes = session.set_watchlist("$$$ ###", state, query)
    assert state["g.watchlist"] == ("SPY",) and query == {}
    assert notes[-1].startswith("The watchlist needs at least one valid symbol")


def test_sync_url_first_run_reads_the_url_then_the_session_wins():
    state, query = {}, {"wl": "QQQ,IWM", "debug": "memory"}
    assert session.sync_url(state, query) == []
    assert state["g.watchlist"] == ("QQQ", "IWM")
    assert session.debug_enabled(state) is True
    assert session.symbol(state) == "SPY"
    query.clear()  # navigating to another page dropped the query string
    session.sync_url(state, query)
    assert query == {"wl": "QQQ,IWM", "debug": "memory"}


def test_sync_url_with_a_bad_watchlist_falls_back_with_a_note():
    state, query = {}, {"wl": "$$$"}
    notes = session.sync_url(state, query)
    assert state["g.watchlist"] == session.default_watchlist()
    assert "wl" not in query
    assert notes[-1].startswith("The watchlist in the link had no valid symbol")


def test_default_watchlist_is_the_spec_list():
    wl = session.default_watchlist()
    assert len(wl) == 30 and wl[:3] == ("AAPL", "MSFT", "GOOGL") and wl[-1] == "HD"


# --- symbol, debug -----------------------------------------------------------------------------

def test_set_symbol_validates_and_normalises():
    state = {}
    assert session.set_symbol(" spx ", state) == "^SPX"
    assert session.symbol(state) == "^SPX"
    from core.errors import InvalidSymbol
    with pytest.raises(InvalidSymbol):
        session.set_symbol("no way", state)
    assert session.symbol(state) == "^SPX"


def test_set_debug_mirrors_the_url():
    state, query = {}, {}
    session.set_debug(True, state, query)
    assert query == {"debug": "memory"} and session.debug_enabled(state)
    session.set_debug(False, state, query)
    assert query == {} and not session.debug_enabled(state)


def test_active_sessions_is_none_outside_a_server():
    assert session.active_sessions() is None
