"""Run every benchmark and print one summary table (``make bench`` runs the quick set).

    python -m bench.run_all --quick     # the session/cache/page benches + core, < 10 min
                                        # (bench.cache_compare runs in the full set only)
    python -m bench.run_all             # the full set (about an hour on 2 cores)

Each bench runs in its own process (``python -m bench.<name>``: its own server(s), env and
clock) and writes bench/results/<name>[_quick].json; this script then reads those files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.common import RESULTS, machine

BENCHES = ("core_bench", "page_timings", "cache_churn", "sessions")
FULL_ONLY = ("cache_compare",)  # its quick run alone would take make bench past 10 minutes


def _run(name: str, quick: bool) -> tuple[int, float]:
    cmd = [sys.executable, "-m", f"bench.{name}"] + (["--quick"] if quick else [])
    print(f"\n=== {' '.join(['python', *cmd[1:]])}", flush=True)
    t = time.monotonic()
    code = subprocess.call(cmd)
    return code, time.monotonic() - t


def _load(name: str, quick: bool) -> dict:
    base = "core" if name == "core_bench" else name
    path = RESULTS / f"{base}{'_quick' if quick and base != 'core' else ''}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _ok(flag) -> str:
    return "yes" if flag else ("n/a" if flag is None else "NO")


def table(quick: bool) -> list[tuple[str, str, str]]:
    """(bench, measure, value) rows from the result files."""
    rows = []
    s = _load("sessions", quick)
    summ = s.get("summary", {})
    for key in ("ws_ours", "chromium_ours", "ws_cache_data", "chromium_cache_data"):
        r = summ.get(key)
        if r:
            rows.append(("1/2 sessions", f"{key}: base / MB per session / RSS@50 / peak",
                         f"{r['base_mb']} MB / {r['mb_per_session']} / {r['rss_at_50_mb']} MB / "
                         f"{r['peak_mb']} MB (N up to {r['max_n']})"))
    for name, met in summ.get("targets", {}).items():
        rows.append(("1 sessions", f"target {name} (ours)", _ok(met)))
    if "ratio_cache_data_vs_ours" in summ:
        r = summ["ratio_cache_data_vs_ours"]
        rows.append(("2 st.cache_data", "ratio RSS@50 / MB per session",
                     f"x{r['rss_at_50']} / x{r['mb_per_session']}"))
    for label, r in s.get("cached_reads", {}).items():
        rows.append(("2 st.cache_data", f"cached read {label} (median)",
                     f"ours {r['ours']['median_ms']} ms, st.cache_data "
                     f"{r['st_cache_data']['median_ms']} ms (x{r['ratio']})"))
    w = summ.get("ws_ours", {})
    if "closed_plateau_mb" in w:
        rows.append(("3 closed tabs", "sessions released / RSS stops falling / plateau",
                     f"{w.get('closed_sessions_released_s')} s / {w['closed_stops_falling_s']} s"
                     f" / {w['closed_plateau_mb']} MB"))
        if w.get("waves_open_rss_mb"):
            rows.append(("3 closed tabs", "waves of 50 opened+closed: RSS open / released",
                         f"{w['waves_open_rss_mb']} / {w['waves_after_release_rss_mb']} MB"))
    c = _load("cache_churn", quick)
    if c:
        rows.append(("4 churn", "keys / loads / max cache bytes vs budget",
                     f"{c['keys']} / {c['chain_loads']} / {c['max_budget_bytes_seen'] / 2**20:.2f}"
                     f" MB of {c['budget_bytes'] / 2**20:g} MB (never above: "
                     f"{_ok(c['never_above_budget'])})"))
        rows.append(("4 churn", "RSS growth over the second half",
                     f"{c['second_half_growth_pct']}% ({c['second_half_slope_mb_per_min']} MB/min)"))
    for variant, up in s.get("upstream", {}).items():
        rows.append(("5 upstream", f"{variant}: provider calls at 1/10/50 sessions "
                                   f"({up['window_s']:.0f} s)",
                     " / ".join(str(up["calls"][k]) for k in sorted(up["calls"], key=int))
                     + f" (50 vs 1: x{up['ratio_max_vs_1']}, 50 vs 10: "
                       f"x{up.get('ratio_max_vs_mid')}; within one per key per TTL: "
                       f"{_ok(up.get('all_within_bound'))})"))
    p = _load("page_timings", quick)
    for r in p.get("pages", []):
        rows.append(("6 page timings", f"{r['path']} cold / warm median (p95)",
                     f"{r['cold']['median_ms']} ({r['cold']['p95_ms']}) / "
                     f"{r['warm']['median_ms']} ({r['warm']['p95_ms']}) ms"))
    cc = _load("cache_compare", quick)
    for name, r in cc.get("strategies", {}).items():
        if "rss_peak_mb" in r:
            rows.append(("7 cache compare", f"{name}: peak RSS (base) / hit / miss median",
                         f"{r['rss_peak_mb']} ({r['rss_base_mb']}) MB / "
                         f"{r['watchlist']['hit_median_ms']} / {r['sweep']['miss_median_ms']} ms"))
    for name, met in cc.get("targets", {}).items():
        rows.append(("7 cache compare", f"target {name}",
                     _ok(met) if isinstance(met, bool) else str(met)))
    core = _load("core_bench", quick)
    if core:
        rows.append(("core", "single-flight: 50 threads -> upstream calls",
                     str(core["single_flight"]["upstream_chain_calls"])))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=BENCHES + FULL_ONLY, help="run only these")
    parser.add_argument("--summary-only", action="store_true", help="read results, run nothing")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    codes = {}
    if not args.summary_only:
        for name in args.only or (BENCHES if args.quick else BENCHES + FULL_ONLY):
            codes[name] = _run(name, args.quick)
    rows = table(args.quick)
    m = machine()
    print(f"\nSummary ({'quick' if args.quick else 'full'}; {m['date']}; {m['cores']} cores, "
          f"{m['ram_gb']} GB RAM; Python {m['python']})")
    w1 = max(len(r[0]) for r in rows) if rows else 10
    w2 = max(len(r[1]) for r in rows) if rows else 10
    for a, b, c in rows:
        print(f"  {a:<{w1}}  {b:<{w2}}  {c}")
    for name, (code, secs) in codes.items():
        print(f"  ran {name}: exit {code}, {secs:.0f} s")
    print(f"  total {time.monotonic() - t0:.0f} s")
    return max((code for code, _ in codes.values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
