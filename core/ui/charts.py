"""Plotly figure builders shared by the pages. Pure: data in, figure out (no Streamlit, no I/O).

Colours are fixed across the app: calls / positive values green, puts / negative values red.
Every level line carries its one-line definition (in its hover text and, through
:func:`level_notes`, in the caption under the chart). Hover text always states units.

Builders
    :func:`strike_bars`   call and put bars by strike (mirrored: puts below zero) + level lines
    :func:`net_bars`      one signed value by strike (e.g. net GEX), coloured by sign
    :func:`heatmap`       a value on strike x expiry, diverging around zero
    :func:`smile`         IV by strike for calls and puts
    :func:`price_chart`   candles (or a line) with overlays and horizontal level lines
    :func:`move_bars`     today's % change per symbol against a ± band (e.g. expected move)
Levels
    :class:`Level`, :data:`LEVELS`, :func:`level`, :func:`key_level_lines`, :func:`level_notes`
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

CALL_COLOR = "#22c55e"   # green
PUT_COLOR = "#ef4444"    # red
SPOT_COLOR = "#e5e7eb"   # light grey (visible on dark and light backgrounds)
NEUTRAL_COLOR = "#60a5fa"
HEIGHT = 380


# --- levels ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Level:
    """A horizontal/vertical line at ``value`` (price units) named ``name``, with a one-line
    ``definition`` shown in hover text and captions."""

    name: str
    value: float
    definition: str
    color: str = NEUTRAL_COLOR
    dash: str = "dash"


#: kind -> (label, one-line definition, colour, dash). Keys match core.analytics.levels.KeyLevels.
LEVELS: dict[str, tuple[str, str, str, str]] = {
    "spot": ("Spot", "last price of the underlying", SPOT_COLOR, "solid"),
    "call_wall_oi": ("Call wall (OI)", "strike with the most call open interest",
                     CALL_COLOR, "dash"),
    "put_wall_oi": ("Put wall (OI)", "strike with the most put open interest", PUT_COLOR, "dash"),
    "call_wall_volume": ("Call wall (volume)", "strike with the most call volume today",
                         CALL_COLOR, "dot"),
    "put_wall_volume": ("Put wall (volume)", "strike with the most put volume today",
                        PUT_COLOR, "dot"),
    "call_wall_gamma": ("Call wall (gamma)", "strike with the largest call GEX",
                        CALL_COLOR, "dashdot"),
    "put_wall_gamma": ("Put wall (gamma)", "strike with the largest |put GEX|",
                       PUT_COLOR, "dashdot"),
    "abs_gamma_strike": ("Abs. gamma strike", "strike with the most gross gamma, call GEX + "
                         "|put GEX| (not netted), full chain",
                         "#a78bfa", "dashdot"),
    "zero_gamma": ("Zero gamma", "spot level where dealers' total GEX (re-priced over spot ±15% "
                   "with each contract's IV, full chain) changes sign; price units",
                   "#facc15", "dash"),
    "max_pain": ("Max pain", "strike where option holders' total payoff at expiry is smallest",
                 "#c084fc", "dot"),
    "volume_pivot": ("Volume pivot", "near spot, where net (put − call) volume changes sign; "
                     "a flow level, not a gamma level", "#fb923c", "dot"),
    "em_upper": ("EM upper", "spot + expected move (1σ from ATM IV: S·σ·√T)", "#94a3b8", "dot"),
    "em_lower": ("EM lower", "spot − expected move (1σ from ATM IV: S·σ·√T)", "#94a3b8", "dot"),
}


def level(kind: str, value: float | None, *, name: str | None = None) -> Level | None:
    """The :class:`Level` of a known ``kind`` (see :data:`LEVELS`) at ``value``; None when the
    value is missing (None / NaN)."""
    if value is None or not np.isfinite(value):
        return None
    label, definition, color, dash = LEVELS[kind]
    return Level(name or label, float(value), definition, color, dash)


DEFAULT_KINDS = ("spot", "call_wall_oi", "put_wall_oi", "zero_gamma", "max_pain")


def key_level_lines(levels_obj, kinds: Iterable[str] = DEFAULT_KINDS) -> list[Level]:
    """Level lines from any object with attributes named like :data:`LEVELS` keys (e.g.
    ``core.analytics.levels.KeyLevels``); ``em_upper``/``em_lower`` come from ``spot`` and
    ``one_sigma_iv``. Missing or undefined levels are skipped."""
    out = []
    for kind in kinds:
        if kind in ("em_upper", "em_lower"):
            move = getattr(levels_obj, "one_sigma_iv", None)
            spot = getattr(levels_obj, "spot", None)
            value = None if move is None or spot is None else (
                spot + move if kind == "em_upper" else spot - move)
        else:
            value = getattr(levels_obj, kind, None)
        line = level(kind, value)
        if line is not None:
            out.append(line)
    return out


def level_notes(levels: Iterable[Level], *, decimals: int = 2) -> str:
    """One markdown line per level: ``**Zero gamma** 671.50 — definition``."""
    return "  \n".join(f"**{lv.name}** {lv.value:,.{decimals}f} — {lv.definition}"
                       for lv in levels)


def _vertical_levels(fig: go.Figure, levels: Sequence[Level], y_low: float, y_high: float,
                     unit: str) -> None:
    for lv in levels:
        fig.add_trace(go.Scatter(
            x=[lv.value, lv.value], y=[y_low, y_high], mode="lines", name=lv.name,
            line=dict(color=lv.color, dash=lv.dash, width=1.5),
            hovertemplate=f"<b>{lv.name}</b> {lv.value:,.2f} {unit}<br>{lv.definition}"
                          "<extra></extra>"))


def _horizontal_levels(fig: go.Figure, levels: Sequence[Level], x_low, x_high,
                       unit: str) -> None:
    for lv in levels:
        fig.add_trace(go.Scatter(
            x=[x_low, x_high], y=[lv.value, lv.value], mode="lines", name=lv.name,
            line=dict(color=lv.color, dash=lv.dash, width=1.2),
            hovertemplate=f"<b>{lv.name}</b> {lv.value:,.2f} {unit}<br>{lv.definition}"
                          "<extra></extra>"))


def legend_below(fig: go.Figure, rows: int = 2, *, y: float = -0.12) -> go.Figure:
    """Move the legend under the plot, so many level names never cover the title (half-width
    charts); ``y`` (paper units) lower still when the x axis has a title. Same figure back."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=y, xanchor="left", x=0.0,
                                  font=dict(size=10)),
                      margin=dict(b=30 + 22 * rows))
    return fig


def base_layout(title: str, x_title: str, y_title: str, height: int, **extra) -> dict:
    """The house look as one plotly layout dict (title left, legend top right, transparent
    background, faint grid); ``extra`` keys are merged in (dicts one level deep). Builders that
    make a figure in one ``go.Figure(data=..., layout=...)`` call use it directly."""
    layout = dict(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)),
        height=height, margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0,
                    font=dict(size=10)),
        hovermode="closest", bargap=0.15,
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        xaxis=dict(title=dict(text=x_title), showgrid=False),
        yaxis=dict(title=dict(text=y_title), gridcolor="rgba(148,163,184,0.15)",
                   zerolinecolor="rgba(148,163,184,0.4)"),
    )
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int) -> go.Figure:
    fig.update_layout(base_layout(title, x_title, y_title, height))
    return fig


def _span(*arrays: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([np.asarray(a, dtype="float64").ravel() for a in arrays] or [[0.0]])
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    return (low, high) if high > low else (low, low + 1.0)


# --- bars by strike ----------------------------------------------------------------------------

def strike_bars(strikes, calls, puts, *, title: str, measure: str = "Volume",
                unit: str = "contracts", levels: Sequence[Level] = (), mirrored: bool = True,
                price_unit: str = "$", height: int = HEIGHT) -> go.Figure:
    """Call (green) and put (red) bars per strike. ``mirrored`` draws puts below zero (their
    hover still shows the positive amount). ``measure``/``unit`` name the quantity in hover
    text and on the axis (e.g. "Open interest", "contracts")."""
    x = np.asarray(strikes, dtype="float64")
    c = np.asarray(calls, dtype="float64")
    p = np.asarray(puts, dtype="float64")
    sign = -1.0 if mirrored else 1.0
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=x, y=c, name=f"Call {measure.lower()}", marker_color=CALL_COLOR,
        hovertemplate=f"Strike %{{x:,.2f}} {price_unit}<br>Call {measure.lower()} "
                      f"%{{y:,.0f}} {unit}<extra></extra>"))
    fig.add_trace(go.Bar(
        x=x, y=sign * p, name=f"Put {measure.lower()}", marker_color=PUT_COLOR,
        customdata=p,
        hovertemplate=f"Strike %{{x:,.2f}} {price_unit}<br>Put {measure.lower()} "
                      f"%{{customdata:,.0f}} {unit}<extra></extra>"))
    low, high = _span(c, sign * p)
    _vertical_levels(fig, levels, low, high, price_unit)
    fig.update_layout(barmode="relative" if mirrored else "group")
    y_title = f"{measure} ({unit})" + (" · puts below zero" if mirrored else "")
    return _layout(fig, title, f"Strike ({price_unit})", y_title, height)


def net_bars(strikes, values, *, title: str, measure: str = "Net GEX",
             unit: str = "$ per 1% move", levels: Sequence[Level] = (), price_unit: str = "$",
             height: int = HEIGHT) -> go.Figure:
    """One signed value per strike, green where positive and red where negative (e.g. net GEX:
    calls +, puts −)."""
    x = np.asarray(strikes, dtype="float64")
    y = np.asarray(values, dtype="float64")
    colors = np.where(y >= 0, CALL_COLOR, PUT_COLOR)
    fig = go.Figure(go.Bar(
        x=x, y=y, name=measure, marker_color=colors.tolist(), showlegend=False,
        hovertemplate=f"Strike %{{x:,.2f}} {price_unit}<br>{measure} %{{y:,.3s}} {unit}"
                      "<extra></extra>"))
    low, high = _span(y)
    _vertical_levels(fig, levels, low, high, price_unit)
    return _layout(fig, title, f"Strike ({price_unit})", f"{measure} ({unit})", height)


# --- heatmap strike x expiry -------------------------------------------------------------------

def _expiry_label(value) -> str:
    if isinstance(value, (dt.date, pd.Timestamp)):
        return f"{value:%d %b %y}"
    return str(value)


def heatmap(wide: pd.DataFrame, *, title: str, measure: str = "Net GEX",
            unit: str = "$ per 1% move", spot: float | None = None, price_unit: str = "$",
            height: int = 460) -> go.Figure:
    """``wide``: index strike (ascending), one column per expiry (e.g. the output of
    ``core.analytics.exposure.gex_by_strike_expiry``). Diverging colours centred on zero:
    red negative, green positive; NaN (strike not listed) left blank."""
    z = wide.to_numpy(dtype="float64")
    finite = z[np.isfinite(z)]
    bound = float(np.abs(finite).max()) if len(finite) else 1.0
    fig = go.Figure(go.Heatmap(
        z=z, x=[_expiry_label(c) for c in wide.columns],
        y=np.asarray(wide.index, dtype="float64"),
        zmid=0.0, zmin=-bound, zmax=bound,
        colorscale=[[0.0, PUT_COLOR], [0.5, "#1f2937"], [1.0, CALL_COLOR]],
        colorbar=dict(title=dict(text=unit, side="right"), thickness=10),
        hovertemplate=f"Expiry %{{x}}<br>Strike %{{y:,.2f}} {price_unit}<br>{measure} "
                      f"%{{z:,.3s}} {unit}<extra></extra>"))
    if spot is not None and len(wide.columns):
        labels = [_expiry_label(c) for c in wide.columns]
        _horizontal_levels(fig, [level("spot", spot)], labels[0], labels[-1], price_unit)
    _layout(fig, title, "Expiry", f"Strike ({price_unit})", height)
    fig.update_xaxes(type="category")
    return fig


# --- smile -------------------------------------------------------------------------------------

def smile(table: pd.DataFrame, *, title: str, spot: float | None = None,
          levels: Sequence[Level] = (), price_unit: str = "$", height: int = HEIGHT
          ) -> go.Figure:
    """IV by strike: ``table`` indexed by strike with ``call`` / ``put`` columns of decimal IV
    (``core.analytics.volatility.smile``). Plotted in percent."""
    fig = go.Figure()
    strikes = np.asarray(table.index, dtype="float64")
    for side, color in (("call", CALL_COLOR), ("put", PUT_COLOR)):
        if side in table:
            iv = 100.0 * table[side].to_numpy(dtype="float64")
            fig.add_trace(go.Scatter(
                x=strikes, y=iv, mode="lines+markers", name=f"{side.title()} IV",
                line=dict(color=color, width=2), marker=dict(size=4), connectgaps=False,
                hovertemplate=f"Strike %{{x:,.2f}} {price_unit}<br>{side.title()} IV "
                              "%{y:.1f}% (annualised)<extra></extra>"))
    all_iv = 100.0 * table.to_numpy(dtype="float64")
    finite = all_iv[np.isfinite(all_iv)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    lines = list(levels) + ([level("spot", spot)] if spot is not None else [])
    _vertical_levels(fig, [lv for lv in lines if lv is not None], low, high, price_unit)
    return _layout(fig, title, f"Strike ({price_unit})", "Implied vol (%, annualised)", height)


# --- price chart -------------------------------------------------------------------------------

def price_chart(bars: pd.DataFrame, *, title: str, levels: Sequence[Level] = (),
                overlays: Mapping[str, pd.Series] | None = None, candles: bool = True,
                price_unit: str = "$", height: int = 420) -> go.Figure:
    """OHLC bars (index = time; columns open/high/low/close) as candles (up green, down red) or
    a close line, with ``overlays`` (name -> series on the same index, e.g. VWAP, EMA21) and
    horizontal level lines spanning the chart."""
    fig = go.Figure()
    x = bars.index
    if candles:
        fig.add_trace(go.Candlestick(
            x=x, open=bars["open"], high=bars["high"], low=bars["low"], close=bars["close"],
            name="Price", increasing_line_color=CALL_COLOR, decreasing_line_color=PUT_COLOR,
            showlegend=False))
    else:
        fig.add_trace(go.Scatter(
            x=x, y=bars["close"], mode="lines", name="Close", line=dict(color=SPOT_COLOR),
            hovertemplate=f"%{{x}}<br>Close %{{y:,.2f}} {price_unit}<extra></extra>"))
    palette = ("#60a5fa", "#f59e0b", "#a78bfa", "#f472b6", "#2dd4bf")
    for i, (name, series) in enumerate((overlays or {}).items()):
        fig.add_trace(go.Scatter(
            x=series.index, y=series.to_numpy(dtype="float64"), mode="lines", name=name,
            line=dict(color=palette[i % len(palette)], width=1.3),
            hovertemplate=f"{name} %{{y:,.2f}} {price_unit}<extra></extra>"))
    if len(x):
        _horizontal_levels(fig, levels, x[0], x[-1], price_unit)
    _layout(fig, title, "", f"Price ({price_unit})", height)
    fig.update_layout(xaxis_rangeslider_visible=False, hovermode="x unified")
    if len(x) and isinstance(x, pd.DatetimeIndex) and (x[-1] - x[0]) > pd.Timedelta(days=3):
        fig.update_xaxes(rangebreaks=[dict(bounds=["sat", "mon"])])
    return fig


# --- change vs expected move -------------------------------------------------------------------

def move_bars(labels: Sequence[str], change_pct, band_pct, *, title: str,
              band_name: str = "Expected move (1σ)", height: int = 240) -> go.Figure:
    """Horizontal bars of today's change in % per symbol (green up, red down) with ± ``band_pct``
    markers (e.g. the nearest expiry's expected move in %), so a glance shows how much of the
    expected range has been used. NaN bands are left out."""
    change = np.asarray(change_pct, dtype="float64")
    band = np.asarray(band_pct, dtype="float64")
    fig = go.Figure(go.Bar(
        y=list(labels), x=change, orientation="h", name="Change today",
        marker_color=np.where(change >= 0, CALL_COLOR, PUT_COLOR).tolist(),
        hovertemplate="%{y}: %{x:+.2f}% vs previous close<extra></extra>"))
    ok = np.isfinite(band)
    for sign, label in ((1, "+"), (-1, "−")):
        fig.add_trace(go.Scatter(
            y=[lb for lb, k in zip(labels, ok) if k], x=(sign * band)[ok], mode="markers",
            name=band_name, showlegend=sign > 0, legendgroup="band",
            marker=dict(symbol="line-ns-open", size=18, color=SPOT_COLOR, line=dict(width=2)),
            hovertemplate=f"%{{y}}: {label}%{{customdata:.2f}}% ({band_name})<extra></extra>",
            customdata=band[ok]))
    _layout(fig, title, "Change (%)", "", height)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(zeroline=True, zerolinecolor="rgba(148,163,184,0.6)", ticksuffix="%")
    return fig
