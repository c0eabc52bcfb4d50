"""Hardware catalog: every number has a source; Groq entries are batch-1 and fit Llama-2-7B."""

from __future__ import annotations

import dataclasses

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog import HARDWARE, DeviceKind, get_hardware, get_model

NUMERIC = ("peak_flops_fp16", "memory_bytes", "memory_bandwidth_bytes_per_s", "interconnect_bytes_per_s",
           "pcie_bytes_per_s", "nic_bytes_per_s", "max_batch_size")


def test_catalog_names():
    assert set(HARDWARE) == {"h100-sxm", "a100-sxm-80gb", "h200", "l40s", "mi300x", "groq-lpu", "groqrack"}


@pytest.mark.parametrize("name", sorted(HARDWARE))
def test_every_number_is_positive_and_sourced(name):
    hw = get_hardware(name)
    for field in NUMERIC:
        assert getattr(hw, field) > 0, field
        assert hw.source(field), f"{name}.{field} has no source"
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.memory_bytes = 1.0  # type: ignore[misc]


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
        if hw.kind is DeviceKind.GPU:
            assert hw.max_batch_size > 1 and hw.max_context_tokens is None


def test_unknown_hardware():
    with pytest.raises(InputError, match=r"unknown hardware 'tpu-v5'.*groqrack"):
        get_hardware("tpu-v5")
