"""The metrics sink: time-series rows (one per change of an instance or a link) in compact
columns, turned into the contract's ``timeseries`` DataFrame at the end."""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

__all__ = ["Recorder", "TIMESERIES_COLUMNS"]

TIMESERIES_COLUMNS = ("time_s", "entity", "pool", "instance", "link", "queue_len", "running",
                      "kv_used_tokens", "kv_capacity_tokens", "active_transfers",
                      "bytes_in_flight")
_INSTANCE, _LINK = 0, 1


class Recorder:
    """Append-only columns; ``enabled=False`` records nothing (an empty frame comes out)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._time = array("q")
        self._entity = array("b")
        self._where = array("l")  # pool code (instances) or link code (links)
        self._ints = {name: array("q") for name in ("instance", "queue_len", "running",
                                                    "kv_used_tokens", "kv_capacity_tokens",
                                                    "active_transfers")}
        self._bytes = array("d")

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self._names)
            self._names.append(name)
        return self._codes[name]

    def instance(self, time_ns: int, pool: int, instance: int, queue_len: int, running: int,
                 kv_used_tokens: int, kv_capacity_tokens: int) -> None:
        self._row(time_ns, _INSTANCE, pool, instance, queue_len, running, kv_used_tokens,
                  kv_capacity_tokens, 0, 0.0)

    def link(self, time_ns: int, link: int, active_transfers: int, bytes_in_flight: float) -> None:
        self._row(time_ns, _LINK, link, -1, 0, 0, 0, 0, active_transfers, bytes_in_flight)

    def _row(self, time_ns, entity, where, instance, queue_len, running, kv_used, kv_cap,
             transfers, in_flight) -> None:
        if not self.enabled:
            return
        self._time.append(time_ns)
        self._entity.append(entity)
        self._where.append(where)
        ints = self._ints
        ints["instance"].append(instance)
        ints["queue_len"].append(queue_len)
        ints["running"].append(running)
        ints["kv_used_tokens"].append(kv_used)
        ints["kv_capacity_tokens"].append(kv_cap)
        ints["active_transfers"].append(transfers)
        self._bytes.append(in_flight)

    def frame(self) -> pd.DataFrame:
        entity = np.frombuffer(self._entity, dtype=np.int8) if len(self._entity) else \
            np.zeros(0, dtype=np.int8)
        where = np.asarray(self._where, dtype=np.int64)
        names = np.asarray(self._names + [""], dtype=object)
        is_link = entity == _LINK
        name = names[np.where(where >= 0, where, len(self._names))]
        cols: dict[str, object] = {
            "time_s": np.asarray(self._time, dtype=np.int64) * 1e-9,
            "entity": np.where(is_link, "link", "instance").astype(object),
            "pool": np.where(is_link, "", name).astype(object),
            "instance": np.asarray(self._ints["instance"], dtype=np.int64),
            "link": np.where(is_link, name, "").astype(object),
        }
        for key in ("queue_len", "running", "kv_used_tokens", "kv_capacity_tokens",
                    "active_transfers"):
            cols[key] = np.asarray(self._ints[key], dtype=np.int64)
        cols["bytes_in_flight"] = np.asarray(self._bytes, dtype=np.float64)
        return pd.DataFrame(cols, columns=list(TIMESERIES_COLUMNS))
