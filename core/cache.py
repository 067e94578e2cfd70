"""Bounded, shared caches: entry cap + TTL + one global byte budget + single-flight + SWR + metrics.

Every cache in the process is a :class:`BoundedCache` registered in :data:`REGISTRY`.

Bounds
    * Entries: each cache is a ``cachetools.TTLCache`` whose ``maxsize`` is the entry cap and
      whose ``ttl`` is the *hard max age*: an entry older than that is dropped, never served.
    * Bytes: all caches share one :class:`ByteBudget` (a ``cachetools.LRUCache`` sized in bytes,
      keyed by ``(cache name, key)``). Inserting past the budget evicts the least recently used
      entry of *any* cache. Sizes are measured honestly (:func:`sizeof`: numpy buffers, Arrow
      buffers, the Python structure around them, every shared object once). A value larger
      than the whole budget is returned to its caller but not kept.
    * Views: a value derived from an entry's value (a strike-capped chain) is kept *on* that
      entry (:meth:`BoundedCache.view`): it dies with the entry and its bytes count in it, so
      an entry cap or an eviction bounds the views too. A background refresh re-derives the
      views that were read on the old value for the new one *before* it replaces the old
      (:meth:`BoundedCache._warm`): readers keep the old value and its views until the new
      value has its own, so nobody waits for a view when a version changes.

Freshness (stale-while-revalidate)
    An entry younger than its fresh TTL is served as is. An older one (but younger than the hard
    max age) is served at once while ONE background refresh runs on a bounded worker pool. When
    a refresh fails with an :class:`~core.errors.UpstreamError`, the old value keeps being served,
    flagged ``stale=True``, until the hard max age.

Single-flight
    Concurrent misses on one key make exactly one loader call; the others wait on the same
    ``Future`` and receive its value *or its exception*. (``cachetools.cached(condition=...)``
    was considered: on a failing loader it lets every waiter retry the upstream call in turn,
    which is the stampede we must avoid when the upstream is down.)

Thread safety: one process-wide re-entrant lock guards every cache and the budget; loaders run
outside it. Cached values are shared by all sessions and must be treated as read-only.

Time: every cache reads :func:`core.clock.timer` (seconds), so a test that steps the pinned
clock ages the caches with it; nothing sleeps in tests.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import gc
import io
import logging
import mmap
import pickle
import sys
import threading
import time
import types
import weakref
from typing import Any, Callable, Hashable, Iterable

import cachetools
import numpy as np
import pandas as pd
import pyarrow as pa
from pandas._libs import index as _libindex
from pandas._libs.internals import Block as _PandasBlock
from pandas._libs.internals import BlockValuesRefs
from pandas.core.internals.managers import BaseBlockManager as _PandasManager

from core import clock
from core.errors import RateLimited, Unavailable, UpstreamError

log = logging.getLogger(__name__)

LOCK = threading.RLock()


class WouldWait(BaseException):
    """Raised by :meth:`BoundedCache.get` and ``view`` inside :func:`no_wait` where they would
    have to wait (a miss to load or compute, or a load to join). A BaseException, so no
    ``except Exception`` on the way up swallows it; :func:`core.fetch.many` catches it and hands
    the item to its pool."""


_NO_WAIT = threading.local()


@contextlib.contextmanager
def no_wait():
    """Within this block (this thread only) a cache read either answers from what is stored,
    fresh or stale, or raises :class:`WouldWait` — it never loads or waits."""
    before = getattr(_NO_WAIT, "on", False)
    _NO_WAIT.on = True
    try:
        yield
    finally:
        _NO_WAIT.on = before
EVICTION_REASONS = ("capacity", "expired", "budget", "too_large", "cleared")
MAX_VIEWS = 16  # views kept on one entry (the least recently used goes first)
_VIEW = object()  # marks a view's computation in ``BoundedCache._inflight``
_THAW = object()  # marks a frozen entry's promotion in ``BoundedCache._inflight``
_WARMING = threading.local()  # on: this thread is deriving views for a refresh (not a reader)


# --- sizes -------------------------------------------------------------------------------------

_GC_HEAD = sys.getsizeof([]) - [].__sizeof__()  # the GC header of a tracked object (16 B)
# Shared by every value that uses them, so counted in none: singletons, code, types, dtypes.
_SHARED = (type(None), bool, type, types.ModuleType, types.FunctionType,
           types.BuiltinFunctionType, types.MethodType, pd.api.extensions.ExtensionDtype,
           np.dtype)
_ATOMS = (int, float, complex, str, bytes, dt.date, dt.timedelta, dt.tzinfo, range, slice,
          weakref.ref)
_ENGINES = tuple(getattr(_libindex, n) for n in ("IndexEngine", "ExtensionEngine",
                                                 "BaseMultiIndexCodesEngine")
                 if hasattr(_libindex, n))
_WEAKREF = sys.getsizeof(weakref.ref(_libindex.IndexEngine))
_MAX_DEPTH = 8
_KIND: dict[type, str] = {}  # type -> how to count it (filled on first sight; types are few)


def _kind(cls: type) -> str:
    if issubclass(cls, _SHARED):
        kind = "shared"
    elif issubclass(cls, _ATOMS):
        kind = "atom"
    elif issubclass(cls, np.ndarray):
        kind = "ndarray"
    elif issubclass(cls, (pd.DataFrame, pd.Series, _PandasBlock, _PandasManager)):
        kind = "pandas"
    elif issubclass(cls, pd.Index):
        kind = "index"
    elif issubclass(cls, pd.api.extensions.ExtensionArray):
        kind = "extension"
    elif issubclass(cls, (pa.Array, pa.ChunkedArray)):
        kind = "arrow"
    elif issubclass(cls, (pa.RecordBatch, pa.Table)):
        kind = "table"
    elif issubclass(cls, pa.Buffer):
        kind = "buffer"
    elif issubclass(cls, _ENGINES):
        kind = "engine"
    elif issubclass(cls, BlockValuesRefs):
        kind = "refs"
    elif issubclass(cls, (list, tuple, set, frozenset)):
        kind = "sequence"
    elif issubclass(cls, dict):
        kind = "dict"
    elif cls.__sizeof__ is not object.__sizeof__:
        kind = "own"
    else:
        kind = "object"
    _KIND[cls] = kind
    return kind


class _Sizer:
    """One accounting pass. ``seen`` holds the ids of the objects and the addresses of the
    Arrow buffers already counted, so whatever a value shares with itself (views of one numpy
    base, blocks sharing copy-on-write references), or with the values passed as ``exclude``,
    is counted once."""

    __slots__ = ("seen",)

    def __init__(self):
        self.seen: set[int] = set()

    def new(self, obj) -> bool:
        """True the first time ``obj`` is seen in this pass."""
        k = id(obj)
        if k in self.seen:
            return False
        self.seen.add(k)
        return True

    @staticmethod
    def head(obj) -> int:
        """The object's own header, without what an overridden ``__sizeof__`` adds (pandas and
        pyarrow report their data there; it is counted buffer by buffer instead)."""
        return object.__sizeof__(obj) + (_GC_HEAD if gc.is_tracked(obj) else 0)

    def size(self, obj, depth: int = 0) -> int:
        k = id(obj)
        if k in self.seen or k in _SHARED_IDS:
            return 0
        kind = _KIND.get(type(obj)) or _kind(type(obj))
        if kind == "shared":
            return 0
        self.seen.add(k)
        if kind == "atom":
            return sys.getsizeof(obj)
        if kind == "ndarray":
            return self.ndarray(obj)
        if kind == "pandas":  # frames, series, their managers and blocks: header + attributes
            return self.head(obj) + self.attrs(obj, depth)
        if kind == "index":
            return self.head(obj) + self.attrs(obj, depth)  # _data, _cache (engine), ...
        if kind == "extension":
            return self.extension(obj, depth)
        if kind == "arrow":
            return self.head(obj) + self.arrow(obj)
        if kind == "table":
            return self.head(obj) + sum(self.arrow(c) for c in obj.columns)
        if kind == "buffer":
            return self.head(obj) + self.buffer(obj)
        if kind == "engine":
            return self.engine(obj)
        if kind == "refs":  # pandas copy-on-write bookkeeping: a list of weakrefs
            blocks = obj.referenced_blocks
            return sys.getsizeof(obj) + sys.getsizeof(blocks) + _WEAKREF * len(blocks)
        if kind == "own":  # the type says what it holds
            return sys.getsizeof(obj)
        if depth > _MAX_DEPTH:
            return sys.getsizeof(obj)
        if kind == "sequence":
            return sys.getsizeof(obj) + sum(self.size(x, depth + 1) for x in obj)
        if kind == "dict":
            return sys.getsizeof(obj) + sum(self.size(k, depth + 1) + self.size(v, depth + 1)
                                            for k, v in obj.items())
        return sys.getsizeof(obj) + self.attrs(obj, depth)

    def attrs(self, obj, depth: int) -> int:
        """What an instance's attributes hold, found as the garbage collector sees them.

        Reading ``__dict__`` would materialise a dict that CPython otherwise keeps inline (more
        memory, caused by the counting) whose reported size varies from instance to instance,
        so the attribute values are taken from ``gc.get_referents`` and their inline storage
        estimated at one pointer each plus a small header (measured on CPython 3.11)."""
        cls = type(obj)
        values = [v for v in gc.get_referents(obj) if v is not cls]
        storage = 8 * (len(values) + 3) if cls.__dictoffset__ else 0
        return storage + sum(self.size(v, depth + 1) for v in values)

    def ndarray(self, arr: np.ndarray) -> int:
        """Each array header once, and the data of the array that owns the memory."""
        total = sys.getsizeof(arr)  # header only for a view; header + data for an owner
        base = arr.base
        while isinstance(base, np.ndarray):
            if not self.new(base):
                base = None
                break
            total += sys.getsizeof(base)
            arr, base = base, base.base
        if base is not None:  # memory owned by another object (bytes, an Arrow buffer, ...)
            total += self.size(base)
        if arr.dtype.hasobject:  # the elements, each distinct object once
            items = arr.ravel(order="K").tolist()
            if set(map(id, items)) - self.seen:
                total += sum(self.size(x) for x in {id(x): x for x in items}.values())
        return total

    def buffer(self, buf: pa.Buffer) -> int:
        """An Arrow buffer's memory, counted at its root buffer, once per address."""
        while buf.parent is not None:
            buf = buf.parent
        key = -buf.address - 1  # negative: never an object id
        if key in self.seen:
            return 0
        self.seen.add(key)
        return -(-buf.size // 64) * 64  # pyarrow's pool pads every allocation to 64 bytes

    def arrow(self, obj) -> int:
        chunks = obj.chunks if isinstance(obj, pa.ChunkedArray) else (obj,)
        return sum(self.buffer(b) for c in chunks for b in c.buffers() if b is not None)

    def extension(self, arr, depth: int) -> int:
        total = self.head(arr) + self.attrs(arr, depth)  # ArrowExtensionArray: _pa_array, _cache
        known = False
        for name in ("_pa_array", "_ndarray", "_data", "_mask", "_codes"):
            part = getattr(arr, name, None)  # NDArrayBacked keeps _ndarray outside __dict__
            if part is not None and not isinstance(part, pd.api.extensions.ExtensionArray):
                known = True
                total += self.size(part, depth + 1)
        return total if known else total + int(arr.nbytes)  # unknown layout: its own count

    def engine(self, engine) -> int:
        """An index's lookup engine (built on the first label lookup): its values and table."""
        total = sys.getsizeof(engine)
        values = getattr(engine, "values", None)
        if isinstance(values, np.ndarray):
            total += self.size(values)
        mapping = getattr(engine, "mapping", None)
        if mapping is not None and self.new(mapping):
            total += int(mapping.sizeof())
        return total



_SHARED_IDS: set[int] = set()  # process-wide objects that cached values share (shared_labels)
_LABELS: dict[tuple, pd.Index] = {}  # column labels -> one shared Index (bounded below)
_MAX_LABELS = 32
_TOKENS: dict[int, tuple] = {}  # id of a process-wide shared object -> its token (frozen bytes)
_BY_TOKEN: dict[tuple, Any] = {}  # token -> the shared object


def register_shared(token: tuple, obj: Any) -> None:
    """Declare ``obj`` (alive for the whole process: a shared column Index, a categorical
    dtype) one of the objects cached values share: :func:`freeze` writes a reference to it
    instead of a copy, and :func:`thaw` puts the same object back."""
    with LOCK:
        _TOKENS[id(obj)] = token
        _BY_TOKEN[token] = obj


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return _TOKENS.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, token):
        try:
            return _BY_TOKEN[tuple(token)]
        except KeyError:
            raise pickle.UnpicklingError(f"unknown shared object {token!r}") from None


def freeze(value: Any) -> mmap.mmap:
    """``value`` pickled for this process only (a :class:`Freezer`'s ``dumps``), in pages of its
    own (an anonymous ``mmap``). The shared objects of :func:`register_shared` are written as
    references, so the bytes do not repeat them and :func:`thaw` gives back values that share
    them as the originals did.

    Why pages of its own: frozen values are long-lived ~30 KB blocks, allocated and freed in
    the order of a cache's misses and evictions. Kept in the malloc heap they leave holes that
    later values only partly fill (measured: the same RSS as live frames, for 35 % fewer bytes
    held); unmapped, their memory goes back to the system when they are dropped."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    view = buf.getbuffer()
    pages = mmap.mmap(-1, max(len(view), 1))
    pages.write(view)
    del view
    size = frozen_size(pages) - sys.getsizeof(pages)
    with _PAGES_LOCK:
        _PAGES["mapped"] += size
    weakref.finalize(pages, _unmapped, size)
    return pages


_PAGES = {"mapped": 0}  # bytes of frozen values' pages alive now (counted as they are unmapped)
_PAGES_LOCK = threading.Lock()


def _unmapped(size: int) -> None:
    with _PAGES_LOCK:
        _PAGES["mapped"] -= size


def mapped_bytes() -> int:
    """Bytes of the pages :func:`freeze` mapped that are still alive (tracemalloc does not see
    them: benches and tests add this to what it measures)."""
    with _PAGES_LOCK:
        return _PAGES["mapped"]


def thaw(data) -> Any:
    """Inverse of :func:`freeze` (our own bytes only: nothing read from outside the process)."""
    return _Unpickler(io.BytesIO(data)).load()


def frozen_size(data) -> int:
    """What frozen ``data`` holds: whole pages for an ``mmap``, the object for ``bytes``."""
    if isinstance(data, mmap.mmap):
        return sys.getsizeof(data) + -(-len(data) // mmap.PAGESIZE) * mmap.PAGESIZE
    return sys.getsizeof(data)


def shared_labels(labels: Iterable[Hashable]) -> pd.Index:
    """One process-wide column Index per list of labels, its lookup engine built once.

    Every cached chain has the same 20 columns: sharing one immutable Index saves each frame
    its own (about 5 KB: the labels, and the engine of Python strings and hash table pandas
    builds on the first label lookup). Counted in no value's size (see :func:`sizeof`). At
    most ``_MAX_LABELS`` lists are kept; past that a fresh Index is returned (still correct).
    """
    key = tuple(labels)
    with LOCK:
        idx = _LABELS.get(key)
        if idx is None:
            idx = pd.Index(key)
            if key:
                idx.get_loc(key[0])  # build the engine now, not on some reader's first lookup
            if len(_LABELS) < _MAX_LABELS:
                _LABELS[key] = idx
                register_shared(("labels", key), idx)
                # the Index and what its views share with it (labels, engine, the copy-on-write
                # reference list of every view pandas makes of it) belong to no single value
                data = idx._data
                parts = (idx, data, getattr(data, "_pa_array", None), idx._cache,
                         idx._cache.get("_engine"), getattr(idx, "_references", None))
                _SHARED_IDS.update(id(p) for p in parts if p is not None)
        return idx


def compact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` laid out to be kept: same data (``equals``), fewer objects and allocations.

    A deep copy (pandas consolidates its blocks: one 2-D array per dtype instead of a block per
    column, each block with its placement, copy-on-write references and array header), the
    shared column Index of :func:`shared_labels`, and a fresh default index when the index is a
    default one (an index that was sliced or taken keeps a materialised copy of its values).
    Measured on a 212-row chain: 55.3 KB -> about 42 KB. An Arrow-backed column whose buffers
    are slices of a larger one (a frame decoded from an Arrow IPC message: the shared L2) gets
    buffers of its own: kept as it is, it would keep the whole message alive (41 KB for a
    212-row chain, 1.6x what the chain holds).
    """
    out = frame.copy(deep=True)
    for name, dtype in out.dtypes.items():
        if isinstance(dtype, (pd.StringDtype, pd.ArrowDtype)):
            chunked = getattr(out[name].array, "_pa_array", None)  # pandas' Arrow-backed arrays
            if isinstance(chunked, pa.ChunkedArray) and _borrows(chunked):
                out[name] = pd.array(pa.concat_arrays(chunked.chunks), dtype=dtype)
    sweep_dead_references(out)  # the column reads above leave dead copy-on-write weakrefs
    out.columns = shared_labels(frame.columns)
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        out.index = pd.RangeIndex(len(out))
    return out


def _borrows(chunked: pa.ChunkedArray) -> bool:
    """Does one of the array's buffers live inside a larger allocation (a slice of another
    buffer) than the array itself uses?"""
    for chunk in chunked.chunks:
        for buf in chunk.buffers():
            if buf is not None and buf.parent is not None:
                root = buf.parent
                while root.parent is not None:
                    root = root.parent
                if root.size > buf.size:
                    return True
    return False


def sweep_dead_references(value: Any, axes: bool = False) -> None:
    """Drop the dead weakrefs from the copy-on-write reference lists of the frames in ``value``
    (a frame, or a dataclass / tuple / list holding frames). Every read of a column of a pandas
    3 frame adds a weakref to its block's list and one to its index's; pandas sweeps the dead
    ones only when a list passes 500 (``BlockValuesRefs.has_reference`` sweeps them at once,
    as pandas does before a write). On a cached chain that every session reads that is up to
    ~44 KB per list, nine lists a chain: several times the chain itself, counted nowhere
    (:func:`sweep_all` sweeps every cached frame each few seconds). ``axes``: the index's and
    the columns' lists too (what :func:`sweep_all` does; reading them costs a few hundred
    bytes once, so a value about to be measured is swept without)."""
    if isinstance(value, pd.DataFrame):
        lists = [block.refs for block in value._mgr.blocks]
        if axes:
            lists += [getattr(axis, "_references", None) for axis in (value.index, value.columns)]
        for refs in lists:
            if refs is not None and len(refs.referenced_blocks) > 1:  # one: the owner itself
                refs.has_reference()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            part = getattr(value, f.name)
            if isinstance(part, pd.DataFrame):
                sweep_dead_references(part, axes)
    elif isinstance(value, (list, tuple)):
        for part in value:
            if isinstance(part, pd.DataFrame):
                sweep_dead_references(part, axes)


def sizeof(obj: Any, *, exclude: Iterable[Any] = ()) -> int:
    """Bytes that ``obj`` holds, each object and each buffer counted once.

    * numpy arrays: the data of the array that owns the memory (a view adds only its header,
      however many views share one base); object arrays add their distinct elements;
    * pandas frames, series and indexes block by block: each block's array, Arrow-backed
      columns by their Arrow buffers (at the root buffer, once per address), and the Python
      structure around them (blocks, placements, copy-on-write references, the lookup engine
      an index builds on its first label lookup);
    * containers, dataclasses and plain objects recursively (to a fixed depth); a type with its
      own ``__sizeof__`` by that; shared singletons (None, bools, types, dtypes) not at all.
      Memory that C++ holds outside pyarrow's pool (array descriptors) is not counted.

    ``exclude``: values already paid for elsewhere (the sources a derived value was computed
    from): what ``obj`` shares with them is not counted again. Within 10 % of what tracemalloc
    and pyarrow's memory pool see freed when the value goes (tests/test_cache.py), and several
    times cheaper than a pickle round trip of the same value (bench/cache_compare.py).
    """
    sizer = _Sizer()
    for other in exclude:
        sizer.size(other)
    return int(sizer.size(obj))


# --- entries and results -----------------------------------------------------------------------

@dataclasses.dataclass
class Entry:
    value: Any
    nbytes: int  # the value's bytes plus its views' (what they do not share with it)
    stored_at: float
    fresh_ttl: float
    failed: bool = False  # the last refresh failed: the value is served flagged stale
    views: dict | None = None  # name -> View: values derived from this one, see view()
    frozen: bool = False  # ``value`` is the cache's Freezer bytes: not read twice yet


@dataclasses.dataclass(frozen=True)
class Freezer:
    """How a cache keeps a value that nobody has read twice yet (:attr:`BoundedCache.freezer`):
    ``dumps(value) -> data`` (``bytes``, or an ``mmap`` as :func:`freeze` makes) and
    ``loads(data) -> value``. In-process only (the data never leaves the process, so pickle is
    fine here; the shared L2 never stores pickle)."""

    dumps: Callable[[Any], Any]
    loads: Callable[[Any], Any]


@dataclasses.dataclass
class View:
    """One view kept on an entry: the value, its bytes (less what it shares with the entry's
    value), how it was made (``fn``: re-run on the next version by a refresh) and whether a
    reader asked for it on this version (``read``: only views read are re-derived)."""

    value: Any
    nbytes: int
    fn: Callable[[Any], Any]
    read: bool = True


@dataclasses.dataclass(frozen=True)
class Served:
    """What a cache read returns: the value, its age in seconds, and whether it is stale
    because a refresh failed (``stale``)."""

    value: Any
    age: float
    stale: bool = False


# --- the global byte budget --------------------------------------------------------------------

class ByteBudget(cachetools.LRUCache):
    """LRU over ``(cache name, key) -> nbytes`` across every cache; evicting one drops the
    entry from its own cache (reason ``budget``)."""

    def __init__(self, max_bytes: int):
        super().__init__(maxsize=max_bytes, getsizeof=lambda nbytes: nbytes)
        self.evictions = 0

    def popitem(self):
        (name, key), nbytes = super().popitem()
        self.evictions += 1
        owner = REGISTRY.get(name)
        if owner is not None:
            owner._drop_for_budget(key)
        return (name, key), nbytes

    def resize(self, max_bytes: int) -> None:
        """Change the budget (the memory governor shrinks it under memory pressure and grows it
        back); shrinking evicts LRU entries of any cache until the rest fits. Call under LOCK.
        (cachetools keeps ``maxsize`` in a private attribute; ``__setitem__`` reads it.)"""
        self._Cache__maxsize = max(int(max_bytes), 1)
        while self.currsize > self.maxsize and len(self):
            self.popitem()

    def stats(self) -> dict:
        return {"max_bytes": int(self.maxsize), "bytes": int(self.currsize),
                "entries": len(self), "evictions": self.evictions}


class _Store(cachetools.TTLCache):
    """TTLCache that reports every entry it drops (capacity or hard-max-age) to its owner."""

    def __init__(self, owner: "BoundedCache", maxsize: int, ttl: float, timer):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self._owner = owner

    def expire(self, time=None):
        expired = super().expire(time)
        for key, entry in expired:
            self._owner._forget(key, entry, "expired")
        return expired

    def popitem(self):
        key, entry = super().popitem()
        self._owner._forget(key, entry, "capacity")
        return key, entry


# --- the cache ---------------------------------------------------------------------------------

class BoundedCache:
    """One named cache: ``get(key, loader)`` with single-flight, SWR and stale-on-error.

    ``max_entries``: entry cap. ``fresh_ttl``: seconds a value is served without refresh (may
    be overridden per call). ``max_age``: hard max age in seconds (dropped past it).
    """

    def __init__(self, name: str, *, max_entries: int, fresh_ttl: float, max_age: float,
                 budget: ByteBudget, executor: cf.Executor | None = None,
                 timer: Callable[[], float] = clock.timer, wait_timeout: float = 30.0,
                 leader_timeout: float | None = None):
        if max_age < fresh_ttl:
            raise ValueError(f"{name}: max_age {max_age} < fresh_ttl {fresh_ttl}")
        self.name = name
        self.max_entries = max_entries
        self.fresh_ttl = fresh_ttl
        self.max_age = max_age
        self.wait_timeout = wait_timeout
        # None: the leader of a miss runs the loader in its own thread, as long as it takes.
        # A number: the loader runs on a pool thread (_LEADERS) and the leader waits at most that
        # long, like its followers (a stalled upstream cannot hold a page past it).
        self.leader_timeout = leader_timeout
        self.compact: Callable[[Any], Any] | None = None  # the form a loaded value is kept in
        # None: every value is kept live. A Freezer: a newly loaded key is kept as its bytes
        # and made live on its second read (promotion, :meth:`_thawed`): a value read once (a
        # sweep, a scan) costs its serialised size, not its live structure; a value read again
        # is live and shared from then on, and so are its refreshed versions (:meth:`_entry`)
        self.freezer: Freezer | None = None
        self._budget = budget
        self._executor = executor
        self._timer = timer
        self._store = _Store(self, max_entries, max_age, timer)
        self._inflight: dict[Hashable, cf.Future] = {}
        self._warming: dict[Hashable, Entry] = {}  # refreshed entries getting their views
        self._joined: dict[Hashable, bool] = {}  # misses in flight that another reader joined
        self.bytes = 0
        self.hits = self.misses = self.stale_hits = self.joins = 0
        self.upstream_calls = self.errors = self.refreshes = 0
        self.view_hits = self.view_misses = self.view_joins = 0
        self.thaws = 0  # frozen entries made live by a second read
        self.evictions: collections.Counter = collections.Counter()
        # the shared second level (core.shared.L2) when one is configured: asked on a miss or a
        # refresh before the loader, and written after a load or a put (None: L1 only)
        self.shared = None
        with LOCK:
            REGISTRY[name] = self

    # -- bookkeeping called under LOCK --
    def _forget(self, key, entry: Entry, reason: str) -> None:
        self.bytes -= entry.nbytes
        self.evictions[reason] += 1
        self._budget.pop((self.name, key), None)

    def _drop_for_budget(self, key) -> None:
        try:
            entry = self._store.pop(key)
        except KeyError:
            return
        self.bytes -= entry.nbytes
        self.evictions["budget"] += 1

    def _put(self, key, entry: Entry) -> bool:
        """Store ``entry``; False when it is larger than the whole budget (served, not kept)."""
        old = self._store.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
            self._budget.pop((self.name, key), None)
        if entry.nbytes > self._budget.maxsize:
            self.evictions["too_large"] += 1
            return False
        self._store[key] = entry  # may evict by capacity / age first
        self.bytes += entry.nbytes
        self._budget[(self.name, key)] = entry.nbytes  # may evict LRU entries of any cache
        return True

    # -- public API --
    def get(self, key: Hashable, loader: Callable[[], Any], *,
            fresh_ttl: float | None = None) -> Served:
        """Serve ``key``, calling ``loader()`` on a miss (once, whoever else is waiting)."""
        ttl = self.fresh_ttl if fresh_ttl is None else fresh_ttl
        with LOCK:
            now = self._timer()
            self._store.expire(now)
            entry = self._store.get(key)
            if entry is not None:
                self.hits += 1
                self._budget.get((self.name, key))  # touch: most recently used
                age = now - entry.stored_at
                if age >= entry.fresh_ttl:
                    self.stale_hits += 1
                    if key not in self._inflight:
                        self._refresh_in_background(key, loader, ttl)
                if not entry.frozen:
                    return Served(entry.value, age, entry.failed)
            else:
                if getattr(_NO_WAIT, "on", False):
                    raise WouldWait(self.name)
                future, leader = self._flight(key)
                if leader:
                    self.misses += 1
                else:
                    self.joins += 1
                    if self.freezer is not None:  # read twice already: kept live when it lands
                        self._joined[key] = True
        if entry is not None:  # frozen: read for the second time
            return self._thawed(key, entry, age)
        wait = self.wait_timeout
        if leader and self.leader_timeout is None:
            self._load(key, loader, ttl, future)
        elif leader:
            _LEADERS.submit(self._load, key, loader, ttl, future)
            wait = self.leader_timeout
        try:
            return future.result(timeout=wait)
        except cf.TimeoutError:
            raise Unavailable("The data source is taking too long to answer. Try again shortly.")

    def view(self, key: Hashable, value: Any, name: Hashable, fn: Callable[[Any], Any]) -> Any:
        """``fn(value)``, kept on the entry that holds ``value`` under ``key``.

        A view lives and dies with that entry (eviction, expiry, refresh, clear): it can never
        keep an evicted value alive, and it is never a second entry. Its bytes, less what it
        shares with ``value``, are added to the entry's (so the budget sees them); a view that
        *is* ``value`` (``fn`` had nothing to change) costs nothing. Computed once per entry
        (concurrent callers wait for the first), at most :data:`MAX_VIEWS` per entry. When the
        entry no longer holds ``value`` (refreshed or evicted meanwhile) the view is computed and
        returned, not kept.
        """
        warming = getattr(_WARMING, "on", False)
        with LOCK:
            entry = self._holding(key, value)
            if entry is None:
                leader, future = None, None
            elif entry.views is not None and name in entry.views:
                self.view_hits += 1
                kept = entry.views[name] = entry.views.pop(name)  # most recently used last
                kept.read = kept.read or not warming
                return kept.value
            elif getattr(_NO_WAIT, "on", False):
                raise WouldWait(self.name)
            else:
                flight = (_VIEW, key, name, id(entry))
                future, leader = self._flight(flight)
                if leader:
                    self.view_misses += 1
                else:
                    self.view_joins += 1
        if future is None:  # the entry has gone: nothing to keep the view on
            return fn(value)
        if not leader:
            return future.result(timeout=self.wait_timeout)
        try:
            result = fn(value)
            extra = 0 if result is value else sizeof(result, exclude=(value,))
            # measured again: computing the view may have grown the value (pandas builds an
            # index's lookup engine on the first label lookup and keeps it); the dead weakrefs
            # that reading it left in pandas' copy-on-write lists are swept first (pandas sweeps
            # them itself, later): they are garbage, not what the value holds
            sweep_dead_references(value)
            value_bytes = sizeof(value)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            with LOCK:
                self._inflight.pop(flight, None)
            future.set_exception(exc)
            raise
        with LOCK:
            self._inflight.pop(flight, None)
            if self._holding(key, value) is entry:
                self._add_view(key, entry, name, View(result, extra, fn, read=not warming),
                               value_bytes)
        future.set_result(result)
        return result

    def anchor(self, key: Hashable, objs) -> tuple[Any, list] | None:
        """``(value, parts)`` when every object of ``objs`` is the value of ``key``'s live entry
        (part None) or one of its views (part ``(name, fn)``); else None. What a value computed
        from those objects needs to become a view of that entry (and be warmed with it)."""
        with LOCK:
            entry = self._store.get(key)
            if entry is None:
                return None
            parts = []
            for obj in objs:
                if obj is entry.value:
                    parts.append(None)
                    continue
                for name, v in (entry.views or {}).items():
                    if v.value is obj:
                        parts.append((name, v.fn))
                        break
                else:
                    return None
            return entry.value, parts

    def _flight(self, key) -> tuple[cf.Future, bool]:
        """(the future of the load in flight for ``key``, whether the caller leads it: True when
        nobody was loading it and a new future was registered). Called under LOCK."""
        future = self._inflight.get(key)
        if future is not None:
            return future, False
        future = self._inflight[key] = cf.Future()
        return future, True

    def _holding(self, key, value) -> Entry | None:
        """The entry under ``key`` if it holds ``value`` itself: the live one, or the one a
        refresh is warming (:meth:`_warm`) before it goes live (called under LOCK)."""
        for entry in (self._store.get(key), self._warming.get(key)):
            if entry is not None and entry.value is value:
                return entry
        return None

    def _add_view(self, key, entry: Entry, name, view: View, value_bytes: int) -> None:
        views = entry.views if entry.views is not None else {}
        while len(views) >= MAX_VIEWS:
            views.pop(next(iter(views)))  # the least recently used view
        if value_bytes + view.nbytes + sum(v.nbytes for v in views.values()) \
                > self._budget.maxsize:
            self.evictions["too_large"] += 1  # would not fit: served, not kept
        else:
            views[name] = view
        entry.views = views
        nbytes = value_bytes + sum(v.nbytes for v in views.values())
        if self._store.get(key) is not entry:  # being warmed: accounted when it goes live
            entry.nbytes = nbytes
            return
        self._resize(key, entry, nbytes)

    def _resize(self, key, entry: Entry, nbytes: int) -> None:
        """``entry`` (live under ``key``) now holds ``nbytes``: the cache's and the budget's
        counts follow (called under LOCK)."""
        self.bytes += nbytes - entry.nbytes
        entry.nbytes = nbytes
        # re-enter the budget with the new size; taken out first so that making room can never
        # evict this very entry (the budget may evict others: the LRU of any cache)
        self._budget.pop((self.name, key), None)
        if entry.nbytes > self._budget.maxsize:  # the value itself grew past the whole budget
            self._store.pop(key, None)
            self.bytes -= entry.nbytes
            self.evictions["too_large"] += 1
            return
        self._budget[(self.name, key)] = entry.nbytes

    def peek(self, key: Hashable) -> Any | None:
        """The cached value for ``key`` without loading (None when absent)."""
        served = self.lookup(key)
        return None if served is None else served.value

    def lookup(self, key: Hashable) -> Served | None:
        """The cached value with its age, without loading or refreshing (None when absent). A
        read like any other: a frozen entry is made live."""
        with LOCK:
            now = self._timer()
            self._store.expire(now)
            entry = self._store.get(key)
            if entry is None:
                return None
            if not entry.frozen:
                return Served(entry.value, now - entry.stored_at, entry.failed)
        return self._thawed(key, entry, now - entry.stored_at)

    def has(self, key: Hashable) -> bool:
        """Is a value (fresh or stale) held for ``key``? Not a read: nothing is made live."""
        with LOCK:
            self._store.expire(self._timer())
            return key in self._store

    def _entry(self, key, value, stored_at: float, ttl: float, failed: bool = False) -> Entry:
        """The entry to keep for a value just loaded for ``key``: frozen when the cache has a
        freezer and nobody has read the key twice (no live entry for it, and no reader joined
        the load); else live."""
        if self.freezer is not None:
            with LOCK:
                live = self._store.get(key)
                joined = self._joined.pop(key, False)
            if not joined and (live is None or live.frozen):
                data = self.freezer.dumps(value)
                return Entry(data, frozen_size(data), stored_at, ttl, failed, frozen=True)
        return Entry(value, sizeof(value), stored_at, ttl, failed)

    def _thawed(self, key, entry: Entry, age: float) -> Served:
        """The second read of a frozen entry: its bytes loaded once (concurrent readers wait
        for that one), and the entry made live in place (same age, same TTLs), with views from
        then on."""
        flight = (_THAW, key, id(entry))
        with LOCK:
            future, leader = self._flight(flight)
            if not leader:
                self.joins += 1
        if not leader:
            if getattr(_NO_WAIT, "on", False):
                raise WouldWait(self.name)
            return future.result(timeout=self.wait_timeout)
        try:
            value = self.freezer.loads(entry.value)
            nbytes = sizeof(value)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            with LOCK:
                self._inflight.pop(flight, None)
            future.set_exception(exc)
            raise
        served = Served(value, age, entry.failed)
        with LOCK:
            self._inflight.pop(flight, None)
            self.thaws += 1
            if self._store.get(key) is entry and entry.frozen:  # in place: same age and TTLs
                entry.value, entry.frozen = value, False
                self._resize(key, entry, nbytes)
        future.set_result(served)
        return served

    def put(self, key: Hashable, value: Any, *, fresh_ttl: float | None = None) -> None:
        if self.compact is not None:
            value = self.compact(value)
        ttl = self.fresh_ttl if fresh_ttl is None else fresh_ttl
        entry = self._entry(key, value, self._timer(), ttl)
        with LOCK:
            self._put(key, entry)
        if self.shared is not None:  # outside LOCK: a network write
            self.shared.store(self, key, value, ttl)

    def clear(self) -> None:
        with LOCK:
            for key in list(self._store.keys()):
                entry = self._store.pop(key, None)
                if entry is not None:
                    self._forget(key, entry, "cleared")

    def __len__(self) -> int:
        with LOCK:
            self._store.expire()
            return len(self._store)

    def stats(self) -> dict:
        with LOCK:
            self._store.expire()
            lookups = self.hits + self.misses + self.joins
            return {
                "name": self.name, "entries": len(self._store), "max_entries": self.max_entries,
                "bytes": int(self.bytes), "fresh_ttl": self.fresh_ttl, "max_age": self.max_age,
                "hits": self.hits, "misses": self.misses, "joins": self.joins,
                "stale_hits": self.stale_hits,
                "hit_rate": (self.hits + self.joins) / lookups if lookups else None,
                "evictions": sum(self.evictions.values()),
                "evictions_by_reason": {r: self.evictions.get(r, 0) for r in EVICTION_REASONS},
                "upstream_calls": self.upstream_calls, "errors": self.errors,
                "refreshes": self.refreshes, "inflight": len(self._inflight),
                "views": sum(len(e.views or ()) for e in self._store.values()),
                "frozen": sum(1 for e in self._store.values() if e.frozen), "thaws": self.thaws,
                "view_hits": self.view_hits, "view_misses": self.view_misses,
                "view_joins": self.view_joins,
            }

    # -- loading --
    def _refresh_in_background(self, key, loader, ttl) -> None:
        future = self._inflight[key] = cf.Future()
        self.refreshes += 1
        if self._executor is None:  # no pool: refresh inline on the next miss instead
            self._inflight.pop(key)
            return
        try:
            self._executor.submit(self._load, key, loader, ttl, future)
        except RuntimeError:  # pool shut down (process exiting)
            self._inflight.pop(key, None)

    def _load(self, key, loader, ttl, future: cf.Future) -> None:
        shared, age, failed = self.shared, 0.0, False

        def upstream():
            with LOCK:
                self.upstream_calls += 1
            return loader()
        try:
            if shared is None:
                value = upstream()
            else:  # the L2 calls the loader only when no replica has a fresh value
                with LOCK:
                    refreshing = key in self._store
                got = shared.fetch(self, key, upstream, ttl, refreshing=refreshing)
                value, age, failed = got.value, got.age, got.failed
            if self.compact is not None:
                value = self.compact(value)
        except UpstreamError as exc:
            with LOCK:
                self.errors += 1
                self._inflight.pop(key, None)
                self._joined.pop(key, None)
                entry = self._store.get(key)
                if entry is not None:
                    entry.failed = True
                    held = Served(entry.value, self._timer() - entry.stored_at, True)
            if entry is not None:
                if entry.frozen:
                    held = dataclasses.replace(held, value=self.freezer.loads(entry.value))
                future.set_result(held)
                return
            future.set_exception(exc)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, never swallowed
            with LOCK:
                self.errors += 1
                self._inflight.pop(key, None)
                self._joined.pop(key, None)
                entry = self._store.get(key)
                if entry is not None and isinstance(exc, Exception):
                    entry.failed = True  # the copy kept is served flagged stale, not as fresh
            if entry is not None and isinstance(exc, Exception):
                log.error("cache %s: refresh of %r failed", self.name, key, exc_info=exc)
            future.set_exception(exc)
        else:
            entry = self._entry(key, value, self._timer() - age, ttl, failed)
            if not entry.frozen:
                self._warm(key, entry)
            with LOCK:
                self._put(key, entry)
                self._inflight.pop(key, None)
            future.set_result(Served(value, age, failed))

    def _warm(self, key, entry: Entry) -> None:
        """Before ``entry`` (a refreshed value) replaces the live entry of ``key``: derive on
        it the views that readers asked for on the live one, with the same functions, in the
        order they were last read (a view built from another finds it already there).

        Meanwhile readers are served the live value and its views, so a version change costs
        the refresh thread the views' time and no reader a wait. A view that raises is left
        to the next reader (who will see the error). Views not read on this version are not
        carried over, so a page nobody shows stops costing work after one version."""
        with LOCK:
            live = self._store.get(key)
            todo = [(name, v.fn) for name, v in (live.views or {}).items() if v.read] \
                if live is not None and live.value is not entry.value else []
            if not todo:
                return
            self._warming[key] = entry
        _WARMING.on = True
        try:
            for name, fn in todo:
                try:
                    self.view(key, entry.value, name, fn)
                except Exception:  # noqa: BLE001 - a reader will compute it and see the error
                    log.debug("cache %s: warming view %r of %r failed", self.name, name, key,
                              exc_info=True)
        finally:
            _WARMING.on = False
            with LOCK:
                self._warming.pop(key, None)


REGISTRY: dict[str, BoundedCache] = {}  # one entry per named cache: a fixed, small set
# Threads that run a miss's loader for caches with a leader deadline (``leader_timeout``):
# bounded and reused (a thread per miss would churn malloc arenas). Those loaders are
# provider calls, which never wait on this pool themselves, so it cannot deadlock.
_LEADERS = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="cache-leader")


def stats() -> list[dict]:
    """Metrics of every registered cache, as plain dicts (for the memory panel and benches)."""
    with LOCK:
        return [c.stats() for c in REGISTRY.values()]


def sweep_all() -> int:
    """:func:`sweep_dead_references` on every cached value and view of every cache (the memory
    governor's thread calls it every few seconds). Returns the number of values swept."""
    values = []
    with LOCK:
        for c in REGISTRY.values():
            c._store.expire()  # an expired entry is dropped (and accounted), not swept
            values += [v for e in c._store.values()
                       for v in (e.value, *(w.value for w in (e.views or {}).values()))]
    for value in values:
        sweep_dead_references(value, axes=True)
    return len(values)


def clear_all() -> None:
    """Drop every cached value (an operator action; the UI offers it only when enabled)."""
    with LOCK:
        for c in REGISTRY.values():
            c.clear()


# --- upstream politeness -----------------------------------------------------------------------

class RateLimiter:
    """Process-wide token bucket for upstream calls, with a shared back-off after a rate limit.

    ``acquire()`` blocks (up to ``max_wait`` seconds) until a call may go out; then raises
    :class:`RateLimited`. ``penalise()`` after an upstream ``RateLimited`` pauses every caller
    for a back-off that doubles on each consecutive penalty (capped); ``reward()`` resets it.
    Uses real monotonic time: it is about the upstream's clock, not the market's.
    """

    def __init__(self, per_second: float, *, burst: int | None = None, max_wait: float = 10.0,
                 base_backoff: float = 2.0, max_backoff: float = 60.0):
        self.rate = float(per_second)
        self.capacity = float(burst or max(1, int(per_second)))
        self.max_wait = max_wait
        self.base_backoff, self.max_backoff = base_backoff, max_backoff
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._blocked_until = 0.0
        self._penalties = 0
        self._lock = threading.Lock()
        self.waited = 0.0
        self.rejected = 0

    def acquire(self) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                wait = max(self._blocked_until - now, 0.0)
                if wait == 0.0 and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                if wait == 0.0:
                    wait = (1.0 - self._tokens) / self.rate
                if now + wait > deadline:
                    self.rejected += 1
                    raise RateLimited("Too many requests to the data source right now; "
                                      "try again in a few seconds.")
                self.waited += wait
            time.sleep(wait)

    def penalise(self) -> float:
        with self._lock:
            backoff = min(self.base_backoff * 2 ** self._penalties, self.max_backoff)
            self._penalties += 1
            self._blocked_until = max(self._blocked_until, time.monotonic() + backoff)
            return backoff

    def reward(self) -> None:
        with self._lock:
            self._penalties = 0

    def stats(self) -> dict:
        with self._lock:
            return {"rate_per_sec": self.rate, "waited_s": round(self.waited, 3),
                    "rejected": self.rejected, "backoff_level": self._penalties}
