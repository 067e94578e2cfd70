"""The Command Center bias score's distribution over the default watchlist (simulated market).

    python -m bench.score_distribution                  # pinned Fri 2026-11-20 11:30 ET
    python -m bench.score_distribution --at "2026-11-20 15:30" --json bench/results/score.json

Two runs of the same watchlist at the same instant: ``cold`` — a fresh server, no chain history,
so the premium component is day volume × the current mid; ``tape`` — the fetch layer has loaded
each flow chain every ``--step`` minutes since the open (as a live server refreshing its chains
does), so the premium is Δvolume × mid per refresh. Prints each symbol's score and components,
the count per band, the mean and spread, and how often each component is + / 0 / −.
Runs on any tree that has ``command_task`` (``core.analytics.command_center``, or the older
``core.analytics.scanner``), so the same command measures the code before and after a change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

from core import cache, clock, fetch, symbols  # noqa: E402

try:
    from core.analytics.command_center import command_task, flow_expiry  # noqa: E402
except ImportError:  # the tree before the split
    from core.analytics.scanner import command_task  # noqa: E402
    flow_expiry = None


def _idle() -> None:
    """Wait until no background chain refresh is in flight."""
    while any(s["inflight"] for s in cache.stats()):
        time.sleep(0.01)


def warm_tape(names, at: dt.datetime, step_min: int) -> int:
    """Load each symbol's flow chain every ``step_min`` minutes from the open to ``at``."""
    if flow_expiry is None:
        return 0
    opens = clock.session_open(at.date())
    hard = fetch.settings().max_strikes_hard
    t, steps = opens + dt.timedelta(minutes=1), 0
    while t <= at:
        with clock.frozen(t):
            for sym in names:
                e = flow_expiry(fetch.expirations(sym), t.date())
                if e is not None:
                    fetch.chain(sym, e, strikes=hard)
            _idle()
        t += dt.timedelta(minutes=step_min)
        steps += 1
    return steps


def score_all(names) -> list[dict]:
    rows = []
    for sym in names:
        r = command_task(sym, source=fetch)
        rows.append({"symbol": sym, "score": r.score.value, "band": r.score.band,
                     "components": {c.key: c.points for c in r.score.components},
                     "premium": getattr(r, "premium_method", "volume × mid")})
    return rows


def summarise(rows: list[dict]) -> dict:
    scores = [r["score"] for r in rows]
    bands = {b: sum(r["band"] == b for r in rows) for b in ("Bullish", "Neutral", "Bearish")}
    comps: dict[str, dict[str, int]] = {}
    for r in rows:
        for key, pts in r["components"].items():
            sign = "n/a" if pts is None else "+" if pts > 0 else "−" if pts < 0 else "0"
            comps.setdefault(key, {"+": 0, "0": 0, "−": 0, "n/a": 0})[sign] += 1
    return {"n": len(rows), "bands": bands, "mean": statistics.mean(scores),
            "sd": statistics.pstdev(scores), "min": min(scores), "max": max(scores),
            "at_100": sum(s == 100 for s in scores), "components": comps,
            "histogram": {f"{lo}-{lo + 9}": sum(lo <= s <= lo + 9 for s in scores)
                          for lo in range(0, 100, 10)} | {"100": scores.count(100)}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--at", default="2026-11-20 11:30", help="ET instant (default %(default)s)")
    ap.add_argument("--step", type=int, default=10, help="minutes between chain refreshes")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    at = clock.parse_instant(args.at)
    names = list(symbols.DEFAULT_WATCHLIST[:30])
    out = {"at": at.isoformat(), "watchlist": names}
    with clock.frozen(at):
        fetch.reset()
        out["cold"] = {"rows": score_all(names)}
    fetch.reset()
    steps = warm_tape(names, at, args.step)
    if steps:
        with clock.frozen(at):
            out["tape"] = {"rows": score_all(names), "refreshes": steps}
    for run in ("cold", "tape"):
        if run not in out:
            continue
        out[run]["summary"] = s = summarise(out[run]["rows"])
        print(f"\n== {run}: {s['n']} symbols at {args.at} ET"
              + (f", tape from {out[run]['refreshes']} refreshes" if run == "tape" else ""))
        print(" ".join(f"{r['symbol']}:{r['score']}" for r in out[run]["rows"]))
        print(f"bands {s['bands']}  mean {s['mean']:.1f}  sd {s['sd']:.1f}  "
              f"min {s['min']}  max {s['max']}  at 100: {s['at_100']}")
        print("histogram", s["histogram"])
        for key, counts in s["components"].items():
            print(f"  {key:9s} " + "  ".join(f"{k} {v:2d}" for k, v in counts.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
