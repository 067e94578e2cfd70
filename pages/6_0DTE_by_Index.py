"""6 · 0DTE by Index — one index in depth, live.

Layout: index picker and pause toggle (full reruns only), then two live fragments: the index
(session line, signal, metrics, the combined price / volume / net GEX chart with every level,
the key strikes table), refreshed every ``zero_dte.refresh_seconds`` (never sooner than the
chains' TTL), and the Magnificent 7 cards (nearest expiry's walls and expected move), refreshed
half as often. Fragments take only a symbol or a tuple of symbols as arguments.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import clock, fetch, symbols
from core.analytics import exposure, zero_dte
from core.errors import DataError
from core.ui import charts, figures, layout, widgets

CHART_LEVELS = ("spot", "zero_gamma", "call_wall_gamma", "put_wall_gamma", "call_wall_oi",
                "put_wall_oi", "max_pain", "volume_pivot", "em_upper", "em_lower")
SIGNAL_COLOR = {2: "green", 1: "green", 0: "gray", -1: "red", -2: "red"}
SIGNAL_HELP = (f"Signal = price vs zero gamma (+1 above, −1 below) + put/call volume (+1 when "
               f"P/C < {zero_dte.PC_LOW:g}: call-heavy; −1 when P/C > {zero_dte.PC_HIGH:g}: "
               "put-heavy). +2 Bullish, +1 Lean bullish, 0 Neutral, −1 Lean bearish, "
               "−2 Bearish. A reading of positioning, not advice.")
# The cards refresh half as often as the index section. Their nearest weekly is at most 7 days
# out, so its chain has the near-term TTL too: the interval is never shorter than a TTL shown.
MAG7_INTERVAL_FACTOR = 2


def fmt(value: float | None, spec: str = ",.2f") -> str:
    return "n/a" if value is None else format(value, spec)


def money(value: float) -> str:
    """``+$12.3M`` / ``−$3.34B``: a signed dollar amount, short."""
    sign = "+" if value >= 0 else "−"
    size = abs(value)
    if size >= 1e9:
        return f"{sign}${size / 1e9:,.2f}B"
    if size >= 1e6:
        return f"{sign}${size / 1e6:,.1f}M"
    return f"{sign}${size / 1e3:,.0f}K"


def session_line(status: clock.MarketStatus) -> None:
    t = zero_dte.session_timer(status)
    if t.state == "open":
        early = " (early close)" if t.early_close else ""
        st.progress(t.progress, text=f"Session {100 * t.progress:.0f}% done · closes "
                                     f"{t.closes_at:%H:%M} ET{early}, in "
                                     f"{layout.format_duration(t.seconds_to_close)}")
    else:
        st.progress(t.progress, text=f"{layout.STATE_LABEL[t.state]} · next session "
                                     f"{t.next_open:%a %d %b %H:%M} ET, in "
                                     f"{layout.format_duration(t.seconds_to_open)}")


def index_section(index: str) -> None:
    """Everything about one index; refreshed by its fragment."""
    status = clock.market_status()
    session_line(status)
    try:
        choice = zero_dte.choose_expiry(fetch.expirations(index), status)
        if choice.expiry is None:
            st.info(f"{index} has no listed expiry.", icon=":material/event_busy:")
            return
        if not choice.is_0dte:
            st.info(f"{choice.reason} Showing the next session's expiry instead: "
                    f"{widgets.expiry_label(choice.expiry, status.at.date())}.",
                    icon=":material/event_busy:")
        quote = fetch.quote(index)
        chain = fetch.chain(index, choice.expiry)
        kl = fetch.key_levels(index, choice.expiry)
        bars = fetch.history(index, "1d", "5m")
    except DataError as exc:
        layout.show_error(exc)
        return
    head = st.columns([3, 2], vertical_alignment="center")
    tag = "green" if choice.is_0dte else "orange"
    head[0].markdown(f":{tag}-badge[{choice.label}]")
    with head[1]:
        layout.freshness_badge(chain, quote)
    sig = zero_dte.signal(kl.spot, kl.zero_gamma, kl.pc_volume)
    rng = zero_dte.expected_range(kl)
    c = st.columns([1.5, 1, 1, 1, 1, 1])
    with c[0]:
        st.markdown("Signal", help=SIGNAL_HELP)
        st.markdown(f"### :{SIGNAL_COLOR[sig.score]}[{sig.label}]")
        st.caption(f"{sig.reasons[0].capitalize()}; {sig.reasons[1]}.")
    c[1].metric(f"{index} price", f"{quote.price:,.2f}",
                f"{quote.change:+,.2f} ({quote.change_pct:+.2f}%)",
                help="Last price and change vs the previous close.")
    regime = exposure.gamma_regime(kl.net_gex, kl.spot, kl.zero_gamma)
    c[2].metric("Zero gamma", fmt(kl.zero_gamma),
                f"{regime.label}" + ("" if regime.flip_pct is None
                                     else f" · flip {regime.flip_pct:+.2f}%"),
                delta_color="off", delta_arrow="off",
                help=charts.LEVELS["zero_gamma"][1] + " (GEX: calls +, puts −). Below it: the regime, from the SIGN of net GEX at spot — positive: "
                     "dealer hedging damps moves; negative: it amplifies them — and the distance "
                     "to the flip, (zero gamma − spot) ÷ spot × 100.")
    c[3].metric("Expected move (1σ)", "n/a" if rng.move is None else f"±{rng.move:,.2f}",
                None if rng.move_pct is None else f"±{rng.move_pct:.2f}% of spot",
                delta_color="off", delta_arrow="off",
                help="S·σ·√T with the ATM IV and T the time left to the expiry's close (0DTE: "
                     "the rest of today's session, at least 5 minutes).")
    c[4].metric("Put/call (volume)", fmt(kl.pc_volume), f"by OI {fmt(kl.pc_oi)}",
                delta_color="off", delta_arrow="off",
                help="Put ÷ call contracts traded today; OI: put ÷ call open interest (as of "
                     "the prior close).")
    c[5].metric("Net GEX", money(kl.net_gex),
                help="Σ Γ·OI·100·S²·0.01 over the expiry ($ per 1% move), calls +, puts − "
                     "(dealers long calls, short puts). Positive: hedging damps moves.")
    alerts = zero_dte.level_alerts(kl)
    if alerts:
        st.markdown("Near price: " + " ".join(
            f":orange-badge[:material/notifications_active: {charts.LEVELS[a.level][0]} "
            f"{a.value:,.2f} · {a.distance_pct:.2f}% {a.side}]" for a in alerts),
            help=f"Levels within {zero_dte.ALERT_PCT}% of price.")
    lines = charts.key_level_lines(kl, CHART_LEVELS)
    price_label = "today" if status.state == "open" else "last session"  # 5-min bars
    # one figure per (chain, bars) version, shared by every session (core.ui.figures)
    layout.chart(figures.index_chart(
        chain, kl, bars, CHART_LEVELS,
        title=f"{index} · price ({price_label}, 5-min), volume and net GEX by strike · "
              f"{choice.label}"), levels=lines,
        caption="Volume: contracts traded today, calls right (green), puts left (red). Net "
                "GEX: $ per 1% move, calls +, puts − (dealers long calls, short puts). Levels "
                "use the whole chain; the bars show the strikes nearest spot.")
    st.markdown("##### Key strikes")
    table = zero_dte.key_strikes(kl)
    st.dataframe(
        pd.DataFrame({
            "level": [charts.LEVELS[k][0] if k in charts.LEVELS else "ATM strike"
                      for k in table["kind"]],
            "price": table["level"], "vs spot %": table["distance_pct"], "side": table["side"],
            "definition": [charts.LEVELS[k][1] if k in charts.LEVELS else
                           "strike nearest spot listed for both a call and a put"
                           for k in table["kind"]]}),
        hide_index=True, width="stretch", height="content",
        column_config={"price": st.column_config.NumberColumn(format="%.2f"),
                       "vs spot %": st.column_config.NumberColumn(
                           format="%+.2f%%", help="(level − spot) / spot × 100")})
    notes = layout.data_notes(chain)
    if notes:
        st.caption("Data notes: " + " · ".join(notes))


def _mag7_load(sym: str):
    """(nearest expiry, quote, key levels) of one Mag 7 card; None without a listed expiry."""
    listed = fetch.expirations(sym)
    if not listed:
        return None
    return listed[0], fetch.quote(sym), fetch.key_levels(sym, listed[0])


def mag7_section(names: tuple[str, ...]) -> None:
    """Compact cards: nearest expiry's OI walls and expected move per Mag 7 name."""
    shown = []
    cols = st.columns(len(names))
    loaded = fetch.many(_mag7_load, names)  # in parallel, under one page deadline
    for col, sym in zip(cols, names):
        with col.container(border=True):
            if isinstance(loaded[sym], DataError):
                st.markdown(f"**{sym}**")
                layout.show_error(loaded[sym])
                continue
            if loaded[sym] is None:
                st.markdown(f"**{sym}**")
                st.caption("No listed expiry.")
                continue
            expiry, quote, kl = loaded[sym]
            shown.append(quote)
            rng = zero_dte.expected_range(kl)
            regime = exposure.gamma_regime(kl.net_gex, kl.spot, kl.zero_gamma)
            st.metric(sym, f"{quote.price:,.2f}", f"{quote.change_pct:+.2f}%",
                      help="Last price and change vs the previous close.")
            em = "n/a" if rng.move is None else f"±{rng.move:,.2f} (±{rng.move_pct:.1f}%)"
            days = widgets.dte(expiry)
            side = {"positive": ":green[γ+ damped]", "negative": ":red[γ− amplified]"
                    }.get(regime.state, ":gray[gamma n/a]")
            st.markdown(f"{expiry:%a %d %b} · {'0DTE' if days == 0 else f'{days} DTE'}  \n"
                        f":green[Call wall] **{fmt(kl.call_wall_oi, ',.0f')}**  \n"
                        f":red[Put wall] **{fmt(kl.put_wall_oi, ',.0f')}**  \n"
                        f"EM **{em}**  \n{side}",
                        help="Nearest listed expiry. Walls: strikes with the most call / put "
                             "open interest. EM: 1σ expected move to that expiry's close "
                             "(S·σ·√T, ATM IV). Badge: the gamma regime, the sign of net GEX "
                             "at spot (+ damped, − amplified).")
    if shown:
        layout.freshness_badge(*shown)


with layout.page("zero_dte_index") as page:
    settings = fetch.settings()
    choices = symbols.INDEXES_0DTE[:settings.max_indexes]
    controls = st.columns([2, 1.3, 4], vertical_alignment="bottom")
    index = controls[0].selectbox("Index", choices, key=page.key("index"),
                                  help="SPY, QQQ, IWM (ETFs) or the cash indexes ^SPX, ^NDX, "
                                       "^RUT (PM-settled contracts for 0DTE).")
    paused = controls[1].toggle("Pause live refresh", key=page.key("paused"),
                                help="Stop the automatic refresh; the page keeps what it shows.")
    status = clock.market_status()
    # chains, quotes and intraday bars (whose TTL is the near chains')
    interval = zero_dte.refresh_seconds([settings.ttl_chain_near, settings.ttl_quote],
                                        market_open=status.is_open)
    if paused:
        controls[2].caption(f":orange-badge[:material/pause: Paused] · page loaded "
                            f"{status.at:%H:%M:%S} ET")
    else:
        controls[2].caption(f":green-badge[:material/autorenew: Live] index every "
                            f"{interval:.0f} s, Mag 7 every "
                            f"{MAG7_INTERVAL_FACTOR * interval:.0f} s · page loaded "
                            f"{status.at:%H:%M:%S} ET")
    if len(symbols.INDEXES_0DTE) > len(choices):
        st.caption(f"Index list capped at {len(choices)} (OPTIONS_DASH_MAX_INDEXES).")
    st.fragment(index_section, run_every=None if paused else interval)(index)
    st.markdown("##### Magnificent 7 · nearest expiry",
                help="The same shared, cached chains as every other page: one fetch per "
                     "symbol and expiry per refresh interval, whatever the number of viewers.")
    st.fragment(mag7_section, run_every=None if paused else MAG7_INTERVAL_FACTOR * interval)(
        tuple(symbols.MAG7[:7]))
