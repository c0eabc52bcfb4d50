"""simulator.results.metrics.summarize on small hand-built request tables.

Expected values are derived here from first principles (plain Python over known lists), never
copied from a run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim.simulator.results.metrics import latency_stats, meets_slo, summarize

NAN = float("nan")


def _linear_percentile(values: list[float], q: float) -> float:
    """The textbook 'linear' (type 7) percentile: rank q/100*(n-1), interpolated."""
    ordered = sorted(values)
    rank = q / 100.0 * (len(ordered) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def _requests(rows: list[dict]) -> pd.DataFrame:
    """A requests table with the contract's columns; unspecified times are NaN."""
    base = {
        "status": "completed", "reason": "", "prefill_pool": "p", "prefill_instance": 0,
        "decode_pool": "p", "decode_instance": 0, "prompt_tokens": 10, "output_tokens": 5,
        "arrival_s": 0.0, "ttft_s": NAN, "tpot_s": NAN, "e2e_s": NAN, "queue_s": NAN,
    }
    records = [{"request_id": i, **base, **row} for i, row in enumerate(rows)]
    return pd.DataFrame.from_records(records)


POOLS = [
    {"pool": "prefill", "role": "prefill", "hardware": "h100-sxm", "instances": 2, "busy_s": 6.0,
     "iterations": 30, "mean_batch_size": 1.5, "preemptions": 0, "kv_capacity_tokens": 1000},
    {"pool": "decode", "role": "decode", "hardware": "groq-lpu", "instances": 4, "busy_s": 10.0,
     "iterations": 90, "mean_batch_size": 7.25, "preemptions": 3, "kv_capacity_tokens": 5000},
]
LINKS = [{"link": "prefill->decode", "bandwidth_bytes_per_s": 12.5e9, "latency_s": 5e-6,
          "transfers": 4, "bytes_moved": 123456789, "busy_s": 2.5, "max_concurrent": 2}]


def test_counts_rates_and_percentiles_from_known_lists() -> None:
    ttfts = [0.1, 0.4, 0.2, 0.8, 0.3]
    tpots = [0.01, 0.05, 0.02, 0.04, 0.03]
    e2es = [1.0, 2.0, 3.0, 4.0, 10.0]
    queues = [0.0, 0.1, 0.0, 0.5, 0.2]
    outputs = [5, 6, 7, 8, 9]
    rows = [dict(ttft_s=a, tpot_s=b, e2e_s=c, queue_s=d, output_tokens=o)
            for a, b, c, d, o in zip(ttfts, tpots, e2es, queues, outputs)]
    rows += [dict(status="rejected", reason="prompt exceeds context", output_tokens=100),
             dict(status="rejected", reason="kv capacity", output_tokens=100),
             dict(status="rejected", reason="prompt exceeds context", output_tokens=100)]
    duration_s = 20.0
    summary = summarize(_requests(rows), pool_stats=POOLS, link_stats=LINKS, duration_s=duration_s)

    assert summary["requests"] == 8
    assert summary["completed"] == 5
    assert summary["rejected"] == 3
    assert summary["rejected_by_reason"] == {"kv capacity": 1, "prompt exceeds context": 2}
    for key, values in (("ttft_s", ttfts), ("tpot_s", tpots), ("e2e_s", e2es), ("queue_s", queues)):
        stats = summary[key]
        assert stats["mean"] == pytest.approx(sum(values) / len(values))
        for q in (50, 90, 95, 99):
            assert stats[f"p{q}"] == pytest.approx(_linear_percentile(values, q))
    assert summary["throughput_rps"] == pytest.approx(5 / duration_s)
    # rejected requests' output tokens never count
    assert summary["output_tps"] == pytest.approx(sum(outputs) / duration_s)
    # no SLOs given: every completed request is good
    assert summary["goodput_rps"] == pytest.approx(5 / duration_s)
    assert summary["slo_attainment"] == pytest.approx(5 / 8)
    assert summary["duration_s"] == duration_s


def test_pools_and_links() -> None:
    summary = summarize(_requests([dict(ttft_s=0.1, e2e_s=1.0)]), pool_stats=POOLS,
                        link_stats=LINKS, duration_s=4.0)
    assert summary["pools"] == [
        {"pool": "prefill", "role": "prefill", "hardware": "h100-sxm", "instances": 2,
         "utilization": pytest.approx(6.0 / (2 * 4.0)), "mean_batch_size": 1.5, "preemptions": 0},
        {"pool": "decode", "role": "decode", "hardware": "groq-lpu", "instances": 4,
         "utilization": pytest.approx(10.0 / (4 * 4.0)), "mean_batch_size": 7.25,
         "preemptions": 3},
    ]
    assert summary["links"] == [{"link": "prefill->decode", "utilization": pytest.approx(2.5 / 4.0),
                                 "bytes_moved": 123456789, "transfers": 4}]


def test_one_token_outputs_have_no_tpot_and_pass_the_tpot_slo() -> None:
    rows = [dict(output_tokens=1, ttft_s=0.2, tpot_s=NAN, e2e_s=0.2, queue_s=0.0),
            dict(output_tokens=3, ttft_s=0.2, tpot_s=0.07, e2e_s=0.34, queue_s=0.0),
            dict(output_tokens=3, ttft_s=0.2, tpot_s=0.03, e2e_s=0.26, queue_s=0.0)]
    summary = summarize(_requests(rows), pool_stats=[], link_stats=[], duration_s=2.0,
                        slo_ttft_s=1.0, slo_tpot_s=0.05)
    # the NaN is ignored, not counted as zero
    assert summary["tpot_s"]["mean"] == pytest.approx((0.07 + 0.03) / 2)
    assert summary["tpot_s"]["p50"] == pytest.approx(0.05)
    # the 1-token request and the 0.03 one are good; the 0.07 one misses the TPOT SLO
    assert summary["goodput_rps"] == pytest.approx(2 / 2.0)
    assert summary["slo_attainment"] == pytest.approx(2 / 3)


def test_slo_edge_equality_passes_and_rejected_never_counts() -> None:
    rows = [dict(ttft_s=0.5, tpot_s=0.05),          # exactly on both SLOs: passes
            dict(ttft_s=0.5000001, tpot_s=0.01),    # just over TTFT
            dict(ttft_s=0.1, tpot_s=0.0500001),     # just over TPOT
            dict(ttft_s=NAN, tpot_s=NAN, status="rejected", reason="x")]
    df = _requests(rows)
    assert meets_slo(df, slo_ttft_s=0.5, slo_tpot_s=0.05).tolist() == [True, False, False, False]
    assert meets_slo(df, slo_ttft_s=0.5, slo_tpot_s=None).tolist() == [True, False, True, False]
    assert meets_slo(df, slo_ttft_s=None, slo_tpot_s=None).tolist() == [True, True, True, False]
    summary = summarize(df, pool_stats=[], link_stats=[], duration_s=10.0,
                        slo_ttft_s=0.5, slo_tpot_s=0.05)
    assert summary["goodput_rps"] == pytest.approx(0.1)
    assert summary["slo_attainment"] == pytest.approx(0.25)


def test_all_rejected_gives_nulls_not_nans_and_is_valid_json() -> None:
    rows = [dict(status="rejected", reason="prompt exceeds context")] * 3
    summary = summarize(_requests(rows), pool_stats=POOLS, link_stats=LINKS, duration_s=NAN)
    assert summary["completed"] == 0
    assert summary["ttft_s"] == {"mean": None, "p50": None, "p90": None, "p95": None, "p99": None}
    assert summary["throughput_rps"] is None and summary["goodput_rps"] is None
    assert summary["slo_attainment"] == 0.0
    assert summary["duration_s"] is None
    assert all(p["utilization"] is None for p in summary["pools"])
    text = json.dumps(summary, allow_nan=False)  # raises on any NaN/inf left behind
    assert json.loads(text)["rejected_by_reason"] == {"prompt exceeds context": 3}


def test_empty_trace() -> None:
    summary = summarize(_requests([]).reindex(columns=_requests([{}]).columns), pool_stats=[],
                        link_stats=[], duration_s=0.0)
    assert summary["requests"] == 0 and summary["slo_attainment"] is None
    assert summary["throughput_rps"] is None
    json.dumps(summary, allow_nan=False)


def test_key_order_is_fixed_and_values_are_plain_python() -> None:
    rows = [dict(ttft_s=np.float32(0.25), e2e_s=1.0, output_tokens=np.int64(4))]
    summary = summarize(_requests(rows), pool_stats=POOLS, link_stats=LINKS, duration_s=1.0)
    assert list(summary) == ["requests", "completed", "rejected", "rejected_by_reason", "ttft_s",
                             "tpot_s", "e2e_s", "queue_s", "throughput_rps", "output_tps",
                             "goodput_rps", "slo_attainment", "pools", "links", "duration_s"]

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert value is None or type(value) in (int, float, str), (value, type(value))

    walk(summary)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e4, allow_nan=False), min_size=1,
                max_size=40))
def test_latency_stats_match_the_textbook_definition(values: list[float]) -> None:
    stats = latency_stats(np.array(values + [NAN, float("inf")]))  # non-finite values are ignored
    assert stats["mean"] == pytest.approx(math.fsum(values) / len(values), rel=1e-9, abs=1e-9)
    for q in (50, 90, 95, 99):
        assert stats[f"p{q}"] == pytest.approx(_linear_percentile(values, q), rel=1e-9, abs=1e-9)
    assert stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"] <= max(values)
