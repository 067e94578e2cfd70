"""Where does a session's server memory go? tracemalloc diff between N1 and N2 sessions.

    python -m bench.profile_sessions --client chromium --from 10 --to 30
    python -m bench.profile_sessions --client ws --from 10 --to 100

Diagnosis, not a benchmark: the server runs with ``BENCH_TRACEMALLOC=12`` (12 frames per
allocation; it slows the server down). After N1 sessions (spread over Home and the pages as
in bench/sessions.py, after the same warm-up) and again after N2, the server takes a
tracemalloc snapshot after a full gc; the diff (N2 - N1) / (N2 - N1 sessions) is the Python
memory each extra session holds, by allocation site. Writes
bench/results/profile_sessions_<client>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc

from bench import ws_client
from bench.common import RESULTS
from bench.server import LOGS, MB, Server
from bench.sessions import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_SPECS,
    _nav_click,
    open_tab_batch,
    plan,
)


def snapshot(srv: Server, name: str, timeout: float = 120.0) -> tracemalloc.Snapshot:
    target = LOGS / f"{name}.tracemalloc"
    target.unlink(missing_ok=True)
    request = srv.stats_path.with_name(srv.stats_path.name + ".snap")
    request.write_text(str(target))
    deadline = time.time() + timeout
    while time.time() < deadline and not target.exists():
        time.sleep(0.5)
    return tracemalloc.Snapshot.load(str(target))


def report(a: tracemalloc.Snapshot, b: tracemalloc.Snapshot, n: int, title: str) -> str:
    lines = [title, ""]
    total = sum(s.size_diff for s in b.compare_to(a, "filename"))
    lines.append(f"traced Python memory: {total / MB:+.2f} MB for {n} more sessions = "
                 f"{total / MB / n:+.3f} MB/session")
    lines.append("")
    lines.append("by file (top 15):")
    for s in b.compare_to(a, "filename")[:15]:
        lines.append(f"  {s.size_diff / 1024:+10.1f} KB  {s.count_diff:+8d} blocks  "
                     f"{s.traceback[0].filename}")
    lines.append("")
    lines.append("by allocation stack (top 10; frames outside the stdlib, innermost last):")
    for s in b.compare_to(a, "traceback")[:10]:
        lines.append(f"  {s.size_diff / 1024:+10.1f} KB  {s.count_diff:+8d} blocks")
        frames = [f for f in s.traceback if "/lib/python3" not in f.filename
                  or "site-packages" in f.filename]
        for f in frames[-8:]:
            lines.append(f"      {f.filename.split('site-packages/')[-1]}:{f.lineno}")
    return "\n".join(lines)


async def _ws(srv: Server, n1: int, n2: int):
    from bench.sessions import _warm

    sessions = [await _warm(srv.base)]
    names = plan(n2)
    sessions += await ws_client.open_many(srv.base, [(p, "") for p in names[1:n1]])
    await asyncio.sleep(5)
    a = await asyncio.to_thread(snapshot, srv, "profile-a")
    rss_a = srv.rss()
    sessions += await ws_client.open_many(srv.base, [(p, "") for p in names[n1:n2]])
    await asyncio.sleep(5)
    b = await asyncio.to_thread(snapshot, srv, "profile-b")
    rss_b = srv.rss()
    await ws_client.close_all(sessions)
    return a, b, rss_a, rss_b


def _chromium(srv: Server, n1: int, n2: int):
    from playwright.sync_api import sync_playwright

    names = plan(n2)
    contexts = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

        def open_tabs(batch):
            open_tab_batch(browser, srv.base, batch, contexts, timeout_ms=240_000)

        open_tabs([names[1]])
        warm = contexts[0].pages[0]
        for spec in PAGE_SPECS[2:] + PAGE_SPECS[:1]:
            _nav_click(warm, srv.base, spec)
        todo = names[1:n1]
        for i in range(0, len(todo), 4):
            open_tabs(todo[i:i + 4])
        time.sleep(5)
        a, rss_a = snapshot(srv, "profile-a"), srv.rss()
        todo = names[n1:n2]
        for i in range(0, len(todo), 4):
            open_tabs(todo[i:i + 4])
        time.sleep(5)
        b, rss_b = snapshot(srv, "profile-b"), srv.rss()
        for ctx in contexts:
            ctx.close()
        browser.close()
    return a, b, rss_a, rss_b


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=["ws", "chromium"], default="chromium")
    parser.add_argument("--from", dest="n1", type=int, default=10)
    parser.add_argument("--to", dest="n2", type=int, default=30)
    args = parser.parse_args(argv)
    srv = Server(f"profile-{args.client}", env={"BENCH_TRACEMALLOC": "12"})
    srv.start(timeout=900)  # traced imports are slow
    try:
        if args.client == "ws":
            a, b, rss_a, rss_b = asyncio.run(_ws(srv, args.n1, args.n2))
        else:
            a, b, rss_a, rss_b = _chromium(srv, args.n1, args.n2)
    finally:
        srv.stop()
    n = args.n2 - args.n1
    text = report(a, b, n, f"{args.client}: {args.n1} -> {args.n2} sessions; RSS "
                           f"{rss_a / MB:.1f} -> {rss_b / MB:.1f} MB "
                           f"({(rss_b - rss_a) / MB / n:+.3f} MB/session, tracemalloc on)")
    path = RESULTS / f"profile_sessions_{args.client}.txt"
    path.write_text(text + "\n")
    print(text)
    print(f"wrote {path}")
    return text


if __name__ == "__main__":
    main()
