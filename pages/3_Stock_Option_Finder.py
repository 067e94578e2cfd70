"""3 · Stock Option Finder — find the strikes that matter.

Symbol, number of expiries (capped), strikes (capped) and the finder's filters (type, min OI,
moneyness band, DTE and |Δ| ranges) in; out: the contracts that pass the filters, the full chain
of one expiry with greeks, breakeven and probability ITM, the top strikes by |GEX|, net GEX by
strike across the loaded expiries with the band holding 70 % of the gamma, the smile and term
structure, and a key-levels table across a group of symbols (a shared scan). Every number is
computed in ``core.analytics``; heavy results go through ``fetch.derived`` / ``fetch.scan``.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core import clock, fetch, symbols
from core.analytics import volatility, walls
from core.errors import DataError, SymbolNotFound
from core.schema import MARKET_CLOSED
from core.ui import charts, charts_walls, layout, session, widgets

KINDS = {"both": "Calls & puts", "call": "Calls", "put": "Puts"}
GROUPS = {"mag7": "Mag 7", "tech": "Tech", "value": "Value", "index": "Indexes & ETFs",
          "watchlist": "My watchlist", "custom": "Custom list"}
SCAN_POLL_S = 1.0

CONTRACT_COLUMNS = ["expiry", "dte", "type", "strike", "moneyness_pct", "bid", "ask", "mid",
                    "last", "volume", "open_interest", "iv", "delta", "gamma", "theta", "vega",
                    "breakeven", "breakeven_pct", "prob_itm"]
NUM = st.column_config.NumberColumn
CONTRACT_CONFIG = {
    "expiry": st.column_config.DateColumn("Expiry", format="ddd DD MMM YY"),
    "dte": NUM("DTE", help="Calendar days to expiry."),
    "type": st.column_config.TextColumn("Type"),
    "strike": NUM("Strike", format="%.2f"),
    "moneyness_pct": NUM("K vs spot", format="%+.1f%%",
                         help="(K ÷ spot − 1) × 100: below spot < 0, above > 0."),
    "bid": NUM("Bid", format="%.2f"), "ask": NUM("Ask", format="%.2f"),
    "mid": NUM("Mid", format="%.2f", help="(bid + ask)/2 when both > 0, else last."),
    "last": NUM("Last", format="%.2f"),
    "volume": NUM("Volume", format="%d", help="Contracts traded today."),
    "open_interest": NUM("OI", format="%d", help="Open interest, as of the prior close."),
    "iv": NUM("IV", format="percent", help="Implied vol, annualised."),
    "delta": NUM("Δ", format="%.3f", help="Delta per $1 of the underlying (calls +, puts −)."),
    "gamma": NUM("Γ", format="%.4f", help="Gamma: change of Δ per $1."),
    "theta": NUM("Θ", format="%.3f",
                 help="Theta: $ per share per calendar day; with less than a day left, the "
                      "decay over the time left (θ per year × T)."),
    "vega": NUM("V", format="%.3f", help="Vega: $ per share per 1 vol point."),
    "breakeven": NUM("Breakeven", format="%.2f",
                     help="At expiry, per share: call K + mid, put K − mid."),
    "breakeven_pct": NUM("BE vs spot", format="%+.2f%%",
                         help="The move the underlying needs by expiry to break even."),
    "prob_itm": NUM("P(ITM)", format="percent",
                    help="Risk-neutral probability of finishing in the money: N(d₂) for a call, "
                         "N(−d₂) for a put, d₂ = [ln(S/K) + (r − q − σ²/2)T] / (σ√T) with the "
                         "contract's IV and T. Not a forecast."),
}
COMPARE_CONFIG = {
    "symbol": st.column_config.TextColumn("Symbol"),
    "spot": NUM("Spot", format="%.2f"),
    "expiry": st.column_config.DateColumn("Expiry", format="ddd DD MMM"),
    "dte": NUM("DTE"),
    "call_wall_oi": NUM("Call wall (OI)", format="%.2f",
                        help="Strike with the most call open interest."),
    "put_wall_oi": NUM("Put wall (OI)", format="%.2f",
                       help="Strike with the most put open interest."),
    "call_wall_gamma": NUM("Call wall (γ)", format="%.2f",
                           help="Strike with the largest call GEX."),
    "put_wall_gamma": NUM("Put wall (γ)", format="%.2f", help="Strike with the largest |put GEX|."),
    "zero_gamma": NUM("Zero gamma", format="%.2f",
                      help="Spot level where dealers' re-priced total GEX changes sign (blank: "
                           "none within ±15%)."),
    "max_pain": NUM("Max pain", format="%.2f",
                    help="Strike where option holders' total payoff at expiry is smallest."),
    "pc_oi": NUM("P/C OI", format="%.2f", help="Put OI ÷ call OI."),
    "pc_volume": NUM("P/C vol", format="%.2f", help="Put volume ÷ call volume."),
    "atm_iv": NUM("ATM IV", format="percent"),
    "em_pct": NUM("Exp. move", format="±%.2f%%", help="1σ to expiry from ATM IV: S·σ·√T, in %."),
    "net_gex": NUM("Net GEX", format="compact",
                   help="$ per 1% move; dealers long calls (+), short puts (−)."),
    "regime": st.column_config.TextColumn(
        "Gamma regime", help="The sign of net GEX at spot (that expiry's full chain): positive "
                             "· damped (dealers hedge against moves), negative · amplified "
                             "(they hedge with them). Not a direction."),
    "flip_pct": NUM("To flip", format="%+.2f%%",
                    help="Distance from spot to zero gamma: (zero gamma − spot) ÷ spot × 100 "
                         "(blank: none within ±15%)."),
}


def _gamma_summary(chains):
    """Gamma levels of the loaded expiries' FULL chains (the strike cap is for display only)."""
    first = chains[0]
    return walls.gamma_summary(walls.concat([c.frame for c in chains]), first.spot, first.rate,
                               first.div_yield, _years(chains))


def _term(chains, today):
    return volatility.term_structure([(c.expiry, c.frame) for c in chains], chains[0].spot,
                                     today=today)


def _smile(c):
    return volatility.smile(c.frame)


def _compare_row(sym: str, target_dte: int) -> dict:
    """One symbol's comparison row (runs on the shared scan pool)."""
    today = clock.today()
    expiry = walls.nearest_expiry(fetch.expirations(sym), today, target_dte)
    if expiry is None:
        raise SymbolNotFound(f"{sym} has no listed options.", symbol=sym)
    return walls.comparison_row(sym, expiry, today, fetch.key_levels(sym, expiry))


def filters_form(page: layout.Page, n_listed: int) -> tuple[int, int, walls.FinderFilters,
                                                            list[str]]:
    s = fetch.settings()
    with st.container(border=True):
        c = st.columns([1, 1, 2, 1])
        asked_exp = c[0].number_input(
            "Expiries", min_value=1, value=min(4, n_listed),
            key=page.key("n_expiries"),
            help=f"The nearest listed expiries to load (at most {s.max_expiries}).")
        asked_str = c[1].number_input(
            "Strikes per expiry", min_value=2, max_value=s.max_strikes_hard,
            value=s.max_strikes, step=2, key=page.key("strikes"),
            help=f"Strikes nearest spot shown per expiry (at most {s.max_strikes}). A display "
                 "cap only: zero gamma, net GEX, the 70% band and top strikes use the full "
                 "chains.")
        kind = c[2].radio("Type", tuple(KINDS), format_func=KINDS.get, horizontal=True,
                          key=page.key("kind"))
        min_oi = c[3].number_input("Min OI", min_value=0, value=0, step=100,
                                   key=page.key("min_oi"),
                                   help="Keep contracts with open interest ≥ this.")
        c = st.columns(3)
        band = c[0].slider("Moneyness band (K vs spot, %)", -50, 50, (-10, 10),
                           key=page.key("moneyness"), format="%+d%%",
                           help="(K ÷ spot − 1) × 100, for calls and puts alike.")
        days = c[1].slider("DTE range (days)", 0, 365, (0, 365), key=page.key("dte"),
                           help="Calendar days to expiry, among the loaded expiries.")
        delta = c[2].slider("|Δ| range", 0.0, 1.0, (0.0, 1.0), 0.05, key=page.key("delta"),
                            help="Absolute delta (0–1), for calls and puts alike. ≈ the odds "
                                 "of finishing in the money.")
    n_exp, note_exp = walls.clamp(asked_exp, s.max_expiries, "expiries")
    n_str, note_str = walls.clamp(asked_str, s.max_strikes, "strikes per expiry")
    f = walls.FinderFilters(kind=kind, min_oi=int(min_oi), moneyness=(float(band[0]),
                                                                       float(band[1])),
                            dte=(int(days[0]), int(days[1])),
                            delta=(float(delta[0]), float(delta[1])))
    return n_exp, n_str, f, [n for n in (note_exp, note_str) if n]


def _years(chains) -> dict:
    """expiry -> T in years from each chain's own as-of time (elapsed, to the expiry's close)."""
    return {c.expiry: c.t_years for c in chains}


def matching_section(chains, spot: float, f: walls.FinderFilters) -> int:
    today = clock.today()
    frame = walls.concat([c.frame for c in chains])
    matches = walls.apply_filters(frame, spot, today, f, _years(chains), chains[0].rate,
                                  chains[0].div_yield)
    st.markdown(f"##### Contracts matching the filters · {len(matches):,} of {len(frame):,}")
    if matches.empty:
        st.info("No contract passes every filter. Widen the moneyness band, the DTE or |Δ| "
                "range, or lower the minimum OI.", icon=":material/filter_alt_off:")
    else:
        st.dataframe(matches[CONTRACT_COLUMNS], hide_index=True, width="stretch", height=320,
                     column_config=CONTRACT_CONFIG)
    return len(matches)


def chain_section(sym: str, listed: list[dt.date], n_str: int) -> None:
    st.markdown("##### Full chain of one expiry")
    before = page.state.get("chain_shown")  # "SYMBOL YYYY-MM-DD" of the last run
    expiry = widgets.expiry_picker(sym, label="Chain expiry", key="chain_expiry")
    if before and before.startswith(f"{sym} ") and \
            dt.date.fromisoformat(before.split()[1]) not in listed:
        st.info(f"The {dt.date.fromisoformat(before.split()[1]):%a %d %b} expiry has expired "
                f"and rolled off; showing {widgets.expiry_label(expiry)}.",
                icon=":material/event_busy:")
    page.state["chain_shown"] = f"{sym} {expiry.isoformat()}"
    c = fetch.chain(sym, expiry, strikes=n_str)
    page.freshness(c)
    if c.frame.empty:
        st.info(f"**Empty chain.** The source lists {widgets.expiry_label(expiry)} but sent no "
                "contracts.", icon=":material/info:")
        return
    table = walls.with_finder_columns(c.frame, c.spot, clock.today(), _years([c]), c.rate,
                                      c.div_yield)
    tabs = st.tabs(["Calls", "Puts"])
    for tab, side in zip(tabs, ("call", "put")):
        with tab:
            st.dataframe(walls.by_type(table, side)[CONTRACT_COLUMNS[3:]], hide_index=True,
                         width="stretch", height=360, column_config=CONTRACT_CONFIG)
    layout.flags_caption(c)
    smile = fetch.derived("finder.smile", _smile, c)
    if smile.empty:
        st.info("No usable implied vols in this expiry: no smile to draw.", icon=":material/info:")
    else:
        layout.chart(charts.smile(smile, title=f"{sym} · IV smile, {expiry:%d %b %Y}",
                                  spot=c.spot), key="finder-smile",
                     caption="IV by strike (calls green, puts red); only IVs inside 1%–500% "
                             "are used.")


def gamma_section(sym: str, chains, summary: walls.GammaSummary, n_str: int) -> None:
    st.markdown(f"##### Gamma across {len(chains)} expir{'y' if len(chains) == 1 else 'ies'}")
    spot = chains[0].spot
    left, right = st.columns(2)
    with left:
        st.markdown("**Top strikes by |net GEX|**")
        st.dataframe(summary.top, hide_index=True, width="stretch",
                     column_config={
                         "strike": NUM("Strike", format="%.2f"),
                         "call_gex": NUM("Call GEX", format="compact", help="$ per 1% move, +"),
                         "put_gex": NUM("Put GEX", format="compact", help="$ per 1% move, −"),
                         "net_gex": NUM("Net GEX", format="compact",
                                        help="$ per 1% move; calls +, puts −"),
                         "share": st.column_config.ProgressColumn(
                             "Share of |GEX|", min_value=0.0, max_value=1.0, format="percent",
                             help="|net GEX| of the strike ÷ Σ |net GEX| over every strike of "
                                  "the full chains"),
                         "distance_pct": NUM("K vs spot", format="%+.2f%%"),
                     })
    with right:
        lines = [lv for lv in (charts.level("spot", spot),
                               charts.level("zero_gamma", summary.zero_gamma)) if lv]
        lines += charts_walls.band_levels(summary.band)
        table = walls.near_spot(summary.by_strike, spot, n_str)
        layout.chart(charts.legend_below(rows=2, y=-0.22, fig=charts.net_bars(
            table["strike"], table["net_gex"], title=f"{sym} · net GEX by strike, "
                                                     f"{len(chains)} expiries", levels=lines)),
            key="finder-gex", levels=lines,
                     caption="GEX = Γ × OI × 100 × S² × 0.01 ($ per 1% move), summed over the "
                             "loaded expiries; dealers assumed long calls (+), short puts (−). "
                             f"Levels from the full chains; the {n_str} strikes nearest spot "
                             "shown.")
    if len(chains) > 1:
        heat = walls.near_spot(summary.heat, spot, n_str)
        layout.chart(charts.heatmap(heat, title=f"{sym} · net GEX by strike and expiry",
                                    spot=spot), key="finder-heat")


def vol_section(sym: str, chains) -> None:
    term = fetch.derived("finder.term", _term, chains, today=clock.today())
    layout.chart(charts_walls.term_structure(term, title=f"{sym} · ATM IV term structure"),
                 key="finder-term",
                 caption="ATM IV: mean IV of the call and put at the strike nearest spot, per "
                         "expiry (annualised).")


def compare_section() -> None:
    st.markdown("##### Compare a group · key levels per symbol")
    cap = fetch.settings().max_watchlist
    c = st.columns([2, 4, 1])
    group = c[0].selectbox("Group", tuple(GROUPS), format_func=GROUPS.get,
                           key=page.key("group"))
    if group == "custom":
        wanted = widgets.symbol_list_input("Symbols", "AAPL MSFT NVDA", key=page.key("custom"),
                                           cap=cap, where=c[1])
    else:
        wanted = {"mag7": symbols.MAG7, "tech": symbols.group("tech"),
                  "value": symbols.group("value"), "index": symbols.INDEXES_0DTE,
                  "watchlist": session.watchlist()}[group]
        c[1].caption(" · ".join(wanted))
    target = c[2].number_input("Horizon (DTE)", min_value=0, max_value=365, value=7,
                               key=page.key("horizon"),
                               help="Each symbol uses its listed expiry nearest this many days "
                                    "out, so the rows compare like with like.")
    names, notes = symbols.validate_many(wanted, cap=cap, what="group")
    widgets.show_notes(notes, kind="info", icon=":material/playlist_remove:")
    if not names:
        st.info("No valid symbol in the group.", icon=":material/info:")
        return
    try:
        job = widgets.scan("finder.compare", _compare_row, names, target_dte=int(target))
    except DataError as exc:
        layout.show_error(exc)
        return
    if job.done:
        compare_table(job)
        return

    @st.fragment(run_every=SCAN_POLL_S)
    def poll():
        current = fetch.scan("finder.compare", _compare_row, names, target_dte=int(target))
        if current.done:
            st.rerun()
        compare_table(current)

    poll()


def compare_table(job) -> None:
    if not job.done:
        st.progress(job.progress, text=widgets.scan_text(job, f"{job.total} symbols"))
    rows = [row for _, row in job.ordered_results()]
    if rows:
        st.dataframe(walls.comparison_table(rows), hide_index=True, width="stretch",
                     column_config=COMPARE_CONFIG)
    if job.skipped:
        st.caption("Skipped: " + " · ".join(f"{s} ({why})" for s, why in job.skipped.items()))
    if job.done:
        st.caption(f"One shared scan for every session; finished "
                   f"{job.finished_at:%H:%M:%S} ET. Levels from each symbol's full chain.")


def main() -> None:
    sym = widgets.symbol_picker()
    listed = fetch.expirations(sym)
    if not listed:
        st.info(f"**{sym} has no listed options.** Pick another symbol.", icon=":material/info:")
        return
    n_exp, n_str, f, notes = filters_form(page, len(listed))
    for note in notes:
        st.info(note, icon=":material/straighten:")
    chains = [c for c in fetch.chains(sym, n=n_exp, strikes=n_str) if len(c.frame)]
    full = [fetch.chain(sym, c.expiry, strikes=fetch.settings().max_strikes_hard)
            for c in chains]
    if not chains:
        st.info(f"**Empty chains.** {sym} lists expiries but the source sent no contracts.",
                icon=":material/info:")
        return
    page.freshness(*chains)
    spot = chains[0].spot
    if MARKET_CLOSED in chains[0].flags:
        st.info("**Market closed** — quotes are the last session's; mids and breakevens use "
                "its last two-sided quotes (or its last trades where a side is missing).",
                icon=":material/bedtime:")
    summary = fetch.derived("finder.gamma", _gamma_summary, full)
    cards = st.columns(4)
    cards[0].metric("Spot", f"{spot:,.2f}", border=True,
                    help=f"{sym}, as of the chains' time.")
    band = summary.band
    cards[1].metric("70% gamma band", "n/a" if band is None else f"{band[0]:,.2f} – {band[1]:,.2f}",
                    border=True,
                    help="The strikes nearest spot that together hold 70% of the gross gamma "
                         "(|call GEX| + |put GEX|, $ per 1% move) of the loaded expiries' full "
                         "chains: where hedging is concentrated, not a probability range.")
    no_oi = "n/a: OI not published yet"
    cards[2].metric("Zero gamma", no_oi if not summary.oi_published else "none in range"
                    if summary.zero_gamma is None else f"{summary.zero_gamma:,.2f}", border=True,
                    help="Spot level where the loaded expiries' total GEX (full chains), "
                         "re-priced over spot ±15% with each contract's IV and T, changes sign "
                         "(linear interpolation between grid points); price units.")
    sign = "−" if summary.net_gex < 0 else ""
    cards[3].metric("Net GEX", no_oi if not summary.oi_published
                    else f"{sign}${abs(summary.net_gex) / 1e6:,.1f}M", border=True,
                    help="Σ Γ × OI × 100 × S² × 0.01 over every strike of the loaded "
                         "expiries' full chains ($ per 1% move); dealers long calls (+), short "
                         "puts (−). Positive: hedging damps moves; negative: it amplifies them.")
    st.caption("Expiries loaded: " + ", ".join(widgets.expiry_label(c.expiry) for c in chains))
    with layout.section("matching"):
        matching_section(chains, spot, f)
    with layout.section("chain"):
        chain_section(sym, listed, n_str)
    with layout.section("gamma"):
        gamma_section(sym, chains, summary, n_str)
    with layout.section("vol"):
        vol_section(sym, chains)
    with layout.section("compare"):
        compare_section()


with layout.page("finder") as page:
    main()
