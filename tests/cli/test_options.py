"""Unit parsing at the CLI edge: bandwidths and latencies."""

from __future__ import annotations

import pytest

from phasesim.cli.replay_cmd import parse_bandwidth_bytes_per_s, parse_latency_s
from phasesim.errors import InputError


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
