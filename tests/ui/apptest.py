"""Page-test harness on ``streamlit.testing.v1.AppTest`` (used by every page's tests).

The lead's ``tests/conftest.py`` already runs each test on the simulated market, with the clock
frozen at 2026-11-20 11:30 ET and a fresh fetch layer; AppTest runs the scripts in this
process, so they see the same clock and caches. Pin another time with
``with clock.frozen(SATURDAY): ...`` around the run.

Typical use::

    from tests.ui.apptest import PAGE_PATHS, assert_page_ok, run_page

    def test_walls_page_renders():
        at = run_page("pages/4_Option_Volume_Walls.py")
        assert_page_ok(at)

    def test_walls_page_picks_nvda():
        at = run_page("pages/4_Option_Volume_Walls.py")
        at.text_input(key=page_key("walls", "symbol.input")).set_value("NVDA").run()
        assert_page_ok(at)

A session always starts on Home.py (as a browser does); ``run_page`` then switches to the page
asked for, so page-to-page behaviour (namespace cleanup, URL sync) is exercised for real.
"""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import Mapping

import numpy as np
from streamlit.testing.v1 import AppTest

from core.cache import sizeof
from core.ui import layout, session

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOME = "Home.py"
PAGE_PATHS: tuple[str, ...] = tuple(p.path for p in layout.PAGES)
ALL_PATHS: tuple[str, ...] = (HOME, *PAGE_PATHS)
PAGE_IDS: dict[str, str] = {p.path: p.page_id for p in (layout.HOME, *layout.PAGES)}
DEFAULT_TIMEOUT = 60.0  # seconds per script run (a cold start builds the simulated market)


def new_app(query: Mapping[str, str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
            ) -> AppTest:
    """A fresh session on Home.py (not run yet), with an optional URL query string."""
    at = AppTest.from_file(str(ROOT / HOME), default_timeout=timeout)
    if query:
        at.query_params.update(dict(query))
    return at


def run_page(path: str = HOME, *, at: AppTest | None = None,
             query: Mapping[str, str] | None = None, timeout: float | None = None) -> AppTest:
    """Run ``path`` (relative to the repo root, e.g. ``"pages/5_0DTE.py"``) and return the app.

    Without ``at``: a new session opens Home.py first, then switches to ``path``. With ``at``:
    the existing session navigates to ``path`` (``query`` updates its URL first).
    """
    if path not in ALL_PATHS:
        raise ValueError(f"unknown page {path!r}; known: {ALL_PATHS}")
    if at is None:
        at = new_app(query)
        at.run(timeout=timeout)
        if path == HOME:
            return at
    elif query:
        at.query_params.update(dict(query))
    at.switch_page(path)
    at.run(timeout=timeout)
    return at


def page_key(page_id: str, name: str) -> str:
    """The session-state / widget key of ``name`` in page ``page_id``'s namespace."""
    return session.page_prefix(page_id) + name


# --- what a page shows -------------------------------------------------------------------------

def exceptions(at: AppTest) -> list[str]:
    """Messages of every Streamlit exception element (uncaught errors) on the page."""
    return [f"{e.proto.message}\n" + "\n".join(e.proto.stack_trace) for e in at.exception]


def plotly_charts(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as dicts ({"data": [...], "layout": {...}})."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def plotly_array(value) -> list:
    """A plotly JSON array as a list (a plain list, or plotly 6+'s typed {"dtype", "bdata"})."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def texts(at: AppTest, kind: str) -> list[str]:
    """Text of every element of one kind (``markdown``, ``caption``, ``info``, ``warning``,
    ``error``, ``success``, ``metric`` labels...)."""
    if kind == "metric":
        return [f"{m.proto.label}: {m.value}" for m in at.metric]
    return [str(el.value) for el in getattr(at, kind)]


def has_banner(at: AppTest) -> bool:
    return any(layout.SIM_BANNER in t for t in texts(at, "markdown"))


def state_keys(at: AppTest) -> list[str]:
    return [str(k) for k in at.session_state.keys()]


def namespace_keys(at: AppTest, page_id: str) -> list[str]:
    prefix = session.page_prefix(page_id)
    return [k for k in state_keys(at) if k.startswith(prefix)]


def state_bytes(at: AppTest) -> int:
    """Total size of the session's state (keys + values, ``core.cache.sizeof``)."""
    return sum(sizeof(k) + sizeof(at.session_state[k]) for k in state_keys(at))


def assert_page_ok(at: AppTest, *, charts: int = 1, banner: bool = True) -> None:
    """No uncaught exception, the SIMULATED banner (when ``banner``), at least ``charts``
    plotly charts, no DataError message rendered as an error box."""
    problems = exceptions(at)
    assert not problems, "page raised:\n" + "\n".join(problems)
    if banner:
        assert has_banner(at), "the SIMULATED MARKET banner is missing"
    figs = plotly_charts(at)
    assert len(figs) >= charts, f"expected >= {charts} plotly chart(s), found {len(figs)}"
    for fig in figs:
        assert fig.get("data"), "a chart has no trace"
    errors = texts(at, "error")
    assert not errors, f"page shows errors: {errors}"
