"""The Streamlit side of core: the only package in core that imports streamlit.

- :mod:`core.ui.layout`  — the page shell (``with layout.page("walls") as page:``), error
  rendering, freshness badge, chart display, memory debug panel, the page registry.
- :mod:`core.ui.session` — page-scoped session state, watchlist <-> URL, the state guard.
- :mod:`core.ui.widgets` — symbol picker, expiry picker, watchlist editor.
- :mod:`core.ui.charts`  — pure plotly figure builders (no Streamlit).

Import the submodule you need (``from core.ui import layout, widgets, charts``); this package
imports nothing itself, so :mod:`core.ui.charts` stays usable without Streamlit.
"""
