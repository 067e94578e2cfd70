"""Home: market clock and session, data source, index snapshot, and a card per page."""

from __future__ import annotations

import streamlit as st

from core import clock, fetch
from core.analytics import levels
from core.errors import DataError, NoExpiry
from core.ui import charts, layout, widgets

SNAPSHOT = ("SPY", "QQQ", "IWM", "^SPX")


def nearest_move(chain):
    """Expected move to the chain's expiry, with the chain's T (from when it was priced)."""
    return levels.expected_move(chain.frame, chain.spot, chain.t_years)


def card_data(sym):
    """One snapshot card's data: (quote, nearest expiry, chain, expected move)."""
    q = fetch.quote(sym)
    listed = fetch.expirations(sym)
    if not listed:
        raise NoExpiry(f"{sym} has no listed expiry right now.", symbol=sym)
    chain = fetch.chain(sym, listed[0])
    return q, listed[0], chain, fetch.derived("home.expected_move", nearest_move, chain)


with layout.page("home", title="Options Dash") as page:
    status = clock.market_status()
    when, line = layout.clock_text(status)
    provider = page.provider
    c = st.columns(4)
    c[0].metric("Market clock (ET)", f"{status.at:%H:%M:%S}", help=f"{when}. {line}")
    c[1].metric("Session", layout.STATE_LABEL[status.state],
                help="Regular session 09:30–16:00 ET (13:00 on early-close days), NYSE calendar.")
    if status.is_open:
        c[2].metric("Time to close", layout.format_duration(status.seconds_to_close),
                    help=f"Closes {status.closes_at:%H:%M} ET; {100 * status.progress:.0f}% "
                         "of the session done.")
    else:
        c[2].metric("Next session", f"{status.next_open:%a %d %b %H:%M}",
                    help=f"in {layout.format_duration((status.next_open - status.at).total_seconds())}")
    c[3].metric("Data source", provider.get("name", "?").title(), help=provider.get("reason"))
    if status.is_open:
        st.progress(status.progress, text=f"Session {100 * status.progress:.0f}% done")

    st.markdown("##### Market snapshot · nearest expiry")
    cards = st.columns(len(SNAPSHOT))
    shown, moves = [], []
    loaded = fetch.many(card_data, SNAPSHOT)  # in parallel, under one page deadline
    for col, sym in zip(cards, SNAPSHOT):
        with col.container(border=True):
            if isinstance(loaded[sym], DataError):
                st.markdown(f"**{sym}**")
                layout.show_error(loaded[sym])
                continue
            q, expiry, chain, move = loaded[sym]
            shown += [q, chain]
            moves.append((sym, q.change_pct, float("nan") if move.one_sigma_iv is None
                          else 100 * move.one_sigma_iv / chain.spot))
            st.metric(sym, f"{q.price:,.2f}", f"{q.change:+,.2f} ({q.change_pct:+.2f}%)",
                      help="Last price and change vs the previous close.")
            iv = "n/a" if move.atm_iv is None else f"{100 * move.atm_iv:.1f}%"
            em = "n/a" if move.one_sigma_iv is None else (
                f"±{move.one_sigma_iv:,.2f} (±{100 * move.one_sigma_iv / chain.spot:.2f}%)")
            st.markdown(f"ATM IV **{iv}** · EM **{em}**  \n"
                        f"{widgets.expiry_label(expiry)}",
                        help="ATM IV: mean IV of the call and put at the strike nearest spot. "
                             "EM (expected move, 1σ) = S·σ·√T with T the time left to the "
                             "expiry's close; for 0DTE, the rest of today's session.")
    page.freshness(*shown)
    if moves:
        names, change, band = zip(*moves)
        layout.chart(charts.move_bars(names, change, band,
                                      title="Change today vs the nearest expiry's expected move"),
                     caption="Bars: % change vs the previous close. Ticks: ± expected move (1σ "
                             "= S·σ·√T, ATM IV, to the nearest expiry's close) in %.")

    st.markdown("##### Pages")
    for row in (layout.PAGES[:4], layout.PAGES[4:]):
        for col, spec in zip(st.columns(4), row):
            with col.container(border=True, height="stretch"):
                st.page_link(spec.path, label=spec.title, icon=spec.icon, width="stretch")
                st.caption(spec.purpose)

    with st.expander("Watchlist", icon=":material/list:"):
        widgets.watchlist_editor()
