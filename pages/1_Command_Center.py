"""1 · Command Center — the watchlist at a glance.

One shared scan (``core.fetch.scan``) builds a row per symbol with
``core.analytics.command_center.command_task``: the 0–100 bias score
(``core.analytics.bias_score``) and its band, the suggested action, walls, flow and a 30-day
chart. The first session to ask starts the scan, later ones join it; the finished result is
cached and served to every session. Only the user's choices live in session
state.
"""

from __future__ import annotations

import functools

import streamlit as st

from core import clock, fetch
from core.analytics import bias_score, command_center, scans
from core.ui import charts, charts_scan, layout, session, widgets
from core.ui import history as history_ui

TASK = functools.partial(command_center.command_task, source=fetch)
TABS = ("All", "Top 10", "Bullish", "Bearish")
BADGE = {"Bullish": "green", "Neutral": "gray", "Bearish": "red"}
SHORT = {"gamma": "γ strike", "premium": "premium", "whales": "whales", "pc": "P/C",
         "trend": "trend", "walls": "walls", "activity": "vol/OI", "short": "short vol"}
CARD_LINES = ("**Cards** · 30 daily candles · SMA10 (blue) and EMA21 (amber) of daily closes · "
              "▲/▼ MACD(12,26,9) crosses above / below its signal line · "
              "**Call wall (OI)** strike with the most call open interest · **Put wall (OI)** "
              "strike with the most put open interest · **Abs. gamma strike** strike with the "
              "most gross gamma (call GEX + |put GEX|, not netted) · **Price** last price. "
              "Levels from the nearest expiry's full chain.")
SCORE_HELP = f"""**Score** = 50 + the components below, clipped to 0–100. Two expiries per symbol,
each its full chain: the **levels expiry** = the nearest listed (0DTE included) and the **flow
expiry** = the nearest at least one day out (a 0DTE's volume is mostly round trips, so it never
feeds a flow component).
- price vs the absolute gamma strike of the levels expiry (max gross gamma, call GEX + |put GEX|,
  $ per 1% move): above **+15**, below **−15**; **0 within one strike** (spot between it and
  the next listed strike)
- call premium > 1.5 × put premium **+20**; put > 1.5 × call **−20** (flow expiry). Premium =
  Σ Δvolume × mid × 100 over the fetch layer's consecutive chain versions once it holds that
  history (≥ 2 versions pricing ≥ 50% of the day's volume), else day volume × the current mid ×
  100 — each card's component says which
- best call whale score > best put whale score **+10**, lower **−10** (flow expiry; whale =
  10⁴ × premium ÷ the underlying's $ volume × volume/OI)
- put/call volume of the flow expiry < 0.8 **+10**, > 1.2 **−10**
- EMA 8/21/50/200 stack: Strong up **+15**, Up **+10**, Down **−10**, Strong down **−15**
- nearer OI wall (levels expiry): call wall nearer **−10**, put wall nearer **+10**
- fresh money: the largest volume/OI among the flow expiry's calls vs its puts (contracts with
  OI ≥ {bias_score.MIN_OI}): calls > 5 and > 1.5 × puts **+10**; puts > 5 and > 1.5 × calls
  **−10**
- short-volume share of the previous session (FINRA Reg SHO) > 55 % **+10**, < 45 % **−10**;
  left out when there is no record (cash indexes)

**Bands** (the same everywhere): Bullish ≥ 70 · Neutral 31–69 · Bearish ≤ 30.
**Action**: Bullish → long, target the call wall (if above price, else +3 %), stop at the put wall
(if below, else −3 %); Bearish → the mirror image; Neutral → wait. R/R = reward ÷ risk.
Not advice: a summary of positioning, computed from chain snapshots."""

COLUMNS = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format="%d",
                                             help="0–100 bias score (see How the score works)"),
    "band": st.column_config.TextColumn("Band", help="Bullish ≥ 70, Neutral 31–69, Bearish ≤ 30"),
    "price": st.column_config.NumberColumn("Price", format="%.2f"),
    "change_pct": st.column_config.NumberColumn("Chg %", format="%+.2f%%",
                                                help="vs the previous close"),
    "trend": st.column_config.TextColumn("Trend", help="EMA 8/21/50/200 stack, daily"),
    "call_premium": st.column_config.NumberColumn(
        "Call prem $", format="compact", help="calls' premium today, flow expiry: Δvolume × "
                                              "mid per refresh, or volume × current mid"),
    "put_premium": st.column_config.NumberColumn(
        "Put prem $", format="compact", help="puts' premium today, flow expiry (as calls)"),
    "flow": st.column_config.NumberColumn("Flow $", format="compact",
                                          help="call + put premium today, flow expiry"),
    "pc_volume": st.column_config.NumberColumn("P/C vol", format="%.2f",
                                               help="put volume ÷ call volume, flow expiry"),
    "max_vol_oi": st.column_config.NumberColumn(
        "Max vol/OI", format="%.1f",
        help=f"largest volume ÷ OI, flow expiry, contracts with OI ≥ {bias_score.MIN_OI}"),
    "abs_gamma_strike": st.column_config.NumberColumn(
        "Abs γ strike", format="%.2f",
        help="strike of max gross gamma (call GEX + |put GEX|), levels expiry"),
    "call_wall": st.column_config.NumberColumn("Call wall (OI)", format="%.2f"),
    "put_wall": st.column_config.NumberColumn("Put wall (OI)", format="%.2f"),
    "action": st.column_config.TextColumn("Action"),
    "target": st.column_config.NumberColumn("Target", format="%.2f"),
    "stop": st.column_config.NumberColumn("Stop", format="%.2f"),
    "reward_risk": st.column_config.NumberColumn("R/R", format="%.2f"),
    "short_share": st.column_config.NumberColumn("Short vol %", format="percent",
                                                 help="FINRA Reg SHO short ÷ total volume, "
                                                      "previous session"),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM",
                                          help="levels expiry: the nearest listed"),
    "flow_expiry": st.column_config.DateColumn("Flow expiry", format="ddd D MMM",
                                               help="the nearest expiry at least a day out"),
}



def card(row: command_center.CommandRow) -> None:
    with st.container(border=True):
        s = row.score
        st.markdown(f"**{row.symbol}** {row.price:,.2f} ({row.change_pct:+.2f}%) "
                    f":{BADGE[s.band]}-badge[{s.value} · {s.band}]",
                    help=f"Trend {row.trend} · levels expiry {row.expiry:%a %d %b} · flow "
                         "expiry " + ("none listed" if row.flow_expiry is None
                                      else f"{row.flow_expiry:%a %d %b}"))
        lines = [lv for lv in (charts.level("call_wall_oi", row.call_wall),
                               charts.level("put_wall_oi", row.put_wall),
                               charts.level("abs_gamma_strike", row.abs_gamma_strike),
                               charts.level("spot", row.price, name="Price")) if lv]
        fig = charts_scan.card_chart(row.card.bars, sma10=row.card.sma10, ema21=row.card.ema21,
                                     crosses=row.card.crosses, levels=lines)
        st.plotly_chart(fig, width="stretch", config={"displaylogo": False})
        a = row.action
        if a.side == "wait":
            rng = (f" {row.put_wall:,.2f}–{row.call_wall:,.2f}"
                   if row.put_wall is not None and row.call_wall is not None else "")
            st.markdown(f"**Wait** · no edge{' · walls' + rng if rng else ''}")
        else:
            rr = "n/a" if a.reward_risk is None else f"{a.reward_risk:.2f}"
            st.markdown(f"**{a.side.title()}** · target {a.target:,.2f} ({a.target_basis}) · "
                        f"stop {a.stop:,.2f} ({a.stop_basis}) · R/R {rr}", help=a.text)
        points = {c.key: "—" if c.points is None else f"{c.points:+d}" for c in s.components}
        st.caption(" · ".join(f"{SHORT[c.key]} {points[c.key]}" for c in s.components),
                   help="\n\n".join(f"**{c.label}** {points[c.key]}: {c.detail}"
                                     for c in s.components))
        st.caption(f"Calls {scans.money(row.call_premium)} · puts "
                   f"{scans.money(row.put_premium)} ({row.premium_method}) · P/C "
                   f"{'n/a' if row.pc_volume is None else f'{row.pc_volume:.2f}'}")
        if row.short is None:
            st.caption(":orange[Short volume: no Reg SHO record — left out of the score.]")
        else:
            st.caption(f"Short volume {row.short['short_share']:.1%} of "
                       f"{row.short['date']:%d %b} volume (Reg SHO, {row.short['source']}).")


def cards(rows: list, limit: int) -> None:
    shown = rows[:limit]
    for start in range(0, len(shown), 3):
        for col, row in zip(st.columns(3), shown[start:start + 3]):
            with col, layout.section(f"card {row.symbol}", col):
                card(row)
    if len(rows) > limit:
        st.caption(f"Cards for the first {limit} of {len(rows)} symbols; the table lists all.")


def results(page, rows: list, bands, min_vol_oi: float, sort: str, limit: int) -> None:
    table = command_center.command_table(rows)
    table = command_center.sort_table(command_center.filter_table(table, bands, min_vol_oi), sort)
    by_symbol = {r.symbol: r for r in rows}
    sm = command_center.summary(table)
    m = st.columns(7)
    m[0].metric("Symbols", f"{sm.count} / {len(rows)}", help="shown after filters / scanned")
    m[1].metric("Bullish", sm.bullish, help="score ≥ 70")
    m[2].metric("Neutral", sm.neutral, help="score 31–69")
    m[3].metric("Bearish", sm.bearish, help="score ≤ 30")
    m[4].metric("Average score", "n/a" if sm.average is None else f"{sm.average:.1f}")
    m[5].metric("Call premium", scans.money(sm.call_premium),
                help="Σ over symbols of the calls' premium today in each flow expiry (the "
                     "nearest a day out): Δvolume × mid per refresh where the fetch layer has "
                     "that history, else volume × current mid (see each card)")
    m[6].metric("Put premium", scans.money(sm.put_premium),
                help="The same over puts.")
    st.download_button("Download CSV", table.to_csv(index=False).encode(),
                       file_name=f"command_center_{clock.now():%Y%m%d_%H%M}.csv",
                       mime="text/csv", on_click="ignore", key=page.key("csv"),
                       icon=":material/download:", help="The table below, filtered and sorted.")

    views = {"All": table, "Top 10": command_center.top(table, 10),
             "Bullish": table[table["band"] == "Bullish"],
             "Bearish": table[table["band"] == "Bearish"]}
    tabs = st.tabs(list(TABS), key=page.key("tab"), on_change="rerun")
    for name, tab in zip(TABS, tabs):
        if not tab.open:
            continue
        with tab, layout.section(f"tab {name}", tab):
            view = views[name]
            if view.empty:
                st.info(f"No symbol in {name} with these filters.", icon=":material/info:")
                continue
            if name == "All":
                layout.chart(charts_scan.score_bars(view["symbol"], view["score"], view["band"],
                                                    title="Bias score by symbol"),
                             caption="Bars: 0–100 bias score, coloured by band; dashed lines "
                                     "at the band edges 30 and 70.")
            st.dataframe(view, hide_index=True, width="stretch", column_config=COLUMNS)
            st.caption(CARD_LINES)
            cards([by_symbol[s] for s in view["symbol"]], limit)


with layout.page("command") as page:
    cap = fetch.settings().max_watchlist
    with st.expander(f"Watchlist ({len(session.watchlist())}/{cap} symbols)",
                     icon=":material/list:"):
        widgets.watchlist_editor()
    watchlist = session.watchlist()

    mode = st.segmented_control("Scan", ["Watchlist", "One symbol"], default="Watchlist",
                                key=page.key("mode"), required=True,
                                help="Scan the whole watchlist or one symbol.") or "Watchlist"
    if mode == "One symbol":
        targets = [widgets.symbol_picker(label="Symbol to scan", quick=widgets.QUICK_SYMBOLS)]
        what = targets[0]
    else:
        targets = list(watchlist)
        what = f"{len(targets)} watchlist symbols"

    f = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
    bands = f[0].multiselect("Bias band", bias_score.BANDS, default=list(bias_score.BANDS),
                             key=page.key("bands"),
                             help="Bullish ≥ 70 · Neutral 31–69 · Bearish ≤ 30")
    min_vol_oi = f[1].number_input("Min volume/OI", min_value=0.0, max_value=1000.0,
                                   value=0.0, step=0.5, key=page.key("min_vol_oi"),
                                   help="Keep symbols where some contract of the flow expiry "
                                        f"(OI ≥ {bias_score.MIN_OI}) traded at least this many "
                                        "times its open interest.")
    sort = f[2].selectbox("Sort by", list(command_center.SORTS), key=page.key("sort"),
                          help="Score, price and flow: largest first; symbol: A→Z.")
    limit = f[3].slider("Charts per tab", 3, cap, 9, step=3, key=page.key("cards"),
                        help="Cards with a chart; the table always lists every symbol.")
    with st.expander("How the score works", icon=":material/help:"):
        st.markdown(SCORE_HELP)

    job = widgets.scan("command", TASK, targets)
    done = widgets.scan_progress(job, what)
    rows = [r for _, r in job.ordered_results()]
    fresh = scans.oldest(rows)
    if fresh:
        page.freshness(fresh)
    if not done:
        st.info(f"Still scanning: {job.completed}/{job.total} symbols done; showing those "
                "ready. Rerun to see the rest.", icon=":material/hourglass_top:")
        st.button("Refresh", key=page.key("refresh"))
    if job.skipped:
        st.warning(f"Skipped {len(job.skipped)} of {job.total}:  \n"
                   + "  \n".join(scans.skipped_lines(job.skipped)),
                   icon=":material/skip_next:")
    if rows:
        with layout.section("results"):  # each tab and card has its own boundary inside
            results(page, rows, bands, min_vol_oi, sort, limit)
    else:
        st.info("No symbol could be scanned.", icon=":material/info:")
    with layout.section("what-changed"):
        history_ui.what_changed_section([r.symbol for r in rows])  # recorded history
