"""Chains, quotes and key levels <-> Arrow tables and JSON-safe metadata (never pickle).

One codec for everything that leaves the process: the recorder's Parquet files (:mod:`core.recorder`)
and, later, the shared cache's Arrow IPC bytes. It is generic on purpose: every frame column
travels with its dtype, and every field of a :class:`~core.schema.Chain` / :class:`~core.schema.Quote`
/ :class:`~core.analytics.levels.KeyLevels` dataclass is found by ``dataclasses.fields`` — a
column or field added to the schema is recorded and restored without touching this module.

Values in the JSON metadata are tagged when JSON has no type for them::

    datetime  {"$t": "datetime", "v": "2026-11-20T11:30:00-05:00", "tz": "America/New_York"}
    date      {"$t": "date", "v": "2026-11-20"}
    set       {"$t": "frozenset", "v": [sorted items]}      (flags: a sorted list)
    tuple     {"$t": "tuple", "v": [...]}
    float     {"$t": "float", "v": "nan" | "inf" | "-inf"}  (finite floats stay numbers)
    dataclass {"$t": "Quote" | "Chain" | "KeyLevels", "v": {field: value}}
    analytics {"$t": "obj", "c": "core.analytics.module:Class", "v": {field: value}}
              (any dataclass or NamedTuple defined in ``core.analytics``: scan results such as
              CommandRow, WatchRow, WhaleResult and what they hold; decoding imports nothing
              outside ``core.analytics`` and builds only dataclasses / NamedTuples)
    frame     {"$t": "frame", "i": n}   series {"$t": "series", "i": n, "name": ...}
              (only with a ``frames`` list, :func:`dumps_parts`: the n-th Arrow IPC stream
              travelling next to the JSON, index, dtypes and tz-aware times kept)

A frame goes through ``pyarrow.Table.from_pandas`` (its ``pandas`` metadata restores dtypes:
``str``, ``int64``, ``bool``, tz-aware ``datetime64[ns, UTC]``, ``datetime.date`` objects); the
codec also stores ``{column: dtype}`` and casts back anything Arrow did not bring back exactly.

Several chains go into ONE table (a recorder snapshot: every recorded expiry of a symbol): their
frames are concatenated in order and the schema metadata ``codec.chains`` lists each chain's
fields with its row count, so :func:`table_to_chains` slices them back exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from core.analytics.levels import KeyLevels
from core.schema import Chain, Quote

CHAINS_KEY = b"codec.chains"
DTYPES_KEY = b"codec.dtypes"
VERSION = 1
_CLASSES = {cls.__name__: cls for cls in (Chain, Quote, KeyLevels)}


# --- JSON-safe values ----------------------------------------------------------------------------

def encode(value: Any, frames: list[bytes] | None = None) -> Any:
    """``value`` as JSON-safe data (tagged where JSON has no type; see the module docstring).
    ``frames``: where DataFrames / Series found inside go, as Arrow IPC bytes (without it a
    frame cannot be encoded: TypeError)."""
    if frames is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        return _frame_ref(value, frames)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"$t": "float", "v": repr(value)}
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        out = {"$t": "datetime", "v": value.isoformat()}
        if isinstance(value.tzinfo, ZoneInfo):
            out["tz"] = value.tzinfo.key
        return out
    if isinstance(value, dt.date):
        return {"$t": "date", "v": value.isoformat()}
    if isinstance(value, (set, frozenset)):
        return {"$t": "frozenset", "v": sorted(encode(x, frames) for x in value)}
    if isinstance(value, tuple) and _analytics_type(type(value)):  # a NamedTuple
        return {"$t": "obj", "c": _type_name(type(value)),
                "v": {f: encode(getattr(value, f), frames) for f in type(value)._fields}}
    if isinstance(value, tuple):
        return {"$t": "tuple", "v": [encode(x, frames) for x in value]}
    if isinstance(value, list):
        return [encode(x, frames) for x in value]
    if isinstance(value, dict):
        return {str(k): encode(v, frames) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _CLASSES:
        return {"$t": type(value).__name__, "v": fields_of(value)}
    if dataclasses.is_dataclass(value) and _analytics_type(type(value)):
        return {"$t": "obj", "c": _type_name(type(value)),
                "v": {f.name: encode(getattr(value, f.name), frames)
                      for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"codec cannot encode {type(value).__name__}")


def decode(data: Any, frames: list[bytes] | None = None) -> Any:
    """Inverse of :func:`encode` (``frames``: the Arrow IPC streams a ``frame`` tag points at)."""
    if isinstance(data, list):
        return [decode(x, frames) for x in data]
    if not isinstance(data, dict):
        return data
    tag = data.get("$t")
    if tag is None:
        return {k: decode(v, frames) for k, v in data.items()}
    if tag in ("frame", "series"):
        if frames is None:
            raise ValueError("codec: a frame reference without its frames")
        frame = ipc_to_frame(frames[data["i"]])
        return frame if tag == "frame" else frame["v"].rename(decode(data.get("name")))
    v = data["v"]
    if tag == "datetime":
        value = dt.datetime.fromisoformat(v)
        return value.astimezone(ZoneInfo(data["tz"])) if "tz" in data else value
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "frozenset":
        return frozenset(decode(x, frames) for x in v)
    if tag == "tuple":
        return tuple(decode(x, frames) for x in v)
    if tag == "obj":
        cls = _resolve_type(data["c"])
        return cls(**{k: decode(x, frames) for k, x in v.items() if k in _init_fields(cls)})
    if tag == "float":
        return float(v)
    if tag in _CLASSES:
        return build(_CLASSES[tag], v)
    raise ValueError(f"codec: unknown tag {tag!r}")


def fields_of(obj: Any, *, skip: tuple[str, ...] = ("frame",)) -> dict:
    """Every dataclass field of ``obj`` (but ``skip``), encoded."""
    return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.name not in skip}


def build(cls: type, data: dict, **extra: Any):
    """``cls(**decoded fields)``; fields ``cls`` does not know (a newer recording) are ignored,
    fields the data lacks (an older recording) take their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: decode(v) for k, v in data.items() if k in names}
    return cls(**values, **extra)


def dumps(value: Any) -> str:
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))


def dumps_parts(value: Any) -> tuple[str, list[bytes]]:
    """``value`` as JSON text plus the Arrow IPC streams of the frames / series inside it
    (e.g. a scan's results: CommandRows holding their card's bars). Inverse:
    :func:`loads_parts`. With no frame inside, the text equals :func:`dumps`'s."""
    frames: list[bytes] = []
    text = json.dumps(encode(value, frames), separators=(",", ":"), allow_nan=False)
    return text, frames


def loads_parts(text: str | bytes, frames: list[bytes]) -> Any:
    return decode(json.loads(text), frames)


# --- analytics types (scan results) --------------------------------------------------------------

ANALYTICS = "core.analytics."


def _analytics_type(cls: type) -> bool:
    """A dataclass or NamedTuple defined at the top level of a ``core.analytics`` module."""
    return (cls.__module__.startswith(ANALYTICS) and "." not in cls.__qualname__
            and (dataclasses.is_dataclass(cls)
                 or (issubclass(cls, tuple) and hasattr(cls, "_fields"))))


def _type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_type(name: str) -> type:
    """The class ``module:Class`` of an ``obj`` tag; only a :func:`_analytics_type` (what a
    shared store says never makes this import or build anything else)."""
    module, _, qualname = str(name).partition(":")
    if not module.startswith(ANALYTICS) or not qualname.isidentifier():
        raise ValueError(f"codec: {name!r} is not an analytics type")
    cls = getattr(importlib.import_module(module), qualname, None)
    if not isinstance(cls, type) or not _analytics_type(cls):
        raise ValueError(f"codec: {name!r} is not an analytics type")
    return cls


def _init_fields(cls: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return tuple(cls._fields)


# --- frames --------------------------------------------------------------------------------------

def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table (no index), with its dtypes in the schema metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    meta = dict(table.schema.metadata or {})
    meta[DTYPES_KEY] = json.dumps(dtypes).encode()
    return table.replace_schema_metadata(meta)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Inverse of :func:`frame_to_table`: the same columns, order and dtypes."""
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(DTYPES_KEY)
    if raw is None:
        return frame
    for col, want in json.loads(raw).items():
        if col in frame.columns and str(frame[col].dtype) != want:
            if want == "object" and len(frame) == 0:
                frame[col] = frame[col].astype(object)
            else:
                frame[col] = frame[col].astype(want)
    return frame


def frame_to_ipc(frame: pd.DataFrame) -> bytes:
    """A frame WITH its index as Arrow IPC stream bytes (dtypes in the schema metadata, as
    :func:`frame_to_table`); inverse :func:`ipc_to_frame`."""
    table = pa.Table.from_pandas(frame, preserve_index=True)
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    meta = dict(table.schema.metadata or {})
    meta[DTYPES_KEY] = json.dumps(dtypes).encode()
    return _ipc(table.replace_schema_metadata(meta))


def ipc_to_frame(data: bytes) -> pd.DataFrame:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return table_to_frame(reader.read_all())


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _frame_ref(value: pd.DataFrame | pd.Series, frames: list[bytes]) -> dict:
    if isinstance(value, pd.Series):
        frames.append(frame_to_ipc(value.to_frame(name="v")))
        return {"$t": "series", "i": len(frames) - 1, "name": encode(value.name)}
    frames.append(frame_to_ipc(value))
    return {"$t": "frame", "i": len(frames) - 1}


# --- chains --------------------------------------------------------------------------------------

def chains_to_table(chains: list[Chain], **extra_meta: Any) -> pa.Table:
    """Several chains (e.g. every recorded expiry of one symbol) as ONE Arrow table: frames
    concatenated in order, each chain's fields and row count in metadata ``codec.chains``.
    ``extra_meta`` (JSON-safe after :func:`encode`) is stored under ``codec.extra``."""
    if not chains:
        raise ValueError("chains_to_table needs at least one chain")
    frames = [c.frame for c in chains]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    table = frame_to_table(frame)
    metas = [{"rows": len(c.frame), "fields": fields_of(c)} for c in chains]
    meta = dict(table.schema.metadata or {})
    meta[CHAINS_KEY] = json.dumps({"version": VERSION, "chains": metas}).encode()
    if extra_meta:
        meta[b"codec.extra"] = dumps(extra_meta).encode()
    return table.replace_schema_metadata(meta)


def table_to_chains(table: pa.Table) -> list[Chain]:
    """Inverse of :func:`chains_to_table`."""
    meta = json.loads((table.schema.metadata or {})[CHAINS_KEY])
    frame = table_to_frame(table)
    out, start = [], 0
    for item in meta["chains"]:
        n = item["rows"]
        part = frame.iloc[start:start + n].reset_index(drop=True)
        out.append(build(Chain, item["fields"], frame=part))
        start += n
    return out


def extra_meta(table: pa.Table) -> dict:
    raw = (table.schema.metadata or {}).get(b"codec.extra")
    return {} if raw is None else loads(raw)


def chain_to_table(chain: Chain) -> pa.Table:
    return chains_to_table([chain])


def table_to_chain(table: pa.Table) -> Chain:
    (chain,) = table_to_chains(table)
    return chain


def chain_to_ipc(chain: Chain) -> bytes:
    """One chain as Arrow IPC stream bytes (for a shared cache: never pickle)."""
    return _ipc(chain_to_table(chain))


def ipc_to_chain(data: bytes) -> Chain:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return table_to_chain(reader.read_all())


# --- quotes and key levels -----------------------------------------------------------------------

def quote_to_dict(quote: Quote) -> dict:
    return fields_of(quote)


def dict_to_quote(data: dict) -> Quote:
    return build(Quote, data)


def arrow_type(annotation: str) -> pa.DataType:
    """The Arrow type of a dataclass field from its annotation string (``float | None`` ->
    float64, nullable)."""
    text = str(annotation)
    for name, kind in (("bool", pa.bool_()), ("float", pa.float64()), ("int", pa.int64()),
                       ("str", pa.string())):
        if name in text:
            return kind
    raise TypeError(f"no Arrow column for a field of type {text}")


def levels_schema() -> list[tuple[str, pa.DataType]]:
    """(field, Arrow type) for every :class:`KeyLevels` field, in order (all nullable)."""
    return [(f.name, arrow_type(f.type)) for f in dataclasses.fields(KeyLevels)]


def levels_to_row(kl: KeyLevels) -> dict:
    """A KeyLevels as a flat dict of plain values (None stays None)."""
    return {f.name: getattr(kl, f.name) for f in dataclasses.fields(KeyLevels)}


def row_to_levels(row: dict) -> KeyLevels:
    """Inverse of :func:`levels_to_row`; NaN from a float column (a None stored as null and
    read back through pandas) becomes None again for optional fields."""
    values = {}
    for f in dataclasses.fields(KeyLevels):
        v = row.get(f.name)
        if isinstance(v, (float, np.floating)) and math.isnan(v) and "None" in str(f.type):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        values[f.name] = v
    return KeyLevels(**values)
