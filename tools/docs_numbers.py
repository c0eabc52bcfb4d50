"""Maintainer script: regenerate the numbers the docs quote from runs, instead of by hand.

    python tools/docs_numbers.py [--only quickstart|plan] [--workers 2] [--check]

- ``quickstart``: runs the README's quickstart replay (``sim replay
  traces/samples/azure_code_2023.parquet --topology gpu-prefill-groq-decode``) and rewrites the
  condensed summary between ``<!-- quickstart-output:begin -->`` and ``...:end -->`` in
  README.md from its summary.json / meta.json;
- ``plan``: runs the planning check of docs/scenarios.md ("Check on the shipped Azure code
  sample": the plan at the default attainment, at 0.85, and at 0.85 with ``--tp 1``), timing each
  on this machine, and rewrites the block between ``<!-- plan-check:begin -->`` and
  ``...:end -->``: the console output, the configurations simulated, the winner and its price,
  the best colocated cluster and the wall times.

``--check`` writes nothing and exits 1 if a block would change (timings excepted: they are
printed, never compared). Every command runs through ``python -m phasesim`` in a temporary
folder; nothing but the two docs is written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from phasesim.atomic import replace_marked_block

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SCENARIOS_DOC = REPO / "docs" / "scenarios.md"
CODE = "traces/samples/azure_code_2023.parquet"
QUICKSTART = ("<!-- quickstart-output:begin -->", "<!-- quickstart-output:end -->")
PLAN_CHECK = ("<!-- plan-check:begin -->", "<!-- plan-check:end -->")
PLAN_ARGS = ["--hardware", "h100-sxm,groqrack", "--max-devices", "8", "--slo-ttft", "0.5",
             "--slo-tpot", "0.05"]


def _sim(*args: str, cwd: Path = REPO) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "phasesim", *args], cwd=cwd, check=True,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    return done.stdout, time.perf_counter() - start


def _ms(stats: dict) -> str:
    return "".join(f"{1e3 * stats[k]:>{w},.1f}" for k, w in (("mean", 7), ("p50", 7),
                                                             ("p90", 7), ("p99", 9)))


def quickstart_block(work: Path) -> str:
    out = work / "replay"
    _sim("replay", CODE, "--topology", "gpu-prefill-groq-decode", "-o", str(out))
    s = json.loads((out / "summary.json").read_text())
    meta = json.loads((out / "meta.json").read_text())["replay"]
    rejected = ", ".join(s["rejected_by_reason"]) or "none"
    pools = " | ".join(f"{p['pool']} {p['hardware']} util {100 * p['utilization']:.1f} %, "
                       f"batch {p['mean_batch_size']:.2f}" for p in s["pools"])
    link = s["links"][0]
    cost, energy = s["cost"], s["energy"]
    lines = [
        (f"azure_code_2023.parquet on gpu-prefill-groq-decode ({s['requests']:,} requests, seed 0, "
        f"rate x1, SLO TTFT {1e3 * meta['slo_ttft_s']:g} ms / TPOT {1e3 * meta['slo_tpot_s']:g} ms)"),
        "  tables: " + " | ".join(f"{p['pool']} {meta['pools'][p['pool']]['engine']} "
                                  f"{meta['pools'][p['pool']]['cost_table']}" for p in s["pools"]),
        (f"  completed {s['completed']:,}   rejected {s['rejected']:,} ({rejected})   "
        f"duration {s['duration_s']:,.2f} s"),
        (f"  throughput {s['throughput_rps']:.2f} req/s   output {s['output_tps']:.2f} tok/s   "
        f"goodput {s['goodput_rps']:.2f} req/s   SLO attainment {100 * s['slo_attainment']:.1f} %"),
        "  latency (ms)   mean    p50    p90      p99",
        f"  TTFT        {_ms(s['ttft_s'])}",
        f"  TPOT        {_ms(s['tpot_s'])}",
        f"  E2E         {_ms(s['e2e_s'])}",
        f"  pools: {pools}",
        (f"  link {link['link']}: util {100 * link['utilization']:.1f} %, "
        f"{link['bytes_moved'] / 1e9:,.1f} GB moved, {link['transfers']:,} transfers"),
        (f"cost ({cost['basis']} prices): ${cost['usd_per_hour']:,.2f}/h, "
        f"${cost['usd_per_million_output_tokens']:,.2f} per million output tokens, "
        f"${cost['usd_per_million_goodput_tokens']:,.2f} per million goodput tokens "
        "(sources: summary.json cost.prices)"),
        (f"energy: {energy['joules'] / 3.6e6:,.3f} kWh, {energy['joules_per_output_token']:,.2f} J "
        f"per output token, {energy['avg_power_w']:,.0f} W on average"),
        "wrote out/replay/: requests.parquet timeseries.parquet summary.json meta.json",
    ]
    return "```\n" + "\n".join(lines) + "\n```\n"


def _plan(work: Path, name: str, *extra: str, workers: int) -> dict:
    out = work / name
    stdout, wall = _sim("plan", CODE, *PLAN_ARGS, "--workers", str(workers), *extra,
                        "-o", str(out))
    plans = pd.read_parquet(out / "plans.parquet")
    report = (out / "report.md").read_text()
    feasible = plans[plans["feasible"]].sort_values(["usd_per_hour", "devices"])
    colocated = feasible[feasible["kind"] == "colocated"] if "kind" in feasible else feasible
    return {"stdout": stdout, "wall_s": wall, "rows": len(plans), "report": report,
            "best": None if feasible.empty else feasible.iloc[0],
            "best_colocated": None if colocated.empty else colocated.iloc[0],
            "space": re.search(r"configurations simulated \(brute force: (\d+)\)", report)[1],
            "attainment_max": float(plans["slo_attainment"].max())}


def _winner(report: str) -> str:
    match = re.search(r"\*\*Winner: (.*?)\*\*: ([^,]+), attainment ([0-9.]+), \$([0-9.]+)/h",
                      report)
    return "none" if match is None else f"**{match[1]}** (${match[4]}/h, attainment {match[3]})"


def plan_block(work: Path, *, workers: int) -> tuple[str, dict[str, float]]:
    base = _plan(work, "plan", workers=workers)
    loose = _plan(work, "plan85", "--attainment", "0.85", workers=workers)
    tp1 = _plan(work, "plan85tp1", "--attainment", "0.85", "--tp", "1", workers=workers)
    head = base["report"].split("\n\nBest of each")[0].split("\n\nPrices used")[0].rstrip()
    colo = loose["best_colocated"]
    colo_text = ("no colocated cluster meets it" if colo is None else
                 f"the best colocated cluster costs ${colo['usd_per_hour']:.2f}/h (attainment "
                 f"{colo['slo_attainment']:.3f}, {int(colo['devices'])} devices)")
    body = (
        f"**Check on the shipped Azure code sample** (8,819 requests, H100 and GroqRack, the "
        f"README's SLOs, default attainment 0.9; {workers} workers; TCO prices; regenerated by "
        f"`python tools/docs_numbers.py --only plan` on {date.today().isoformat()}):\n\n"
        "```console\n"
        "$ sim plan traces/samples/azure_code_2023.parquet --hardware h100-sxm,groqrack "
        f"--max-devices 8 \\\n      --slo-ttft 0.5 --slo-tpot 0.05 --workers {workers} -o out/plan\n"
        f"{head}\n```\n\n"
        f"It simulates {base['rows']} of {base['space']} configurations "
        f"(~{base['wall_s']:.0f} s here); the best attainment anywhere is "
        f"{base['attainment_max']:.3f}. With `--attainment 0.85` it simulates {loose['rows']} of "
        f"{loose['space']} (~{loose['wall_s']:.0f} s) and picks {_winner(loose['report'])}; "
        f"{colo_text}. With `--tp 1` too (the first version's space) it simulates {tp1['rows']} "
        f"(~{tp1['wall_s']:.0f} s) and picks {_winner(tp1['report'])}.\n")
    return body, {"plan": base["wall_s"], "plan85": loose["wall_s"], "plan85tp1": tp1["wall_s"]}


def _without_times(text: str) -> str:
    return re.sub(r"~\d+ s|on \d{4}-\d\d-\d\d", "", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__)
    parser.add_argument("--only", choices=("quickstart", "plan"), help="one block only")
    parser.add_argument("--workers", type=int, default=2, help="sim plan --workers (default 2)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a block is stale (timings excepted)")
    args = parser.parse_args()
    stale = []
    with tempfile.TemporaryDirectory(prefix="phasesim-docs-") as tmp:
        work = Path(tmp)
        jobs = []
        if args.only in (None, "quickstart"):
            jobs.append((README, QUICKSTART, quickstart_block(work)))
        if args.only in (None, "plan"):
            body, walls = plan_block(work, workers=args.workers)
            print("plan wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in walls.items()))
            jobs.append((SCENARIOS_DOC, PLAN_CHECK, body))
        for path, (begin, end), body in jobs:
            current = path.read_text().partition(begin)[2].partition(end)[0].lstrip("\n")
            if _without_times(current) != _without_times(body):
                stale.append(f"{path.relative_to(REPO)} {begin}")
            if not args.check:
                replace_marked_block(path, begin, end, body)
    print("\n".join(f"{'stale' if args.check else 'updated'}: {s}" for s in stale)
          or "all blocks current")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
