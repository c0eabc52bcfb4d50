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
_INT_FIELDS = ("time", "entity", "where", "instance", "queue_len", "running", "kv_used_tokens",
               "kv_capacity_tokens", "active_transfers")  # where: pool code or link code


class Recorder:
    """Append-only rows packed into one integer and one float column (one ``extend`` per row, far
    cheaper than a column each); ``enabled=False`` records nothing (an empty frame comes out)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._ints = array("q")  # _INT_FIELDS per row
        self._bytes = array("d")

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self._names)
            self._names.append(name)
        return self._codes[name]

    def instance(self, time_ns: int, pool: int, instance: int, queue_len: int, running: int,
                 kv_used_tokens: int, kv_capacity_tokens: int) -> None:
        if self.enabled:
            self._ints.extend((time_ns, _INSTANCE, pool, instance, queue_len, running,
                               kv_used_tokens, kv_capacity_tokens, 0))
            self._bytes.append(0.0)

    def link(self, time_ns: int, link: int, active_transfers: int, bytes_in_flight: float) -> None:
        if self.enabled:
            self._ints.extend((time_ns, _LINK, link, -1, 0, 0, 0, 0, active_transfers))
            self._bytes.append(bytes_in_flight)

    def frame(self) -> pd.DataFrame:
        rows = np.frombuffer(self._ints, dtype=np.int64).reshape(-1, len(_INT_FIELDS)) \
            if len(self._ints) else np.zeros((0, len(_INT_FIELDS)), dtype=np.int64)
        ints = {name: rows[:, k] for k, name in enumerate(_INT_FIELDS)}  # views, no copies
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
        cols["bytes_in_flight"] = np.asarray(self._bytes, dtype=np.float64)
        return pd.DataFrame(cols, columns=list(TIMESERIES_COLUMNS))
