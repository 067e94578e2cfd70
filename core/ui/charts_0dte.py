"""The 0DTE by Index chart: price today, volume by strike and net GEX by strike on one shared
price axis, with every level drawn across all three panels. Pure: data in, figure out.

Colours follow :mod:`core.ui.charts`: calls / positive green, puts / negative red. Each level is
a line across the whole figure plus a legend entry whose hover text gives its one-line
definition (and :func:`core.ui.charts.level_notes` gives the caption).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.ui import charts
from core.ui.charts import CALL_COLOR, PUT_COLOR, SPOT_COLOR, Level

HEIGHT = 560
PANEL_TITLES = ("Price", "Volume by strike (contracts)", "Net GEX by strike ($ per 1% move)")
FOCUS_MOVES = 3.0      # the price axis shows at least spot ± 3 expected moves ...
MIN_HALF_PCT = 0.005   # ... and at least spot ± 0.5 %


def y_range(strikes, bars: pd.DataFrame | None, spot: float, move: float | None
            ) -> tuple[float, float]:
    """The price axis: today's bars and spot ± max(FOCUS_MOVES × ``move``, MIN_HALF_PCT × spot),
    clipped to the listed strikes (when they span more than that) and padded by 3 %. Without
    ``move`` the whole strike span is shown."""
    k = np.asarray(strikes, dtype="float64")
    k = k[np.isfinite(k)]
    parts = [np.array([spot], dtype="float64")]
    if bars is not None and len(bars):
        parts += [bars["low"].to_numpy(dtype="float64"), bars["high"].to_numpy(dtype="float64")]
    if move is not None and np.isfinite(move) and len(k):
        half = max(FOCUS_MOVES * move, MIN_HALF_PCT * spot)
        parts.append(np.clip([spot - half, spot + half], k.min(), k.max()))
    else:
        parts.append(k)
    allv = np.concatenate(parts)
    allv = allv[np.isfinite(allv)]
    low, high = float(allv.min()), float(allv.max())
    pad = max((high - low) * 0.03, abs(spot) * 0.0005, 1e-9)
    return low - pad, high + pad


def compact_strike_bars(strikes, calls, puts, *, title: str, levels: Sequence[Level] = (),
                        height: int = 300) -> go.Figure:
    """:func:`core.ui.charts.strike_bars` (volume, puts mirrored below zero) for a narrow column:
    no legend (the page's caption names the lines; hover gives each definition), tight margins."""
    fig = charts.strike_bars(strikes, calls, puts, title=title, levels=levels, height=height)
    fig.update_layout(showlegend=False, margin=dict(l=4, r=4, t=34, b=4))
    fig.update_yaxes(title_text="contracts · puts < 0", title_font=dict(size=10))
    fig.update_xaxes(title_text=None)
    return fig


def price_volume_gex(bars: pd.DataFrame | None, volume: pd.DataFrame, gex: pd.DataFrame, *,
                     spot: float, title: str, levels: Sequence[Level] = (),
                     move: float | None = None, price_unit: str = "$",
                     height: int = HEIGHT) -> go.Figure:
    """One figure, three panels sharing the price axis (y):

    1. ``bars`` (index = time; open/high/low/close) as candles (up green, down red);
    2. ``volume`` (``core.analytics.levels.by_strike``: strike, call_volume, put_volume) as
       horizontal bars, calls to the right (green), puts to the left (red; hover shows the
       positive amount), in contracts;
    3. ``gex`` (``core.analytics.exposure.gex_by_strike``: strike, net_gex) as horizontal bars,
       green where net GEX > 0 (calls +), red where < 0 (puts −), in $ per 1 % move.

    ``levels`` are drawn as horizontal lines across all panels. The price axis is
    :func:`y_range` (``move`` = the expected move, price units), so a far level (e.g. a distant
    OI wall) is listed in the legend but may sit off the chart.
    """
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.015,
                        column_widths=[0.5, 0.25, 0.25], subplot_titles=PANEL_TITLES)
    if bars is not None and len(bars):
        fig.add_trace(go.Candlestick(
            x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
            close=bars["close"], name="Price", increasing_line_color=CALL_COLOR,
            decreasing_line_color=PUT_COLOR, showlegend=False), row=1, col=1)
        x0, x1 = bars.index[0], bars.index[-1]
    else:
        x0, x1 = 0, 1
    strikes = volume["strike"].to_numpy(dtype="float64")
    calls = volume["call_volume"].to_numpy(dtype="float64")
    puts = volume["put_volume"].to_numpy(dtype="float64")
    fig.add_trace(go.Bar(
        y=strikes, x=calls, orientation="h", name="Call volume", marker_color=CALL_COLOR,
        hovertemplate=f"Strike %{{y:,.2f}} {price_unit}<br>Call volume %{{x:,.0f}} contracts"
                      "<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Bar(
        y=strikes, x=-puts, orientation="h", name="Put volume", marker_color=PUT_COLOR,
        customdata=puts,
        hovertemplate=f"Strike %{{y:,.2f}} {price_unit}<br>Put volume %{{customdata:,.0f}} "
                      "contracts<extra></extra>"), row=1, col=2)
    net = gex["net_gex"].to_numpy(dtype="float64")
    fig.add_trace(go.Bar(
        y=gex["strike"].to_numpy(dtype="float64"), x=net, orientation="h", name="Net GEX",
        marker_color=np.where(net >= 0, CALL_COLOR, PUT_COLOR).tolist(), showlegend=False,
        hovertemplate=f"Strike %{{y:,.2f}} {price_unit}<br>Net GEX %{{x:,.3s}} $ per 1% move "
                      "(calls +, puts −)<extra></extra>"), row=1, col=3)
    for lv in levels:
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=lv.value, y1=lv.value,
                      line=dict(color=lv.color, dash=lv.dash, width=1.3 if lv.color != SPOT_COLOR
                                else 2))
        fig.add_trace(go.Scatter(  # legend entry + hover with the definition
            x=[x0, x1], y=[lv.value, lv.value], mode="lines", name=f"{lv.name} {lv.value:,.2f}",
            line=dict(color=lv.color, dash=lv.dash, width=1.3),
            hovertemplate=f"<b>{lv.name}</b> {lv.value:,.2f} {price_unit}<br>{lv.definition}"
                          "<extra></extra>"), row=1, col=1)
    low, high = y_range(strikes, bars, spot, move)
    fig.update_yaxes(range=[low, high], gridcolor="rgba(148,163,184,0.15)")
    fig.update_yaxes(title_text=f"Price / strike ({price_unit})", row=1, col=1)
    fig.update_xaxes(showgrid=False)
    fig.update_xaxes(rangeslider_visible=False, row=1, col=1)
    fig.update_xaxes(title_text="puts ← · → calls", zeroline=True,
                     zerolinecolor="rgba(148,163,184,0.6)", row=1, col=2)
    fig.update_xaxes(title_text="− · +", zeroline=True, zerolinecolor="rgba(148,163,184,0.6)",
                     row=1, col=3)
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)),
        height=height, margin=dict(l=10, r=10, t=60, b=10), barmode="relative", bargap=0.15,
        legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.01,
                    font=dict(size=10)),
        hovermode="closest", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    for ann in fig.layout.annotations:  # the panel titles
        ann.font = dict(size=11)
    return fig
