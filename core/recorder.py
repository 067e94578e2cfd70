"""The recorder: the market's memory, as an embedded Parquet dataset.

On a schedule (every ``record_every`` seconds of the regular session, default 5 min, plus one
snapshot :data:`AFTER_CLOSE` after the close) it records, for a universe (default: the default
watchlist and the 0DTE indexes), each selected expiry's canonical chain (every column, as
:mod:`core.codec` encodes it) and that expiry's :class:`~core.analytics.levels.KeyLevels`. It
reads through :mod:`core.fetch` only, so recording adds no upstream call beyond one per key per
fresh TTL (a page watching the same symbol shares the call).

Layout under the root folder (``OPTIONS_DASH_RECORD_DIR``, default ``data/recordings``)::

    chains/date=2026-11-20/symbol=SPY/113000.parquet   one snapshot: every recorded expiry
    levels/date=2026-11-20/symbol=SPY/levels.parquet   one row per snapshot x expiry (rewritten)

Symbols are URI-encoded in the folder name (``^SPX`` -> ``%5ESPX``, what pyarrow's hive
partitioning decodes). Every file is written to a hidden temp file in the same folder and moved
into place with ``os.replace`` (atomic on POSIX): a crashed write leaves no partial file, and
readers (``pyarrow.dataset`` ignores ``.``-prefixed files) never see one; :meth:`Store.enforce`
removes the temp files a killed process left behind.

Bounds (:meth:`Store.enforce`, after every snapshot): chain snapshots older than
``record_retention_days`` and levels older than ``record_levels_days`` are deleted (levels are
~0.5 % of the bytes and IV rank wants a year of them, so they are kept longer); then, until the
folder fits ``record_disk_mb``: the oldest day of chain snapshots, then (one chain day left) the
oldest levels days before it, then that day's oldest chain snapshots. When a day's chains go,
its levels are thinned to the day's first and last snapshot (the open and the close).

Expiries recorded per symbol: the first ``record_expiries`` listed, plus the two expiries that
bracket each tenor of :data:`TENORS` (30 days), so a 30-day ATM IV can be interpolated.

One recorder per deployment: it holds an exclusive ``flock`` on ``<root>/.recorder.lock``; a
second one (``make record`` while the app records too) refuses to start. With the cluster's
shared Redis (``OPTIONS_DASH_REDIS_URL``) the replicas' recorders also take turns on one
fleet-wide lock (``core.fetch.fleet_lock``, held for three intervals and renewed at each
snapshot): one replica records for the fleet, the others skip.

Command line::

    python -m core.recorder                                    # record live (make record)
    python -m core.recorder --simulate-days 10 --out DIR       # N days of simulated history
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fcntl
import logging
import os
import pathlib
import secrets
import shutil
import threading
import time
import urllib.parse
import uuid
from typing import Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core import clock, codec, config, symbols
from core.errors import DataError
from core.schema import Chain

log = logging.getLogger(__name__)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "data" / "recordings"
AFTER_CLOSE = dt.timedelta(minutes=15)  # the after-close snapshot: OI/last settle after 16:00
TENORS = (30,)  # days: constant-maturity ATM IV tenors the expiry selection must bracket
LOCK_NAME = ".recorder.lock"
TMP_PREFIX = ".tmp-"
LEVEL_KEYS = [("snapshot", pa.timestamp("ns", tz="UTC")), ("session", pa.date32()),
              ("symbol", pa.string()), ("expiry", pa.date32()),
              ("as_of", pa.timestamp("ns", tz="UTC")), ("t_years", pa.float64()),
              ("price", pa.float64()), ("prev_close", pa.float64()), ("flags", pa.string())]


def root_dir(settings: config.Settings | None = None) -> pathlib.Path:
    s = settings or config.settings()
    return pathlib.Path(s.record_dir) if s.record_dir else DEFAULT_DIR


def default_universe(settings: config.Settings | None = None) -> list[str]:
    """``record_symbols`` when set, else the default watchlist then the 0DTE indexes."""
    s = settings or config.settings()
    if s.record_symbols:
        names = [x for x in s.record_symbols.replace(",", " ").split() if x]
    else:
        names = list(symbols.DEFAULT_WATCHLIST) + list(symbols.INDEXES_0DTE)
    out: list[str] = []
    for name in names:
        sym = symbols.validate(name)
        if sym not in out:
            out.append(sym)
    return out


def select_expiries(listed: list[dt.date], today: dt.date, first: int,
                    tenors: Iterable[int] = TENORS) -> list[dt.date]:
    """The first ``first`` expiries, plus for each tenor (days) the last expiry before
    ``today + tenor`` and the first on or after it (ascending, no duplicates)."""
    chosen = set(listed[:first])
    for days in tenors:
        target = today + dt.timedelta(days=days)
        before = [e for e in listed if e < target]
        after = [e for e in listed if e >= target]
        chosen.update(before[-1:] + after[:1])
    return sorted(chosen)


def _part(symbol: str) -> str:
    return "symbol=" + urllib.parse.quote(symbol, safe="")


def _unpart(name: str) -> str:
    return urllib.parse.unquote(name.split("=", 1)[1])


def atomic_write(table: pa.Table, path: pathlib.Path) -> int:
    """Write ``table`` to ``path`` atomically (hidden temp file + fsync + ``os.replace``);
    returns the bytes written. On any failure the temp file is removed and nothing appears at
    ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    others = [f.name for f in table.schema if f.name not in floats]
    try:
        # lossless: floats byte-stream-split (12 % smaller with zstd, measured), the rest
        # dictionary-encoded
        pq.write_table(table, tmp, compression="zstd", use_dictionary=others or False,
                       use_byte_stream_split=floats or False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.stat().st_size


# --- the dataset ---------------------------------------------------------------------------------

class Store:
    """The recording folder: writes (atomic), bounds (retention, disk budget) and reads."""

    def __init__(self, root: pathlib.Path | str, *, retention_days: int = 30,
                 budget_bytes: int = 2 * 1024**3, levels_days: int = 400):
        self.root = pathlib.Path(root)
        self.retention_days = retention_days
        self.levels_days = max(levels_days, retention_days)
        self.budget_bytes = budget_bytes

    @classmethod
    def from_settings(cls, settings: config.Settings | None = None) -> "Store":
        s = settings or config.settings()
        return cls(root_dir(s), retention_days=s.record_retention_days,
                   budget_bytes=int(s.record_disk_mb * 1024 * 1024),
                   levels_days=s.record_levels_days)

    # -- paths --
    def _dir(self, kind: str, day: dt.date, symbol: str) -> pathlib.Path:
        return self.root / kind / f"date={day.isoformat()}" / _part(symbol)

    def levels_path(self, day: dt.date, symbol: str) -> pathlib.Path:
        return self._dir("levels", day, symbol) / "levels.parquet"

    def snapshot_path(self, symbol: str, at: dt.datetime) -> pathlib.Path:
        at = at.astimezone(clock.ET)
        return self._dir("chains", at.date(), symbol) / f"{at:%H%M%S}.parquet"

    # -- writes --
    def write_snapshot(self, symbol: str, at: dt.datetime, chains: list[Chain],
                       levels: list) -> int:
        """Record one snapshot of ``symbol`` taken at ``at``: the chains in one file and one
        levels row per chain (``levels[i]`` belongs to ``chains[i]``). Returns bytes written."""
        at = at.astimezone(clock.ET)
        table = codec.chains_to_table(chains, snapshot=at, symbol=symbol)
        written = atomic_write(table, self.snapshot_path(symbol, at))
        rows = [self._level_row(symbol, at, c, kl) for c, kl in zip(chains, levels)]
        new = pa.Table.from_pylist(rows, schema=levels_table_schema())
        path = self.levels_path(at.date(), symbol)
        if path.exists():
            old = pq.read_table(path, schema=levels_table_schema())
            old = old.filter(pa.compute.not_equal(old["snapshot"],
                                                  pa.scalar(pd.Timestamp(at), old["snapshot"].type)))
            new = pa.concat_tables([old, new])
        return written + atomic_write(new, path)

    @staticmethod
    def _level_row(symbol: str, at: dt.datetime, c: Chain, kl) -> dict:
        q = c.quote
        row = {"snapshot": at, "session": at.date(), "symbol": symbol, "expiry": c.expiry,
               "as_of": c.as_of, "t_years": c.t_years,
               "price": q.price if q is not None else c.spot,
               "prev_close": q.prev_close if q is not None else None,
               "flags": ",".join(sorted(c.flags))}
        row.update(codec.levels_to_row(kl))
        return row

    # -- bounds --
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def dates(self, kind: str | None = None) -> list[dt.date]:
        """Recorded dates of ``kind`` (``chains`` or ``levels``; None: either), ascending."""
        found = set()
        for k in ((kind,) if kind else ("chains", "levels")):
            base = self.root / k
            if base.is_dir():
                found.update(dt.date.fromisoformat(p.name.split("=", 1)[1])
                             for p in base.iterdir() if p.name.startswith("date="))
        return sorted(found)

    def _drop(self, kind: str, day: dt.date) -> None:
        shutil.rmtree(self.root / kind / f"date={day.isoformat()}", ignore_errors=True)
        if kind == "chains":
            self._thin_levels(day)

    def _thin_levels(self, day: dt.date) -> None:
        """Once a day's chain snapshots are gone, keep only its first and last levels snapshot
        per symbol (the open and the close: what IV rank and level history read), 2 of ~79."""
        folder = self.root / "levels" / f"date={day.isoformat()}"
        for path in folder.glob("symbol=*/levels.parquet"):
            table = pq.read_table(path, schema=levels_table_schema())
            snaps = pa.compute.unique(table["snapshot"])
            if len(snaps) <= 2:
                continue
            ends = pa.array([pa.compute.min(snaps).as_py(), pa.compute.max(snaps).as_py()],
                            type=table["snapshot"].type)
            atomic_write(table.filter(pa.compute.is_in(table["snapshot"], value_set=ends)), path)

    def enforce(self, today: dt.date | None = None) -> dict:
        """Apply the retentions then the disk budget (see the module docstring); remove
        abandoned temp files. Returns what was removed: ``{"tmp": n, "dates": [chain days],
        "levels_dates": [...], "snapshots": n, "bytes": size after}``."""
        today = today or clock.today()
        removed = {"tmp": 0, "dates": [], "levels_dates": [], "snapshots": 0}
        if not self.root.is_dir():
            return {**removed, "bytes": 0}
        for tmp in self.root.rglob(TMP_PREFIX + "*"):
            tmp.unlink(missing_ok=True)
            removed["tmp"] += 1
        for kind, days, key in (("chains", self.retention_days, "dates"),
                                ("levels", self.levels_days, "levels_dates")):
            cutoff = today - dt.timedelta(days=days)
            for day in self.dates(kind):
                if day < cutoff:
                    self._drop(kind, day)
                    removed[key].append(day)
        size = self.size_bytes()
        while size > self.budget_bytes:
            chain_days = self.dates("chains")
            older_levels = [d for d in self.dates("levels")
                            if not chain_days or d < chain_days[0]]
            if len(chain_days) > 1:
                self._drop("chains", chain_days[0])
                removed["dates"].append(chain_days[0])
            elif older_levels:
                self._drop("levels", older_levels[0])
                removed["levels_dates"].append(older_levels[0])
            else:
                files = sorted((self.root / "chains").rglob("*.parquet"), key=lambda p: p.name)
                if not files:
                    break
                files[0].unlink()
                removed["snapshots"] += 1
            size = self.size_bytes()
        return {**removed, "bytes": size}

    # -- reads --
    def sessions(self, symbol: str) -> list[dt.date]:
        """Dates with a levels file for ``symbol``, ascending."""
        return [d for d in self.dates("levels") if self.levels_path(d, symbol).exists()]

    def levels(self, symbol: str, days: Iterable[dt.date] | None = None) -> pd.DataFrame:
        """Every levels row of ``symbol`` on ``days`` (default all), sorted by snapshot then
        expiry; an empty frame with the schema's columns when there are none."""
        wanted = self.sessions(symbol) if days is None else list(days)
        paths = [str(p) for p in (self.levels_path(d, symbol) for d in wanted) if p.exists()]
        if not paths:
            return levels_table_schema().empty_table().to_pandas()
        table = ds.dataset(paths, format="parquet", schema=levels_table_schema()).to_table()
        frame = table.to_pandas()
        return frame.sort_values(["snapshot", "expiry"], kind="stable").reset_index(drop=True)

    def snapshots(self, symbol: str, day: dt.date) -> list[tuple[dt.datetime, pathlib.Path]]:
        """(time, file) of every chain snapshot of ``symbol`` on ``day``, ascending."""
        folder = self._dir("chains", day, symbol)
        if not folder.is_dir():
            return []
        out = []
        for p in folder.glob("*.parquet"):
            if p.name.startswith(TMP_PREFIX):
                continue
            t = dt.datetime.strptime(p.stem, "%H%M%S").time()
            out.append((dt.datetime.combine(day, t, tzinfo=clock.ET), p))
        return sorted(out)

    def snapshot_at(self, symbol: str, at: dt.datetime, *, lookback_days: int | None = None
                    ) -> tuple[dt.datetime, pathlib.Path] | None:
        """The latest snapshot of ``symbol`` taken at or before ``at`` (None if none)."""
        at = at.astimezone(clock.ET)
        floor = at.date() - dt.timedelta(days=lookback_days or self.retention_days + 7)
        for day in reversed([d for d in self.dates("chains") if floor <= d <= at.date()]):
            taken = [s for s in self.snapshots(symbol, day) if s[0] <= at]
            if taken:
                return taken[-1]
        return None

    @staticmethod
    def read_chains(path: pathlib.Path) -> list[Chain]:
        return codec.table_to_chains(pq.read_table(path))

    @staticmethod
    def read_columns(path: pathlib.Path, columns: list[str]) -> pd.DataFrame:
        """Some columns of a snapshot's chain rows (every expiry), without the chain metadata."""
        return pq.read_table(path, columns=columns).to_pandas()


def levels_table_schema() -> pa.Schema:
    return pa.schema(LEVEL_KEYS + codec.levels_schema())


# --- the recorder --------------------------------------------------------------------------------

@dataclasses.dataclass
class SnapshotReport:
    """What one :meth:`Recorder.record` did: when, how many symbols / chains / rows, bytes on
    disk written, seconds spent, and the symbols skipped with the reason."""

    at: dt.datetime
    symbols: int = 0
    chains: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    skipped: dict = dataclasses.field(default_factory=dict)


class Recorder:
    """Records ``universe`` into ``store`` through ``source`` (the :mod:`core.fetch` module)."""

    def __init__(self, store: Store, universe: list[str] | None = None, *,
                 expiries: int | None = None, every: float | None = None, source=None):
        s = config.settings()
        if source is None:
            from core import fetch as source
        self.store = store
        self.universe = list(universe) if universe is not None else default_universe(s)
        self.expiries = int(expiries or s.record_expiries)
        self.every = float(every or s.record_every)
        self.source = source
        self.last: SnapshotReport | None = None

    # -- schedule --
    def schedule(self, day: dt.date) -> list[dt.datetime]:
        """Snapshot times of session ``day``: the open, then every ``every`` s while the
        session is open, then one at close + AFTER_CLOSE. Empty when ``day`` is no session."""
        if not clock.is_session(day):
            return []
        opens, closes = clock.session_open(day), clock.session_close(day)
        step = dt.timedelta(seconds=self.every)
        times, t = [], opens
        while t < closes:
            times.append(t)
            t += step
        return times + [closes + AFTER_CLOSE]

    def next_due(self, after: dt.datetime) -> dt.datetime:
        """The first scheduled time at or after ``after``."""
        day = after.astimezone(clock.ET).date()
        while True:
            later = [t for t in self.schedule(day) if t >= after]
            if later:
                return later[0]
            day = clock.next_session(day)

    # -- one snapshot --
    def record(self, at: dt.datetime | None = None) -> SnapshotReport:
        """Record every symbol once at ``at`` (default now), then enforce the bounds."""
        at = (at or clock.now()).astimezone(clock.ET)
        report = SnapshotReport(at)
        started = time.perf_counter()
        hard = self.source.settings().max_strikes_hard
        for sym in self.universe:
            try:
                listed = self.source.expirations(sym)
                wanted = select_expiries(listed, at.date(), self.expiries)
                chains = [self.source.chain(sym, e, strikes=hard) for e in wanted]
                levels = [self.source.key_levels(sym, e) for e in wanted]
            except DataError as exc:
                report.skipped[sym] = str(exc)
                continue
            if not chains:
                report.skipped[sym] = "no expiry listed"
                continue
            report.bytes += self.store.write_snapshot(sym, at, chains, levels)
            report.symbols += 1
            report.chains += len(chains)
            report.rows += sum(len(c.frame) for c in chains)
        self.store.enforce(at.date())
        report.seconds = time.perf_counter() - started
        self.last = report
        return report

    # -- the loop --
    def run(self, stop: threading.Event, *, max_wait: float = 60.0) -> None:
        """Record at every scheduled time until ``stop`` is set. Waits in slices of at most
        ``max_wait`` seconds on the market clock, so a pinned (even frozen, stepped) clock works
        too; a scheduled time is recorded once."""
        from core import fetch

        last: dt.datetime | None = None
        token = secrets.token_hex(8)
        while not stop.is_set():
            now = clock.now()
            due = self.next_due(now if last is None else max(now, last + _TICK))
            while not stop.is_set():
                left = (due - clock.now()).total_seconds()
                if left <= 0:
                    break
                stop.wait(min(left, max_wait))
            if stop.is_set():
                return
            last = due
            # with the cluster's shared Redis, one replica records for the fleet (a lock held
            # for three intervals, renewed at each snapshot it takes)
            if not fetch.fleet_lock("recorder", token, 3 * self.every):
                log.info("recorder: another replica records for the fleet; skipping %s", due)
                continue
            try:
                report = self.record(due)
                log.info("recorded %d symbols, %d chains, %.1f kB in %.1f s (skipped %d)",
                         report.symbols, report.chains, report.bytes / 1024, report.seconds,
                         len(report.skipped))
            except Exception:  # noqa: BLE001 - the recorder must survive one bad snapshot
                log.exception("recorder: snapshot at %s failed", due)


_TICK = dt.timedelta(microseconds=1)


# --- one recorder per deployment -----------------------------------------------------------------

class Lock:
    """An exclusive, non-blocking ``flock`` on ``<root>/.recorder.lock`` (released on close or
    process exit)."""

    def __init__(self, root: pathlib.Path):
        root.mkdir(parents=True, exist_ok=True)
        self._fh = open(root / LOCK_NAME, "a+")

    def acquire(self) -> bool:
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def close(self) -> None:
        self._fh.close()


_background: tuple[threading.Thread, threading.Event, Lock] | None = None
_background_lock = threading.Lock()


def start_background(settings: config.Settings | None = None) -> bool:
    """Start the in-app recorder thread once per process when ``record`` is on (the setting
    ``OPTIONS_DASH_RECORD=1``). Returns True when a recorder runs in this process."""
    global _background
    s = settings or config.settings()
    if not s.record or s.provider == "replay":
        return False
    with _background_lock:
        if _background is not None:
            return _background[0].is_alive()
        store = Store.from_settings(s)
        lock = Lock(store.root)
        if not lock.acquire():
            log.warning("recorder: another recorder holds %s; not starting", store.root / LOCK_NAME)
            lock.close()
            _background = (threading.Thread(), threading.Event(), lock)  # remembered: no retry
            return False
        stop = threading.Event()
        thread = threading.Thread(target=Recorder(store).run, args=(stop,), daemon=True,
                                  name="recorder")
        thread.start()
        _background = (thread, stop, lock)
        return True


def stop_background() -> None:
    global _background
    with _background_lock:
        if _background is not None:
            thread, stop, lock = _background
            stop.set()
            if thread.is_alive():
                thread.join(timeout=30)
            lock.close()
            _background = None


# --- simulated history ---------------------------------------------------------------------------

def simulate_days(out: pathlib.Path | str, days: int, universe: list[str] | None = None, *,
                  every_minutes: int = 30, expiries: int = 4, end: dt.date | None = None,
                  progress: Callable[[SnapshotReport], None] | None = None) -> Store:
    """Write ``days`` sessions of deterministic history of the simulated market into ``out``:
    the sessions ending with the last one completed before ``end`` (default: today's, if it
    has closed, else the previous), snapshots every ``every_minutes`` plus the after-close one.
    The process clock and fetch layer are borrowed and restored."""
    from core import fetch
    from core.providers.simulated import SimulatedProvider

    store = Store(out, retention_days=max(30, 2 * days + 7), budget_bytes=1 << 40)
    end = end or clock.today()
    last = end if clock.is_session(end) and clock.session_close(end) < clock.now() \
        else clock.previous_session(end)
    first = clock.add_sessions(last, -(days - 1))
    saved = (clock.CLOCK._start, clock.CLOCK._frozen, clock.CLOCK._mono)
    fetch.reset(SimulatedProvider(), reason="simulated history")
    try:
        rec = Recorder(store, universe or ["SPY", "QQQ"], expiries=expiries,
                       every=every_minutes * 60)
        for day in clock.sessions(first, last):
            for at in rec.schedule(day):
                clock.pin(at, frozen=True)
                report = rec.record(at)
                if progress:
                    progress(report)
    finally:
        clock.CLOCK.set(saved[0], frozen=saved[1])
        fetch.reset()
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.recorder", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate-days", type=int, default=0,
                        help="write N sessions of simulated history instead of recording live")
    parser.add_argument("--out", default=None, help="folder (default OPTIONS_DASH_RECORD_DIR)")
    parser.add_argument("--symbols", default=None, help="comma list (default: the universe; "
                                                        "SPY,QQQ for --simulate-days)")
    parser.add_argument("--every", type=int, default=30,
                        help="minutes between simulated snapshots (default 30)")
    parser.add_argument("--expiries", type=int, default=4,
                        help="first N expiries per simulated snapshot (default 4)")
    parser.add_argument("--once", action="store_true", help="record one snapshot now and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    universe = [x for x in args.symbols.split(",") if x] if args.symbols else None
    if args.simulate_days:
        out = pathlib.Path(args.out) if args.out else root_dir()
        store = simulate_days(out, args.simulate_days, universe, every_minutes=args.every,
                              expiries=args.expiries,
                              progress=lambda r: print(f"{r.at:%Y-%m-%d %H:%M} {r.symbols} "
                                                       f"symbols {r.bytes / 1024:.0f} kB"))
        print(f"{args.simulate_days} sessions in {store.root} ({store.size_bytes() / 1e6:.1f} MB)")
        return 0
    s = config.settings()
    store = Store.from_settings(dataclasses.replace(s, record_dir=args.out) if args.out else s)
    lock = Lock(store.root)
    if not lock.acquire():
        print(f"another recorder holds {store.root / LOCK_NAME}")
        return 1
    rec = Recorder(store, universe)
    if args.once:
        r = rec.record()
        print(f"{r.symbols} symbols, {r.chains} chains, {r.bytes / 1024:.0f} kB, "
              f"{r.seconds:.1f} s, skipped {sorted(r.skipped)}")
        return 0
    print(f"recording {len(rec.universe)} symbols into {store.root}; next at "
          f"{rec.next_due(clock.now()):%a %d %b %H:%M} ET (Ctrl-C stops)")
    stop = threading.Event()
    try:
        rec.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
