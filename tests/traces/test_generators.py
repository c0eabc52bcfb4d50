"""Generators: rate and CV within statistical tolerances over many seeds; determinism."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim import traces
from phasesim.errors import InputError

N = 20_000
seeds = st.integers(min_value=0, max_value=2**32 - 1)
rates = st.floats(min_value=0.05, max_value=2000.0)
cvs = st.floats(min_value=0.25, max_value=3.0)


def _rate_tolerance(cv: float, n: int) -> float:
    """4.5 standard errors of 1/mean(iat), relative: the relative error of a mean is cv/sqrt(n)."""
    return 4.5 * cv / math.sqrt(n)


def _cv_tolerance(cv: float, n: int) -> float:
    """4.5 standard errors of the sample CV of gamma iats, relative: std error of the sample std
    (kurtosis 3 + 6 cv^2 gives sqrt((2 + 6 cv^2) / 4n)) combined with that of the mean."""
    return 4.5 * math.sqrt((2 + 6 * cv * cv) / (4 * n) + cv * cv / n)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, rate=rates, cv=cvs)
def test_gamma_rate_and_cv(seed, rate, cv):
    df = traces.generate(arrival=traces.Gamma(rate_rps=rate, cv=cv), prompt=1, output=1, count=N, seed=seed)
    stats = traces.trace_stats(df)
    assert df["arrival_s"].iloc[0] == 0.0 and (np.diff(df["arrival_s"]) >= 0).all()
    assert stats["rate_rps"] == pytest.approx(rate, rel=_rate_tolerance(cv, N))
    assert stats["iat_cv"] == pytest.approx(cv, rel=_cv_tolerance(cv, N))


@settings(max_examples=15, deadline=None)
@given(seed=seeds, rate=rates)
def test_poisson_rate_and_cv(seed, rate):
    df = traces.generate(arrival=traces.Poisson(rate_rps=rate), prompt=1, output=1, count=N, seed=seed)
    stats = traces.trace_stats(df)
    assert stats["rate_rps"] == pytest.approx(rate, rel=_rate_tolerance(1.0, N))
    assert stats["iat_cv"] == pytest.approx(1.0, rel=_cv_tolerance(1.0, N))


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(min_value=0.05, max_value=200.0), duration=st.floats(min_value=10.0, max_value=1e3))
def test_constant_rate_is_exact(rate, duration):
    df = traces.generate(arrival={"process": "constant", "rate_rps": rate}, prompt=1, output=1,
                         duration_s=duration, seed=0)
    arrival = df["arrival_s"].to_numpy()
    assert arrival.max() < duration
    assert abs(len(df) - duration * rate) <= 1
    assert np.allclose(np.diff(arrival), 1.0 / rate, rtol=1e-6, atol=0)


@settings(max_examples=15, deadline=None)
@given(seed=seeds, rate=st.floats(min_value=1.0, max_value=50.0), on_s=st.floats(min_value=1.0, max_value=30.0),
       off_s=st.floats(min_value=0.5, max_value=60.0))
def test_on_off_bursts(seed, rate, on_s, off_s):
    period = on_s + off_s
    duration = 200 * period
    df = traces.generate(arrival=traces.OnOff(rate_rps=rate, on_s=on_s, off_s=off_s), prompt=1, output=1,
                         duration_s=duration, seed=seed)
    phase = np.mod(df["arrival_s"].to_numpy(), period)
    assert (phase < on_s + 1e-9 * period).all()  # nothing arrives during the off periods
    expected = rate * on_s * 200
    assert len(df) == pytest.approx(expected, abs=6 * math.sqrt(expected))


@settings(max_examples=15, deadline=None)
@given(seed=seeds, median=st.floats(min_value=20, max_value=5000), sigma=st.floats(min_value=0.1, max_value=1.5),
       low=st.integers(min_value=1, max_value=500), width=st.integers(min_value=0, max_value=5000))
def test_length_distributions(seed, median, sigma, low, width):
    df = traces.generate(arrival=traces.Poisson(rate_rps=1.0), count=N, seed=seed,
                         prompt=traces.LogNormal(median_tokens=median, sigma=sigma),
                         output=traces.Uniform(low=low, high=low + width))
    prompt, output = df["prompt_tokens"].to_numpy(), df["output_tokens"].to_numpy()
    assert prompt.min() >= 1
    # the median of a lognormal sample: within 5 standard errors (sqrt(pi/2) sigma median / sqrt(n))
    assert np.median(prompt) == pytest.approx(median, rel=5 * 1.2533 * sigma / math.sqrt(N), abs=1)
    assert output.min() >= low and output.max() <= low + width
    assert output.mean() == pytest.approx(low + width / 2, abs=5 * (width + 1) / math.sqrt(12 * N) + 1e-9)


def test_empirical_resamples_observed_values():
    values = (3, 17, 17, 900)
    df = traces.generate(arrival=traces.Poisson(rate_rps=1.0), count=N, seed=4,
                         prompt=traces.Empirical(tokens=values), output={"dist": "fixed", "tokens": 9})
    counts = df["prompt_tokens"].value_counts(normalize=True)
    assert set(counts.index) == {3, 17, 900}
    assert counts[17] == pytest.approx(0.5, abs=0.02)
    assert (df["output_tokens"] == 9).all()


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("arrival", [
    {"process": "poisson", "rate_rps": 3.0},
    {"process": "gamma", "rate_rps": 3.0, "cv": 2.5},
    {"process": "onoff", "rate_rps": 9.0, "on_s": 2.0, "off_s": 5.0},
])
def test_same_seed_byte_identical_file(tmp_path, arrival):
    spec = dict(arrival=arrival, prompt={"dist": "lognormal", "median_tokens": 800, "sigma": 1.0},
                output={"dist": "uniform", "low": 1, "high": 300}, duration_s=300.0)
    traces.write_trace(traces.generate(**spec, seed=11), tmp_path / "a.parquet")
    traces.write_trace(traces.generate(**spec, seed=11), tmp_path / "b.parquet")
    traces.write_trace(traces.generate(**spec, seed=12), tmp_path / "c.parquet")
    assert _digest(tmp_path / "a.parquet") == _digest(tmp_path / "b.parquet")
    assert _digest(tmp_path / "a.parquet") != _digest(tmp_path / "c.parquet")


def test_lengths_do_not_move_arrivals():
    a = traces.generate(arrival=traces.Poisson(rate_rps=2.0), prompt=10, output=10, count=100, seed=3)
    b = traces.generate(arrival=traces.Poisson(rate_rps=2.0), prompt=traces.Uniform(low=1, high=99),
                        output=traces.LogNormal(median_tokens=50, sigma=1.0), count=100, seed=3)
    assert (a["arrival_s"].to_numpy() == b["arrival_s"].to_numpy()).all()


@pytest.mark.parametrize("kwargs,column", [
    (dict(arrival={"process": "poisson", "rate_rps": -1}, prompt=1, output=1, count=5), "rate_rps"),
    (dict(arrival={"process": "zipf", "rate_rps": 1}, prompt=1, output=1, count=5), "process"),
    (dict(arrival={"process": "gamma", "rate_rps": 1}, prompt=1, output=1, count=5), "process"),
    (dict(arrival={"process": "poisson", "rate_rps": 1, "burst": 2}, prompt=1, output=1, count=5), "burst"),
    (dict(arrival={"process": "poisson", "rate_rps": 1}, prompt=0, output=1, count=5), "tokens"),
    (dict(arrival={"process": "poisson", "rate_rps": 1}, prompt={"dist": "uniform", "low": 9, "high": 2},
          output=1, count=5), "high"),
    (dict(arrival={"process": "poisson", "rate_rps": 1}, prompt=1, output=1), "count"),
    (dict(arrival={"process": "poisson", "rate_rps": 1}, prompt=1, output=1, count=5, duration_s=3.0), "count"),
])
def test_bad_specs_raise_input_error(kwargs, column):
    with pytest.raises(InputError) as info:
        traces.generate(**kwargs, seed=0)
    assert info.value.column == column


def test_empirical_spec_resamples_the_matching_column(tmp_path):
    src = tmp_path / "l.csv"
    src.write_text("num_prefill_tokens,num_decode_tokens\n1000,3\n2000,4\n")
    df = traces.generate(arrival={"process": "poisson", "rate_rps": 1.0}, count=200, seed=1,
                         prompt={"dist": "empirical", "path": str(src)},
                         output={"dist": "empirical", "path": str(src)})
    assert set(df["prompt_tokens"]) == {1000, 2000} and set(df["output_tokens"]) == {3, 4}
    source = df.attrs["trace_meta"]["source"]["generator"]
    assert source["output"]["source"] == "l.csv:output_tokens"
