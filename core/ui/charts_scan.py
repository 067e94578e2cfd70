"""Figures for the multi-symbol pages that :mod:`core.ui.charts` lacks. Pure: data in, figure out.

Builders
    :func:`card_chart`       a Command Center card: 30 daily candles, SMA10, EMA21, level lines,
                             MACD cross markers
    :func:`intraday_chart`   candles with overlays and level lines, overnight gaps removed
    :func:`score_bars`       the 0–100 bias score per symbol against the band edges 30 / 70
    :func:`contract_bars`    a score per contract (whale / fresh), calls green, puts red
    :func:`signed_bars`      one signed value per symbol (e.g. the 25Δ risk reversal)
Same colours as :mod:`core.ui.charts`: calls / bullish green, puts / bearish red.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.ui import charts
from core.ui.charts import CALL_COLOR, NEUTRAL_COLOR, PUT_COLOR, Level

BAND_COLORS = {"Bullish": CALL_COLOR, "Neutral": "#94a3b8", "Bearish": PUT_COLOR}
OVERNIGHT_BREAKS = [dict(bounds=["sat", "mon"]), dict(bounds=[16, 9.5], pattern="hour")]


def _style(fig: go.Figure, title: str, x_title: str, y_title: str, height: int) -> go.Figure:
    """The house look (same as :mod:`core.ui.charts`): transparent background, small title."""
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)), height=height,
        margin=dict(l=10, r=10, t=40, b=10), hovermode="closest", bargap=0.15,
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    fig.update_xaxes(title_text=x_title, showgrid=False)
    fig.update_yaxes(title_text=y_title, gridcolor="rgba(148,163,184,0.15)",
                     zerolinecolor="rgba(148,163,184,0.4)")
    return fig


def _naive_et(index: pd.Index) -> pd.Index:
    """Wall-clock ET timestamps without a zone, so the axis shows ET times as they are."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_convert("America/New_York").tz_localize(None)
    return index


def _naive(obj):
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.set_axis(_naive_et(obj.index))
    return obj


def card_chart(bars: pd.DataFrame, *, sma10: pd.Series, ema21: pd.Series,
               crosses: pd.DataFrame, title: str = "", levels: Sequence[Level] = (),
               height: int = 240) -> go.Figure:
    """Daily candles with SMA10 and EMA21 overlays, horizontal ``levels`` (walls, absolute gamma
    strike, price line) and MACD(12,26,9) crosses as markers (▲ green under the bar: MACD moved
    above its signal; ▼ red above the bar: below). ``crosses`` has ``time``, ``direction`` and
    ``price`` columns (``core.analytics.command_center.card_series``). No legend (the card's caption
    names the lines; hover names each one)."""
    fig = charts.price_chart(_naive(bars), title=title, levels=levels, height=height,
                             overlays={"SMA10": _naive(sma10), "EMA21": _naive(ema21)})
    if len(crosses):
        times = _naive_et(pd.DatetimeIndex(crosses["time"]))
        span = float(bars["high"].max() - bars["low"].min()) if len(bars) else 0.0
        pad = 0.04 * span
        for direction, symbol, color, sign in (("bullish", "triangle-up", CALL_COLOR, -1),
                                               ("bearish", "triangle-down", PUT_COLOR, 1)):
            sel = (crosses["direction"] == direction).to_numpy()
            if not sel.any():
                continue
            anchor = bars["low"] if sign < 0 else bars["high"]
            y = anchor.reindex(crosses["time"][sel]).to_numpy(dtype="float64") + sign * pad
            fig.add_trace(go.Scatter(
                x=times[sel], y=y, mode="markers", name=f"MACD {direction} cross",
                marker=dict(symbol=symbol, size=10, color=color),
                hovertemplate=f"MACD {direction} cross %{{x|%d %b}}<extra></extra>"))
    fig.update_layout(margin=dict(l=6, r=6, t=28 if title else 6, b=6), showlegend=False,
                      title=dict(text=title))
    fig.update_yaxes(title_text="")
    return fig



def intraday_chart(bars: pd.DataFrame, *, title: str, levels: Sequence[Level] = (),
                   overlays: dict | None = None, intraday: bool = True,
                   height: int = 440) -> go.Figure:
    """Candles (ET wall-clock axis) with ``overlays`` and level lines; for intraday bars the
    overnight and weekend gaps are removed from the axis."""
    fig = charts.price_chart(_naive(bars), title=title, levels=levels, height=height,
                             overlays={k: _naive(v) for k, v in (overlays or {}).items()})
    if intraday:
        fig.update_xaxes(rangebreaks=OVERNIGHT_BREAKS)
    return charts.legend_below(fig)


def score_bars(symbols: Sequence[str], scores, bands: Sequence[str], *, title: str,
               low: float = 30, high: float = 70, height: int | None = None) -> go.Figure:
    """Horizontal bars of the 0–100 bias score per symbol, coloured by band, with dashed lines at
    the band edges (≤ ``low`` Bearish, ≥ ``high`` Bullish) and at the 50 start."""
    values = np.asarray(scores, dtype="float64")
    colors = [BAND_COLORS.get(b, NEUTRAL_COLOR) for b in bands]
    fig = go.Figure(go.Bar(
        y=list(symbols), x=values, orientation="h", marker_color=colors, showlegend=False,
        customdata=list(bands),
        hovertemplate="%{y}: score %{x:.0f} / 100 (%{customdata})<extra></extra>"))
    for x, dash, label in ((low, "dash", f"≤ {low:.0f} Bearish"), (50, "dot", "start 50"),
                           (high, "dash", f"≥ {high:.0f} Bullish")):
        fig.add_vline(x=x, line=dict(color="#94a3b8", dash=dash, width=1),
                      annotation_text=label, annotation_position="top",
                      annotation_font_size=10)
    rows = len(values)
    _style(fig, title, "Bias score (0–100)", "", height or max(220, 22 * rows + 80))
    fig.update_xaxes(range=[0, 100])
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return fig


def contract_bars(labels: Sequence[str], values, types: Sequence[str], *, title: str,
                  measure: str, unit: str = "", height: int | None = None) -> go.Figure:
    """Horizontal bars of a per-contract score (largest on top): calls green, puts red."""
    values = np.asarray(values, dtype="float64")
    colors = [CALL_COLOR if t == "call" else PUT_COLOR for t in types]
    fig = go.Figure(go.Bar(
        y=list(labels), x=values, orientation="h", marker_color=colors, showlegend=False,
        customdata=list(types),
        hovertemplate=f"%{{y}} (%{{customdata}})<br>{measure} %{{x:,.1f}} {unit}<extra></extra>"))
    _style(fig, title, f"{measure}{f' ({unit})' if unit else ''}", "",
                   height or max(220, 22 * len(values) + 80))
    fig.update_yaxes(autorange="reversed", showgrid=False, type="category")
    return fig


def signed_bars(labels: Sequence[str], values, *, title: str, measure: str, unit: str,
                positive_color: str = CALL_COLOR, negative_color: str = PUT_COLOR,
                height: int = 300) -> go.Figure:
    """One signed value per label; colour by sign (defaults suit the 25Δ risk reversal, call IV
    − put IV: positive = calls richer → green, negative = puts richer → red). NaN bars are left
    empty."""
    values = np.asarray(values, dtype="float64")
    colors = np.where(values >= 0, positive_color, negative_color).tolist()
    fig = go.Figure(go.Bar(
        x=list(labels), y=values, marker_color=colors, showlegend=False,
        hovertemplate=f"%{{x}}: {measure} %{{y:+.2f}} {unit}<extra></extra>"))
    _style(fig, title, "", f"{measure} ({unit})", height)
    fig.update_xaxes(type="category")
    return fig
