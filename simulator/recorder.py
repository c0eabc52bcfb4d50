"""The metrics sink: time-series rows (one per change of an instance or a link) in compact
columns, turned into the contract's ``timeseries`` DataFrame at the end; and what an instance
records: its row whenever it changes (``InstanceSeries``) and its counters (``InstanceStats``)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pandas as pd

from phasesim.simulator.kv import KVCache, PrefixKVCache
from phasesim.simulator.request import Request

__all__ = ["Recorder", "InstanceSeries", "InstanceStats", "TIMESERIES_COLUMNS",
           "PREFIX_TIMESERIES_COLUMN"]

TIMESERIES_COLUMNS = ("time_s", "entity", "pool", "instance", "link", "queue_len", "running",
                      "kv_used_tokens", "kv_capacity_tokens", "active_transfers",
                      "bytes_in_flight")
# with a prefix cache in the run: KV tokens of the instance's resident prefix blocks, held or idle
# (they are part of kv_used_tokens), after kv_capacity_tokens
PREFIX_TIMESERIES_COLUMN = "kv_cached_tokens"
_INSTANCE, _LINK = 0, 1
_INT_FIELDS = ("time", "entity", "where", "instance", "queue_len", "running", "kv_used_tokens",
               "kv_capacity_tokens", "active_transfers",
               "kv_cached_tokens")  # where: pool code or link code
_ROW = struct.Struct("=" + "q" * len(_INT_FIELDS) + "d")  # the int fields, then bytes_in_flight
_ROW_DTYPE = np.dtype([(name, "=i8") for name in _INT_FIELDS] + [("bytes_in_flight", "=f8")])


class Recorder:
    """Append-only fixed-width binary rows in one buffer (one ``struct`` pack per row: a third of
    the cost of extending an integer array from a tuple, and far cheaper than a column each);
    ``enabled=False`` records nothing (an empty frame comes out); ``prefix_cache=True`` adds the
    ``kv_cached_tokens`` column."""

    def __init__(self, *, enabled: bool = True, prefix_cache: bool = False) -> None:
        self.enabled = enabled
        self.prefix_cache = prefix_cache
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._rows = bytearray()
        self._extend = self._rows.extend
        self._pack = _ROW.pack

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self._names)
            self._names.append(name)
        return self._codes[name]

    def instance(self, time_ns: int, pool: int, instance: int, queue_len: int, running: int,
                 kv_used_tokens: int, kv_capacity_tokens: int, kv_cached_tokens: int = 0) -> None:
        if self.enabled:
            self._extend(self._pack(time_ns, _INSTANCE, pool, instance, queue_len, running,
                                    kv_used_tokens, kv_capacity_tokens, 0, kv_cached_tokens, 0.0))

    def link(self, time_ns: int, link: int, active_transfers: int, bytes_in_flight: float) -> None:
        if self.enabled:
            self._extend(self._pack(time_ns, _LINK, link, -1, 0, 0, 0, 0, active_transfers, 0,
                                    bytes_in_flight))

    def frame(self) -> pd.DataFrame:
        rows = np.frombuffer(self._rows, dtype=_ROW_DTYPE)
        ints = {name: rows[name] for name in _INT_FIELDS}  # strided views, no copies
        entity, where = ints["entity"], ints["where"]
        names = np.asarray(self._names + [""], dtype=object)
        is_link = entity == _LINK
        name = names[np.where(where >= 0, where, len(self._names))]
        cols: dict[str, object] = {
            "time_s": ints["time"] * 1e-9,
            "entity": np.where(is_link, "link", "instance").astype(object),
            "pool": np.where(is_link, "", name).astype(object),
            "instance": ints["instance"],
            "link": np.where(is_link, name, "").astype(object),
        }
        for key in ("queue_len", "running", "kv_used_tokens", "kv_capacity_tokens",
                    "active_transfers"):
            cols[key] = ints[key]
        cols["bytes_in_flight"] = rows["bytes_in_flight"]
        columns = list(TIMESERIES_COLUMNS)
        if self.prefix_cache:
            cols[PREFIX_TIMESERIES_COLUMN] = ints["kv_cached_tokens"]
            columns.append(PREFIX_TIMESERIES_COLUMN)
        return pd.DataFrame(cols, columns=columns)


@dataclass(slots=True)
class InstanceStats:
    """One instance's counters (the pool's ``pool_stats``)."""

    busy_ns: int = 0
    iterations: int = 0
    batch_sum: int = 0  # running sequences summed over iterations
    preemptions: int = 0

    def count(self, busy_ns: int, batch: int, iterations: int) -> None:
        """``iterations`` iterations of ``batch`` sequences that took ``busy_ns`` in all."""
        self.busy_ns += busy_ns
        self.iterations += iterations
        self.batch_sum += batch * iterations


class InstanceSeries:
    """One instance's time series: a row (queue length, running, KV used and capacity in tokens)
    whenever one of them changed since the instance's last row; nothing when not recording.
    With a prefix cache, its resident blocks are in the row too, and ``record`` integrates them
    over time (``cached_block_ns``, recording or not) for the cache's mean occupancy."""

    __slots__ = ("_recorder", "_enabled", "_pool_code", "_index", "_waiting", "_running", "_kv",
                 "_capacity_tokens", "_last_row", "record", "_prefix", "cached_block_ns",
                 "_last_ns", "_last_cached")

    def __init__(self, *, recorder: Recorder, pool: str, index: int, waiting: list[Request],
                 running: list[Request], kv: KVCache,
                 prefix: PrefixKVCache | None = None) -> None:
        self._recorder = recorder
        self._enabled = recorder.enabled
        self._pool_code = recorder.code(pool)
        self._index = index
        self._waiting = waiting  # the instance's own lists and cache, read here
        self._running = running
        self._kv = kv
        self._capacity_tokens = kv.capacity_tokens
        self._last_row: tuple[int, ...] | None = None
        self._prefix = prefix
        self.cached_block_ns = 0  # resident prefix blocks integrated over time
        self._last_ns = 0
        self._last_cached = 0
        self.record = self._record if prefix is None else self._record_prefix

    def _record_prefix(self, time_ns: int) -> None:
        """``_record``, with the prefix cache's resident blocks."""
        kv = self._prefix
        cached = kv.cached_blocks
        last = self._last_cached
        if cached != last:  # the integral moves only where the occupancy changes
            self.cached_block_ns += last * (time_ns - self._last_ns)
            self._last_ns = time_ns
            self._last_cached = cached
        if self._enabled:
            row = (len(self._waiting), len(self._running), kv.used_blocks, cached)
            if row != self._last_row:
                self._last_row = row
                bt = kv.block_tokens
                self._recorder.instance(time_ns, self._pool_code, self._index, row[0], row[1],
                                        row[2] * bt, self._capacity_tokens, cached * bt)

    def close(self, time_ns: int) -> None:
        """Close the occupancy integral at the end of the run."""
        if self._prefix is not None:
            self.cached_block_ns += self._last_cached * (time_ns - self._last_ns)
            self._last_ns = time_ns

    def _record(self, time_ns: int) -> None:
        """A row at ``time_ns`` if the instance changed since its last row."""
        if self._enabled:
            row = (len(self._waiting), len(self._running), self._kv.used_blocks)
            if row != self._last_row:
                self._last_row = row
                self._recorder.instance(time_ns, self._pool_code, self._index, row[0], row[1],
                                        row[2] * self._kv.block_tokens, self._capacity_tokens)
