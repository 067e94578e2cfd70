"""2 · Trading Dashboard — one symbol, everything live, plus the watchlist.

The symbol's banner, price chart (VWAP, previous-day high/low, opening range, option levels),
net GEX by strike, the GEX heatmap and unusual activity refresh in one fragment; the watchlist
table is a shared scan (``core.fetch.scan`` with ``core.analytics.dashboard.watch_task``) in
another. Both refresh no faster than the chain's fresh TTL, with a pause toggle.
"""

from __future__ import annotations

import functools

import streamlit as st

from core import fetch, symbols
from core.analytics import dashboard, levels, scans
from core.errors import DataError
from core.ui import charts, charts_scan, figures, layout, session, widgets
from core.ui import history as history_ui

WATCH_TASK = functools.partial(dashboard.watch_task, source=fetch)
#: label -> (history period, bar interval, intraday?)
TIMEFRAMES = {"5-min": ("2d", "5m", True), "30-min": ("5d", "30m", True),
              "Daily": (scans.DAILY_PERIOD, "1d", False)}
UNUSUAL_TOP = 15

WATCH_COLUMNS = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "price": st.column_config.NumberColumn("Price", format="%.2f"),
    "change_pct": st.column_config.NumberColumn("Chg %", format="%+.2f%%",
                                                help="vs the previous close"),
    "atm_iv_pct": st.column_config.NumberColumn("ATM IV %", format="%.1f",
                                                help="mean IV of the call and put at the strike "
                                                     "nearest spot, nearest expiry"),
    "pc_volume": st.column_config.NumberColumn("P/C vol", format="%.2f",
                                               help="put volume ÷ call volume, nearest expiry"),
    "net_gex_sign": st.column_config.TextColumn(
        "Net GEX", help="sign of Σ GEX (calls +, puts −): + dealers long gamma (hedging damps "
                        "moves), − short gamma (hedging amplifies moves)"),
    "call_wall": st.column_config.NumberColumn("Call wall (OI)", format="%.2f",
                                               help="strike with the most call open interest"),
    "call_wall_pct": st.column_config.NumberColumn("→ call wall %", format="%+.2f%%",
                                                   help="(wall − price) / price; + = above"),
    "put_wall": st.column_config.NumberColumn("Put wall (OI)", format="%.2f",
                                              help="strike with the most put open interest"),
    "put_wall_pct": st.column_config.NumberColumn("→ put wall %", format="%+.2f%%",
                                                  help="(wall − price) / price; − = below"),
    "trend": st.column_config.TextColumn("Trend", help="EMA 8/21/50/200 stack, daily closes"),
    "rsi": st.column_config.NumberColumn("RSI 14", format="%.0f", help="Wilder RSI, daily"),
    "squeeze": st.column_config.TextColumn(
        "Squeeze", help="Bollinger(20, 2) inside Keltner(20, 1.5 ATR) on the last daily bar"),
    "breakout": st.column_config.TextColumn(
        "Breakout", help="last close above the prior 20 days' high / below their low"),
    "macd": st.column_config.TextColumn(
        "MACD", help="MACD(12,26,9) cross in the last 5 daily bars, else MACD above / below "
                     "its signal line"),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM"),
}
UNUSUAL_COLUMNS = {
    "contract": st.column_config.TextColumn("Contract"),
    "type": st.column_config.TextColumn("Type"),
    "strike": st.column_config.NumberColumn("Strike", format="%.2f"),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM"),
    "volume": st.column_config.NumberColumn("Volume", format="localized"),
    "open_interest": st.column_config.NumberColumn("OI", format="localized"),
    "vol_oi": st.column_config.NumberColumn("Vol/OI", format="%.1f"),
    "last": st.column_config.NumberColumn("Last", format="%.2f"),
    "mid": st.column_config.NumberColumn("Mid", format="%.2f"),
    "iv": st.column_config.NumberColumn("IV", format="percent"),
    "premium": st.column_config.NumberColumn("Premium $", format="compact",
                                             help="day volume × current mid × 100"),
    "tier": st.column_config.TextColumn("Tier", help="premium ≥ $100k / $500k / $1M"),
    "side": st.column_config.TextColumn(
        "Side (approx.)", help="last ≥ ask → ask, ≤ bid → bid, else mid; a proxy from the "
                               "quote, not a trade tape; empty when the market is closed"),
}



def price_context(bars: fetch.Content, intraday: bool) -> dashboard.PriceContext:
    """The bars' overlays, previous day and opening range: once per bars version."""
    return fetch.derived("trading.price_context", _price_context, bars, intraday=intraday)


def _price_context(bars: fetch.Content, *, intraday: bool) -> dashboard.PriceContext:
    return dashboard.price_context(bars.frame, intraday)


def most_active(chain):
    return levels.most_active(chain.frame, 3)


def price_figure(bars: fetch.Content, kl, *, title: str, intraday: bool):
    """The price chart of one (bars, key levels) version (shared: core.ui.figures)."""
    ctx = price_context(bars, intraday)
    return charts_scan.intraday_chart(bars.frame, title=title, levels=price_lines(kl, ctx),
                                      overlays=ctx.overlays, intraday=intraday)


def fmt(value, spec: str = ",.2f", none: str = "none") -> str:
    return none if value is None else format(value, spec)


def banner(sym, q, kl, ctx, active, tf) -> None:
    row = st.columns(5)
    row[0].metric(sym, f"{q.price:,.2f}", f"{q.change:+,.2f} ({q.change_pct:+.2f}%)",
                  help="Last price and change vs the previous close.")
    row[1].metric("Zero gamma", fmt(kl.zero_gamma, none="none in range"),
                  help=charts.LEVELS["zero_gamma"][1] + " (±15 % grid, each contract's IV).")
    row[2].metric("Call wall (OI)", fmt(kl.call_wall_oi), help=charts.LEVELS["call_wall_oi"][1])
    row[3].metric("Put wall (OI)", fmt(kl.put_wall_oi), help=charts.LEVELS["put_wall_oi"][1])
    row[4].metric("Max pain", fmt(kl.max_pain), help=charts.LEVELS["max_pain"][1])
    row = st.columns(5)
    row[0].metric("P/C volume · OI", f"{fmt(kl.pc_volume, '.2f', 'n/a')} · "
                                    f"{fmt(kl.pc_oi, '.2f', 'n/a')}",
                  help="put ÷ call, by today's volume and by open interest (this expiry)")
    row[1].metric(f"RSI 14 ({tf})", fmt(ctx.rsi, ".0f", "n/a"),
                  help="Wilder RSI(14) of the chart's bars; > 70 overbought, < 30 oversold")
    em = kl.one_sigma_iv
    em_pct = dashboard.percent_of(em, kl.spot)
    row[2].metric("Expected move (1σ)", "n/a" if em is None else f"±{em:,.2f}",
                  None if em_pct is None else f"±{em_pct:.2f}%", delta_color="off",
                  delta_arrow="off",
                  help="S·σ·√T with ATM IV and T to this expiry's close (0DTE: the rest of "
                       f"today). Straddle: {fmt(kl.straddle, none='n/a')}, time value "
                       f"{fmt(kl.straddle_time_value, none='n/a')} (call + put mid − |S − K|; "
                       "0.85 × time value ≈ the ~50 % range).")
    row[3].metric("Most active strikes",
                  " · ".join(f"{k:,g}" for k in active["strike"]) or "none",
                  help="the three strikes with the most call + put volume today")
    row[4].metric("Net GEX", scans.money(kl.net_gex),
                  help="Σ Γ × OI × 100 × S² × 0.01 ($ per 1 % move), calls +, puts −: "
                       "+ dealers long gamma (damping), − short gamma (amplifying)")


def price_lines(kl, ctx) -> list:
    lines = charts.key_level_lines(kl, ("spot", "zero_gamma", "call_wall_oi", "put_wall_oi",
                                        "max_pain"))
    if ctx.prev_day is not None:
        lines += [charts.Level("Prev-day high", ctx.prev_day.high,
                               f"high of {ctx.prev_day.day:%a %d %b}, the previous session",
                               "#f59e0b", "dot"),
                  charts.Level("Prev-day low", ctx.prev_day.low,
                               f"low of {ctx.prev_day.day:%a %d %b}, the previous session",
                               "#f59e0b", "dot")]
    if ctx.opening is not None:
        forming = "" if ctx.opening.complete else " (still forming)"
        lines += [charts.Level("OR high", ctx.opening.high,
                               f"high of the first 30 minutes of {ctx.opening.day:%a %d %b}"
                               f"{forming}", "#2dd4bf", "dash"),
                  charts.Level("OR low", ctx.opening.low,
                               f"low of the first 30 minutes of {ctx.opening.day:%a %d %b}"
                               f"{forming}", "#2dd4bf", "dash")]
    return lines


with layout.page("trading") as page:
    s = fetch.settings()
    sym = widgets.symbol_picker(quick=widgets.TRADING_QUICK)
    listing = symbols.listing(sym)
    daily_listed = listing is not None and listing.expiries == "daily"
    c = st.columns([2, 3, 2, 2], vertical_alignment="bottom")
    with c[0]:
        tf = st.segmented_control("Timeframe", list(TIMEFRAMES), default="5-min",
                                  key=page.key("tf"), required=True,
                                  help="Bars of the price chart: 5-min (2 sessions), 30-min "
                                       "(5 sessions) or daily (1 year).") or "5-min"
    with c[1]:
        expiry = widgets.expiry_picker(sym, prefer_0dte=daily_listed, max_options=12,
                                       help="0DTE first for symbols with daily expiries, else "
                                            "the nearest weekly; DTE = calendar days.")
    with c[2]:
        n_exp = st.number_input("Heatmap expiries", min_value=1, max_value=s.max_expiries,
                                value=min(6, s.max_expiries), key=page.key("n_exp"),
                                help=f"Next expiries on the GEX heatmap (at most "
                                     f"{s.max_expiries}; {s.max_strikes} strikes nearest spot).")
    with c[3]:
        live = st.toggle("Live", value=True, key=page.key("live"),
                         help=f"Refresh the symbol and the watchlist every "
                              f"{s.ttl_chain_near:.0f} s (the chain's fresh TTL); off = paused.")
    every = s.ttl_chain_near if live else None
    page.freshness(fetch.quote(sym))

    @st.fragment(run_every=every)
    def symbol_section() -> None:
        with layout.section("symbol"):
            symbol_body()

    def symbol_body() -> None:
        period, interval, intraday = TIMEFRAMES[tf]
        try:
            q = fetch.quote(sym)
            chain = fetch.chain(sym, expiry)
            kl = fetch.key_levels(sym, expiry)
            bars = fetch.history(sym, period, interval)
            heat_chains = fetch.chains(sym, n=int(n_exp), strikes=s.max_strikes)
            full = [fetch.chain(sym, h.expiry, strikes=s.max_strikes_hard) for h in heat_chains]
        except DataError as exc:
            layout.show_error(exc)
            return
        layout.freshness_badge(q, chain)
        bars = fetch.Content(bars)  # versioned by content: the derived values below share it
        ctx = price_context(bars, intraday)
        banner(sym, q, kl, ctx, fetch.derived("trading.most_active", most_active, chain), tf)
        layout.flags_caption(chain)

        left, right = st.columns([3, 2])
        with left:
            lines = price_lines(kl, ctx)
            overlays = " · ".join(ctx.overlays) or "none"
            layout.chart(figures.shared(
                "trading.price", price_figure, bars, kl,
                title=f"{sym} · {tf} bars · option levels of {expiry:%d %b}", intraday=intraday),
                levels=lines, caption=f"Overlays: {overlays} (VWAP resets each session; "
                                      "EMAs of daily closes).")
        with right:
            kinds = ("spot", "zero_gamma", "call_wall_gamma", "put_wall_gamma")
            gl = charts.key_level_lines(kl, kinds)
            layout.chart(figures.gex_bars(
                chain, kl, kinds, title=f"Net GEX by strike · {expiry:%d %b} (calls +, puts −)"),
                         levels=gl, caption="GEX = Γ × OI × 100 × S² × 0.01 ($ per 1 % move); "
                                            f"{s.max_strikes} strikes nearest spot.")

        left, right = st.columns([1, 1])
        with left:
            wide = fetch.derived("trading.gex_heatmap", dashboard.gex_heatmap, heat_chains,
                                 strikes=s.max_strikes)
            if wide.empty:
                st.info("No GEX to map for these expiries.", icon=":material/info:")
            else:
                layout.chart(figures.gex_heatmap(heat_chains, q, strikes=s.max_strikes,
                                                 title=f"Net GEX heatmap · {len(wide.columns)} "
                                                       f"expiries × {len(wide)} strikes"),
                             caption="Green: dealers long gamma (calls), red: short gamma "
                                     "(puts), $ per 1 % move; blank = strike not listed.")
        with right:
            st.markdown(f"##### Unusual activity · {sym}")
            unusual = fetch.derived("trading.unusual", dashboard.unusual_table, full,
                                    top_n=UNUSUAL_TOP)
            if unusual.empty:
                st.info("No contract passes the unusual-activity rules in these expiries.",
                        icon=":material/info:")
            else:
                st.dataframe(unusual, hide_index=True, width="stretch",
                             column_config=UNUSUAL_COLUMNS)
            st.caption("Unusual = volume > 500, OI > 100, last > $0.10 and volume/OI ≥ 1.25; "
                       f"top {UNUSUAL_TOP} by premium over the heatmap's expiries. A contract's "
                       "whole day, not a trade: no sweeps or blocks can be seen here.")

    symbol_section()

    @st.fragment(run_every=every)
    def watchlist_section() -> None:
        with layout.section("watchlist"):
            watchlist_body()

    def watchlist_body() -> None:
        wl = session.watchlist()
        st.markdown(f"##### Watchlist · {len(wl)} symbols")
        try:
            job = widgets.scan("trading.watchlist", WATCH_TASK, wl)
        except DataError as exc:
            layout.show_error(exc)
            return
        done = widgets.scan_progress(job, f"{len(wl)} watchlist symbols")
        rows = [r for _, r in job.ordered_results()]
        fresh = scans.oldest(rows)
        if fresh:
            layout.freshness_badge(fresh)
        if not done:
            st.info(f"Still scanning: {job.completed}/{job.total} done; showing those ready.",
                    icon=":material/hourglass_top:")
        if rows:
            # built once per set of rows (the shared scan's results) for every session
            table = fetch.derived("trading.watch_table", dashboard.watch_table, tuple(rows))
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config=WATCH_COLUMNS, height=38 + 35 * len(rows))
        if job.skipped:
            st.warning(f"Skipped {len(job.skipped)} of {job.total}:  \n"
                       + "  \n".join(scans.skipped_lines(job.skipped)),
                       icon=":material/skip_next:")
        st.caption("Nearest expiry per symbol; trend, RSI, squeeze, breakout and MACD from daily "
                   "bars. Edit the watchlist on Home or the Command Center.")

    watchlist_section()
    history_ui.symbol_history(sym, int(n_exp))  # recorded: ΔOI heatmap, IV rank, level history
