"""Cache bounds under churn, on the real server with sessions open (issue 7, item 4).

    python -m bench.cache_churn            # every listed (symbol, expiry) key (~1,700), 4 passes
    python -m bench.cache_churn --quick    # 1,000 keys, 1 pass

The server (bench/serve.py, shipped config, simulated market, pinned clock running on) gets a
small byte budget (``OPTIONS_DASH_CACHE_MB``, default here 16: below what the chain + strike-view
caches would hold at their entry caps, so the *byte* budget does evictions, not only the entry
caps) and a driver thread that calls ``core.fetch.chain(symbol, expiry)`` for 1,000+ distinct
keys of the whole universe while websocket sessions (spread over Home and the seven pages)
are open and re-running their page every 10 s. (The simulated source is local: the fetch layer
does not rate-limit it, so the driver runs as fast as the chains can be built.)

Recorded every 0.5 s from inside the server: the byte budget in use, each cache's entries and
evictions, RSS. Reported: the largest budget use seen (must never exceed the budget), evictions
by reason, and RSS growth over the second half of the churn (a plateau, not a slope).

Writes bench/results/cache_churn.json, cache_churn.csv and cache_churn.png.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import time

import numpy as np

from bench import ws_client
from bench.common import RESULTS, write
from bench.server import LOGS, MB, Server
from bench.sessions import _load, plan


async def _drive(srv: Server, n_sessions: int, go_file, timeout: float) -> dict:
    sessions = await ws_client.open_many(srv.base, [(p, "") for p in plan(n_sessions)])
    t_go = time.time()
    go_file.touch()
    deadline = t_go + timeout
    stop_at = [deadline]
    reruns: list = []

    async def watch():
        while time.time() < deadline:
            line = srv.stats()
            if line.get("churn", {}).get("finished"):
                stop_at[0] = time.time()
                return
            await asyncio.sleep(1.0)

    async def rerun_all():
        async def one(i, s):
            await asyncio.sleep(10.0 * i / len(sessions))
            while time.time() < stop_at[0]:
                try:
                    run = await s.rerun()
                    reruns.append(run)
                except Exception:  # noqa: BLE001 - counted
                    reruns.append(None)
                await asyncio.sleep(10.0)
        await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions)))

    watcher = asyncio.create_task(watch())
    rerunner = asyncio.create_task(rerun_all())
    await watcher
    stop_at[0] = time.time()
    await rerunner
    await ws_client.close_all(sessions)
    ok = [r for r in reruns if r is not None]
    return {"t_go": t_go, "sessions": n_sessions, "reruns": len(ok),
            "failed_reruns": len(reruns) - len(ok),
            "rerun_exceptions": sum(len(r.exceptions) for r in ok),
            "rerun_errors": sum(len(r.errors) for r in ok),
            "rerun_median_s": round(statistics.median([r.seconds for r in ok]), 3) if ok else None}


def growth(series: list[tuple[float, float]]) -> dict:
    """RSS growth over the second half of the run: the median of the last 10% vs the median of
    the 10% that starts the second half, in % (and the least-squares slope, MB/min)."""
    if len(series) < 10:
        return {"second_half_growth_pct": None}
    t0, t1 = series[0][0], series[-1][0]
    half = [(t, v) for t, v in series if t >= (t0 + t1) / 2]
    k = max(1, len(half) // 10)
    start = statistics.median(v for _, v in half[:k])
    end = statistics.median(v for _, v in half[-k:])
    ts = np.array([t for t, _ in half])
    vs = np.array([v for _, v in half])
    slope = float(np.polyfit(ts, vs, 1)[0]) * 60 if len(half) > 2 else 0.0
    return {"second_half_growth_pct": round(100 * (end - start) / start, 2),
            "second_half_start_mb": round(start, 1), "second_half_end_mb": round(end, 1),
            "second_half_slope_mb_per_min": round(slope, 2)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keys", type=int)
    parser.add_argument("--passes", type=int)
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--budget-mb", type=float, default=16.0)
    args = parser.parse_args(argv)
    keys = args.keys or (1000 if args.quick else 5000)  # 5000 = every listed key (~1,800)
    passes = args.passes or (1 if args.quick else 4)
    n_sessions = args.sessions or (16 if args.quick else 48)
    go_file = LOGS / "churn.go"
    go_file.unlink(missing_ok=True)
    load_start = _load()
    env = {"OPTIONS_DASH_CACHE_MB": f"{args.budget_mb:g}", "BENCH_CHURN_KEYS": str(keys), "BENCH_CHURN_PASSES": str(passes),
           "BENCH_CHURN_GO": str(go_file), "BENCH_STATS_EVERY": "0.5"}
    print(f"cache_churn: {keys} keys x {passes} pass(es), {n_sessions} sessions, "
          f"budget {args.budget_mb:g} MB", flush=True)
    with Server("cache_churn", env=env, stats_every=0.5) as srv:
        drive = asyncio.run(_drive(srv, n_sessions, go_file, timeout=1800))
        time.sleep(1.5)
        lines = [ln for ln in srv.stats_lines() if "caches" in ln and ln["t"] >= drive["t_go"]]
    go_file.unlink(missing_ok=True)
    last = lines[-1]
    churn = last["churn"]
    budget_max = last["budget"]["max_bytes"]
    t_end = churn["finished"] or lines[-1]["t"]
    series = [(ln["t"] - drive["t_go"], ln["rss"] / MB) for ln in lines if ln["t"] <= t_end]
    bytes_seen = [ln["budget"]["bytes"] for ln in lines]
    chain = last["caches"]["chain"]
    derived = last["caches"]["derived"]
    result = {
        "command": "python -m bench.cache_churn" + (" --quick" if args.quick else ""),
        "quick": args.quick, "keys": churn["keys"], "passes": passes,
        "chain_loads": churn["done"], "driver_errors": churn["errors"],
        "churn_seconds": round((churn["finished"] or lines[-1]["t"]) - churn["started"], 1)
        if churn["started"] else None,
        "budget_bytes": budget_max, "max_budget_bytes_seen": max(bytes_seen),
        "never_above_budget": max(bytes_seen) <= budget_max,
        "budget_evictions": last["budget"]["evictions"],
        "chain_cache": {k: chain[k] for k in ("entries", "max_entries", "evictions",
                                              "evictions_by_reason", "upstream_calls")},
        "derived_cache": {k: derived[k] for k in ("entries", "max_entries", "evictions",
                                                  "evictions_by_reason")},
        "rss_start_mb": round(series[0][1], 1), "rss_peak_mb": round(max(v for _, v in series), 1),
        "rss_end_mb": round(series[-1][1], 1), **growth(series), "sessions": drive,
        "load_at_start": load_start, "load_at_end": _load(),
    }
    tag = "_quick" if args.quick else ""
    result["files"] = [_csv(lines, drive["t_go"], tag),
                       _plot(lines, drive["t_go"], t_end - drive["t_go"], result, tag)]
    path = write("cache_churn_quick" if args.quick else "cache_churn", result)
    print(f"wrote {path}")
    for k in ("keys", "chain_loads", "churn_seconds", "max_budget_bytes_seen", "budget_bytes",
              "never_above_budget", "budget_evictions", "rss_start_mb", "rss_peak_mb",
              "rss_end_mb", "second_half_growth_pct", "second_half_slope_mb_per_min"):
        print(f"  {k}: {result.get(k)}")
    print(f"  chain cache: {result['chain_cache']}")
    return result


def _csv(lines: list[dict], t0: float, tag: str) -> str:
    path = RESULTS / f"cache_churn{tag}.csv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_mb", "budget_mb", "budget_entries", "chain_entries",
                    "derived_entries", "budget_evictions", "chain_loads"])
        for ln in lines[::2]:
            w.writerow([round(ln["t"] - t0, 1), round(ln["rss"] / MB, 1),
                        round(ln["budget"]["bytes"] / MB, 2), ln["budget"]["entries"],
                        ln["caches"]["chain"]["entries"], ln["caches"]["derived"]["entries"],
                        ln["budget"]["evictions"], ln["churn"]["done"]])
    return str(path)


def _plot(lines: list[dict], t0: float, t_end: float, result: dict, tag: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [ln["t"] - t0 for ln in lines]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    a1.plot(t, [ln["budget"]["bytes"] / MB for ln in lines], label="bytes in all caches")
    a1.axhline(result["budget_bytes"] / MB, color="red", ls="--", lw=1,
               label=f"budget {result['budget_bytes'] / MB:g} MB")
    a1.set_ylabel("cache MB")
    a1.set_title(f"Churn: {result['chain_loads']} chain loads over {result['keys']} keys, "
                 f"{result['sessions']['sessions']} sessions open")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.plot(t, [ln["rss"] / MB for ln in lines], color="tab:purple", label="server RSS")
    mid = (t[0] + t_end) / 2
    a2.axvspan(mid, t_end, color="grey", alpha=0.12,
               label=f"second half: {result['second_half_growth_pct']}%")
    a2.set_ylabel("RSS MB")
    a2.set_xlabel("seconds since the churn started")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    path = RESULTS / f"cache_churn{tag}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


if __name__ == "__main__":
    main()
