"""``sim report``: PNG plots and a Markdown summary of a sweep directory.

Reads ``sweep.json`` and ``results.parquet`` (and per-point ``requests.parquet`` or
``curves.parquet``) written by :func:`phasesim.scenarios.sweep.run_sweep`. ``simulate`` sweeps get latency
CDFs, throughput-latency curves, goodput vs request rate, the highest sustained rate per instance
when instance counts are swept (prefill:decode ratio), and heatmaps of the disaggregation gain;
``phases`` sweeps get TTFT vs prompt length, TPOT and decode throughput vs batch size, and the
crossover batch sizes. Every figure is also summarised in numbers in ``report.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.ticker
import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phasesim.atomic import atomic_path, staged_dir
from phasesim.errors import InputError
from phasesim.scenarios.analysis import (
    AxisRoles,
    axis_label,
    crossovers,
    disagg_gain,
    guess_roles,
    numeric_axis,
    pool_instances,
    reference_slice,
    short_axis,
    sustained_rate,
)
from phasesim.scenarios.phases import CURVES_FILE
from phasesim.scenarios.sweep import POINTS_DIR, RESULTS_FILE, SWEEP_FILE

__all__ = ["REPORT_FILE", "read_sweep_file", "write_report"]

REPORT_FILE = "report.md"

_DPI = 100
_PLAIN = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
_MAX_CDF_LINES = 10
_LEGEND_COLUMNS = 6  # a legend below the panels: this many entries a row
# line k: colour k of the default cycle, with a dash pattern and marker that tell apart
# lines drawn exactly on top of each other (e.g. two topologies sharing the same prefill pool)
_STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"))


def write_report(sweep_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the PNGs and ``report.md`` into ``out_dir``; return the paths written."""
    folder = Path(sweep_dir)
    sweep_path, results_path = folder / SWEEP_FILE, folder / RESULTS_FILE
    for path in (sweep_path, results_path):
        if not path.is_file():
            raise InputError(f"not a sweep directory: {path.name} is missing (run `sim sweep`)",
                             path=folder)
    sweep = _read_sweep_json(sweep_path)
    results = read_sweep_file(results_path)
    missing = sorted({"point_id", "status", *sweep["axes"]} - set(results.columns))
    if missing:
        raise InputError(f"not a sweep's results: no column {', '.join(missing)} (delete it and "
                         "run `sim sweep` again to rewrite it)", path=results_path)
    out = Path(out_dir)
    ok = results[results["status"] == "ok"].reset_index(drop=True)
    lines = [f"# {sweep['name']}", "",
             f"{len(results)} points ({len(ok)} ok, {len(results) - len(ok)} failed); "
             f"swept axes: {', '.join(f'`{a}`' for a in sweep['axes']) or 'none'}.", ""]
    with staged_dir(out, owned=_report_file) as staging:  # one report's files, all or none
        if ok.empty:
            lines.append("No point finished; nothing to plot.")
            written: list[Path] = []
        elif sweep["kind"] == "phases":
            written = _phases_report(folder, ok, staging, lines)
        else:
            written = _simulate_report(folder, sweep, ok, staging, lines)
        report_md = staging / REPORT_FILE
        with atomic_path(report_md) as tmp:
            tmp.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return [out / path.name for path in [*written, report_md]]


def read_sweep_file(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A parquet file of a sweep directory; unreadable or corrupt is an :class:`InputError`."""
    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise InputError(f"cannot read: {_reason(exc)} (a damaged sweep file: delete it, or its "
                         "point's directory, and run `sim sweep` again)", path=path) from None


def _read_sweep_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read: {_reason(exc)}", path=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) \
            or doc.get("kind") not in ("simulate", "phases") or not isinstance(doc.get("axes"), list):
        raise InputError("not a sweep description (name, kind, axes)", path=path)
    return doc


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split())[:200] or type(exc).__name__


def _report_file(name: str) -> bool:
    """The files a report directory holds: its PNGs and ``report.md``."""
    return name == REPORT_FILE or name.endswith(".png")


# --- phases -------------------------------------------------------------------------------------


def _phases_report(folder: Path, ok: pd.DataFrame, out: Path, lines: list[str]) -> list[Path]:
    curves = pd.concat([read_sweep_file(folder / POINTS_DIR / pid / CURVES_FILE)
                        for pid in ok["point_id"]], ignore_index=True)
    prefill = curves[curves["phase"] == "prefill"]
    decode = curves[curves["phase"] == "decode"]
    dense = curves[curves["phase"] == "decode-dense"]
    hardware = list(dict.fromkeys(curves["hardware"]))
    batches = sorted(decode["batch_size"].unique())
    sources = (dict(zip(ok["hardware"], ok["table_source"], strict=True))
               if {"hardware", "table_source"} <= set(ok.columns) else {})
    fig, axes = _figure(1, 3, figsize=(17, 5.6))
    for hw in hardware:
        p = prefill[(prefill["hardware"] == hw) & prefill["supported"]]
        table = f"{sources[hw]} table, " if hw in sources else ""
        line, = axes[0].plot(p["prompt_tokens"], 1e3 * p["time_s"], marker="o")
        d = decode[(decode["hardware"] == hw) & decode["supported"]]
        every = dense[dense["hardware"] == hw]
        color = line.get_color()
        if len(d) == 1:  # no batching: one operating point, drawn across the batch axis
            label = f"{hw} ({table}batch {int(d['batch_size'].iloc[0])} only)"
            axes[1].axhline(1e3 * d["time_s"].iloc[0], color=color, linestyle="--", label=label)
            axes[2].axhline(d["tokens_per_s"].iloc[0], color=color, linestyle="--")
        else:
            top = int(every["batch_size"].max()) if len(every) else int(d["batch_size"].max())
            label = f"{hw} ({table}up to batch {top}, its KV memory's limit)"
            for ax, column, scale in ((axes[1], "time_s", 1e3), (axes[2], "tokens_per_s", 1.0)):
                ax.plot(d["batch_size"], scale * d[column], marker="o", linestyle="none",
                        color=color)
                curve = every if len(every) else d  # every batch size up to the KV limit
                ax.plot(curve["batch_size"], scale * curve[column], color=color,
                        label=label if ax is axes[1] else None)
                ax.plot([curve["batch_size"].iloc[-1]], [scale * curve[column].iloc[-1]],
                        marker="|", markersize=14, color=color)
    cross = crossovers(decode, dense)
    single = {hw for hw in hardware
              if (decode[(decode["hardware"] == hw)]["supported"]).sum() == 1}
    marked = cross[cross["reference"].isin(single) & cross["exact_batch"].notna()]
    for k, row in enumerate(marked.itertuples()):
        axes[2].plot([row.exact_batch], [row.reference_tps], marker="X", markersize=10,
                     color="black", zorder=5)
        axes[2].annotate(f"{row.faster} overtakes {row.reference}\nat batch {row.exact_batch:.0f}",
                         (row.exact_batch, row.reference_tps), fontsize=8,
                         textcoords="offset points", xytext=(8, -28 - 26 * k))
    axes[0].set(xscale="log", yscale="log", xlabel="prompt tokens", ylabel="TTFT (ms)",
                title="prefill: TTFT of one request (log-log)")
    axes[1].set(xscale="log", yscale="log", xlabel="batch size", ylabel="TPOT (ms)",
                title="decode: time per output token (log-log)")
    axes[2].set(xscale="log", yscale="log", xlabel="batch size", ylabel="tokens/s",
                title="decode throughput; X = crossover (log-log)")
    prompts = sorted(prefill["prompt_tokens"].unique())
    axes[0].set_xticks(prompts, [str(v) for v in prompts])
    top_batch = max([int(dense["batch_size"].max()) if len(dense) else 1,
                     *decode[decode["supported"]]["batch_size"].astype(int)])
    shown_batches = sorted({*(b for b in batches if b <= top_batch), top_batch})
    for ax in axes[1:]:
        ax.set_xticks(shown_batches, [str(v) for v in shown_batches])
        ax.set_xlim(0.8, top_batch * 1.25)
    for ax in axes:
        ax.minorticks_off()
        _plain_log(ax, "y")
        ax.grid(True, alpha=0.3)
    axes[1].set_title("decode: time per output token (log-log); | = largest batch that fits",
                      fontsize=10)
    rows = _legend(fig, axes[1], len(hardware))
    paths = [_save(fig, out / "phases.png", legend_rows=rows)]
    lines += ["## Prefill and decode by platform", ""]
    if sources:
        lines += ["Cost tables: " + ", ".join(f"{hw} {sources[hw]}" for hw in hardware
                                              if hw in sources) + ".", ""]
    lines += ["![phases](phases.png)", "",
              "TTFT (ms) of a lone request by prompt length (— = over the platform's context):", ""]
    ttft = prefill.assign(ms=np.where(prefill["supported"], 1e3 * prefill["time_s"], np.nan))
    lines += _table(ttft.pivot_table(index="prompt_tokens", columns="hardware", values="ms",
                                     sort=True, dropna=False).reindex(columns=hardware),
                    index_name="prompt tokens")
    limits = ", ".join(
        f"{hw} {int(dense[dense['hardware'] == hw]['batch_size'].max()) if (dense['hardware'] == hw).any() else 0}"
        for hw in hardware)
    context = int(decode["context_tokens"].iloc[0])
    lines += ["", f"TPOT (ms) / decode throughput (tokens/s) by batch size at a {context}-token "
              "context; — = unsupported (over the platform's batch limit or its KV memory). "
              f"Largest supported batch: {limits}.", ""]
    shown = decode.assign(cell=[f"{1e3 * t:.2f} / {v:,.0f}" if s else "—" for t, v, s in
                                zip(decode["time_s"], decode["tokens_per_s"], decode["supported"],
                                    strict=True)])
    lines += _table(shown.pivot(index="batch_size", columns="hardware", values="cell")
                    .reindex(columns=hardware), index_name="batch", fmt=str)
    lines += ["", "## Crossover batch sizes", "",
              "The smallest batch size at which a platform's decode throughput reaches another "
              "platform's peak decode throughput (at its largest supported batch): exact integer "
              "from every batch size, and interpolated on log batch between the swept sizes.", ""]
    if single:  # the research question: when does batching beat a platform that cannot batch
        cross = cross[cross["reference"].isin(single)]
        lines += [f"Shown against the platforms that do not batch: {', '.join(sorted(single))}.",
                  ""]
    if cross.empty:
        lines.append("No crossover within the swept batch sizes.")
    else:
        lines += ["| platform | reaches the peak of | peak tokens/s | exact batch | "
                  "interpolated |", "|---|---|---:|---:|---:|"]
        for row in cross.itertuples():
            lines.append(f"| {row.faster} | {row.reference} | {row.reference_tps:,.0f} | "
                         f"{_num(row.exact_batch, '.0f')} | {_num(row.batch_size, '.1f')} |")
    return paths


def _num(value: Any, fmt: str) -> str:
    return "never" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, fmt)


# --- simulate -----------------------------------------------------------------------------------


def _simulate_report(folder: Path, sweep: dict[str, Any], ok: pd.DataFrame, out: Path,
                     lines: list[str]) -> list[Path]:
    roles = guess_roles(ok, sweep["axes"], hints=sweep.get("report") or {},
                        zip_groups=sweep.get("zip_groups") or ())
    slo = sweep.get("slo") or {}
    paths: list[Path] = []
    lines += [f"SLOs: TTFT ≤ {_ms(slo.get('ttft_s'))}, TPOT ≤ {_ms(slo.get('tpot_s'))}; "
              f"a rate is *sustained* when ≥ {100 * float(slo.get('attainment', 0.9)):.0f} % "
              "of requests meet both.", ""]
    if "cost.basis" in ok.columns:  # every point of a sweep is priced on the scenario's basis
        bases = ", ".join(sorted(ok["cost.basis"].dropna().astype(str).unique()))
        lines += [(f"Prices: {bases} basis (each point's summary.json cost.prices names each "
                   "price and its source); USD per million tokens over all output tokens and "
                   "over those of requests meeting both SLOs (goodput)."), ""]
    shown = reference_slice(ok, roles)
    paths += _cdf_section(folder, shown, roles, out, lines)
    if roles.rate is not None:
        paths += _rate_section(shown, roles, out, lines)
    if roles.instances:
        paths += _ratio_section(ok, roles, float(slo.get("attainment", 0.9)), out, lines)
    if roles.group is not None and roles.baseline is not None and roles.heat:
        paths += _gain_section(ok, roles, out, lines)
    lines += ["", "## All points", ""]
    columns = ["point_id", *sweep["axes"], "goodput_rps", "throughput_rps", "slo_attainment",
               "ttft_s.p99", "tpot_s.p99", "cost.usd_per_million_output_tokens",
               "cost.usd_per_million_goodput_tokens"]
    table = ok[[c for c in columns if c in ok.columns]]
    lines += _table(table.set_index("point_id"), index_name="point")
    return paths


def _cdf_section(folder: Path, shown: pd.DataFrame, roles: AxisRoles, out: Path,
                 lines: list[str]) -> list[Path]:
    picks = shown
    if roles.rate is not None and not picks.empty:  # one rate: the middle one
        rates = sorted(dict.fromkeys(picks[roles.rate]), key=_sort_key)
        picks = picks[picks[roles.rate] == rates[(len(rates) - 1) // 2]]
    picks = picks.head(_MAX_CDF_LINES)
    frames = {}
    for row in picks.to_dict("records"):
        path = folder / POINTS_DIR / row["point_id"] / "requests.parquet"
        if path.is_file():
            frames[_label(row, roles, roles.varying(picks))] = read_sweep_file(
                path, columns=["status", "ttft_s", "tpot_s", "e2e_s"])
    if not frames:
        return []
    fig, axes = _figure(1, 3, figsize=(16, 4.6))
    for k, (label, df) in enumerate(frames.items()):
        done = df[df["status"] == "completed"]
        for ax, column in zip(axes, ("ttft_s", "tpot_s", "e2e_s"), strict=True):
            values = np.sort(done[column].dropna().to_numpy())
            if len(values):
                style = _line_style(k, len(frames), label)
                ax.step(values * 1e3, np.arange(1, len(values) + 1) / len(values), where="post",
                        label=label, color=style["color"], linestyle=style["linestyle"],
                        linewidth=style["linewidth"])
    for ax, title in zip(axes, ("TTFT", "TPOT", "end-to-end latency"), strict=True):
        ax.set(xscale="log", xlabel=f"{title} (ms, log)", ylabel="fraction of requests",
               title=f"{title} CDF")
        _plain_log(ax, "x")
        ax.grid(True, which="both", alpha=0.3)
    rows = _legend(fig, axes[0], len(frames))
    fixed = roles.fixed_text(picks)
    _caption(fig, roles.fixed_caption(picks))
    lines += ["## Latency CDFs", "", f"Points shown: {len(frames)}{fixed}.", "",
              "![latency CDFs](cdf.png)", ""]
    return [_save(fig, out / "cdf.png", legend_rows=rows)]


def _rate_section(shown: pd.DataFrame, roles: AxisRoles, out: Path,
                  lines: list[str]) -> list[Path]:
    rate = roles.rate
    assert rate is not None
    if shown.empty:
        return []
    groups = list(roles.line_groups(shown))
    fig, axes = _figure(1, 3, figsize=(16, 4.6))
    summary_rows = []
    n_lines = 0
    for k, (label, frame) in enumerate(groups):
        frame = frame.sort_values(rate)
        x = numeric_axis(frame[rate])
        style = _line_style(k, len(groups), label)
        axes[0].plot(x, frame["goodput_rps"], **style)
        axes[1].plot(frame["throughput_rps"], 1e3 * frame["ttft_s.p99"], **style)
        axes[2].plot(frame["throughput_rps"], 1e3 * frame["tpot_s.p99"], **style)
        n_lines += 1
        best = frame.loc[frame["goodput_rps"].fillna(0.0).idxmax()]
        summary_rows.append((label, float(best["goodput_rps"]), best[rate],
                             float(frame["tpot_s.p99"].min()) * 1e3))
    rates = numeric_axis(shown[rate])
    log_rate = _spans_decades(rates)
    log_throughput = _spans_decades(shown["throughput_rps"])
    if log_rate:
        axes[0].set_xscale("log")
    lo, hi = axes[0].get_xlim()
    diagonal = np.geomspace(lo, hi, 64) if log_rate and lo > 0 else np.linspace(lo, hi, 2)
    axes[0].plot(diagonal, diagonal, color="grey", linestyle=":", linewidth=1,
                 label="goodput = rate")
    axes[0].set_xlim(lo, hi)
    axes[0].set(xlabel=axis_label(rate) + (", log" if log_rate else ""),
                ylabel="goodput (req/s)", title="goodput vs request rate")
    axes[1].set(xlabel="throughput (req/s" + (", log)" if log_throughput else ")"),
                ylabel="P99 TTFT (ms, log)", yscale="log", title="throughput vs P99 TTFT")
    axes[2].set(xlabel="throughput (req/s" + (", log)" if log_throughput else ")"),
                ylabel="P99 TPOT (ms, log)", yscale="log", title="throughput vs P99 TPOT")
    for ax in axes[1:]:
        if log_throughput:
            ax.set_xscale("log")
        _plain_log(ax, "y")
    for ax in axes:
        _plain_log(ax, "x")
        ax.grid(True, which="both", alpha=0.3)
    rows = _legend(fig, axes[0], n_lines + 1)
    _caption(fig, roles.fixed_caption(shown))
    lines += ["## Goodput and throughput-latency", "",
              "Lines: one per "
              + (" × ".join(f"`{short_axis(a)}`" for a in roles.varying(shown) if a != rate)
                 or "sweep") + f"{roles.fixed_text(shown)}.", "",
              "![goodput and latency](rate.png)", "",
              "| line | best goodput (req/s) | at rate | lowest P99 TPOT (ms) |",
              "|---|---:|---:|---:|"]
    lines += [f"| {label} | {g:.2f} | {r} | {t:.1f} |" for label, g, r, t in summary_rows]
    lines.append("")
    return [_save(fig, out / "rate.png", legend_rows=rows)]


def _ratio_section(ok: pd.DataFrame, roles: AxisRoles, attainment: float, out: Path,
                   lines: list[str]) -> list[Path]:
    ranked = sustained_rate(ok, roles, attainment=attainment)
    if ranked.empty:
        if pool_instances(ok)[0].isna().all():
            lines += ["## Instance ratio", "", "Not shown: the results have no "
                      "`pools.<name>.instances` columns to count instances from (run `sim sweep` "
                      "again to rewrite them).", ""]
        return []
    best = ranked.iloc[0]
    table = ranked.sort_values("order", kind="stable")  # bars and rows in sweep order
    fig, ax = _figure(figsize=(max(8.0, 0.9 * len(table) + 2), 5.2))
    labels = table["config"].tolist()
    tied = set(ranked["config"].head(int(best["tied"])))
    ax.bar(range(len(labels)), table["sustained_rps_per_instance"],
           color=["tab:green" if c == best["config"] and tied else "yellowgreen" if c in tied
                  else "tab:blue" for c in labels])
    for i, row in enumerate(table.itertuples()):
        at_most = "≥" if _capped(row) else ""
        text = (f"{at_most}{row.sustained_rps_per_instance:.2f}\n"
                f"({at_most}{row.sustained_rps:g}/{row.instances})")
        ax.annotate(text, (i, row.sustained_rps_per_instance), ha="center", va="bottom", fontsize=7,
                    textcoords="offset points", xytext=(0, 2))
    ax.set_ylim(0, 1.25 * max(float(table["sustained_rps_per_instance"].max()), 1e-9))
    crowded = max(len(label) for label in labels) * len(labels) > 80  # would collide flat
    ax.set_xticks(range(len(labels)), labels, rotation=30 if crowded else 0,
                  ha="right" if crowded else "center", fontsize=8 if crowded else 9)
    ax.set_ylabel("sustained req/s per instance")
    ax.set_title(f"highest rate with ≥ {100 * attainment:.0f} % SLO attainment, per instance\n"
                 "bar labels: per instance (sustained req/s / instances)\n"
                 "green: best; light green: tied with it; ≥: held at the highest swept rate",
                 fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    lines += ["## Instance ratio", "",
              "For each instance configuration, the highest swept request rate whose SLO "
              f"attainment is ≥ {100 * attainment:.0f} %, divided by the number of instances "
              "(counted from each point's resolved topology: every pool's instances, whatever "
              "other instance-count axes the point ignores). ≥: the highest swept rate still met "
              "the SLO, so the configuration may sustain more.", "",
              "![per-instance goodput](ratio.png)", "",
              "| config | instances | sustained req/s | per instance | goodput/instance at "
              "that rate |", "|---|---|---:|---:|---:|"]
    for row in table.itertuples():
        lines.append(f"| {row.config} | {row.topology} | "
                     f"{'≥ ' if _capped(row) else ''}{row.sustained_rps:.2f} | "
                     f"{row.sustained_rps_per_instance:.3f} | {row.goodput_per_instance:.3f} |")
    lines += ["", _best_line(ranked, attainment), ""]
    return [_save(fig, out / "ratio.png")]


def _capped(row: Any) -> bool:
    """Sustained up to the highest swept rate: the true limit lies above the sweep."""
    return row.sustained_rps > 0 and row.sustained_rps >= row.max_rate_rps


def _best_line(ranked: pd.DataFrame, attainment: float) -> str:
    """The "Best:" sentence: the winner, or that there is none; how a tie was broken
    (``rank_sustained``'s order: goodput per instance, then fewer instances, then sweep order)."""
    best, tied = ranked.iloc[0], int(ranked.iloc[0]["tied"])
    if tied == 0:
        return (f"**Best: none** — no configuration sustains any swept rate at ≥ "
                f"{100 * attainment:.0f} % SLO attainment.")
    text = (f"**Best: {best['config']}** — {best['sustained_rps_per_instance']:.3f} req/s per "
            "instance.")
    if tied == 1:
        return text
    rivals = ranked.iloc[1:tied]
    names = ", ".join(rivals["config"].head(3)) + (f" and {tied - 4} more" if tied > 4 else "")
    text += (f" Tied on req/s per instance with {names}; ties go to the higher goodput per "
             "instance at the sustained rate, then fewer instances, then the sweep order")
    same_good = rivals["goodput_per_instance"].round(9) == round(best["goodput_per_instance"], 9)
    if not same_good.any():
        return text + f" (here: goodput per instance {best['goodput_per_instance']:.3f}, the "\
            f"next {rivals['goodput_per_instance'].iloc[0]:.3f})."
    same = rivals[same_good & (rivals["instances"] == best["instances"])]
    if same.empty:
        return text + f" (here: fewer instances, {best['topology']})."
    return text + f" (here: the sweep order; equal in every respect to {', '.join(same['config'].head(3))})."


def _gain_section(ok: pd.DataFrame, roles: AxisRoles, out: Path, lines: list[str]) -> list[Path]:
    gains = disagg_gain(ok, roles)
    if gains.empty:
        return []
    x_axis, y_axis = roles.heat[0], roles.heat[1] if len(roles.heat) > 1 else "—"
    others = [t for t in dict.fromkeys(gains["topology"])]
    panels = list(dict.fromkeys(gains["panel"]))
    paths = []
    panel_axes = [short_axis(a) for a in roles.axes if a != roles.group and a not in roles.heat
                  and a not in roles.followers and ok[a].nunique() > 1]
    lines += ["## Disaggregation gain", "",
              f"Each topology's metric relative to the colocated baseline `{roles.baseline}` at "
              f"the same `{short_axis(x_axis)}` × `{short_axis(y_axis)}`"
              + (f", one panel per {' × '.join(f'`{a}`' for a in panel_axes)}" if panel_axes
                 else "")
              + ". Goodput gain = goodput / baseline goodput; P99-TPOT gain = baseline P99 TPOT / "
              "P99 TPOT; > 1 (green) means the disaggregated topology wins, < 1 (red) it loses.",
              ""]
    for metric, title, file in (("goodput_gain", "goodput gain", "gain_goodput.png"),
                                ("tpot_gain", "P99 TPOT gain", "gain_tpot.png")):
        fig, axes = _figure(len(others), len(panels), squeeze=False,
                                 figsize=(4.8 * len(panels) + 1, 3.8 * len(others)))
        for i, topo in enumerate(others):
            for j, panel in enumerate(panels):
                sub = gains[(gains["topology"] == topo) & (gains["panel"] == panel)]
                grid = sub.pivot_table(index="y", columns="x", values=metric, sort=False)
                grid = grid.reindex(index=sorted(grid.index, key=_sort_key),
                                    columns=sorted(grid.columns, key=_sort_key))
                _heatmap(axes[i][j], grid, title=f"{topo}{chr(10) + panel if panel else ''}",
                         xlabel=axis_label(x_axis),
                         ylabel=axis_label(y_axis) if len(roles.heat) > 1 else "")
        fig.suptitle(f"{title} vs colocated {roles.baseline} (>1: disaggregation wins)")
        paths.append(_save(fig, out / file))
        lines += [f"![{title}]({file})", ""]
    lines += [f"| topology | panel | metric | cells > 1 | max ({short_axis(x_axis)}, "
              f"{short_axis(y_axis)}) | min |",
              "|---|---|---|---:|---|---|"]
    for topo in others:
        for panel in panels:
            sub = gains[(gains["topology"] == topo) & (gains["panel"] == panel)]
            for metric in ("goodput_gain", "tpot_gain"):
                values = sub[metric].dropna()
                if values.empty:
                    continue
                hi, lo = sub.loc[values.idxmax()], sub.loc[values.idxmin()]
                lines.append(
                    f"| {topo} | {panel or '—'} | {metric} | {(values > 1).sum()}/{len(values)} | "
                    f"{hi[metric]:.2f} ({hi['x']}, {hi['y']}) | "
                    f"{lo[metric]:.2f} ({lo['x']}, {lo['y']}) |")
    lines.append("")
    return paths


# --- drawing helpers ----------------------------------------------------------------------------


_GAIN_SPAN_LOG2 = 3.0  # colours saturate at 1/8x and 8x, the same scale on every panel


def _heatmap(ax: Any, grid: pd.DataFrame, *, title: str, xlabel: str, ylabel: str) -> None:
    values = grid.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.clip(np.log2(values), -_GAIN_SPAN_LOG2, _GAIN_SPAN_LOG2)
    shown = np.where(np.isnan(values), np.nan, shown)
    image = ax.imshow(shown, cmap="RdYlGn", vmin=-_GAIN_SPAN_LOG2, vmax=_GAIN_SPAN_LOG2,
                      aspect="auto", origin="lower")
    for (r, c), v in np.ndenumerate(values):
        dark = np.isfinite(shown[r, c]) and abs(shown[r, c]) >= 2.0  # deep red or deep green
        ax.text(c, r, "—" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                fontsize=9, color="white" if dark else "black")
    xticks = [_tick(v) for v in grid.columns]
    long = max((len(t) for t in xticks), default=0) * grid.shape[1] > 30  # would collide
    ax.set_xticks(range(grid.shape[1]), xticks, fontsize=9, rotation=30 if long else 0,
                  ha="right" if long else "center")
    ax.set_yticks(range(grid.shape[0]), [_tick(v) for v in grid.index], fontsize=9)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.title.set_fontsize(9)
    ticks = np.arange(-_GAIN_SPAN_LOG2, _GAIN_SPAN_LOG2 + 1)
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.8, ticks=ticks)
    bar.ax.set_yticklabels([f"{2 ** t:g}x" if t >= 0 else f"1/{2 ** -t:g}x" for t in ticks],
                           fontsize=8)


def _plain_log(ax: Any, which: str) -> None:
    """Plain-number ticks on a log axis (10, 20, 50 ... not 2x10^1), denser when the axis spans
    less than a decade, sparser over more than three; unlabelled minor ticks in between."""
    if (ax.get_yscale() if which == "y" else ax.get_xscale()) != "log":
        return
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    subs = (1.0,) if decades > 3 else (1.0, 2.0, 5.0) if decades >= 0.8 else \
        tuple(float(i) for i in range(1, 10))
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(_PLAIN)
    axis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _caption(fig: Any, fixed_text: str) -> None:
    """The axes held fixed, as a small line above the panels (so a copied PNG says its slice)."""
    if fixed_text:
        fig.suptitle(fixed_text, fontsize=9)


def _line_style(k: int, n: int, label: str) -> dict[str, Any]:
    """Line ``k`` of ``n``: its colour, a dash pattern and a hollow marker, both thinner and
    smaller the later the line, so that lines drawn on top of each other (equal values) still
    show the earlier ones around them."""
    dash, marker = _STYLES[k % len(_STYLES)]
    shrink = k / (n - 1) if n > 1 else 0.0
    return {"color": f"C{k % 10}", "linestyle": dash, "marker": marker, "label": label,
            "markersize": 9.0 - 5.0 * shrink, "linewidth": 2.8 - 1.6 * shrink,
            "markerfacecolor": "none", "markeredgewidth": 1.4}


def _legend(fig: Any, ax: Any, n_lines: int) -> int:
    """One legend below the panels, off the data, for ``ax``'s labelled lines (every panel
    draws the same lines); how many rows it takes (for ``_save``)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return 0
    ncol = max(1, min(len(handles), _LEGEND_COLUMNS))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    return -(-len(handles) // ncol)


def _spans_decades(values: pd.Series) -> bool:
    """Positive values whose largest is at least 10x the smallest: a log axis shows them."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    v = v[v > 0]
    return len(v) > 1 and float(v.max()) >= 10.0 * float(v.min())


def _tick(value: Any) -> str:
    """A heatmap tick: numbers without trailing zeros (0.5, 8, 1e+04), other values as text."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _figure(*grid: int, **kwargs: Any) -> tuple[Figure, Any]:
    """A figure and its axes (as pyplot's ``subplots``) on an Agg canvas of its own: no backend
    is chosen, or changed for whoever imported us, and pyplot keeps no list of open figures."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*grid, **kwargs)


def _save(fig: Any, path: Path, *, legend_rows: int = 0) -> Path:
    """Lay out (leaving room below for a legend of ``legend_rows`` rows) and write the PNG."""
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, min(0.45, (0.12 + 0.17 * legend_rows) / height) if legend_rows
                           else 0, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=_DPI, format="png", metadata={"Software": None})
    return path


def _table(frame: pd.DataFrame, *, index_name: str, fmt: Any = None) -> list[str]:
    def cell(v: Any) -> str:
        if fmt is not None:
            return fmt(v)
        if isinstance(v, float):
            return "—" if math.isnan(v) else f"{v:,.3g}" if abs(v) >= 1000 else f"{v:.3g}"
        return str(v)

    header = [index_name, *(str(c) for c in frame.columns)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        rows.append("| " + " | ".join([str(index), *(cell(v) for v in row.tolist())]) + " |")
    return rows


def _label(row: dict[str, Any], roles: AxisRoles, axes: Sequence[str]) -> str:
    return roles.label({a: row.get(a) for a in axes}) or row["point_id"]


def _ms(value: Any) -> str:
    return "—" if value is None else f"{1e3 * float(value):g} ms"


def _sort_key(value: Any) -> tuple[float, str]:
    number = numeric_axis(pd.Series([value])).iloc[0]
    return (float(number) if number == number else math.inf, str(value))



