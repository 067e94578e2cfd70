"""Figures of the live pages, built once per data version and shared by every session.

A live page reruns for every session at every refresh, and building its plotly figures (plotly
validates every property it is given) was most of each rerun's CPU (``python -m
bench.rerun_profile``, BENCHMARKS.md "Reruns"). Each function here returns its figure from
:func:`core.fetch.derived`: keyed by its sources' versions (a chain by symbol, expiry and
``as_of``; a quote by ``as_of``; key levels by value, themselves one object per chain version;
bars by content, :class:`core.fetch.Content`) and by its params (titles, level kinds), built
by the first session that asks and the same object for every other until a source changes.

A shared figure is read-only: ``st.plotly_chart`` copies it (``Figure.to_dict``) before it
serialises the copy, and nothing here or in the pages mutates a figure once returned.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pandas as pd
import plotly.graph_objects as go

from core import fetch
from core.analytics import dashboard, exposure, levels, zero_dte
from core.ui import charts, charts_0dte


class SharedFigure(go.Figure):
    """A built figure shared read-only by every session. ``to_dict()`` returns the one dict
    taken when it was shared: ``st.plotly_chart`` calls it on every run, and plotly's own
    deep-copies every trace and the layout (1–9 ms a chart here). Neither the figure nor that
    dict may be changed."""

    def to_dict(self) -> dict:
        return self._shared_dict


def freeze(fig: go.Figure) -> SharedFigure:
    """``fig`` as a :class:`SharedFigure` (the same object, its dict taken now)."""
    spec = fig.to_dict()
    fig.__class__ = SharedFigure  # same layout, one method more: no copy, no re-validation
    fig._shared_dict = spec
    return fig


def shared(name: str, build: Callable[..., go.Figure], *sources, **params) -> SharedFigure:
    """``build(*sources, **params)`` once per version of ``sources`` for every session, frozen
    (:func:`freeze`). A frame source is passed on as :class:`core.fetch.Content` (``build``
    reads ``.frame``). ``build`` must be pure: its figure is shared."""
    sources = tuple(fetch.Content(s) if isinstance(s, pd.DataFrame) else s for s in sources)

    @functools.wraps(build)  # the derived key names ``build`` (module and qualified name)
    def built(*args, **kwargs):
        return freeze(build(*args, **kwargs))

    return fetch.derived(f"figure.{name}", built, *sources, **params)


def _volume_column(chain, kl, *, kinds: tuple[str, ...], title: str) -> go.Figure:
    table = levels.by_strike(chain.frame)
    return charts_0dte.compact_strike_bars(table["strike"], table["call_volume"],
                                           table["put_volume"], title=title,
                                           levels=charts.key_level_lines(kl, kinds))


def volume_column(chain, kl, kinds: Sequence[str], *, title: str) -> go.Figure:
    """0DTE: one index column's volume by strike (calls up, puts mirrored below) with the
    ``kinds`` levels of ``kl`` (the key levels of ``chain``'s version)."""
    return shared("zero_dte.volume", _volume_column, chain, kl, kinds=tuple(kinds), title=title)


def _index_chart(chain, kl, bars: fetch.Content, *, kinds: tuple[str, ...],
                 title: str) -> go.Figure:
    volume = levels.by_strike(chain.frame)
    gex = exposure.gex_by_strike(chain.frame, chain.spot)
    return charts_0dte.price_volume_gex(bars.frame, volume, gex, spot=kl.spot,
                                        levels=charts.key_level_lines(kl, kinds),
                                        move=zero_dte.expected_range(kl).move, title=title)


def index_chart(chain, kl, bars: pd.DataFrame, kinds: Sequence[str], *,
                title: str) -> go.Figure:
    """0DTE by Index: price candles (``bars``), volume and net GEX by strike of ``chain`` on
    one price axis, with the ``kinds`` levels of ``kl``."""
    return shared("zero_dte.index", _index_chart, chain, kl, bars, kinds=tuple(kinds),
                  title=title)


def _gex_bars(chain, kl, *, kinds: tuple[str, ...], title: str) -> go.Figure:
    table = exposure.gex_by_strike(chain.frame, chain.spot)
    return charts.legend_below(charts.net_bars(table["strike"], table["net_gex"],
                                               levels=charts.key_level_lines(kl, kinds),
                                               title=title), rows=2, y=-0.24)


def gex_bars(chain, kl, kinds: Sequence[str], *, title: str) -> go.Figure:
    """Trading Dashboard: net GEX by strike of ``chain`` (calls +, puts −) with the ``kinds``
    levels of ``kl``, legend below."""
    return shared("trading.gex_bars", _gex_bars, chain, kl, kinds=tuple(kinds), title=title)


def _gex_heatmap(chains: tuple, quote, *, strikes: int, title: str) -> go.Figure:
    wide = fetch.derived("trading.gex_heatmap", dashboard.gex_heatmap, list(chains),
                         strikes=strikes)
    return charts.heatmap(wide, spot=quote.price, title=title)


def gex_heatmap(chains: Sequence, quote, *, strikes: int, title: str) -> go.Figure:
    """Trading Dashboard: net GEX per strike × expiry of ``chains``
    (:func:`core.analytics.dashboard.gex_heatmap`, the ``strikes`` nearest spot), the spot line
    at ``quote``'s price."""
    return shared("trading.gex_heatmap", _gex_heatmap, tuple(chains), quote, strikes=strikes,
                  title=title)
