"""5 · 0DTE — SPY, QQQ, ^SPX and IWM side by side for today's expiry, live.

Layout: index picker and pause toggle (full reruns only), then one live fragment refreshed every
``zero_dte.refresh_seconds`` (never sooner than the chains' TTL): the session timer, the
divergence flags, and one column per index with price, expected move, levels, gamma regime badge,
0.3 % alerts and volume by strike. Every number comes from core.fetch / core.analytics; the
fragment takes only the tuple of symbols, so its stored state is a few bytes.
"""

from __future__ import annotations

import streamlit as st

from core import clock, fetch, symbols
from core.analytics import exposure, zero_dte
from core.errors import DataError
from core.ui import charts, figures, layout

DEFAULT_INDEXES = ("SPY", "QQQ", "^SPX", "IWM")
CHART_LEVELS = ("spot", "zero_gamma", "max_pain", "em_upper", "em_lower")
REGIME_BADGE = {"positive": ("green", "Positive gamma · moves damped"),
                "negative": ("red", "Negative gamma · moves amplified"),
                "flat": ("gray", "Net gamma flat"), "unknown": ("gray", "Gamma n/a (no OI)")}
REGIME_HELP = ("Gamma regime = the sign of net GEX at spot (Σ Γ × OI × 100 × S² × 0.01 over "
               "today's full chain, $ per 1% move; dealers assumed long calls +, short puts −). "
               "Positive: dealers hedge against moves, which damps them; negative: they hedge "
               "with moves, which amplifies them. It says damped / amplified, not up / down. "
               "The % is the distance from spot to zero gamma (the flip): (zero gamma − spot) "
               "÷ spot × 100.")
LEVELS_HELP = "  \n".join(
    f"**{charts.LEVELS[k][0]}**: {charts.LEVELS[k][1]}." for k in
    ("zero_gamma", "max_pain", "call_wall_oi", "call_wall_volume", "call_wall_gamma",
     "volume_pivot")) + ("  \nPut walls: the same on the put side (gamma: largest |put GEX|). "
                         "**P/C**: put ÷ call, by today's volume and by open interest.")


def level_name(kind: str) -> str:
    return charts.LEVELS[kind][0] if kind in charts.LEVELS else kind


def fmt(value: float | None, spec: str = ",.2f") -> str:
    return "n/a" if value is None else format(value, spec)


def show_timer(status: clock.MarketStatus) -> None:
    """Time to close and progress through the day (or time to the next open)."""
    t = zero_dte.session_timer(status)
    cols = st.columns(4)
    if t.state == "open":
        early = " (early close)" if t.early_close else ""
        cols[0].metric("Time to close", layout.format_duration(t.seconds_to_close),
                       help=f"Regular session closes {t.closes_at:%H:%M} ET{early}.")
        cols[1].metric("Session done", f"{100 * t.progress:.0f}%",
                       help="Share of today's regular session elapsed (09:30 to the close).")
        cols[2].metric("Closes", f"{t.closes_at:%H:%M} ET{early}")
        cols[3].metric("0DTE time left", f"{t.minutes_left:,.0f} min",
                       help="T used for 0DTE greeks and the expected move: the time left in "
                            "today's session, never less than 5 minutes (so gamma stays "
                            "finite at the close).")
        st.progress(t.progress, text=f"Session {100 * t.progress:.0f}% done · "
                                     f"{layout.format_duration(t.seconds_to_close)} to the close")
    else:
        label = layout.STATE_LABEL[t.state]
        cols[0].metric("Market", label)
        cols[1].metric("Next open", f"{t.next_open:%a %H:%M} ET",
                       help=f"{t.next_open:%A %d %B %Y, %H:%M} ET")
        cols[2].metric("Opens in", layout.format_duration(t.seconds_to_open))
        st.progress(t.progress, text=f"{label} · no session trading now")


def load(sym: str, status: clock.MarketStatus) -> dict:
    """The fetched values for one index column (shared cached objects; nothing stored)."""
    choice = zero_dte.choose_expiry(fetch.expirations(sym), status)
    if choice.expiry is None:
        return {"choice": choice}
    quote = fetch.quote(sym)
    chain = fetch.chain(sym, choice.expiry)
    kl = fetch.key_levels(sym, choice.expiry)
    return {"choice": choice, "quote": quote, "chain": chain, "kl": kl,
            "bias": zero_dte.bias(kl.spot, kl.zero_gamma),
            "regime": exposure.gamma_regime(kl.net_gex, kl.spot, kl.zero_gamma)}


def show_column(sym: str, data: dict) -> None:
    choice: zero_dte.ExpiryChoice = data["choice"]
    st.markdown(f"#### {sym}")
    if choice.expiry is None:
        st.info(f"{sym}: no listed expiry.", icon=":material/event_busy:")
        return
    quote, chain, kl = data["quote"], data["chain"], data["kl"]
    tag = "green" if choice.is_0dte else "orange"
    st.markdown(f":{tag}-badge[{choice.label}]")
    layout.freshness_badge(chain, quote)
    st.metric(f"{sym} price", f"{quote.price:,.2f}",
              f"{quote.change:+,.2f} ({quote.change_pct:+.2f}%)",
              help="Last price and change vs the previous close.")
    regime = data["regime"]
    color, text = REGIME_BADGE[regime.state]
    flip = "" if regime.flip_pct is None else f" · flip {regime.flip_pct:+.2f}%"
    st.markdown(f":{color}-badge[{text}{flip}]", help=REGIME_HELP)
    rng = zero_dte.expected_range(kl)
    horizon = "rest of session" if choice.is_0dte else f"to {choice.expiry:%a} close"
    if rng.move is None:
        st.markdown(f"**Expected move** ({horizon}): n/a")
    else:
        st.markdown(f"**Expected move** ({horizon}): **±{rng.move:,.2f}** (±{rng.move_pct:.2f}%) "
                    f"→ {rng.low:,.2f} – {rng.high:,.2f}  \nStraddle ~50% range "
                    f"±{fmt(kl.range_50)}",
                    help="1σ = S·σ·√T with the ATM IV and T the time left to the expiry's close "
                         "(for 0DTE: the rest of today's session, at least 5 minutes). "
                         "Straddle range = 0.85 × the ATM straddle's time value (call + put mid "
                         "− |S − K|: late in a 0DTE most of the straddle is intrinsic value, "
                         "which is no move) ≈ the move with ~50% odds of being exceeded.")
    st.markdown(
        f"**Zero gamma** {fmt(kl.zero_gamma)} · **Max pain** {fmt(kl.max_pain)}  \n"
        f"**Call wall** OI {fmt(kl.call_wall_oi, ',.0f')} · vol "
        f"{fmt(kl.call_wall_volume, ',.0f')} · γ {fmt(kl.call_wall_gamma, ',.0f')}  \n"
        f"**Put wall** OI {fmt(kl.put_wall_oi, ',.0f')} · vol "
        f"{fmt(kl.put_wall_volume, ',.0f')} · γ {fmt(kl.put_wall_gamma, ',.0f')}  \n"
        f"**Volume pivot** {fmt(kl.volume_pivot)} · **P/C** vol {fmt(kl.pc_volume)} · "
        f"OI {fmt(kl.pc_oi)}",
        help=LEVELS_HELP)
    alerts = zero_dte.level_alerts(kl)
    if alerts:
        st.markdown("  \n".join(
            f":orange-badge[:material/notifications_active: {level_name(a.level)} "
            f"{a.value:,.2f} {'↑' if a.side == 'above' else '↓'}{a.distance_pct:.2f}%]"
            for a in alerts),
            help=f"Price is within {zero_dte.ALERT_PCT}% of these levels (↑ level above price, "
                 "↓ below).")
    else:
        st.caption(f"No level within {zero_dte.ALERT_PCT}% of price.")
    # one figure per chain version, shared by every session (core.ui.figures)
    layout.chart(figures.volume_column(chain, kl, CHART_LEVELS, title=f"{sym} · volume by strike"))


def live_section(indexes: tuple[str, ...]) -> None:
    """The part that refreshes: timer, divergence flags, one column per index."""
    status = clock.market_status()
    show_timer(status)
    # in parallel, under one page deadline: a dead source costs one wait, not one per index
    loaded: dict[str, dict | DataError] = fetch.many(lambda s: load(s, status), indexes)
    good = {s: d for s, d in loaded.items() if isinstance(d, dict) and "kl" in d}
    reasons = {d["choice"].reason for d in loaded.values()
               if isinstance(d, dict) and d["choice"].reason}
    for reason in sorted(reasons):
        nexts = sorted({d["choice"].expiry for d in good.values() if not d["choice"].is_0dte})
        shown = ", ".join(f"{e:%a %d %b %Y}" for e in nexts)
        st.info(f"{reason} Showing the next session's expiry instead: {shown}.",
                icon=":material/event_busy:")
    flags = zero_dte.divergences(
        zero_dte.IndexSnapshot(s, d["bias"].state, d["kl"].pc_volume, d["quote"].change_pct)
        for s, d in good.items())
    with st.container(border=True):
        head = st.columns([3, 2], vertical_alignment="center")
        head[0].markdown("**Divergence between indexes**",
                         help="Flags when the indexes disagree: bias (one above zero gamma, "
                              "another below), put/call volume ratio (highest ÷ lowest > "
                              f"{zero_dte.PC_DIVERGENCE_RATIO:g}×), or daily change (highest − "
                              f"lowest > {zero_dte.CHANGE_DIVERGENCE_POINTS:g} point).")
        with head[1]:
            layout.freshness_badge(*(d["chain"] for d in good.values()))
        if flags:
            for flag in flags:
                st.markdown(f":orange-badge[:material/call_split: {flag.message}]")
        elif len(good) >= 2:
            st.caption("None: bias agrees, P/C within "
                       f"{zero_dte.PC_DIVERGENCE_RATIO:g}×, daily changes within "
                       f"{zero_dte.CHANGE_DIVERGENCE_POINTS:g} point.")
        else:
            st.caption("Needs at least two indexes with data.")
    for col, sym in zip(st.columns(len(indexes)), indexes):
        with col.container(border=True):
            data = loaded[sym]
            if isinstance(data, DataError):
                st.markdown(f"#### {sym}")
                layout.show_error(data)
            else:
                with layout.section(sym):
                    show_column(sym, data)
    st.caption("Volume by strike: contracts traded today, calls green above zero, puts red below. "
               "Lines: " + " · ".join(f"**{charts.LEVELS[k][0]}** ({charts.LEVELS[k][3]}) — "
                                      f"{charts.LEVELS[k][1]}" for k in CHART_LEVELS))
    for sym, data in good.items():
        st.caption(f"Data notes, {sym}: " + " · ".join(layout.data_notes(data["chain"])))


with layout.page("zero_dte") as page:
    settings = fetch.settings()
    cap = min(settings.max_indexes, len(symbols.INDEXES_0DTE))
    controls = st.columns([4, 1.3, 3], vertical_alignment="bottom")
    picked = controls[0].multiselect(
        "Indexes", symbols.INDEXES_0DTE, default=list(DEFAULT_INDEXES[:cap]),
        key=page.key("indexes"), max_selections=cap,
        help=f"Up to {cap} indexes side by side (limit OPTIONS_DASH_MAX_INDEXES).")
    paused = controls[1].toggle("Pause live refresh", key=page.key("paused"),
                                help="Stop the automatic refresh; the page keeps what it shows.")
    status = clock.market_status()
    interval = zero_dte.refresh_seconds([settings.ttl_chain_near, settings.ttl_quote],
                                        market_open=status.is_open)
    if paused:
        controls[2].caption(f":orange-badge[:material/pause: Paused] · page loaded "
                            f"{status.at:%H:%M:%S} ET")
    else:
        controls[2].caption(f":green-badge[:material/autorenew: Live] refresh every "
                            f"{interval:.0f} s (the option chains' cache TTL) · page loaded "
                            f"{status.at:%H:%M:%S} ET")
    indexes = tuple(picked[:cap])
    if len(picked) > cap:
        st.warning(f"Only {cap} indexes can be shown at once; showing {', '.join(indexes)}.")
    if not indexes:
        st.info("Pick at least one index.", icon=":material/touch_app:")
    else:
        st.fragment(live_section, run_every=None if paused else interval)(indexes)
