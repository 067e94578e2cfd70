"""Operator-only controls: an anonymous visitor (even with ?debug=memory or
OPTIONS_DASH_ALLOW_CACHE_CLEAR=1) sees only their own tab's footprint; the server-wide panel and
cache clearing need the operator token (compared in constant time) or a loopback-only server."""

from __future__ import annotations

import hmac

import pytest

from core import cache, config
from core.ui import session
from tests.ui.apptest import HOME, exceptions, page_key, run_page, texts

TOKEN = "correct-horse-battery-staple"


def _server_wide(at) -> bool:
    return any(m.startswith(("Process RSS", "Upstream calls", "Cache budget"))
               for m in texts(at, "metric"))


def test_an_anonymous_debug_link_shows_only_the_tabs_own_footprint():
    at = run_page(HOME, query={"debug": "memory"})
    assert not exceptions(at)
    assert not _server_wide(at)
    assert any(m.startswith("This session's state: ") for m in texts(at, "metric"))
    assert not [d for d in at.dataframe if "cache" in getattr(d.value, "columns", [])]


def test_an_anonymous_visitor_cannot_clear_caches_even_when_clearing_is_enabled(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_ALLOW_CACHE_CLEAR", "1")
    config.reload()
    at = run_page(HOME, query={"debug": "memory"})
    assert not [b for b in at.button if b.key == "od-clear-caches"]
    assert cache.REGISTRY["chain"].evictions["cleared"] == 0


def test_the_operator_token_opens_the_panel_and_a_wrong_one_does_not(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_OPERATOR_TOKEN", TOKEN)
    config.reload()
    at = run_page(HOME, query={"debug": "memory"})
    box = at.text_input(key=page_key("home", "operator.token"))
    box.set_value("wrong-token-wrong-token").run()
    assert not _server_wide(at) and any("Wrong token (4 tries left)" in c
                                        for c in texts(at, "caption"))
    at.text_input(key=page_key("home", "operator.token")).set_value(TOKEN).run()
    assert not exceptions(at)
    assert _server_wide(at)
    assert TOKEN not in [str(at.session_state[k]) for k in at.session_state.keys()]


def test_a_loopback_server_makes_every_visitor_an_operator(loopback):
    at = run_page(HOME, query={"debug": "memory"})
    assert _server_wide(at)


def test_sign_in_compares_in_constant_time_and_stops_after_five_wrong_tries(monkeypatch):
    settings = config.from_env({"OPTIONS_DASH_OPERATOR_TOKEN": TOKEN})
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    state: dict = {}
    for _ in range(session.MAX_SIGN_IN_TRIES):
        assert not session.sign_in("guess-guess-guess", state, settings=settings)
    assert len(compared) == session.MAX_SIGN_IN_TRIES
    assert not session.sign_in(TOKEN, state, settings=settings)  # locked out, even when right
    fresh: dict = {}
    assert session.sign_in(TOKEN, fresh, settings=settings)
    assert session.is_operator(fresh, address="0.0.0.0", settings=settings)


def test_no_token_means_no_sign_in():
    assert not session.sign_in("", {}, settings=config.from_env({}))


@pytest.mark.parametrize("address, loop", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("", False), (None, False), ("10.0.0.5", False), ("example.com", False),
])
def test_loopback_addresses(address, loop):
    assert session.on_loopback(address) is loop
    s = config.from_env({})
    assert session.is_operator({}, address=address or "", settings=s) is loop
    off = config.from_env({"OPTIONS_DASH_OPERATOR_LOOPBACK": "0"})  # behind a local proxy
    assert session.is_operator({}, address=address or "", settings=off) is False


def test_the_operator_panel_shows_the_memory_limit_heap_and_trend(loopback, monkeypatch,
                                                                  paused_governor):
    monkeypatch.setenv("OPTIONS_DASH_MEMORY_LIMIT_MB", "400")
    config.reload()
    paused_governor.tick(rss=int(0.9 * 400 * 2**20), settings=config.settings())
    at = run_page(HOME, query={"debug": "memory"})
    assert not exceptions(at)
    metrics = texts(at, "metric")
    assert "Memory limit: RSS 360 MB of 400 MB" in metrics
    assert any(m.startswith("Python heap: ") and m.endswith(" blocks") for m in metrics)
    assert any(m.startswith("RSS trend: ") for m in metrics)
    assert any("Above 85 % of the memory limit" in w for w in texts(at, "warning"))


def test_a_tab_that_types_many_unknown_symbols_is_slowed_down(upstream):
    at = run_page("pages/4_Option_Volume_Walls.py")
    for i in range(8):
        at.text_input(key=page_key("walls", "symbol.input")).set_value(f"ZQ{chr(65 + i)}").run()
        assert not exceptions(at)
    assert any("Slow down" in w for w in texts(at, "warning"))
    looked_up = {k[1] for k in upstream.calls if isinstance(k, tuple) and str(k[1]).startswith("ZQ")}
    assert len(looked_up) == config.settings().session_unknown
