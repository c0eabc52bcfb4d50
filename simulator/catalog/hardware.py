"""Hardware catalog: peak dense FLOPs, memory, bandwidth, interconnects, and where each number is from.

One entry is one *serving instance* as the simulator sees it: a GPU, one Groq chip, or a whole
GroqRack (64 chips acting as one pipeline). Numbers are vendor datasheet values (dense, no
sparsity); the ``sources`` field names the origin of each one (see shared/data/SOURCES.md,
"Public facts"). Where a number is an assumption it says so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from phasesim.errors import InputError

__all__ = ["DeviceKind", "HardwareSpec", "HARDWARE", "get_hardware", "NDR_400G_BYTES_PER_S",
           "PCIE_GEN4_X16_BYTES_PER_S"]


class DeviceKind(enum.StrEnum):
    GPU = "gpu"
    LPU = "lpu"  # Groq language processing unit (SRAM-only, deterministic pipeline)


_GB = 1e9
_TB = 1e12


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareSpec:
    """One serving instance. Units are in the names; FLOPs are dense FP16/BF16 per second.

    ``memory_bytes`` is HBM for GPUs and on-chip SRAM (all chips) for Groq; ``chips`` is the number
    of accelerator chips the instance spans; ``max_batch_size`` 1 means no batching (Groq).
    ``max_context_tokens`` caps one sequence's context where the deployment does (GroqRack's
    published Llama-2-7B deployment: 2,048), ``None`` where only the model's limit applies.
    ``sources`` maps a field name to the origin of its number.
    """

    name: str
    kind: DeviceKind
    chips: int
    peak_flops_fp16: float
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    interconnect_bytes_per_s: float  # chip-to-chip (NVLink / Infinity Fabric / Groq C2C), per chip
    pcie_bytes_per_s: float  # host link, per direction
    nic_bytes_per_s: float  # scale-out network per instance, per direction
    max_batch_size: int
    max_context_tokens: int | None = None
    default_reserve_fraction: float = 0.10  # memory kept free (vLLM gpu_memory_utilization=0.9)
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, field: str) -> str:
        """Where ``field``'s number comes from ('' if not recorded)."""
        return dict(self.sources).get(field, "")

    @property
    def peak_flops_fp8(self) -> float:
        """Dense FP8/INT8 rate: 2x FP16 on H100/H200/L40S/MI300X; A100 has no FP8 (INT8 = 2x)."""
        return 2.0 * self.peak_flops_fp16


_GPU_SRC = "NVIDIA/AMD datasheets as listed in shared/data/SOURCES.md 'Public facts' (dense BF16)"
PCIE_GEN4_X16_BYTES_PER_S = 31.5 * _GB  # PCIe Gen4 x16, per direction
_PCIE4 = PCIE_GEN4_X16_BYTES_PER_S
_PCIE5 = 63.0 * _GB
NDR_400G_BYTES_PER_S = 400e9 / 8  # InfiniBand NDR 400 Gb/s
_NDR = NDR_400G_BYTES_PER_S
_HDR = 200e9 / 8  # InfiniBand HDR 200 Gb/s (DGX A100 compute fabric)

_GROQ_SRC = ("GroqChip: ALCF AI-testbed GroqRack user guide and Groq vendor material "
             "(230 MB SRAM, ~80 TB/s on-die, 188 TFLOPS FP16 at 900 MHz, PCIe Gen4 x16)")
_GROQ_C2C = 16 * 30e9 / 8  # 16 RealScale chip-to-chip links x ~30 Gb/s (vendor material; approx.)

HARDWARE: dict[str, HardwareSpec] = {
    h.name: h
    for h in (
        HardwareSpec(
            name="h100-sxm", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=989 * _TB,
            memory_bytes=80 * _GB, memory_bandwidth_bytes_per_s=3.35 * _TB,
            interconnect_bytes_per_s=900 * _GB, pcie_bytes_per_s=_PCIE5, nic_bytes_per_s=_NDR,
            max_batch_size=512,
            sources=(("peak_flops_fp16", _GPU_SRC), ("memory_bytes", _GPU_SRC),
                     ("memory_bandwidth_bytes_per_s", _GPU_SRC),
                     ("interconnect_bytes_per_s", "NVLink 4, 900 GB/s (SOURCES.md)"),
                     ("pcie_bytes_per_s", "PCIe Gen5 x16 ~63 GB/s per direction (SOURCES.md)"),
                     ("nic_bytes_per_s", "one InfiniBand NDR 400 Gb/s NIC per GPU (DGX H100)"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="a100-sxm-80gb", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=312 * _TB,
            memory_bytes=80 * _GB, memory_bandwidth_bytes_per_s=2.039 * _TB,
            interconnect_bytes_per_s=600 * _GB, pcie_bytes_per_s=_PCIE4, nic_bytes_per_s=_HDR,
            max_batch_size=512,
            sources=(("peak_flops_fp16", _GPU_SRC), ("memory_bytes", _GPU_SRC),
                     ("memory_bandwidth_bytes_per_s", _GPU_SRC),
                     ("interconnect_bytes_per_s", "NVLink 3, 600 GB/s (SOURCES.md)"),
                     ("pcie_bytes_per_s", "PCIe Gen4 x16 ~31.5 GB/s per direction (SOURCES.md)"),
                     ("nic_bytes_per_s", "one InfiniBand HDR 200 Gb/s NIC per GPU (DGX A100)"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="h200", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=989 * _TB,
            memory_bytes=141 * _GB, memory_bandwidth_bytes_per_s=4.8 * _TB,
            interconnect_bytes_per_s=900 * _GB, pcie_bytes_per_s=_PCIE5, nic_bytes_per_s=_NDR,
            max_batch_size=512,
            sources=(("peak_flops_fp16", _GPU_SRC), ("memory_bytes", _GPU_SRC),
                     ("memory_bandwidth_bytes_per_s", _GPU_SRC),
                     ("interconnect_bytes_per_s", "NVLink 4, 900 GB/s (SOURCES.md)"),
                     ("pcie_bytes_per_s", "PCIe Gen5 x16 ~63 GB/s per direction (SOURCES.md)"),
                     ("nic_bytes_per_s", "one InfiniBand NDR 400 Gb/s NIC per GPU (DGX H200)"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="l40s", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=362 * _TB,
            memory_bytes=48 * _GB, memory_bandwidth_bytes_per_s=0.864 * _TB,
            interconnect_bytes_per_s=_PCIE4, pcie_bytes_per_s=_PCIE4, nic_bytes_per_s=200e9 / 8,
            max_batch_size=512,
            sources=(("peak_flops_fp16", _GPU_SRC), ("memory_bytes", _GPU_SRC),
                     ("memory_bandwidth_bytes_per_s", _GPU_SRC),
                     ("interconnect_bytes_per_s", "no NVLink: peer traffic over PCIe Gen4 x16"),
                     ("pcie_bytes_per_s", "PCIe Gen4 x16 ~31.5 GB/s per direction (SOURCES.md)"),
                     ("nic_bytes_per_s", "assumption: one 200 Gb/s NIC per GPU"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="mi300x", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=1307 * _TB,
            memory_bytes=192 * _GB, memory_bandwidth_bytes_per_s=5.3 * _TB,
            interconnect_bytes_per_s=896 * _GB, pcie_bytes_per_s=_PCIE5, nic_bytes_per_s=_NDR,
            max_batch_size=512,
            sources=(("peak_flops_fp16", _GPU_SRC + "; ~1,300 TFLOPS"), ("memory_bytes", _GPU_SRC),
                     ("memory_bandwidth_bytes_per_s", _GPU_SRC),
                     ("interconnect_bytes_per_s", "AMD datasheet: 7 Infinity Fabric links, 896 GB/s"),
                     ("pcie_bytes_per_s", "PCIe Gen5 x16 ~63 GB/s per direction"),
                     ("nic_bytes_per_s", "assumption: one 400 Gb/s NIC per GPU"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="groq-lpu", kind=DeviceKind.LPU, chips=1, peak_flops_fp16=188 * _TB,
            memory_bytes=230e6, memory_bandwidth_bytes_per_s=80 * _TB,
            interconnect_bytes_per_s=_GROQ_C2C, pcie_bytes_per_s=_PCIE4, nic_bytes_per_s=_PCIE4,
            max_batch_size=1, default_reserve_fraction=0.0,
            sources=(("peak_flops_fp16", _GROQ_SRC), ("memory_bytes", _GROQ_SRC),
                     ("memory_bandwidth_bytes_per_s", _GROQ_SRC),
                     ("interconnect_bytes_per_s", "16 RealScale C2C links x ~30 Gb/s (vendor; approx.)"),
                     ("pcie_bytes_per_s", _GROQ_SRC),
                     ("nic_bytes_per_s", "assumption: host traffic over the card's PCIe Gen4 x16"),
                     ("max_batch_size", "SOURCES.md: batching not supported"))),
        HardwareSpec(
            name="groqrack", kind=DeviceKind.LPU, chips=64, peak_flops_fp16=64 * 188 * _TB,
            memory_bytes=64 * 230e6, memory_bandwidth_bytes_per_s=64 * 80 * _TB,
            interconnect_bytes_per_s=_GROQ_C2C, pcie_bytes_per_s=_PCIE4,
            nic_bytes_per_s=100e9 / 8, max_batch_size=1, max_context_tokens=2048,
            default_reserve_fraction=0.0,
            sources=(("chips", "GroqRack = 8 GroqNodes x 8 cards (ALCF user guide; SOURCES.md)"),
                     ("peak_flops_fp16", "64 x GroqChip 188 TFLOPS FP16 (" + _GROQ_SRC + ")"),
                     ("memory_bytes", "64 x 230 MB on-chip SRAM = 14.7 GB (" + _GROQ_SRC + ")"),
                     ("memory_bandwidth_bytes_per_s", "64 x ~80 TB/s on-die SRAM bandwidth"),
                     ("interconnect_bytes_per_s", "16 RealScale C2C links x ~30 Gb/s per chip (approx.)"),
                     ("pcie_bytes_per_s", "host card link: PCIe Gen4 x16 ~31.5 GB/s"),
                     ("nic_bytes_per_s", "assumption: one 100 Gb/s host NIC for the rack's front end"),
                     ("max_batch_size", "SOURCES.md: batching not supported (SRAM left after weights)"),
                     ("max_context_tokens", "Groq's published Llama-2-7B deployment used a 2,048-token "
                                            "context, consistent with the SRAM left after FP16 weights"))),
    )
}


def get_hardware(name: str) -> HardwareSpec:
    """A catalog entry by name; InputError listing the known names otherwise."""
    try:
        return HARDWARE[name]
    except KeyError:
        known = ", ".join(sorted(HARDWARE))
        raise InputError(f"unknown hardware '{name}' (known: {known})") from None
