"""The page shell and widgets in small scratch apps (AppTest.from_string): the session-state
guard as a developer error, DataErrors as messages, the expiry and page-scoped symbol pickers."""

from __future__ import annotations

import textwrap
import time

from streamlit.testing.v1 import AppTest

from core import cache, clock, fetch
from core.errors import Unavailable
from tests.conftest import SATURDAY
from tests.ui.apptest import DEFAULT_TIMEOUT, exceptions, has_banner, texts


def _app(body: str) -> AppTest:
    script = textwrap.dedent("""
        import datetime as dt
        import pandas as pd
        import streamlit as st
        from core import fetch
        from core.ui import layout, session, widgets
    """) + textwrap.dedent(body)
    return AppTest.from_string(script, default_timeout=DEFAULT_TIMEOUT)


def test_storing_a_dataframe_is_a_developer_error_naming_the_key():
    at = _app("""
        with layout.page("scratch", title="Scratch"):
            st.session_state["p.scratch.table"] = pd.DataFrame({"strike": [1.0]})
    """).run()
    [problem] = exceptions(at)
    assert "SessionStateMisuse" in problem and "p.scratch.table" in problem
    assert "core.fetch" in problem  # the message says where the data belongs


def test_a_data_error_inside_the_page_is_a_message_and_the_shell_stays():
    at = _app("""
        with layout.page("scratch", title="Scratch"):
            fetch.chain("SPY", dt.date(2026, 11, 21))  # a Saturday: no such expiry
            st.write("not reached")
    """).run()
    assert not exceptions(at)
    assert has_banner(at)
    [info] = [t for t in texts(at, "info") if "No such expiry" in t]
    assert "Mon 23 Nov" in info
    assert not any("not reached" in t for t in texts(at, "markdown"))


def test_expiry_picker_prefers_0dte_and_falls_back_on_saturday():
    script = """
        with layout.page("scratch", title="Scratch") as page:
            expiry = widgets.expiry_picker("SPY", prefer_0dte=True)
            st.write(f"picked {expiry:%Y-%m-%d}")
    """
    at = _app(script).run()
    assert any("picked 2026-11-20" in t for t in texts(at, "markdown"))
    assert at.selectbox[0].options[0] == "Fri 20 Nov 2026 · 0DTE"
    assert not [t for t in texts(at, "info") if "No 0DTE" in t]
    with clock.frozen(SATURDAY):
        at = _app(script).run()
    assert any("picked 2026-11-23" in t for t in texts(at, "markdown"))
    assert any("No 0DTE" in t and "weekend" in t for t in texts(at, "info"))
    assert at.selectbox[0].options[0] == "Mon 23 Nov 2026 · 2 DTE"


def test_expiry_choice_lives_in_the_page_namespace():
    at = _app("""
        with layout.page("scratch", title="Scratch") as page:
            expiry = widgets.expiry_picker("QQQ")
            st.write(f"picked {expiry:%Y-%m-%d}")
    """).run()
    at.selectbox[0].select_index(2).run()
    keys = [k for k in at.session_state.keys() if str(k).startswith("p.scratch.expiry")]
    assert keys == ["p.scratch.expiry.QQQ"]
    assert any(f"picked {at.session_state[keys[0]]:%Y-%m-%d}" in t
               for t in texts(at, "markdown"))


def test_page_scoped_symbol_picker_leaves_the_current_symbol_alone():
    at = _app("""
        with layout.page("scratch", title="Scratch") as page:
            sym = widgets.symbol_picker(scope="page", key="index", quick=("SPY", "QQQ"))
            st.write(f"picked {sym}")
    """).run()
    at.button(key="p.scratch.index.quick.QQQ").click().run()
    assert any("picked QQQ" in t for t in texts(at, "markdown"))
    assert at.session_state["p.scratch.index"] == "QQQ"
    assert at.session_state["g.symbol"] == "SPY"


SYMBOL_APP = """
    with layout.page("scratch", title="Scratch") as page:
        sym = widgets.symbol_picker(quick=("SPY", "QQQ"))
        chain = fetch.chain(sym, fetch.expirations(sym)[0])
        page.freshness(chain)
        st.write(f"showing {chain.symbol}")
"""


def _showing(at) -> list[str]:
    return [t for t in texts(at, "markdown") if t.startswith("showing ")]


def test_quick_button_sets_the_current_symbol():
    at = _app(SYMBOL_APP).run()
    assert _showing(at) == ["showing SPY"]
    at.button(key="p.scratch.symbol.quick.QQQ").click().run()
    assert _showing(at) == ["showing QQQ"]
    assert at.session_state["g.symbol"] == "QQQ"
    assert at.text_input(key="p.scratch.symbol.input").value == "QQQ"


def test_typed_symbol_is_normalised():
    at = _app(SYMBOL_APP).run()
    at.text_input(key="p.scratch.symbol.input").set_value(" spx ").run()
    assert _showing(at) == ["showing ^SPX"] and at.session_state["g.symbol"] == "^SPX"


def test_invalid_symbol_is_a_message_and_keeps_the_last_good_one():
    at = _app(SYMBOL_APP).run()
    at.text_input(key="p.scratch.symbol.input").set_value("BAD$SYM").run()
    assert not exceptions(at)
    assert any("Invalid symbol" in w and "Still showing SPY" in w for w in texts(at, "warning"))
    assert _showing(at) == ["showing SPY"] and at.session_state["g.symbol"] == "SPY"


def test_unknown_symbol_is_a_message():
    at = _app(SYMBOL_APP).run()
    at.text_input(key="p.scratch.symbol.input").set_value("ZZZZ").run()
    assert not exceptions(at)
    assert any("Symbol not found" in w for w in texts(at, "warning"))
    assert _showing(at) == []


def _wait_for_background_refreshes(limit_s: float = 10.0) -> None:
    """Let the fetch layer's background refreshes finish (they run on its worker pool)."""
    deadline = time.monotonic() + limit_s
    while any(s["inflight"] for s in cache.stats()) and time.monotonic() < deadline:
        time.sleep(0.02)


def _badges(at) -> list[str]:
    return [t for t in texts(at, "markdown") if "as of" in t]


def test_freshness_badge_ages_and_turns_stale_when_the_upstream_fails(upstream):
    at = _app(SYMBOL_APP).run()
    delayed = " :orange-badge[options delayed 30 min]"  # the simulated SPY quotes lag 30 min
    assert _badges(at) == [":gray-badge[:material/schedule: as of 11:30:00 ET · 0 s old]"
                           + delayed]
    upstream.fail_with = Unavailable("down")
    clock.advance(fetch.settings().ttl_chain_near + 1)
    at.run()  # past the fresh TTL: served from cache while one refresh runs, and fails
    _wait_for_background_refreshes()
    at.run()
    assert not exceptions(at)
    assert _badges(at) == [":orange-badge[:material/schedule: as of 11:30:00 ET · 61 s old · "
                           "stale — upstream unavailable]" + delayed]
