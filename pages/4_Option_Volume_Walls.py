"""4 · Option Volume Walls — the levels for one expiry.

Symbol (quick buttons), expiry, strikes shown (capped), alert distance and wall kind in; out:
six summary cards, proximity alerts, mirrored volume and OI bars with every level marked, net
GEX by strike, walls stacked across three expiries, and two sessions of 5-min bars with the
levels. Levels come from ``fetch.key_levels`` (full chain, computed once per chain version);
bars use the strike-capped view. Every number is computed in ``core.analytics``.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core import fetch
from core.analytics import exposure, levels, technicals, walls
from core.schema import MARKET_CLOSED
from core.ui import charts, charts_walls, layout, widgets
from core.ui import history as history_ui

STACK_DEPTH = 3  # expiries stacked in the stacked-walls view
KIND_CHOICES = ("volume", "oi", "gamma")
LEVEL_HELP = {k: f"{label}: {definition}." for k, (label, definition, _, _) in
              charts.LEVELS.items()}


def _fmt(value, spec: str = ",.2f", none: str = "none") -> str:
    return none if value is None else format(value, spec)


def _distance(value, spot) -> str | None:
    pct = walls.pct_from_spot(value, spot)
    return None if pct is None else f"{pct:+.2f}% vs spot"


def _by_strike(c):
    return levels.by_strike(c.frame)


def _gex_by_strike(c):
    return exposure.gex_by_strike(c.frame, c.spot)


def _stacked(chains, kind):
    return walls.stacked_walls([c.frame for c in chains], chains[0].spot, kind)


def level_lines(kl: levels.KeyLevels, kinds, strikes) -> tuple[list[charts.Level], str | None]:
    """The level lines of ``kinds`` that fall on the bars' strike range, and a note naming the
    ones (from the full chain) that lie beyond it, so they do not stretch the axis."""
    named = {k: kl.spot if k == "spot" else getattr(kl, k) for k in kinds}
    inside, outside = walls.split_by_range(named, float(strikes.min()), float(strikes.max()),
                                           pad=0.02)
    off = ", ".join(f"{charts.LEVELS[k][0]} {v:,.2f}" for k, v in outside.items())
    return ([charts.level(k, v) for k, v in inside.items()],
            f"Beyond the strikes shown: {off}." if off else None)


def summary_cards(kl: levels.KeyLevels, kind: str) -> None:
    kind_label = walls.WALL_KINDS[kind].split(" (")[0].lower()
    cards = st.columns(6)
    for col, side in zip(cards[:2], ("call", "put")):
        value = getattr(kl, f"{side}_wall_{kind}")
        col.metric(f"{side.title()} wall ({kind_label})", _fmt(value),
                   _distance(value, kl.spot), delta_color="off", border=True,
                   help=LEVEL_HELP[f"{side}_wall_{kind}"] + " Full chain of this expiry.")
    cards[2].metric("Zero gamma", _fmt(kl.zero_gamma, none="none in range"),
                    _distance(kl.zero_gamma, kl.spot), delta_color="off", border=True,
                    help=LEVEL_HELP["zero_gamma"] + " Re-priced over spot ±15% with each "
                    "contract's IV; dealers assumed long calls (+), short puts (−). The delta "
                    "is the distance to this flip. The regime is the sign of net GEX at spot, "
                    "here **" + exposure.gamma_regime(kl.net_gex, kl.spot).label + "** "
                    "(positive: hedging damps moves; negative: it amplifies them).")
    cards[3].metric("Max pain", _fmt(kl.max_pain), _distance(kl.max_pain, kl.spot),
                    delta_color="off", border=True,
                    help=LEVEL_HELP["max_pain"] + " Σ(P−K)·callOI below + Σ(K−P)·putOI above.")
    cards[4].metric("P/C (volume)", _fmt(kl.pc_volume, ".2f", "n/a"),
                    f"OI {_fmt(kl.pc_oi, '.2f', 'n/a')}", delta_color="off", delta_arrow="off",
                    border=True,
                    help="Put ÷ call contracts, by today's volume and by open interest (full "
                         "chain of this expiry). Above 1: more puts than calls.")
    move = kl.one_sigma_iv
    pct = walls.expected_move_pct(kl)
    cards[5].metric("Expected move (1σ)", "n/a" if move is None else f"±{move:,.2f}",
                    None if pct is None else f"±{pct:.2f}% of spot", delta_color="off",
                    border=True,
                    help="1σ move to expiry from ATM IV: S·σ·√T (T to the expiry's close; for "
                         "0DTE the rest of today's session). Straddle-based, on its time value "
                         "(call + put mid − |S − K|): "
                         f"×0.85 ≈ ±{_fmt(kl.range_50, none='n/a')} (~50% range), ×1.25 ≈ "
                         f"±{_fmt(kl.one_sigma_straddle, none='n/a')}.")


def alerts(kl: levels.KeyLevels, within: float) -> None:
    found = levels.proximity_alerts(kl.spot, walls.alert_levels(kl), within)
    if not found:
        st.success(f"No level within {within:.1f}% of spot ({kl.spot:,.2f}).",
                   icon=":material/notifications_off:")
        return
    lines = [f"- **{charts.LEVELS[a.level][0]} {a.value:,.2f}** — {a.distance_pct:.2f}% "
             f"{a.side} spot" for a in found]
    st.warning(f"**Spot {kl.spot:,.2f} is within {within:.1f}% of {len(found)} level"
               f"{'s' if len(found) > 1 else ''}** (nearest first):\n" + "\n".join(lines),
               icon=":material/notifications_active:")


def stacked_section(sym: str, listed: list[dt.date], expiry: dt.date, kind: str,
                    view_strikes) -> None:
    start = listed.index(expiry)
    chosen = listed[start:start + STACK_DEPTH]
    hard = fetch.settings().max_strikes_hard
    chains = [fetch.chain(sym, e, strikes=hard) for e in chosen]
    stack = fetch.derived("walls.stacked", _stacked, chains, kind=kind)
    kind_label = walls.WALL_KINDS[kind]
    low, high = float(view_strikes.min()), float(view_strikes.max())
    shown = stack.layers[stack.layers["strike"].between(low, high)]
    best = {side: stack.top(side, 1) for side in ("call", "put")}
    tops = [charts.Level(f"Top {side} wall", float(row["strike"].iloc[0]),
                         f"strongest {side} wall across the stacked expiries",
                         charts.CALL_COLOR if side == "call" else charts.PUT_COLOR, "dash")
            for side, row in best.items() if len(row)]
    layout.chart(
        charts_walls.stacked_walls(
            shown, stack.expiries, kind_label=kind_label, unit=walls.WALL_UNITS[kind],
            title=f"{sym} · {kind_label} walls stacked across {len(stack.expiries)} expiries",
            levels=[charts.level("spot", chains[0].spot), *tops]),
        key="walls-stacked", levels=tops,
        caption=f"Stacked: {walls.expiry_list_text(stack.expiries)} (this expiry and the ones "
                f"listed after it). Each expiry adds its {kind_label.lower()} at a "
                "strike ÷ that expiry's largest (0–1); **strength** = the sum, 0 to "
                f"{len(stack.expiries)}. A strike that is the wall in several expiries is "
                "stronger. Walls use each expiry's full chain.")
    cols = st.columns(2)
    for col, side in zip(cols, ("call", "put")):
        top = stack.top(side, 5)
        col.markdown(f"**Strongest {side} walls** ({kind_label.lower()})")
        col.dataframe(
            top[["strike", "strength", "walls", "expiries", "distance_pct"]],
            hide_index=True, width="stretch",
            column_config={
                "strike": st.column_config.NumberColumn("Strike", format="%.2f"),
                "strength": st.column_config.ProgressColumn(
                    "Strength", min_value=0.0, max_value=float(len(stack.expiries)),
                    format="%.2f", help="Σ over expiries of size ÷ that expiry's largest"),
                "walls": st.column_config.NumberColumn("Wall in",
                                                       format=f"%d of {len(stack.expiries)}",
                                                       help="expiries where it is THE wall"),
                "expiries": st.column_config.TextColumn("Wall in expiries"),
                "distance_pct": st.column_config.NumberColumn("vs spot", format="%+.2f%%"),
            })


def intraday(sym: str, kl: levels.KeyLevels, kind: str) -> None:
    bars = walls.last_sessions(fetch.history(sym, "5d", "5m"), 2)
    if not len(bars):
        st.info(f"No intraday bars for {sym}.", icon=":material/info:")
        return
    names = (f"call_wall_{kind}", f"put_wall_{kind}", "zero_gamma", "max_pain",
             "volume_pivot")
    inside, outside = walls.split_by_range(walls.alert_levels(kl, names),
                                           float(bars["low"].min()), float(bars["high"].max()))
    lines = [charts.level(k, v) for k, v in inside.items()]
    off = ", ".join(f"{charts.LEVELS[k][0]} {v:,.2f}" for k, v in outside.items())
    first, last = bars.index[0], bars.index[-1]
    layout.chart(
        charts_walls.intraday(bars, title=f"{sym} · 5-min bars, {first:%a %d} – {last:%a %d %b}",
                              levels=lines, overlays={"VWAP": technicals.vwap(bars)}),
        key="walls-intraday", levels=lines,
        caption="Candles: 5-min bars of the last two sessions (ET). VWAP resets each session."
                + (f" Off the chart (too far from price): {off}." if off else ""))


def walls_section(sym: str, expiry: dt.date, kl: levels.KeyLevels, table) -> None:
    """Mirrored volume and OI bars of the strike-capped view (``table``: levels.by_strike),
    levels marked."""
    strikes = table["strike"]
    expiry_text = f"{expiry:%d %b %Y}"
    left, right = st.columns(2)
    with left:
        lines, off = level_lines(kl, ("spot", "zero_gamma", "max_pain", "call_wall_volume",
                                      "put_wall_volume", "volume_pivot"), strikes)
        layout.chart(charts.legend_below(rows=2, y=-0.22, fig=charts.strike_bars(
            strikes, table["call_volume"], table["put_volume"],
            title=f"{sym} · volume walls, {expiry_text}", measure="Volume", levels=lines)),
            key="walls-volume", levels=lines, caption=off)
    with right:
        lines, off = level_lines(kl, ("spot", "zero_gamma", "max_pain", "call_wall_oi",
                                      "put_wall_oi", "volume_pivot"), strikes)
        layout.chart(charts.legend_below(rows=2, y=-0.22, fig=charts.strike_bars(
            strikes, table["call_oi"], table["put_oi"],
            title=f"{sym} · open-interest walls, {expiry_text}", measure="Open interest",
            levels=lines)), key="walls-oi", levels=lines, caption=off)


def gex_section(sym: str, expiry: dt.date, kl: levels.KeyLevels, view, strikes) -> None:
    gex = fetch.derived("walls.gex_by_strike", _gex_by_strike, view)
    lines, off = level_lines(kl, ("spot", "zero_gamma", "call_wall_gamma", "put_wall_gamma"),
                             strikes)
    layout.chart(charts.legend_below(rows=2, y=-0.22, fig=charts.net_bars(
        gex["strike"], gex["net_gex"], title=f"{sym} · net GEX by strike (gamma walls), "
                                             f"{expiry:%d %b %Y}", levels=lines)),
                 key="walls-gex", levels=lines,
                 caption="GEX = Γ × OI × 100 × S² × 0.01 ($ per 1% move); dealers "
                         "assumed long calls (+), short puts (−)." + (f" {off}" if off else ""))


def main(page: layout.Page) -> None:
    settings = fetch.settings()
    sym = widgets.symbol_picker()
    listed = fetch.expirations(sym)
    if not listed:
        st.info(f"**{sym} has no listed options.** Walls need an option chain; pick another "
                "symbol.", icon=":material/info:")
        return
    ns = page.state
    before = ns.get("shown")
    top = st.columns([3, 2, 3, 3], vertical_alignment="bottom")
    with top[0]:
        expiry = widgets.expiry_picker(sym)
    if before and before.startswith(f"{sym} ") and \
            dt.date.fromisoformat(before.split()[1]) not in listed:
        st.info(f"The {dt.date.fromisoformat(before.split()[1]):%a %d %b} expiry has expired "
                f"and rolled off; showing {widgets.expiry_label(expiry)}.",
                icon=":material/event_busy:")
    ns["shown"] = f"{sym} {expiry.isoformat()}"
    asked = top[1].number_input(
        "Strikes shown", min_value=2, max_value=settings.max_strikes_hard,
        value=settings.max_strikes, step=2, key=page.key("strikes"),
        help=f"Strikes nearest spot in the bar charts (at most {settings.max_strikes}). Levels "
             "always use the full chain.")
    n_strikes, note = walls.clamp(asked, settings.max_strikes, "strikes")
    within = top[2].slider("Alert distance (% of spot)", 0.5, 1.0, 0.5, 0.1,
                           key=page.key("alert"), format="%.1f%%",
                           help="Warn when spot is this close to a wall, zero gamma, max pain "
                                "or the volume pivot: |level − spot| ÷ spot × 100.")
    kind = top[3].radio("Walls by", KIND_CHOICES, horizontal=True, key=page.key("kind"),
                        format_func=lambda k: walls.WALL_KINDS[k],
                        help="Which wall the summary cards, the stacked view and the price "
                             "chart use. Volume: today's contracts; open interest: contracts "
                             "held (prior close); gamma: dealer GEX, $ per 1% move.")
    if note:
        st.info(note, icon=":material/straighten:")

    kl = fetch.key_levels(sym, expiry)
    view = fetch.chain(sym, expiry, strikes=n_strikes)
    page.freshness(view)
    if view.frame.empty:
        st.info(f"**Empty chain.** The source lists {widgets.expiry_label(expiry)} for {sym} "
                "but sent no contracts. Pick another expiry.", icon=":material/info:")
        layout.flags_caption(view)
        return
    if MARKET_CLOSED in view.flags:
        st.info("**Market closed** — quotes and volume are the last session's; mids, the "
                "straddle and the expected move use its last two-sided quotes (or its last "
                "trades where a side is missing).", icon=":material/bedtime:")
    with layout.section("premarket-oi"):
        history_ui.premarket_oi_section(sym, expiry, view)  # yesterday's OI before the open
    with layout.section("levels"):
        summary_cards(kl, kind)
        alerts(kl, within)
    table = fetch.derived("walls.by_strike", _by_strike, view)
    strikes = table["strike"]  # the range every strike chart of the page shows
    with layout.section("walls"):
        walls_section(sym, expiry, kl, table)
    layout.flags_caption(view)

    st.markdown("##### Walls across the next expiries")
    with layout.section("stacked"):
        stacked_section(sym, listed, expiry, kind, strikes)

    left, right = st.columns(2)
    with left, layout.section("gex", left):
        gex_section(sym, expiry, kl, view, strikes)
    with right, layout.section("intraday", right):
        intraday(sym, kl, kind)


with layout.page("walls") as page:
    main(page)
