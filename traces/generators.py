"""Seeded synthetic traces: arrival processes and length distributions.

Every draw comes from a ``numpy.random.Generator`` built from the seed (no global RNG), with
independent child streams for arrivals, prompt lengths and output lengths, so changing a length
distribution never moves the arrivals. Same arguments and seed: identical frame, identical file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.seeds import check_seed
from phasesim.traces import schema
from phasesim.traces.storage import META_ATTR, new_meta
from phasesim.units import MAX_TIME_S

__all__ = [
    "MAX_GENERATED_REQUESTS",
    "MAX_GENERATED_TOKENS",
    "ArrivalClock",
    "ArrivalProcess",
    "ConstantRate",
    "Empirical",
    "Fixed",
    "Gamma",
    "LengthDist",
    "LogNormal",
    "OnOff",
    "Poisson",
    "Uniform",
    "draw_lengths",
    "generate_frame",
    "spec_dict",
]

MAX_GENERATED_REQUESTS = 50_000_000
"""The most requests one generated trace may hold: it is built in memory (about 75 bytes per
request at peak, so about 4 GB and 20 s here), three times the largest public trace (17M rows)."""

MAX_GENERATED_TOKENS = 2**26
"""The longest length a distribution may give (prompt, output, turns per session): 67M tokens,
above any model's context; a bound of 2^70 was a numpy traceback, 2^63 - 1 a trace no run could
serve."""


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive number, got {value!r}", column=name)


# --- arrival processes (rates in requests per second) -------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Poisson:
    """Exponential inter-arrival times at ``rate_rps`` (CV = 1)."""

    rate_rps: float

    def __post_init__(self) -> None:
        _positive("rate_rps", self.rate_rps)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gamma:
    """Gamma inter-arrival times with mean ``1/rate_rps`` and coefficient of variation ``cv``."""

    rate_rps: float
    cv: float

    def __post_init__(self) -> None:
        _positive("rate_rps", self.rate_rps)
        _positive("cv", self.cv)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantRate:
    """One request every ``1/rate_rps`` seconds exactly."""

    rate_rps: float

    def __post_init__(self) -> None:
        _positive("rate_rps", self.rate_rps)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnOff:
    """Bursts: ``on_s`` seconds of Gamma(``rate_rps``, ``cv``) arrivals, then ``off_s`` seconds of none.

    The long-run mean rate is ``rate_rps * on_s / (on_s + off_s)``.
    """

    rate_rps: float
    on_s: float
    off_s: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        for name in ("rate_rps", "on_s", "cv"):
            _positive(name, getattr(self, name))
        if not (math.isfinite(self.off_s) and self.off_s >= 0):
            raise InputError(f"off_s must be >= 0, got {self.off_s!r}", column="off_s")


ArrivalProcess = Poisson | Gamma | ConstantRate | OnOff


def _inter_arrivals_s(process: ArrivalProcess, rng: np.random.Generator, n: int) -> np.ndarray:
    match process:
        case Poisson(rate_rps=rate):
            return rng.exponential(1.0 / rate, size=n)
        case Gamma(rate_rps=rate, cv=cv) | OnOff(rate_rps=rate, cv=cv):
            shape = 1.0 / (cv * cv)
            return rng.gamma(shape, 1.0 / (rate * shape), size=n)
        case ConstantRate(rate_rps=rate):
            return np.full(n, 1.0 / rate)
    raise TypeError(f"unknown arrival process {process!r}")


class ArrivalClock:
    """Arrival times drawn chunk by chunk; the first request arrives at 0 s.

    Used by :func:`generate` and by the length-only importer, which streams.
    """

    def __init__(self, *, process: ArrivalProcess, rng: np.random.Generator) -> None:
        self._process = process
        self._rng = rng
        self._busy_s = 0.0  # time of the next arrival, on the "on" clock for OnOff
        self._count = 0

    def next(self, n: int) -> np.ndarray:
        """The next ``n`` arrival times in seconds (non-decreasing)."""
        if isinstance(self._process, ConstantRate):
            times = np.arange(self._count, self._count + n, dtype=np.float64) / self._process.rate_rps
        else:
            iats = _inter_arrivals_s(self._process, self._rng, n)
            times = self._busy_s + np.concatenate(([0.0], np.cumsum(iats[:-1])))
            self._busy_s = float(times[-1] + iats[-1]) if n else self._busy_s
        self._count += n
        if isinstance(self._process, OnOff):
            on, period = self._process.on_s, self._process.on_s + self._process.off_s
            times = np.floor(times / on) * period + np.mod(times, on)
        return times


# --- length distributions (tokens, integers >= 1) -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixed:
    tokens: int

    def __post_init__(self) -> None:
        _positive_int("tokens", self.tokens)


@dataclass(frozen=True, slots=True, kw_only=True)
class Uniform:
    """Integers uniform on ``[low, high]`` inclusive."""

    low: int
    high: int

    def __post_init__(self) -> None:
        _positive_int("low", self.low)
        _positive_int("high", self.high)
        if self.high < self.low:
            raise InputError(f"high ({self.high}) must be >= low ({self.low})", column="high")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogNormal:
    """``round(exp(N(log(median_tokens), sigma)))``, clipped to ``[1, max_tokens]``."""

    median_tokens: float
    sigma: float
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _positive("median_tokens", self.median_tokens)
        if self.median_tokens > MAX_GENERATED_TOKENS:
            raise InputError(f"median_tokens must be at most {MAX_GENERATED_TOKENS:,}, got "
                             f"{self.median_tokens:g}", column="median_tokens")
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise InputError(f"sigma must be >= 0, got {self.sigma!r}", column="sigma")
        if self.max_tokens is not None:
            _positive_int("max_tokens", self.max_tokens)


@dataclass(frozen=True, slots=True, kw_only=True)
class Empirical:
    """Resampled with replacement from observed token counts (``phasesim.traces.empirical_lengths`` reads a file)."""

    tokens: tuple[int, ...]
    source: str = ""  # where the values came from, for the metadata

    def __post_init__(self) -> None:
        if not self.tokens or min(self.tokens) < 1:
            raise InputError("empirical lengths need at least one value, all >= 1", column="tokens")
        if max(self.tokens) > MAX_GENERATED_TOKENS:
            raise InputError(f"empirical lengths must be at most {MAX_GENERATED_TOKENS:,}, got "
                             f"{max(self.tokens):,}", column="tokens")


LengthDist = Fixed | Uniform | LogNormal | Empirical


def _positive_int(name: str, value: Any, *, most: int | None = MAX_GENERATED_TOKENS) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}", column=name)
    if most is not None and value > most:
        shown = f"{value:,}" if value < 10**24 else f"about 10^{len(str(value)) - 1}"
        raise InputError(f"{name} must be at most {most:,}, got {shown}", column=name)


def draw_lengths(dist: LengthDist, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` token counts (int64, >= 1) from ``dist``."""
    match dist:
        case Fixed(tokens=tokens):
            return np.full(n, tokens, dtype=np.int64)
        case Uniform(low=low, high=high):
            return rng.integers(low, high + 1, size=n, dtype=np.int64)
        case LogNormal(median_tokens=median, sigma=sigma, max_tokens=cap):
            values = np.rint(rng.lognormal(math.log(median), sigma, size=n))
            return np.clip(values, 1, cap or MAX_GENERATED_TOKENS).astype(np.int64)
        case Empirical(tokens=tokens):
            return np.asarray(tokens, dtype=np.int64)[rng.integers(0, len(tokens), size=n)]
    raise TypeError(f"unknown length distribution {dist!r}")


def spec_dict(value: Any) -> dict[str, Any]:
    out = {"kind": type(value).__name__, **dataclasses.asdict(value)}
    if isinstance(value, Empirical):
        tokens = np.asarray(value.tokens)
        out = {"kind": "Empirical", "source": value.source, "values": len(tokens),
               "mean_tokens": float(tokens.mean())}
    return out


# --- the generator ------------------------------------------------------------------------------


def generate_frame(
    *,
    arrival: ArrivalProcess,
    prompt: LengthDist,
    output: LengthDist,
    count: int | None = None,
    duration_s: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A synthetic canonical trace (metadata in ``df.attrs["trace_meta"]``).

    Exactly one of ``count`` (number of requests) or ``duration_s`` (arrivals in ``[0, duration_s)``)
    must be given. The first request arrives at 0 s.
    """
    seed = check_seed(seed)
    process, prompt_dist, output_dist = arrival, prompt, output
    if (count is None) == (duration_s is None):
        raise InputError("give exactly one of count or duration_s", column="count")
    if count is not None:
        _positive_int("count", count, most=None)  # bounded below, with the rate
    else:
        _positive("duration_s", duration_s)
    _check_size(process, count=count, duration_s=duration_s)
    arrival_seq, prompt_seq, output_seq = np.random.SeedSequence(seed).spawn(3)
    clock = ArrivalClock(process=process, rng=np.random.default_rng(arrival_seq))
    if count is not None:
        arrival_s = clock.next(int(count))
    else:
        arrival_s = _arrivals_within(clock, process, float(duration_s))
        if len(arrival_s) == 0:
            raise InputError("no arrivals within duration_s", column="duration_s")
    n = len(arrival_s)
    df = pd.DataFrame({
        schema.REQUEST_ID: np.arange(n, dtype=np.int64),
        schema.ARRIVAL_S: arrival_s,
        schema.PROMPT_TOKENS: draw_lengths(prompt_dist, np.random.default_rng(prompt_seq), n),
        schema.OUTPUT_TOKENS: draw_lengths(output_dist, np.random.default_rng(output_seq), n),
    })
    source = {
        "generator": {
            "arrival": spec_dict(process),
            "prompt": spec_dict(prompt_dist),
            "output": spec_dict(output_dist),
            "count": count,
            "duration_s": duration_s,
            "seed": seed,
        }
    }
    df.attrs[META_ATTR] = new_meta(source=source)
    return df


def _mean_rate_rps(process: ArrivalProcess) -> float:
    if isinstance(process, OnOff):
        return process.rate_rps * process.on_s / (process.on_s + process.off_s)
    return process.rate_rps


def _check_size(process: ArrivalProcess, *, count: int | None, duration_s: float | None) -> None:
    """Refuse, before drawing anything, a trace of more than ``MAX_GENERATED_REQUESTS`` requests
    (given, or expected from rate x duration) or one whose arrivals would pass the simulator's
    horizon ``MAX_TIME_S`` (given, or expected from count / rate)."""
    mean_rate = _mean_rate_rps(process)
    if count is not None:
        if count > MAX_GENERATED_REQUESTS:
            raise InputError(f"count {count:,} is more than {MAX_GENERATED_REQUESTS:,} requests, the most a "
                             "generated trace may hold", column="count")
        if (count - 1) / mean_rate > MAX_TIME_S:
            raise InputError(f"{count} requests at {mean_rate:.6g} requests/s would arrive over about "
                             f"{(count - 1) / mean_rate:.3g} s, beyond the simulator's horizon of "
                             f"{MAX_TIME_S:.6g} s", column="rate")
        return
    if duration_s > MAX_TIME_S:
        raise InputError(f"duration {duration_s:.6g} s is beyond the simulator's horizon of {MAX_TIME_S:.6g} s",
                         column="duration_s")
    if mean_rate * duration_s > MAX_GENERATED_REQUESTS:
        raise InputError(f"rate {mean_rate:.6g} requests/s for {duration_s:.6g} s means about "
                         f"{mean_rate * duration_s:.3g} requests, more than {MAX_GENERATED_REQUESTS:,}, the most a "
                         "generated trace may hold", column="duration_s")


def _arrivals_within(clock: ArrivalClock, process: ArrivalProcess, duration_s: float) -> np.ndarray:
    mean_rate = _mean_rate_rps(process)
    step = max(1024, int(mean_rate * duration_s * 1.1) + 64)
    parts = []
    while True:
        times = clock.next(step)
        parts.append(times[times < duration_s])
        if times[-1] >= duration_s:
            return np.concatenate(parts)
