"""Server-side run time of every page, cold and warm (issue 7, item 6).

    python -m bench.page_timings            # 10 cold + 30 warm runs per page
    python -m bench.page_timings --quick    # 2 cold + 5 warm

In-process with Streamlit's AppTest (the script runs in this process, as on the server, minus
the websocket), simulated market, clock frozen at 2026-11-20 11:30 ET (a Friday mid-session; a
frozen clock also means no cache entry expires between warm runs). A session opens Home.py
first (as a browser does, untimed) and switches to the page (untimed), then:

* **cold**: ``core.fetch.reset()`` (every cache dropped, a fresh fetch layer), then a timed
  run of the page: it pays every provider call, greeks and derived computation;
* **warm**: the same page re-run in the same session with the caches filled (what every
  session after the first costs, and every rerun).

Wall time of ``AppTest.run()`` includes AppTest's own bookkeeping (a few ms), so it is an upper
bound of the script's run time. Pages come from ``core.ui.layout.PAGES`` (plus Home).

Writes bench/results/page_timings.json, page_timings.csv and page_timings.png.
"""

from __future__ import annotations

import argparse
import csv
import os
import pathlib
import statistics
import time

os.environ["OPTIONS_DASH_PROVIDER"] = "simulated"
os.environ.pop("OPTIONS_DASH_NOW", None)

from streamlit import logger as stlogger  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from bench.common import RESULTS, write  # noqa: E402
from core import clock, config, fetch  # noqa: E402
from core.ui import layout  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
PINNED = "2026-11-20 11:30"
TIMEOUT = 120.0


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"median_ms": round(1000 * statistics.median(s), 1),
            "p95_ms": round(1000 * s[min(len(s) - 1, int(0.95 * len(s)))], 1),
            "min_ms": round(1000 * s[0], 1), "max_ms": round(1000 * s[-1], 1), "runs": len(s)}


def _session(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=TIMEOUT)
    at.run()
    if path != "Home.py":
        at.switch_page(path)
    return at


def _timed_run(at: AppTest, problems: list, path: str) -> float:
    t = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t
    problems += [f"{path}: {e.proto.message}" for e in at.exception]
    return elapsed


def time_page(path: str, cold: int, warm: int) -> dict:
    problems: list[str] = []
    cold_s, warm_s = [], []
    at = _session(path)
    at.run()  # the session is on the page (untimed)
    for _ in range(cold):
        fetch.reset()
        cold_s.append(_timed_run(at, problems, path))
    at.run()  # the caches this page reads are filled (untimed)
    for _ in range(warm):
        warm_s.append(_timed_run(at, problems, path))
    return {"path": path, "cold": _stats(cold_s), "warm": _stats(warm_s),
            "exceptions": sorted(set(problems))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cold, warm = (2, 5) if args.quick else (10, 30)
    stlogger.set_log_level("error")
    config.reload()
    paths = [layout.HOME.path, *(p.path for p in layout.PAGES)]
    rows = []
    with clock.frozen(PINNED):
        fetch.reset()
        _session("Home.py").run()  # imports and first-use costs, untimed
        for path in paths:
            rows.append(time_page(path, cold, warm))
            r = rows[-1]
            print(f"  {path:34s} cold {r['cold']['median_ms']:8.1f} / {r['cold']['p95_ms']:8.1f} ms"
                  f"   warm {r['warm']['median_ms']:7.1f} / {r['warm']['p95_ms']:7.1f} ms"
                  + (f"   EXCEPTIONS {len(r['exceptions'])}" if r["exceptions"] else ""),
                  flush=True)
        fetch.reset()
    result = {"command": "python -m bench.page_timings" + (" --quick" if args.quick else ""),
              "quick": args.quick, "pinned_now": PINNED + " ET (frozen)",
              "cold_runs": cold, "warm_runs": warm, "pages": rows}
    tag = "_quick" if args.quick else ""
    result["files"] = [_csv(rows, tag), _plot(rows, tag)]
    path = write("page_timings_quick" if args.quick else "page_timings", result)
    print(f"wrote {path}")
    return result


def _csv(rows: list[dict], tag: str) -> str:
    path = RESULTS / f"page_timings{tag}.csv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["page", "cold_median_ms", "cold_p95_ms", "warm_median_ms", "warm_p95_ms",
                    "cold_runs", "warm_runs"])
        for r in rows:
            w.writerow([r["path"], r["cold"]["median_ms"], r["cold"]["p95_ms"],
                        r["warm"]["median_ms"], r["warm"]["p95_ms"], r["cold"]["runs"],
                        r["warm"]["runs"]])
    return str(path)


def _plot(rows: list[dict], tag: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [pathlib.Path(r["path"]).stem for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.barh(y + 0.2, [r["cold"]["median_ms"] for r in rows], 0.4, label="cold (median)",
            xerr=[[0] * len(rows), [r["cold"]["p95_ms"] - r["cold"]["median_ms"] for r in rows]],
            color="tab:orange")
    ax.barh(y - 0.2, [r["warm"]["median_ms"] for r in rows], 0.4, label="warm (median)",
            xerr=[[0] * len(rows), [r["warm"]["p95_ms"] - r["warm"]["median_ms"] for r in rows]],
            color="tab:blue")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("server-side run time, ms (whisker: p95)")
    ax.set_title("Page run time, AppTest, simulated market, pinned clock")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    path = RESULTS / f"page_timings{tag}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


if __name__ == "__main__":
    main()
