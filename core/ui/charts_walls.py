"""Figures the Walls and Finder pages need that :mod:`core.ui.charts` does not have. Pure:
data in, figure out (no Streamlit, no I/O); same colours, level lines and look as ``charts``.

    :func:`stacked_walls`   wall strength by strike, one stacked layer per expiry (calls up,
                            puts mirrored below zero)
    :func:`intraday`        5-min candles over a few sessions, overnight gaps removed, a
                            per-session overlay (VWAP) and horizontal level lines
    :func:`term_structure`  ATM IV by expiry
    :func:`band_levels`     the two edges of a strike band (e.g. where 70 % of gamma sits)

Each figure is built in one ``go.Figure(dict(data=..., layout=...))`` call: the same validated
figure as ``add_trace``/``update_layout`` chains, at a fraction of the cost per page run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.ui import charts

# one shade per expiry layer, nearest expiry darkest (calls green, puts red)
CALL_SHADES = ("#15803d", "#22c55e", "#86efac", "#bbf7d0")
PUT_SHADES = ("#b91c1c", "#ef4444", "#fca5a5", "#fecaca")
OVERLAY_COLORS = ("#60a5fa", "#f59e0b", "#a78bfa")
BAND_COLOR = "#38bdf8"
MIN_IV_SPAN = 1.0  # the term-structure axis spans at least ±1 vol point
ET = "America/New_York"
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0,
                    font=dict(size=10))


def _label(expiry) -> str:
    return f"{expiry:%d %b}" if isinstance(expiry, dt.date) else str(expiry)


_layout = charts.base_layout  # one house look for every figure


def _line(lv: charts.Level, x, y, unit: str, width: float = 1.5) -> dict:
    """A level line trace (two points) with the level's definition in its hover text."""
    return dict(type="scatter", x=list(x), y=list(y), mode="lines", name=lv.name,
                line=dict(color=lv.color, dash=lv.dash, width=width),
                hovertemplate=f"<b>{lv.name}</b> {lv.value:,.2f} {unit}<br>{lv.definition}"
                              "<extra></extra>")


def stacked_walls(layers: pd.DataFrame, expiries: Sequence, *, title: str, kind_label: str,
                  unit: str, levels: Sequence[charts.Level | None] = (), price_unit: str = "$",
                  height: int = charts.HEIGHT) -> go.Figure:
    """Stacked wall strength by strike.

    ``layers``: rows (expiry, side, strike, size, relative, is_wall) as in
    ``core.analytics.walls.StackedWalls.layers``. Each expiry adds a bar segment of height
    ``relative`` (size ÷ that expiry's largest size, 0–1) at each strike: calls stacked upward in
    green, puts downward in red (nearest expiry darkest), so the total height at a strike is its
    wall strength (0 … number of expiries). Hover shows the raw size in ``unit`` and marks an
    expiry's own wall. ``levels`` are drawn as vertical lines.
    """
    data = []
    for i, expiry in enumerate(expiries):
        for side, shades, sign in (("call", CALL_SHADES, 1.0), ("put", PUT_SHADES, -1.0)):
            part = layers[(layers["expiry"] == expiry) & (layers["side"] == side)
                          & (layers["size"] > 0)]
            if not len(part):
                continue
            wall = np.where(part["is_wall"].to_numpy(dtype=bool),
                            "<br><b>this expiry's wall</b>", "")
            data.append(dict(
                type="bar", x=part["strike"].to_numpy(dtype="float64"),
                y=sign * part["relative"].to_numpy(dtype="float64"),
                name=f"{side.title()}s {_label(expiry)}", legendgroup=side,
                marker=dict(color=shades[min(i, len(shades) - 1)]),
                customdata=part[["size", "relative"]].to_numpy(dtype="float64"),
                hovertext=wall.tolist(),
                hovertemplate=(f"Strike %{{x:,.2f}} {price_unit}<br>{side.title()} "
                               f"{kind_label.lower()}, {_label(expiry)}: %{{customdata[0]:,.3s}} "
                               f"{unit}<br>%{{customdata[1]:.0%}} of this expiry's largest"
                               "%{hovertext}<extra></extra>")))
    n = max(len(expiries), 1)
    data += [_line(lv, [lv.value, lv.value], [-n, n], price_unit) for lv in levels if lv]
    layout = _layout(title, f"Strike ({price_unit})", f"Wall strength (0–{n}) · puts below zero",
                     height, barmode="relative", yaxis=dict(range=[-n * 1.05, n * 1.05]))
    return go.Figure(dict(data=data, layout=layout))


def intraday(bars: pd.DataFrame, *, title: str, levels: Sequence[charts.Level | None] = (),
             overlays: Mapping[str, pd.Series] | None = None, price_unit: str = "$",
             height: int = 420) -> go.Figure:
    """Intraday candles (up green, down red) over one or more sessions, with the overnight and
    weekend gaps removed from the time axis, each overlay (e.g. a VWAP that resets daily) drawn
    per session so no line joins one session's close to the next open, and horizontal level
    lines across the whole chart. The legend sits under the plot."""
    data = []
    if len(bars):
        data.append(dict(
            type="candlestick", x=bars.index, open=bars["open"].to_numpy(dtype="float64"),
            high=bars["high"].to_numpy(dtype="float64"), low=bars["low"].to_numpy(dtype="float64"),
            close=bars["close"].to_numpy(dtype="float64"), name="Price", showlegend=False,
            increasing=dict(line=dict(color=charts.CALL_COLOR)),
            decreasing=dict(line=dict(color=charts.PUT_COLOR))))
        days = pd.Index(bars.index.tz_convert(ET).date)
        for i, (name, series) in enumerate((overlays or {}).items()):
            for j, day in enumerate(sorted(set(days))):
                part = series[days == day]
                data.append(dict(
                    type="scatter", x=part.index, y=part.to_numpy(dtype="float64"),
                    mode="lines", name=name, legendgroup=name, showlegend=j == 0,
                    line=dict(color=OVERLAY_COLORS[i % len(OVERLAY_COLORS)], width=1.3),
                    hovertemplate=f"{name} %{{y:,.2f}} {price_unit}<extra></extra>"))
        x0, x1 = bars.index[0], bars.index[-1]
        data += [_line(lv, [x0, x1], [lv.value, lv.value], price_unit, 1.2)
                 for lv in levels if lv]
    layout = _layout(title, "", f"Price ({price_unit})", height, hovermode="x unified",
                     legend=LEGEND_BELOW,
                     xaxis=dict(rangeslider=dict(visible=False),
                                rangebreaks=[dict(bounds=["sat", "mon"]),
                                             dict(bounds=[16, 9.5], pattern="hour")]))
    return go.Figure(dict(data=data, layout=layout))


def term_structure(table: pd.DataFrame, *, title: str, height: int = 300) -> go.Figure:
    """ATM IV (percent, annualised) by expiry from ``core.analytics.volatility.term_structure``
    (columns ``expiry``, ``dte``, ``atm_iv`` decimal). Expiries are evenly spaced categories
    labelled with their DTE; a nearly flat curve keeps an axis of at least ±1 vol point so
    hundredths of a point do not look like a slope."""
    labels = [_label(e) if d is pd.NA else f"{_label(e)} ({d} DTE)"
              for e, d in zip(table["expiry"], table["dte"])]
    iv = 100.0 * table["atm_iv"].to_numpy(dtype="float64")
    yaxis: dict = {}
    finite = iv[np.isfinite(iv)]
    if len(finite) and finite.max() - finite.min() < 2 * MIN_IV_SPAN:
        mid = (finite.max() + finite.min()) / 2
        yaxis = dict(range=[mid - MIN_IV_SPAN, mid + MIN_IV_SPAN])
    data = [dict(type="scatter", x=labels, y=iv, mode="lines+markers", name="ATM IV",
                 connectgaps=False, line=dict(color=charts.NEUTRAL_COLOR, width=2),
                 marker=dict(size=7),
                 hovertemplate="%{x}<br>ATM IV %{y:.1f}% (annualised)<extra></extra>")]
    layout = _layout(title, "Expiry", "ATM implied vol (%, annualised)", height,
                     xaxis=dict(type="category"), yaxis=yaxis)
    return go.Figure(dict(data=data, layout=layout))


def band_levels(band: tuple[float, float] | None, *, share: float = 0.70,
                name: str = "Gamma band") -> list[charts.Level]:
    """The low and high edge of a strike band as level lines, with their definition."""
    if band is None:
        return []
    definition = (f"edge of the strike band around spot holding {share:.0%} of gross gamma "
                  "(|call GEX| + |put GEX|, full chains): where hedging is concentrated, "
                  "not a probability range")
    return [charts.Level(f"{name} low", float(band[0]), definition, BAND_COLOR, "longdash"),
            charts.Level(f"{name} high", float(band[1]), definition, BAND_COLOR, "longdash")]


