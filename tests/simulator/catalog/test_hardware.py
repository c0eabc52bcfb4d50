"""Hardware catalog: every number has a source; Groq entries are batch-1 and fit Llama-2-7B."""

from __future__ import annotations

import dataclasses

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog import HARDWARE, DeviceKind, get_hardware, get_model

NUMERIC = ("peak_flops_fp16", "memory_bytes", "memory_bandwidth_bytes_per_s", "interconnect_bytes_per_s",
           "pcie_bytes_per_s", "nic_bytes_per_s", "max_batch_size")


CALIBRATION_SET = ("a100-sxm-40gb", "gh200", "mi250", "gaudi2", "max1550",
                   "sn40l")  # LLM-Inference-Bench devices


def test_catalog_names():
    assert set(HARDWARE) == {"h100-sxm", "a100-sxm-80gb", "h200", "l40s", "mi300x", "groq-lpu", "groqrack",
                             *CALIBRATION_SET}


@pytest.mark.parametrize("name", sorted(HARDWARE))
def test_every_number_is_positive_and_sourced(name):
    hw = get_hardware(name)
    for field in NUMERIC:
        assert getattr(hw, field) > 0, field
        assert hw.source(field), f"{name}.{field} has no source"
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.memory_bytes = 1.0  # type: ignore[misc]


def test_existing_entries_keep_their_numbers():
    """Adding devices must not move shipped results: the numbers the tables were built from."""
    want = {"h100-sxm": (989e12, 80e9, 3.35e12, 900e9), "a100-sxm-80gb": (312e12, 80e9, 2.039e12, 600e9),
            "h200": (989e12, 141e9, 4.8e12, 900e9), "l40s": (362e12, 48e9, 0.864e12, 31.5e9),
            "mi300x": (1307e12, 192e9, 5.3e12, 896e9)}
    for name, numbers in want.items():
        hw = get_hardware(name)
        got = (hw.peak_flops_fp16, hw.memory_bytes, hw.memory_bandwidth_bytes_per_s,
               hw.interconnect_bytes_per_s)
        assert got == pytest.approx(numbers), name
        assert hw.peak_flops_fp8 == pytest.approx(2 * hw.peak_flops_fp16)


@pytest.mark.parametrize("name", CALIBRATION_SET)
def test_calibration_set_devices_say_what_one_device_is(name):
    hw = get_hardware(name)
    assert hw.chips == 1 and hw.source("chips") and hw.source("fp8_speedup")
    assert hw.kind is not DeviceKind.LPU and hw.max_batch_size > 1


def test_calibration_set_datasheet_figures():
    assert get_hardware("gh200").memory_bandwidth_bytes_per_s == pytest.approx(4.0e12)
    assert get_hardware("mi250").peak_flops_fp16 == pytest.approx(362.1e12)
    assert get_hardware("mi250").peak_flops_fp8 == pytest.approx(362.1e12)  # no FP8; INT8 = FP16 rate
    assert get_hardware("gaudi2").memory_bytes == pytest.approx(96e9)
    assert get_hardware("gaudi2").kind is DeviceKind.HPU
    assert get_hardware("max1550").memory_bytes == pytest.approx(128e9)
    sn40l = get_hardware("sn40l")
    assert sn40l.kind is DeviceKind.RDU and sn40l.peak_flops_fp16 == pytest.approx(638e12)
    assert "TP 8" in sn40l.source("chips")  # the data's 8-socket replica is TP 8 over this entry
    # Llama-3-70B in FP16 (141 GB) fits two MI250 modules, not two GCDs: the data counts modules
    assert 2 * get_hardware("mi250").memory_bytes > 141e9 > 2 * 64e9


def test_assumptions_are_marked():
    for name in ("max1550", "sn40l"):
        assert "assumption" in get_hardware(name).source("interconnect_bytes_per_s"), name


def test_datasheet_figures_match_sources_md():
    assert get_hardware("h100-sxm").peak_flops_fp16 == pytest.approx(989e12)
    assert get_hardware("a100-sxm-80gb").memory_bandwidth_bytes_per_s == pytest.approx(2.039e12)
    assert get_hardware("h200").memory_bytes == pytest.approx(141e9)
    assert get_hardware("groq-lpu").memory_bytes == pytest.approx(230e6)


def test_groqrack_is_64_chips_batch_1_and_just_fits_llama2_7b():
    rack, chip = get_hardware("groqrack"), get_hardware("groq-lpu")
    assert rack.kind is DeviceKind.LPU and rack.chips == 64
    assert rack.max_batch_size == 1 and chip.max_batch_size == 1
    assert rack.peak_flops_fp16 == pytest.approx(64 * chip.peak_flops_fp16)
    assert rack.memory_bytes == pytest.approx(64 * chip.memory_bytes)
    weights = get_model("llama2-7b").param_bytes("fp16")
    assert weights < rack.memory_bytes < weights * 1.15  # "little SRAM left for KV cache"
    assert rack.max_context_tokens == 2048
    assert "2,048" in rack.source("max_context_tokens")


def test_gpus_batch():
    for hw in HARDWARE.values():
        if hw.kind is not DeviceKind.LPU:
            assert hw.max_batch_size > 1 and hw.max_context_tokens is None


def test_unknown_hardware():
    with pytest.raises(InputError, match=r"unknown hardware 'tpu-v5'.*groqrack"):
        get_hardware("tpu-v5")


def test_the_benchmark_a100_is_the_40gb_sxm_part():
    """LLM-Inference-Bench's A100s (Polaris): the 80 GB part's die with 40 GB of HBM2."""
    small, big = get_hardware("a100-sxm-40gb"), get_hardware("a100-sxm-80gb")
    assert small.memory_bytes == 40e9 and small.memory_bandwidth_bytes_per_s == 1.555e12
    assert small.peak_flops_fp16 == big.peak_flops_fp16
    assert small.interconnect_bytes_per_s == big.interconnect_bytes_per_s
    assert "Llama-2-70B" in small.source("memory_bytes")
