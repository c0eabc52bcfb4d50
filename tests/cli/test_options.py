"""Option values checked at the CLI edge (phasesim.cli.options): counts, positive numbers, enum
choices, catalog names, comma lists, bandwidths and latencies; each error names the option."""

from __future__ import annotations

import math

import pytest

from phasesim.cli.options import (
    choice,
    comma_list,
    count,
    count_text,
    known,
    nonempty_comma_list,
    parse_bandwidth_bytes_per_s,
    parse_latency_s,
    positive,
)
from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.topology import Batching


def test_absent_values_pass_through() -> None:
    assert count(None, "--tp") is None
    assert choice(Batching, None, "--batching") is None
    assert known(get_engine, None, "--engine") is None


def test_counts_are_whole_numbers_from_one() -> None:
    assert count(3, "--instances") == 3
    with pytest.raises(InputError, match="^--instances must be >= 1, got 0$"):
        count(0, "--instances")
    assert count_text("4", "--tp") == 4
    with pytest.raises(InputError, match="^--tp: 'x' is not a whole number$"):
        count_text("x", "--tp")
    with pytest.raises(InputError, match="^--tp must be >= 1, got -2$"):
        count_text("-2", "--tp")


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_positive_refuses_zero_negative_and_non_finite(value: float) -> None:
    with pytest.raises(InputError, match="^--slo-ttft must be a positive finite number, got"):
        positive(value, "--slo-ttft")
    assert positive(0.25, "--slo-ttft") == 0.25


def test_choice_names_the_values_it_could_be() -> None:
    assert choice(Batching, "chunked", "--batching") is Batching.CHUNKED
    with pytest.raises(InputError) as info:
        choice(Batching, "eager", "--batching")
    assert str(info.value) == ("--batching: unknown value 'eager' (one of: continuous, chunked, "
                               "static, none)")


def test_known_keeps_the_catalogs_message_after_the_option() -> None:
    assert known(get_engine, "vllm", "--engine") == "vllm"
    with pytest.raises(InputError, match="^--engine: unknown engine 'warp'"):
        known(get_engine, "warp", "--engine")


def test_comma_lists_join_repeats_and_drop_empty_items() -> None:
    assert comma_list(["a, b", "", "c,,"]) == ["a", "b", "c"]
    assert nonempty_comma_list(" 1, 2 ", "--tp") == ["1", "2"]
    with pytest.raises(InputError, match="^--tp: give at least one value$"):
        nonempty_comma_list(" , ", "--tp")


@pytest.mark.parametrize(("text", "bits_per_s"), [
    ("100Gbps", 100e9), ("400gbit", 400e9), ("400 Gbit/s", 400e9), ("25Gb/s", 25e9),
    ("1e2Gbps", 100e9), ("800Mbps", 800e6), ("10kbps", 10e3), ("1Tbps", 1e12),
])
def test_bits_per_second(text: str, bits_per_s: float) -> None:
    assert parse_bandwidth_bytes_per_s(text, option="--link-bandwidth") == pytest.approx(
        bits_per_s / 8)


@pytest.mark.parametrize(("text", "bytes_per_s"), [
    ("12.5GB/s", 12.5e9), ("12.5GBps", 12.5e9), ("900 GB/s", 900e9), ("64GiB/s", 64 * 2**30),
    ("1.5TB/s", 1.5e12), ("300MB/s", 300e6), ("7B/s", 7.0),
])
def test_bytes_per_second(text: str, bytes_per_s: float) -> None:
    assert parse_bandwidth_bytes_per_s(text, option="--link-bandwidth") == pytest.approx(
        bytes_per_s)


@pytest.mark.parametrize("text", ["", "fast", "100", "100Gbpss", "-5Gbps", "0Gbps", "12.5XB/s",
                                  "inf GB/s", "nanGbps", "1e999Gbps", "Gbps", "1.2.3Gbps"])
def test_bad_bandwidth_names_the_option(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_bandwidth_bytes_per_s(text, option="--link-bandwidth")
    message = str(info.value)
    assert "--link-bandwidth" in message and "\n" not in message


@pytest.mark.parametrize(("text", "seconds"), [
    ("5us", 5e-6), ("5µs", 5e-6), ("2ms", 2e-3), ("0.001s", 1e-3), ("250ns", 250e-9),
    ("0s", 0.0), ("1.5 ms", 1.5e-3),
])
def test_latency(text: str, seconds: float) -> None:
    assert parse_latency_s(text, option="--link-latency") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "5 parsecs", "-1ms", "ms", "nan s", "1e999s"])
def test_bad_latency_names_the_option(text: str) -> None:
    with pytest.raises(InputError, match="--link-latency"):
        parse_latency_s(text, option="--link-latency")
