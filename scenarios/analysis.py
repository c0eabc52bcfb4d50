"""Numbers behind the report: axis roles, slices, disaggregation gain, sustained rates, crossovers.

Pure functions of a results DataFrame (one row per finished point, as written by
:func:`phasesim.scenarios.sweep.collect_results`); no plotting and no files here, so they are tested
directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from phasesim.units import bandwidth_bytes_per_s, duration_s

__all__ = [
    "AxisRoles",
    "axis_label",
    "crossovers",
    "disagg_gain",
    "guess_roles",
    "numeric_axis",
    "pool_instances",
    "rank_sustained",
    "reference_slice",
    "short_axis",
    "sustained_rate",
]


def numeric_axis(values: pd.Series) -> pd.Series:
    """Axis values as numbers for sorting and plotting: numbers as they are, bandwidth strings
    in Gb/s (``100Gbps`` -> 100, ``12.5GB/s`` -> 100), durations in seconds; otherwise NaN."""
    def one(value: Any) -> float:
        if isinstance(value, bool):
            return math.nan
        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        text = str(value)
        for parse, scale in ((bandwidth_bytes_per_s, 8.0 / 1e9), (duration_s, 1.0), (float, 1.0)):
            try:
                return parse(text) * scale
            except ValueError:
                continue
        return math.nan

    return pd.Series([one(v) for v in values.tolist()], index=values.index, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class AxisRoles:
    """What each swept axis means to the report."""

    axes: tuple[str, ...]
    rate: str | None  # request rate (req/s)
    group: str | None  # the topology name
    baseline: str | None  # the colocated topology among the group's values
    instances: tuple[str, ...]  # instance-count axes (prefill:decode ratio)
    heat: tuple[str, ...]  # the (up to) two axes of the gain heatmaps
    followers: tuple[str, ...] = ()  # zipped axes after the first of their group: not labelled

    def varying(self, frame: pd.DataFrame) -> list[str]:
        return [a for a in self.axes if a in frame.columns and frame[a].nunique() > 1
                and a not in self.followers]

    def fixed_text(self, frame: pd.DataFrame) -> str:
        fixed = [a for a in self.axes if a in frame.columns and frame[a].nunique() == 1]
        if not fixed:
            return ""
        return "; other axes at " + ", ".join(f"`{short_axis(a)}` = {frame[a].iloc[0]}"
                                              for a in fixed)

    def fixed_caption(self, frame: pd.DataFrame) -> str:
        """``fixed_text`` for a figure: the axes held fixed, by their readable names."""
        fixed = [a for a in self.axes if a in frame.columns and frame[a].nunique() == 1
                 and a not in self.followers]
        return ("other axes at " + ", ".join(f"{axis_label(a)} = {frame[a].iloc[0]}"
                                             for a in fixed)) if fixed else ""

    def line_groups(self, frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
        """One line per combination of the varying axes other than the rate, in sweep order."""
        keys = [a for a in self.varying(frame) if a != self.rate]
        if not keys:
            yield "all", frame
            return
        for values, sub in frame.groupby(keys, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            yield self.label(dict(zip(keys, values, strict=True))), sub

    def label(self, config: Mapping[str, Any]) -> str:
        """A short legend label for axis values: ``2P:1D`` when both instance-count axes are
        among them, the bare value for one axis, else ``axis=value`` pairs."""
        keys = list(config)
        if len(self.instances) == 2 and all(a in config for a in self.instances):
            return _config_label(config, keys, self.instances)
        return ", ".join(_short(k, v, len(keys)) for k, v in config.items())


def guess_roles(frame: pd.DataFrame, axes: Sequence[str],
                hints: Mapping[str, Any] | None = None,
                zip_groups: Sequence[Sequence[str]] = ()) -> AxisRoles:
    """Roles from the scenario's ``report:`` hints, else from axis names and values."""
    hints = hints or {}
    followers = tuple(a for group in zip_groups for a in list(group)[1:])
    axes = tuple(axes)
    rate = hints.get("rate_axis") or next((a for a in axes if a.endswith("rate_rps")), None)
    group = hints.get("group_axis") or next(
        (a for a in axes if a.startswith("topology") and not pd.api.types.is_numeric_dtype(frame[a])
         and numeric_axis(frame[a]).isna().all()), None)
    baseline = hints.get("baseline")
    if baseline is None and group is not None:
        baseline = next((v for v in dict.fromkeys(frame[group]) if _colocated(frame[frame[group] == v])),
                        None)
    instances = tuple(a for a in axes if a.split(".")[-1] in ("instances", "count")
                      or a.endswith("_instances"))
    heat = tuple(hints.get("heatmap_axes") or ())
    if not heat:
        candidates = [a for a in axes if a != group and a not in instances
                      and a not in followers and frame[a].nunique() > 1]
        candidates.sort(key=lambda a: (0 if "bandwidth" in a else 1 if a == rate else 2,
                                       -frame[a].nunique()))
        heat = tuple(candidates[:2])
    return AxisRoles(axes=axes, rate=rate, group=group, baseline=baseline, instances=instances,
                     heat=heat, followers=followers)


def reference_slice(frame: pd.DataFrame, roles: AxisRoles) -> pd.DataFrame:
    """Rows with every axis except rate, topology and instance counts at its middle value
    (the lower middle for an even count), chosen axis by axis among the remaining rows."""
    out = frame
    for axis in roles.axes:  # one axis at a time, so zipped axes stay consistent
        if axis in (roles.rate, roles.group) or axis in roles.instances or out.empty:
            continue
        values = sorted(dict.fromkeys(out[axis]), key=lambda v: _order(out[axis], v))
        middle = values[(len(values) - 1) // 2]
        out = out[(out[axis] == middle).to_numpy()]
    return out


def disagg_gain(frame: pd.DataFrame, roles: AxisRoles) -> pd.DataFrame:
    """Per non-baseline topology and point: goodput(topology) / goodput(baseline) and
    P99 TPOT(baseline) / P99 TPOT(topology), matched on all other axes.

    Columns: topology, panel (the remaining axes as text), x, y (the heatmap axes' values),
    goodput_gain, tpot_gain, goodput_rps, baseline_goodput_rps.
    """
    group, baseline = roles.group, roles.baseline
    if group is None or baseline is None or not roles.heat:
        return pd.DataFrame()
    keys = [a for a in roles.axes if a != group]
    base = frame[frame[group] == baseline][keys + ["goodput_rps", "tpot_s.p99"]]
    others = frame[frame[group] != baseline]
    merged = others.merge(base, on=keys, suffixes=("", "_base"), how="inner", sort=False)
    rest = [a for a in keys if a not in roles.heat and a not in roles.followers]
    out = pd.DataFrame({
        "topology": merged[group].astype(str),
        "panel": [", ".join(f"{axis_label(a)} = {row[a]}" for a in rest
                            if merged[a].nunique() > 1)
                  for _, row in merged.iterrows()],
        "x": merged[roles.heat[0]],
        "y": merged[roles.heat[1]] if len(roles.heat) > 1 else "all",
        "goodput_gain": _ratio(merged["goodput_rps"], merged["goodput_rps_base"]),
        "tpot_gain": _ratio(merged["tpot_s.p99_base"], merged["tpot_s.p99"]),
        "goodput_rps": merged["goodput_rps"],
        "baseline_goodput_rps": merged["goodput_rps_base"],
    })
    return out.reset_index(drop=True)


def pool_instances(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each point's instances, counted from its resolved topology (the summary's
    ``pools.<name>.instances`` and ``pools.<name>.hardware`` columns): the total over its pools,
    and a text such as ``14 h100-sxm`` or ``1 h100-sxm + 4 groqrack`` (pools in column order).
    Instance-count axes are not summed: a colocated point also carries the prefill/decode
    counts it ignores. NaN and ``""`` where a row has no pool columns."""
    pools = [c[len("pools."):-len(".instances")] for c in frame.columns
             if c.startswith("pools.") and c.endswith(".instances")]
    totals, texts = [], []
    for _, row in frame.iterrows():
        parts, total = [], 0
        for pool in pools:
            count = row[f"pools.{pool}.instances"]
            if count is None or (isinstance(count, float) and math.isnan(count)):
                continue  # a pool of another point's topology
            hardware = row.get(f"pools.{pool}.hardware")
            parts.append(f"{int(count)} {hardware if isinstance(hardware, str) else pool}")
            total += int(count)
        totals.append(float(total) if parts else math.nan)
        texts.append(" + ".join(parts))
    return (pd.Series(totals, index=frame.index, dtype=np.float64),
            pd.Series(texts, index=frame.index, dtype=object))


def sustained_rate(frame: pd.DataFrame, roles: AxisRoles, *, attainment: float) -> pd.DataFrame:
    """Per instance configuration: the highest swept rate whose SLO attainment is at least
    ``attainment`` (0 if none), per instance, the instances counted from each point's resolved
    topology (:func:`pool_instances`). Rows come best first (:func:`rank_sustained`); ``tied``
    says how many configurations share the best per-instance rate. Empty when the results have
    no instance-count axis, no rate axis, or no pool columns to count instances from."""
    if not roles.instances or roles.rate is None:
        return pd.DataFrame()
    totals, texts = pool_instances(frame)
    if totals.isna().all():
        return pd.DataFrame()
    keys = [a for a in roles.axes if a != roles.rate]
    shown = [a for a in keys if a not in roles.followers and frame[a].nunique() > 1]
    rows = []
    for order, (values, sub) in enumerate(frame.groupby(keys, sort=False)):
        values = values if isinstance(values, tuple) else (values,)
        config = dict(zip(keys, values, strict=True))
        counts = set(totals[sub.index].dropna().astype(int))
        if len(counts) != 1:
            continue  # no pool columns (or, impossible for one topology, several counts)
        instances = counts.pop()
        rate = numeric_axis(sub[roles.rate])
        good = sub[(sub["slo_attainment"].fillna(0.0) >= attainment).to_numpy()]
        sustained = float(numeric_axis(good[roles.rate]).max()) if len(good) else 0.0
        at = good.loc[numeric_axis(good[roles.rate]).idxmax()] if len(good) else None
        rows.append({
            "config": _ratio_label(config, shown, roles, texts[sub.index[0]]),
            "topology": texts[sub.index[0]],
            "instances": instances,
            "sustained_rps": sustained,
            "sustained_rps_per_instance": sustained / instances if instances else math.nan,
            "goodput_per_instance": (float(at["goodput_rps"]) / instances
                                     if at is not None and instances else 0.0),
            "max_rate_rps": float(rate.max()),
            "order": order,
        })
    return rank_sustained(pd.DataFrame(rows)) if rows else pd.DataFrame()


def rank_sustained(table: pd.DataFrame) -> pd.DataFrame:
    """Best first: the highest sustained rate per instance; ties (equal to 1e-9) go to the higher
    goodput per instance at that rate (the one with more headroom), then to fewer instances
    (the smaller cluster), then to the sweep order. ``tied``: configurations sharing the top
    per-instance rate (1 when there is no tie; 0 on every row when none sustains any rate)."""
    per = table["sustained_rps_per_instance"].fillna(0.0).round(9)
    good = table["goodput_per_instance"].fillna(0.0).round(9)
    ranked = table.assign(_per=-per, _good=-good).sort_values(
        ["_per", "_good", "instances", "order"], kind="stable").drop(columns=["_per", "_good"])
    top = float(per.max())
    ranked["tied"] = int((per == top).sum()) if top > 0 else 0
    return ranked.reset_index(drop=True)


def _ratio_label(config: Mapping[str, Any], shown: Sequence[str], roles: AxisRoles,
                 topology: str) -> str:
    """``2P:1D`` where the prefill and decode counts are the only instance axes; otherwise the resolved
    topology (``14 h100-sxm``) and the other varying axes (zipped followers left out)."""
    rest = {a: config[a] for a in shown if a not in roles.instances}
    if len(roles.instances) == 2 and all(a in config for a in roles.instances):
        label = _config_label({a: config[a] for a in roles.instances}, list(roles.instances),
                              roles.instances)
        if label:
            return ", ".join([label, *(f"{k.split('.')[-1]}={v}" for k, v in rest.items())])
    return ", ".join([*(f"{k.split('.')[-1]}={v}" for k, v in rest.items()), topology])


def crossovers(decode: pd.DataFrame, dense: pd.DataFrame | None = None) -> pd.DataFrame:
    """For platforms A and B: the batch size at which A's decode throughput first reaches B's peak.

    ``decode``: rows with hardware, batch_size, tokens_per_s, supported. Only pairs where A at
    its smallest batch is slower than B's peak, and A has more than one supported batch size,
    are listed (otherwise A is faster from the start, or cannot batch its way there).
    ``batch_size`` is interpolated linearly in log batch between swept sizes; NaN if never.
    ``exact_batch``: the smallest integer batch reaching the peak, from ``dense`` (every batch
    size 1..max of each platform) when given, else NaN.
    """
    rows = []
    ok = decode[decode["supported"]]
    hardware = list(dict.fromkeys(ok["hardware"]))
    every = ok if dense is None else pd.concat([ok, dense])
    peaks = {hw: float(every[every["hardware"] == hw]["tokens_per_s"].max()) for hw in hardware}
    for faster in hardware:
        curve = ok[ok["hardware"] == faster].sort_values("batch_size")
        batches = curve["batch_size"].to_numpy(dtype=np.float64)
        tps = curve["tokens_per_s"].to_numpy(dtype=np.float64)
        for reference in hardware:
            target = peaks[reference]
            if reference == faster or tps[0] >= target or len(tps) < 2:
                continue  # faster from the start, or cannot batch at all
            above = np.nonzero(tps >= target)[0]
            if len(above) == 0:
                batch = first = math.nan
            else:
                i = int(above[0])
                first = float(batches[i])
                lo_b, hi_b, lo_t, hi_t = batches[i - 1], batches[i], tps[i - 1], tps[i]
                frac = (target - lo_t) / (hi_t - lo_t) if hi_t > lo_t else 1.0
                batch = float(np.exp(np.log(lo_b) + frac * (np.log(hi_b) - np.log(lo_b))))
            exact = math.nan
            if dense is not None:
                mine = dense[(dense["hardware"] == faster) & (dense["tokens_per_s"] >= target)]
                exact = float(mine["batch_size"].min()) if len(mine) else math.nan
            rows.append({"faster": faster, "reference": reference, "reference_tps": target,
                         "batch_size": batch, "first_batch": first, "exact_batch": exact})
    return pd.DataFrame(rows, columns=["faster", "reference", "reference_tps", "batch_size",
                                       "first_batch", "exact_batch"])


def _config_label(config: Mapping[str, Any], keys: Sequence[str],
                  instances: Sequence[str]) -> str:
    """``2P:1D`` for prefill/decode instance axes (then any other axes), else ``k=v`` pairs."""
    names = [a.split(".")[-1] for a in instances]
    parts = []
    if names == ["prefill_instances", "decode_instances"]:
        parts.append(f"{config[instances[0]]}P:{config[instances[1]]}D")
    elif names == ["decode_instances", "prefill_instances"]:
        parts.append(f"{config[instances[1]]}P:{config[instances[0]]}D")
    rest = [k for k in keys if not parts or k not in instances]
    parts += [_short(k, config[k], 2) for k in rest]
    return ", ".join(parts)


def _colocated(rows: pd.DataFrame) -> bool:
    roles = [c for c in rows.columns if c.startswith("pools.") and c.endswith(".role")]
    present = [v for c in roles for v in rows[c].dropna().tolist()]
    return bool(present) and all(v == "colocated" for v in present)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num = numerator.astype(np.float64).to_numpy()
    den = denominator.astype(np.float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return pd.Series(out, index=numerator.index)


def _order(column: pd.Series, value: Any) -> tuple[float, str]:
    number = numeric_axis(pd.Series([value])).iloc[0]
    return (float(number) if number == number else math.inf, str(value))


def _short(axis: str, value: Any, n_keys: int) -> str:
    return str(value) if n_keys == 1 else f"{short_axis(axis)}={value}"


# a figure's name for a swept axis (the last parts of its dotted path), with its unit
_AXIS_NAMES = {
    "rate_rps": "request rate (req/s)",
    "link.bandwidth": "KV link bandwidth", "link.latency": "KV link latency",
    "link.bandwidth_bytes_per_s": "KV link bandwidth (B/s)", "link.latency_s": "KV link latency (s)",
    "prompt.median_tokens": "median prompt (tokens)", "prompt.max_tokens": "max prompt (tokens)",
    "output.median_tokens": "median output (tokens)", "output.max_tokens": "max output (tokens)",
    "prompt.sigma": "prompt length sigma", "output.sigma": "output length sigma",
    "prefill_instances": "prefill instances", "decode_instances": "decode instances",
    "instances": "instances", "topology.name": "topology", "prefix_cache": "prefix cache",
    "routing": "router", "max_batch": "max batch", "max_num_seqs": "max batch",
    "tensor_parallel": "tensor-parallel degree",
    "max_requests": "requests", "seed": "seed",
}


def axis_label(axis: str) -> str:
    """A readable name for a swept axis in figures: ``trace.rate_rps`` -> ``request rate
    (req/s)``, ``topology.link.bandwidth`` -> ``KV link bandwidth``; an axis not known by name
    gets its last part with spaces for underscores (``topology.queue_order`` -> ``queue
    order``)."""
    parts = axis.split(".")
    for n in (2, 1):
        key = ".".join(parts[-n:])
        if key in _AXIS_NAMES:
            return _AXIS_NAMES[key]
    return parts[-1].replace("_", " ")


def short_axis(axis: str) -> str:
    """The last two parts of a dotted axis: ``trace.generate.prompt.median_tokens`` ->
    ``prompt.median_tokens``; ``seed`` stays ``seed``."""
    return ".".join(axis.split(".")[-2:])
