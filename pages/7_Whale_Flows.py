"""7 · Whale Flows — where the big money is.

One shared scan (``core.fetch.scan`` with ``core.analytics.whale_flows.whale_task``) over a symbol
group × the next N expiries: whale scores, fresh positioning, skew and implied move per symbol.
The scan depends only on the group and N, so every session asking for it shares one job and one
cached result; the score threshold and top-N are display filters. Nothing of the scan is kept in
session state.
"""

from __future__ import annotations

import functools

import streamlit as st

from core import clock, fetch, symbols
from core.analytics import scans, whale_flows
from core.ui import charts, charts_scan, layout, session, widgets
from core.ui import history as history_ui

MAX_EXPIRIES = 4  # the whale scan's own cap (issue 6), below the app-wide max_expiries
TASK = functools.partial(whale_flows.whale_task, source=fetch)
GROUPS = ("Tech", "Value", "Watchlist")
TABS = ("Whale flows", "Fresh positioning", "Skew & implied move")
CHART_ROWS = 15

WHALE_HELP = ("**Whale score** = 10⁴ × (premium ÷ the underlying's $ volume today) × (volume "
              "÷ OI), for contracts within ±5 % of spot: the premium in basis points of the "
              "stock's own dollar trading, times how new the volume is (premium size counts: "
              "twice the mid, twice the score). E.g. $200k on a stock that traded $1B (2 bp) "
              "at volume/OI 2 scores 4. Premium = day volume × the current mid × 100. Tiers: ≥ $100k / $500k / $1M. **Side (approx.)**: "
              "last ≥ ask → ask, ≤ bid → bid, else mid — a proxy from the quote, not a trade "
              "tape, empty when the market is closed. A row is a contract's whole day: no sweeps "
              "or blocks can be seen in a chain snapshot.")
FRESH_HELP = ("**Fresh positioning**: contracts within ±10 % of spot whose volume today is at "
              "least 3 × their open interest (OI is as of the prior close), likely new "
              "positions; 0DTE left out (its volume is mostly round trips). Fresh score = "
              "volume/OI × premium / 1000 (premium = day volume × current mid × 100).")
SKEW_HELP = ("**25Δ RR** = IV(25Δ call) − IV(25Δ put), each interpolated linearly in delta "
             "between the two contracts bracketing ±0.25Δ, in vol points (− = puts richer, the "
             "market's sign). **ATM skew** = IV(25Δ put) − ATM IV (vol points, + = downside "
             "richer): measured at a delta, i.e. the same number of σ√T from spot on every "
             "expiry. Both blank on a 0DTE (its wings are one-tick quotes) or when the chain "
             "does not bracket 25Δ. **Straddle** = the ATM straddle's time value, call + put "
             "mid − |S − K| (intrinsic value is no move); **breakout levels** = spot ± that. "
             "**1σ range** = spot ∓ S·σ·√T with ATM IV, T to the expiry's close.")

CONTRACT = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "contract": st.column_config.TextColumn("Contract"),
    "type": st.column_config.TextColumn("Type"),
    "strike": st.column_config.NumberColumn("Strike", format="%.2f"),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM"),
    "volume": st.column_config.NumberColumn("Volume", format="localized"),
    "open_interest": st.column_config.NumberColumn("OI", format="localized",
                                                   help="open interest, as of the prior close"),
    "vol_oi": st.column_config.NumberColumn("Vol/OI", format="%.1f"),
    "mid": st.column_config.NumberColumn("Mid", format="%.2f"),
    "iv": st.column_config.NumberColumn("IV", format="percent"),
    "delta": st.column_config.NumberColumn("Δ", format="%.2f"),
    "premium": st.column_config.NumberColumn("Premium $", format="compact",
                                             help="day volume × current mid × 100"),
    "tier": st.column_config.TextColumn("Tier"),
    "side": st.column_config.TextColumn("Side (approx.)"),
    "whale_score": st.column_config.NumberColumn("Whale score", format="%.1f"),
    "fresh_score": st.column_config.NumberColumn("Fresh score", format="%.1f"),
}
SKEW = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM"),
    "dte": st.column_config.NumberColumn("DTE", format="%d"),
    "spot": st.column_config.NumberColumn("Spot", format="%.2f"),
    "atm_iv_pct": st.column_config.NumberColumn("ATM IV %", format="%.1f"),
    "rr25_pts": st.column_config.NumberColumn(
        "25Δ RR (pts)", format="%+.2f",
        help="IV(25Δ call) − IV(25Δ put), interpolated to 25Δ; − = puts richer; blank on 0DTE"),
    "atm_skew_pts": st.column_config.NumberColumn(
        "ATM skew (pts)", format="%+.2f", help="IV(25Δ put) − ATM IV; blank on 0DTE"),
    "straddle": st.column_config.NumberColumn(
        "Straddle TV", format="%.2f", help="ATM straddle time value: call + put mid − |S − K|"),
    "breakout_low": st.column_config.NumberColumn("Breakout ↓", format="%.2f",
                                                  help="spot − straddle time value"),
    "breakout_high": st.column_config.NumberColumn("Breakout ↑", format="%.2f",
                                                   help="spot + straddle time value"),
    "sigma_low": st.column_config.NumberColumn("1σ low", format="%.2f"),
    "sigma_high": st.column_config.NumberColumn("1σ high", format="%.2f"),
    "move_pct": st.column_config.NumberColumn("1σ move %", format="%.2f"),
    "change_pct": st.column_config.NumberColumn("Chg today %", format="%+.2f"),
}



def group_symbols(name: str) -> list[str]:
    if name == "Watchlist":
        return list(session.watchlist())
    return symbols.group(name.lower())


def labels(table) -> list[str]:
    return [f"{s} {k:g}{t[0].upper()} {e:%d %b}"
            for s, k, t, e in zip(table["symbol"], table["strike"], table["type"],
                                  table["expiry"])]


def download(page, table, name: str) -> None:
    st.download_button(f"Download CSV · {len(table)} rows", table.to_csv(index=False).encode(),
                       file_name=f"{name}_{clock.now():%Y%m%d_%H%M}.csv", mime="text/csv",
                       on_click="ignore", key=page.key(f"csv.{name}"),
                       icon=":material/download:")


def show(page, results: list, min_score: float, top_n: int) -> None:
    whales = whale_flows.whale_table(results, min_score, top_n)
    fresh = whale_flows.fresh_table(results, top_n)
    skew = whale_flows.skew_table(results)
    m = st.columns(5)
    m[0].metric("Symbols", len(results))
    m[1].metric("Whale contracts", len(whales), help=f"top {top_n} per symbol, score ≥ "
                                                     f"{min_score:g}")
    m[2].metric("Whale premium", scans.money(whale_flows.premium_total(whales)),
                help="Σ premium of the whale contracts shown")
    best = None if whales.empty else whales.iloc[0]
    m[3].metric("Top whale", "none" if best is None else
                f"{best['symbol']} {best['strike']:g}{best['type'][0].upper()}",
                help="highest whale score in the scan" + ("" if best is None else
                     f": {labels(whales.head(1))[0]}, score {best['whale_score']:,.0f}"))
    m[4].metric("Fresh contracts", len(fresh), help=f"top {top_n} per symbol")
    for r in results:
        for note in r.notes:
            st.caption(f":orange[{note}]")

    tabs = st.tabs(list(TABS), key=page.key("tab"), on_change="rerun")
    if tabs[0].open:
        with tabs[0], layout.section("whales", tabs[0]):
            st.caption(WHALE_HELP)
            if whales.empty:
                st.info("No contract reaches this whale score.", icon=":material/info:")
            else:
                head = whales.head(CHART_ROWS)
                layout.chart(charts_scan.contract_bars(
                    labels(head), head["whale_score"], head["type"], measure="Whale score",
                    title=f"Top {len(head)} contracts by whale score (calls green, puts red)"))
                st.dataframe(whales, hide_index=True, width="stretch", column_config=CONTRACT)
                download(page, whales, "whale_flows")
    if tabs[1].open:
        with tabs[1], layout.section("fresh", tabs[1]):
            st.caption(FRESH_HELP)
            if fresh.empty:
                st.info("No contract with volume ≥ 3 × OI near spot.", icon=":material/info:")
            else:
                head = fresh.head(CHART_ROWS)
                layout.chart(charts_scan.contract_bars(
                    labels(head), head["fresh_score"], head["type"], measure="Fresh score",
                    title=f"Top {len(head)} fresh positions (calls green, puts red)"))
                st.dataframe(fresh, hide_index=True, width="stretch", column_config=CONTRACT)
                download(page, fresh, "fresh_positioning")
            history_ui.fresh_oi_section([r.symbol for r in results],
                                        int(st.session_state.get(page.key("n_exp"), 2)), top_n)
    if tabs[2].open:
        with tabs[2], layout.section("skew", tabs[2]):
            st.caption(SKEW_HELP)
            ref = whale_flows.skew_table(results, reference_only=True)
            left, right = st.columns(2)
            with left:
                layout.chart(charts_scan.signed_bars(
                    ref["symbol"], ref["rr25_pts"], measure="25Δ RR", unit="vol pts",
                    title="25Δ risk reversal, call − put (− puts richer, red)"),
                    caption="Per symbol, the first scanned expiry with ≥ 1 DTE (0DTE skew is "
                            "hidden). IVs interpolated to exactly ±25Δ. Empty bar: the chain "
                            "does not bracket the 25Δ wings.")
            with right:
                layout.chart(charts.move_bars(
                    ref["symbol"], ref["change_pct"], ref["move_pct"],
                    title="Change today vs the 1σ implied move to that expiry",
                    band_name="1σ implied move", height=max(240, 22 * len(ref) + 80)),
                    caption="Bars: % change vs the previous close. Ticks: ± S·σ·√T in %, T to "
                            "the same expiry's close.")
            st.dataframe(skew, hide_index=True, width="stretch", column_config=SKEW)
            download(page, skew, "skew_implied_move")


with layout.page("whales") as page:
    s = fetch.settings()
    c = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
    if page.key("group") not in st.session_state:
        st.session_state[page.key("group")] = "Tech"
    with c[0]:
        group = st.segmented_control("Symbols", GROUPS, key=page.key("group"), required=True,
                                     help="Tech ≈ 22 names, Value 30, or your watchlist "
                                          f"(at most {s.max_watchlist}).") or "Tech"
    n_exp = c[1].slider("Next expiries", 1, min(MAX_EXPIRIES, s.max_expiries), 2,
                        key=page.key("n_exp"), help=f"At most {MAX_EXPIRIES}.")
    min_score = c[2].number_input("Min whale score", min_value=0.0, value=0.0, step=10.0,
                                  key=page.key("min_score"))
    top_n = c[3].number_input("Top N per symbol", min_value=1, max_value=whale_flows.WHALE_KEEP,
                              value=5, key=page.key("top_n"),
                              help=f"At most {whale_flows.WHALE_KEEP} contracts per symbol.")
    names = group_symbols(group)
    if len(names) > s.max_watchlist:
        st.caption(f":orange[{group} has {len(names)} symbols: scanning the first "
                   f"{s.max_watchlist} (limit {s.max_watchlist}).]")
        names = names[:s.max_watchlist]
    what = f"{group} · {len(names)} symbols × {n_exp} expir{'y' if n_exp == 1 else 'ies'}"
    job = widgets.scan("whales", TASK, names, expiries=int(n_exp))
    done = widgets.scan_progress(job, what)
    results = [r for _, r in job.ordered_results()]
    fresh_pair = scans.oldest(results)
    if fresh_pair:
        page.freshness(fresh_pair)
    st.caption(f"{what} · full chains (whales ±5 %, fresh ±10 % of spot).")
    if not done:
        st.info(f"Still scanning: {job.completed}/{job.total} done; showing those ready. "
                "Rerun to see the rest.", icon=":material/hourglass_top:")
        st.button("Refresh", key=page.key("refresh"))
    if job.skipped:
        st.warning(f"Skipped {len(job.skipped)} of {job.total}:  \n"
                   + "  \n".join(scans.skipped_lines(job.skipped)),
                   icon=":material/skip_next:")
    if results:
        with layout.section("results"):  # each tab has its own boundary inside
            show(page, results, float(min_score), int(top_n))
    else:
        st.info("No symbol could be scanned.", icon=":material/info:")
