"""LLM-Inference-Bench measurements as one normalized frame: the calibration data of issue 12.

    python tools/condense_bench_data.py                    # print the docs table
    python tools/condense_bench_data.py --condense ../shared/data/reference   # rebuild the CSV
    python tools/condense_bench_data.py --update-docs      # rewrite the docs/calibration.md table

Origin: argonne-lcf/LLM-Inference-Bench ``Plots/`` (BSD 3-Clause, (c) 2024 UChicago Argonne, LLC;
Chitty-Venkata et al., SC24-W, arXiv 2411.00136), as copied to ``shared/data/reference/
llm-inference-bench/`` with every Llama-2-7B / LLaMA-7B row withheld. :func:`condense` merges the
files this project uses into one CSV shipped in the repo
(``simulator/tables/reference/llm_inference_bench.csv``, the licence beside it):

- ``All_results.csv``: one row per measured run: B prompts of N tokens submitted at once, N tokens
  generated each (``input_len`` = ``output_len`` = N); ``latency_s`` until the whole batch is done.
- ``Fig_16_a``, ``Fig_16_b``, ``Fig_16_a_b`` ``power_results.csv``: the same runs with
  ``avg_power`` in **milliwatts** (an A100 at batch 1 reads ~229,000); ``Fig_10``, ``Fig_29``
  ``All_results.csv``: runs with ``avg_power`` in **watts**, except 60 rows in milliwatts
  (:func:`read_power_file`; ``power_unit`` records the unit read). A power record whose
  configuration and latency match a run (relative difference < 1e-6) becomes that run's
  ``avg_power_w``; one that matches none is a run of its own and is added as a row (source: the
  power file).
- ``Fig_22/all_results_TTFT_ITL.csv`` and ``Fig_21/all_results_TTFT.csv``: time to first token
  for 1,024-token prompts at batch 16. A record attaches as ``ttft_s`` to the run with the same
  configuration and (where the file gives it, ``end_latency``) the same latency; one with an
  ``end_latency`` but no such run is a run of its own and is added.

Power scopes differ: for the same configuration Fig_10's ``avg_power`` reads well above Fig_16's
(H100, vLLM, Llama-3-8B, 1,024/1,024, batch 32: 672 W vs 435 W; its A100 rows reach 547 W, above
the A100's 400 W TDP), so Fig_10/Fig_29 power is not one device's board power. ``power_source``
keeps the two apart; do not mix them in one energy fit.

Every row keeps its origin (``source``, ``ttft_source``, ``power_source``: file and 1-based line,
the header being line 1). The CSV keeps the data's own labels; :func:`load_bench_data` maps them to
catalog names with the dicts below. A label missing from a dict leaves the name empty: such rows
stay in the frame and :func:`unmapped_counts` reports them by value; nothing is dropped silently.

Mapping decisions (the evidence is in ``docs/calibration.md``):

- "Nvidia A100 GPU" -> ``a100-sxm-40gb``: the data's own Llama-2-70B runs at TP 4 run out of KV
  memory where 4 x 40 GB would (and 80 GB would not), its A100 READMEs load ALCF Polaris modules
  (A100 SXM4 40GB), and its power runs exceed a PCIe card's 250 W (catalog entry: the sources).
- "Nvidia H100 GPU" -> ``h100-sxm``: its batch-1 decode (Llama-3-8B, TensorRT-LLM, 7.5 ms/token,
  16 GB of weights: >= 2.1 TB/s) is beyond an H100 PCIe's 2.0 TB/s.
- "Intel PVC GPU" is the Max 1550 (Ponte Vecchio): ``max1550``. Its vLLM rows are an early XPU
  port, 3-10x (median 5x) slower than the "Intel Max 1550" vLLM rows of the same configurations,
  so they get their own engine label, ``vllm-xpu-early``, never merged with ``vllm``.
- "AMD MI250 GPU" counts OAM modules (2 GCDs each): see the ``mi250`` catalog entry.
- "SambaNova SN40L" with 8 devices: 8 ``sn40l`` sockets at TP 8, measured through SambaNova's
  cloud API (network round trip included).
- llama.cpp rows come from ``llama-bench -p N -n N -pg N,N -b B`` (LLM-Inference-Bench
  llama.cpp READMEs): ONE sequence, ``-b`` being llama.cpp's prompt-processing batch, not B
  concurrent prompts (their latency falls as B grows). :func:`load_bench_data` therefore adds
  ``requests``: the concurrent prompts of the run, ``batch_size`` for every engine but llama.cpp,
  1 for llama.cpp.
- The TensorRT-LLM, DeepSpeed-MII and Gaudi2 DeepSpeed scripts send B COPIES OF ONE PROMPT:
  ``generate_input`` repeats "France" N times and appends that text ``batch_size`` times
  (LLM-Inference-Bench ``TensorRT-LLM/H100/run_power.py`` and ``run_precision_bench.py``,
  ``Deepspeed-MII/A100/pipeline.py``, ``Deepspeed-MII/Gaudi2/run_generation.py``); TensorRT-LLM
  and Gaudi2 decode greedily (``--top_k`` 1, ``do_sample`` off), so the copies stay identical,
  and a mixture of experts routes every sequence of the batch to the same experts. The data
  agrees: TensorRT-LLM's Mixtral at batch 32-64 runs faster than reading all eight experts per
  step at the datasheet bandwidth, and DeepSpeed-MII's barely slows with the batch. vLLM's scripts
  draw distinct random token ids per prompt and sample at temperature 1.0; llama.cpp runs one
  sequence. :func:`load_bench_data` records this as ``identical_prompts`` (True for the three
  frameworks in ``IDENTICAL_PROMPT_FRAMEWORKS``); the fit prices such a run's MoE passes with
  ``roofline.routed_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.plain import plain
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.roofline import routed_tokens

__all__ = ["HARDWARE_NAMES", "ENGINE_NAMES", "ENGINE_OVERRIDES", "MODEL_NAMES", "WITHHELD_MODELS",
           "WITHHELD_CATALOG_MODELS",
           "CONDENSED_PATH", "COLUMNS", "CondenseReport", "condense", "write_condensed",
           "read_power_file", "load_bench_data", "unmapped_counts", "calibration_rows",
           "weight_read_bound_s", "kv_read_bound_s", "render_bench_rows_table",
           "IDENTICAL_PROMPT_FRAMEWORKS", "add_catalog_names"]

REPO = Path(__file__).resolve().parents[2]
CONDENSED_PATH = REPO / "simulator" / "tables" / "reference" / "llm_inference_bench.csv"
SHARED_FOLDER = "llm-inference-bench"

HARDWARE_NAMES: dict[str, str] = {
    "Nvidia A100 GPU": "a100-sxm-40gb",
    "Nvidia H100 GPU": "h100-sxm",
    "Nvidia GH200 GPU": "gh200",
    "AMD MI250 GPU": "mi250",
    "AMD MI300X GPU": "mi300x",
    "Habana Gaudi2": "gaudi2",
    "Intel Max 1550": "max1550",
    "Intel PVC GPU": "max1550",
    "SambaNova SN40L": "sn40l",
}
ENGINE_NAMES: dict[str, str] = {
    "vLLM": "vllm",
    "TensorRT-LLM": "trt-llm",
    "Deepspeed-MII": "deepspeed-mii",
    "Deepspeed": "deepspeed",  # DeepSpeed inference on Gaudi2 (Habana's fork)
    "llama.cpp": "llama.cpp",
    "sambaflow": "sambaflow",
}
# (hardware label, framework label) -> engine, where the same framework name hides another engine.
ENGINE_OVERRIDES: dict[tuple[str, str], str] = {("Intel PVC GPU", "vLLM"): "vllm-xpu-early"}
MODEL_NAMES: dict[str, str] = {
    "meta-llama/Meta-Llama-3-8B": "llama3-8b",
    "meta-llama/Meta-Llama-3-70B": "llama3-70b",
    "meta-llama/Llama-2-70b-hf": "llama2-70b",
    "meta-llama/Llama-2-13b-hf": "llama2-13b",
    "mistralai/Mistral-7B-v0.1": "mistral-7b",
    "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b",
    "Qwen/Qwen2-7B": "qwen2-7b",
    "Qwen/Qwen2-72B": "qwen2-72b",
    # multi-head-attention 7B models (Fig_10): they pin full-width KV reads (see the catalog)
    "Qwen/Qwen1.5-7B": "qwen1.5-7b",
    "BAAI/Aquila-7B": "aquila-7b",
    "EleutherAI/gpt-j-6b": "gpt-j-6b",
    "facebook/opt-6.7b": "opt-6.7b",
    "bigscience/bloom-7b1": "bloom-7b1",
}
# Frameworks whose LLM-Inference-Bench scripts submit B copies of one prompt (module docstring).
IDENTICAL_PROMPT_FRAMEWORKS: frozenset[str] = frozenset({"TensorRT-LLM", "Deepspeed-MII", "Deepspeed"})
# Withheld on purpose (the paper's model and its twin): predictions are checked against them.
WITHHELD_MODELS: frozenset[str] = frozenset({"meta-llama/Llama-2-7b-hf", "huggyllama/llama-7b"})
# ... and their catalog name: `profiler fit` refuses it in our own CSV format too (one rule)
WITHHELD_CATALOG_MODELS: frozenset[str] = frozenset({"llama2-7b"})

# Columns of the condensed CSV (the data's own labels; times in s, power in W).
COLUMNS = ("hardware_label", "tp", "engine_label", "model_label", "input_len", "output_len",
           "batch_size", "latency_s", "ttft_s", "avg_power_w", "power_unit", "source", "ttft_source",
           "power_source")
_KEY = ("hardware_label", "tp", "engine_label", "model_label", "input_len", "output_len", "batch_size")
_MATCH_RTOL = 1e-6
_LLAMA_BENCH = "llama.cpp"  # its runs are one sequence; "Batch Size" is llama-bench's -b
_RAW = {"Hardware": "hardware_label", "Num of Hardware": "tp", "Framework": "engine_label",
        "Model": "model_label", "Batch Size": "batch_size"}
_POWER_FILES = (("Fig_16_a_b/power_results.csv", "mW"), ("Fig_16_a/power_results.csv", "mW"),
                ("Fig_16_b/power_results.csv", "mW"), ("Fig_10/All_results.csv", "W"),
                ("Fig_29/All_results.csv", "W"))  # (file, the unit its avg_power is documented in)
# No run here draws 10 kW: a larger reading in a watts file is milliwatts (see read_power_file).
_MW_THRESHOLD = 10_000.0
_TTFT_FILES = ("Fig_22/all_results_TTFT_ITL.csv", "Fig_21/all_results_TTFT.csv")


@dataclass(slots=True)
class CondenseReport:
    """What :func:`condense` did with each record that was not a plain ``All_results.csv`` row."""

    runs: int = 0
    power_attached: int = 0
    power_repeated: int = 0  # the same record again (Fig_16_a/b are subsets of Fig_16_a_b)
    runs_added: int = 0  # power- or TTFT-file runs with no matching All_results row
    ttft_attached: int = 0
    ttft_repeated: int = 0  # Fig_21 repeats Fig_22's TTFT column
    ttft_unmatched: list[str] = field(default_factory=list)
    withheld: int = 0


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    df.columns = [c.strip() for c in df.columns]
    return df


def _where(path: Path, root: Path, line: int) -> str:
    return f"{path.relative_to(root).as_posix()}:{line}"


def _runs(df: pd.DataFrame, path: Path, root: Path) -> pd.DataFrame:
    """Rows of an ``All_results``-shaped file in the condensed columns."""
    out = df.rename(columns=_RAW)
    n = out["Input Output Length"].astype(np.int64)
    out = out.assign(input_len=n, output_len=n, latency_s=df["Latency"].astype(float),
                     ttft_s=np.nan, avg_power_w=np.nan, power_unit="", ttft_source="",
                     power_source="",
                     source=[_where(path, root, i + 2) for i in range(len(df))])
    return out[list(COLUMNS)]


def read_power_file(path: Path, *, unit: str, root: Path | None = None) -> pd.DataFrame:
    """A power file's runs with ``avg_power_w`` in watts and ``power_unit`` the unit it was read in.

    ``unit`` is the file's documented unit: "mW" (Fig_16: an A100 at batch 1 reads ~229,000) or
    "W" (Fig_10, Fig_29). The watts files are not uniform: their lines 71-130 (H100, vLLM,
    DeciLM-7B, TP 1/2/4) read 575,408-1,112,589, i.e. milliwatts (575-1,113 W for 1-4 H100s), so
    in a "W" file a reading above 10,000 is taken as mW, and ``power_unit`` says so row by row.
    """
    if unit not in ("mW", "W"):
        raise InputError(f"unit must be 'mW' or 'W', got {unit!r}", path=path)
    root = path.parent if root is None else root
    df = _read(path)
    if "avg_power" not in df.columns:
        raise InputError("missing field", path=path, column="avg_power")
    raw = df["avg_power"].astype(float).to_numpy()
    if unit == "mW" and (raw < _MW_THRESHOLD).any():
        row = int(np.flatnonzero(raw < _MW_THRESHOLD)[0])
        raise InputError(f"{plain(raw[row])!r} is not a milliwatt reading", path=path, row=row + 2,
                         column="avg_power")
    milli = np.full(len(raw), True) if unit == "mW" else raw > _MW_THRESHOLD
    out = _runs(df, path, root)
    out["avg_power_w"] = np.where(milli, raw / 1000.0, raw)
    out["power_unit"] = np.where(milli, "mW", "W")
    return out


def _same_run(frame: pd.DataFrame, rec: pd.Series, latency_s: float | None) -> np.ndarray:
    hit = np.ones(len(frame), dtype=bool)
    for col in _KEY:
        hit &= (frame[col] == rec[col]).to_numpy()
    if latency_s is not None:
        lat = frame["latency_s"].to_numpy()
        hit &= np.abs(lat - latency_s) <= _MATCH_RTOL * abs(latency_s)
    return np.flatnonzero(hit)


def condense(root: Path) -> tuple[pd.DataFrame, CondenseReport]:
    """The merged frame (condensed columns, data labels) from ``root`` (the
    ``llm-inference-bench`` folder) and what happened to each extra record."""
    report = CondenseReport()
    frame = _runs(_read(root / "All_results.csv"), root / "All_results.csv", root)
    report.runs = len(frame)
    for name, unit in _POWER_FILES:
        path = root / name
        for _, rec in read_power_file(path, unit=unit, root=root).iterrows():
            hits = _same_run(frame, rec, float(rec["latency_s"]))
            unpowered = [i for i in hits if math.isnan(frame.at[i, "avg_power_w"])]
            same = [i for i in hits if np.isclose(frame.at[i, "avg_power_w"], rec["avg_power_w"],
                                                  rtol=_MATCH_RTOL)]
            if same:
                report.power_repeated += 1
            elif unpowered:
                i = unpowered[0]
                frame.at[i, "avg_power_w"] = rec["avg_power_w"]
                frame.at[i, "power_unit"] = rec["power_unit"]
                frame.at[i, "power_source"] = rec["source"]
                report.power_attached += 1
            else:  # a run of its own (e.g. Fig_10's perplexity runs of other 7B models)
                row = rec.copy()
                row["power_source"] = rec["source"]
                frame = pd.concat([frame, row.to_frame().T], ignore_index=True)
                report.runs_added += 1
    for name in _TTFT_FILES:
        path = root / name
        df = _read(path)
        ttft_col = "TTFT Latency" if "TTFT Latency" in df.columns else "Latency"
        for i, raw in df.iterrows():
            where = _where(path, root, int(i) + 2)
            rec = pd.Series({"hardware_label": raw["Hardware"], "tp": int(raw["Num of Hardware"]),
                             "engine_label": raw["Framework"], "model_label": raw["Model"],
                             "input_len": int(raw["Input Length"]), "batch_size": int(raw["Batch Size"])})
            rec["output_len"] = rec["input_len"]  # the TTFT of the N-in / N-out run
            end = raw.get("end_latency")
            hits = _same_run(frame, rec, None if end is None or pd.isna(end) else float(end))
            ttft = float(raw[ttft_col])
            same = [j for j in hits if np.isclose(frame.at[j, "ttft_s"], ttft, rtol=_MATCH_RTOL)]
            free = [j for j in hits if math.isnan(frame.at[j, "ttft_s"])]
            if same:
                report.ttft_repeated += 1
            elif len(free) == 1:
                frame.at[free[0], "ttft_s"] = ttft
                frame.at[free[0], "ttft_source"] = where
                report.ttft_attached += 1
            elif not len(hits) and end is not None and not pd.isna(end):
                # a run All_results.csv lacks, whole in this file (GH200 vLLM Mistral-7B)
                row = {**rec.to_dict(), "latency_s": float(end), "ttft_s": ttft,
                       "avg_power_w": np.nan, "power_unit": "", "source": where,
                       "ttft_source": where, "power_source": ""}
                frame = pd.concat([frame, pd.DataFrame([row])[list(COLUMNS)]], ignore_index=True)
                report.runs_added += 1
            else:
                report.ttft_unmatched.append(f"{where} ({len(free)} candidate runs)")
    withheld = frame["model_label"].isin(WITHHELD_MODELS)
    report.withheld = int(withheld.sum())
    frame = frame[~withheld].reset_index(drop=True)
    return _typed(frame), report


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("tp", "input_len", "output_len", "batch_size"):
        out[col] = out[col].astype(np.int64)
    for col in ("latency_s", "ttft_s", "avg_power_w"):
        out[col] = out[col].astype(float)
    for col in ("hardware_label", "engine_label", "model_label", "power_unit", "source",
                "ttft_source", "power_source"):
        out[col] = out[col].astype(object).fillna("").astype(str)
    return out[list(COLUMNS)]


def write_condensed(shared_reference: Path, out: Path = CONDENSED_PATH) -> CondenseReport:
    """Rebuild the shipped CSV from ``shared/data/reference`` (all-or-nothing)."""
    frame, report = condense(Path(shared_reference) / SHARED_FOLDER)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
    return report


def load_bench_data(path: Path = CONDENSED_PATH) -> pd.DataFrame:
    """The condensed CSV with catalog names added: ``hardware``, ``engine``, ``model`` (empty
    where the mapping dicts have no entry; see :func:`unmapped_counts`), and ``requests``, the
    concurrent prompts of the run (1 for llama.cpp, whose ``batch_size`` is ``llama-bench -b``)."""
    df = _read(Path(path))
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError("missing field", path=path, column=missing[0])
    df = _typed(df)
    if df["model_label"].isin(WITHHELD_MODELS).any():
        raise InputError("holds withheld Llama-2-7B rows; calibration must not see them", path=path)
    return add_catalog_names(df)


def add_catalog_names(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (the data's labels) with ``hardware``, ``engine``, ``model`` (catalog names, empty
    where the mapping dicts have none), ``requests`` (concurrent prompts: 1 for llama.cpp, whose
    ``batch_size`` is ``llama-bench -b``) and ``identical_prompts`` (module docstring)."""
    engines = [ENGINE_OVERRIDES.get((h, e), ENGINE_NAMES.get(e, ""))
               for h, e in zip(df["hardware_label"], df["engine_label"], strict=True)]
    requests = np.where(df["engine_label"] == _LLAMA_BENCH, 1, df["batch_size"]).astype(np.int64)
    return df.assign(hardware=df["hardware_label"].map(HARDWARE_NAMES).fillna(""),
                     engine=engines, model=df["model_label"].map(MODEL_NAMES).fillna(""),
                     requests=requests,
                     identical_prompts=df["engine_label"].isin(IDENTICAL_PROMPT_FRAMEWORKS).to_numpy())


def unmapped_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Rows whose label has no catalog name, by column (hardware, engine, model) and label."""
    out: dict[str, dict[str, int]] = {}
    for name in ("hardware", "engine", "model"):
        labels = frame.loc[frame[name] == "", f"{name}_label"]
        out[name] = {str(k): int(v) for k, v in sorted(labels.value_counts().items())}
    return out


def calibration_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a catalog hardware, engine and model: what a fit can simulate."""
    ok = (frame["hardware"] != "") & (frame["engine"] != "") & (frame["model"] != "")
    return frame[ok]


def weight_read_bound_s(frame: pd.DataFrame) -> pd.Series:
    """A floor under each catalog row's latency: its decode steps each read the weights the
    step's sequences touch (MoE: uniform routing over the distinct sequences, one where
    ``identical_prompts``) at the catalog's peak bandwidth of ``tp`` devices, ``output_len *
    weight_bytes_touched(sequences) / (tp * bandwidth)``; NaN for rows without catalog names.
    FP16 weights assumed (the data's runs are FP16/BF16)."""
    out = pd.Series(np.nan, index=frame.index, dtype=float)
    for idx, r in calibration_rows(frame).iterrows():
        hw, model = get_hardware(str(r["hardware"])), get_model(str(r["model"]))
        requests = int(r["requests"])  # one decode step's tokens, as many routed as differ
        routed = float(routed_tokens(requests, requests, bool(r.get("identical_prompts", False))))
        read = model.weight_bytes_touched(routed, "fp16")
        out[idx] = int(r["output_len"]) * read / (int(r["tp"]) * hw.memory_bandwidth_bytes_per_s)
    return out


def kv_read_bound_s(frame: pd.DataFrame) -> pd.Series:
    """What the KV cache adds to :func:`weight_read_bound_s`: each decode step's attention reads
    every cached K and V byte of each running sequence at least once, ``requests *
    kv_bytes_per_token * sum of contexts / (tp * bandwidth)``, the contexts of the
    ``output_len - 1`` decode steps being ``input_len + k`` (k = 1 ... output_len - 1); NaN for
    rows without catalog names."""
    out = pd.Series(np.nan, index=frame.index, dtype=float)
    for idx, r in calibration_rows(frame).iterrows():
        hw, model = get_hardware(str(r["hardware"])), get_model(str(r["model"]))
        n, m = int(r["input_len"]), int(r["output_len"])
        contexts = (m - 1) * n + m * (m - 1) / 2
        out[idx] = (int(r["requests"]) * contexts * model.kv_bytes_per_token("fp16")
                    / (int(r["tp"]) * hw.memory_bandwidth_bytes_per_s))
    return out


def render_bench_rows_table(frame: pd.DataFrame) -> str:
    """Rows per (hardware, engine, model) and TP degree, then the labels left unmapped."""
    tps = sorted(int(t) for t in frame["tp"].unique())
    known = frame[(frame["hardware"] != "") & (frame["engine"] != "")]
    head = ["hardware", "engine", "model", *[f"TP {t}" for t in tps], "rows", "with TTFT",
            "with power"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    unmapped = "`" + known["model_label"] + "` (not in catalog)"
    model_name = known["model"].where(known["model"] != "", unmapped)

    def count(n: int) -> str:
        return str(n) if n else ""

    for (hw, engine, model), g in known.groupby([known["hardware"], known["engine"], model_name]):
        per_tp = g["tp"].value_counts()
        cells = [hw, engine, model, *[count(int(per_tp.get(t, 0))) for t in tps], str(len(g)),
                 count(int(g["ttft_s"].notna().sum())), count(int(g["avg_power_w"].notna().sum()))]
        lines.append("| " + " | ".join(cells) + " |")
    total = calibration_rows(frame)
    summary = (f"{len(frame)} rows; {len(total)} with catalog hardware, engine and model "
               f"({int(total['ttft_s'].notna().sum())} with TTFT, "
               f"{int(total['avg_power_w'].notna().sum())} with power).")
    lines += ["", summary, "", "| not in the mapping | label | rows |", "|---|---|---|"]
    for column, counts in unmapped_counts(frame).items():
        for label, n in counts.items():
            lines.append(f"| {column} | `{label}` | {n} |")
    return "\n".join(lines) + "\n"
