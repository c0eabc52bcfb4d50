"""Hardware catalog: peak dense FLOPs, memory, bandwidth, interconnects, and where each number is from.

One entry is one device (a GPU, a Gaudi2, one SambaNova SN40L socket, one Groq chip) or a fixed
multi-chip deployment that only ever serves as a whole (a GroqRack: 64 chips acting as one
pipeline). A tensor-parallel instance of degree N spans N entries of one device (issue 12). Numbers are vendor datasheet values (dense, no
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
    HPU = "hpu"  # Habana (Intel Gaudi) processing unit: matrix engines + TPCs, on-die RoCE NICs
    RDU = "rdu"  # SambaNova reconfigurable dataflow unit (SRAM + HBM + DDR tiers)
    CPU = "cpu"  # a host CPU (a table captured with profiler capture --backend torch --device cpu)


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
    # Chip-to-chip scale-up link (NVLink / Infinity Fabric / Gaudi RoCE / Xe Link / Groq C2C), per
    # chip: the vendor's aggregate figure, both directions summed (NVLink 4's 900 GB/s is 450 GB/s
    # each way; l40s's PCIe entry is one direction). A ring all-reduce moves data one way per step.
    interconnect_bytes_per_s: float
    pcie_bytes_per_s: float  # host link, per direction
    nic_bytes_per_s: float  # scale-out network per instance, per direction
    max_batch_size: int
    max_context_tokens: int | None = None
    default_reserve_fraction: float = 0.10  # memory kept free (vLLM gpu_memory_utilization=0.9)
    fp8_speedup: float = 2.0  # dense FP8/INT8 rate over FP16 (1.0 where INT8 runs at FP16's rate)
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, field: str) -> str:
        """Where ``field``'s number comes from ('' if not recorded)."""
        return dict(self.sources).get(field, "")

    @property
    def peak_flops_fp8(self) -> float:
        """Dense FP8/INT8 rate: 2x FP16 on H100/H200/L40S/MI300X; A100 has no FP8 (INT8 = 2x);
        MI250 has no FP8 and its INT8 peak equals its FP16 peak (``fp8_speedup`` 1)."""
        return self.fp8_speedup * self.peak_flops_fp16


_GPU_SRC = "NVIDIA/AMD datasheets as listed in shared/data/SOURCES.md 'Public facts' (dense BF16)"
PCIE_GEN4_X16_BYTES_PER_S = 31.5 * _GB  # PCIe Gen4 x16, per direction
_PCIE4 = PCIE_GEN4_X16_BYTES_PER_S
_PCIE5 = 63.0 * _GB
NDR_400G_BYTES_PER_S = 400e9 / 8  # InfiniBand NDR 400 Gb/s
_NDR = NDR_400G_BYTES_PER_S
_HDR = 200e9 / 8  # InfiniBand HDR 200 Gb/s (DGX A100 compute fabric)

_POLARIS_SRC = ("ALCF Polaris machine overview (docs.alcf.anl.gov/polaris/hardware-overview/"
                "machine-overview): 4 NVIDIA A100 per HPE Apollo 6500 Gen10+ node, 40 GiB HBM2 and "
                "~1.6 TB/s each, NVLink 600 GB/s, FP16 tensor 312 TF, max TDP 400 W; a pair of "
                "Slingshot 11 adapters per node")
_A100_40_SRC = ("NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4) as tabulated "
                "by glennklockwood.com/garden/processors/A100 and thundercompute.com/blog/nvidia-a100-"
                "specs-full-guide: A100 SXM4 40GB = 40 GB HBM2 at 1,555 GB/s, 312 TFLOPS dense "
                "FP16/BF16, 400 W; the 80 GB part differs only in memory (HBM2e, 2,039 GB/s)")
_A100_40_WHY = ("Which A100 the benchmark ran, from its own data: its Llama-2-70B runs at TP 4 "
                "stop scaling with batch x context exactly where 4 x 40 GB leaves ~6 GB of KV "
                "beside 138 GB of weights (TensorRT-LLM 512 tokens: 822 tokens/s at batch 32 and "
                "810 at 64; "
                "vLLM 2,048 tokens batch 16: 424 s vs 69 s at batch 1), while the 80 GB H100s run "
                "the same configurations at 3-5x that throughput; its llama.cpp A100 README loads "
                "Polaris modules (module use /soft/modulefiles; conda/2024-04-29); its power runs "
                "reach 382 W, above the 40GB PCIe card's 250 W, so SXM")
_POLARIS_NIC = 2 * 200e9 / 8 / 4  # 2 Slingshot 11 adapters (200 Gb/s) per 4-GPU node

# Accelerators of the LLM-Inference-Bench calibration set (shared/data/reference/llm-inference-bench).
# One entry is one device as that data counts it in "Num of Hardware" (its tensor-parallel degree):
# see each entry's ``chips`` source.
_GH200_SRC = ("NVIDIA GH200 Grace Hopper Superchip datasheet (2023): H100 GPU with 96 GB HBM3 at "
              "4 TB/s; FP16/BF16 Tensor Core 1,979 TFLOPS with sparsity = 989 dense")
_MI250_SRC = ("AMD Instinct MI250 (OAM) datasheet (Nov 2021): 362.1 TFLOPS peak FP16/BF16 matrix, "
              "128 GB HBM2e, 3.2768 TB/s, 6 Infinity Fabric links, PCIe Gen4 x16")
_MI250_IF = 6 * 100 * _GB  # 6 external IF links x 100 GB/s (50 GB/s each way per 16-wide link)
_GAUDI2_SRC = ("Habana Gaudi2 white paper (May 2022) and Intel's Gaudi 3 Hot Chips talk (Aug 2024, "
               "table 'Gaudi product generations'): 432 TFLOPS BF16, 96 GB HBM2E at 2.46 TB/s, "
               "PCIe Gen4 x16 (64 GB/s both directions), 24 x 100 GbE RoCE on die (4.8 Tb/s both ways)")
_GAUDI2_SCALE_UP = 21 * 2 * 100e9 / 8  # 21 of 24 RoCE ports to the 7 peers in an HLS-Gaudi2 box
_MAX1550_SRC = ("Intel Data Center GPU Max 1550 (Intel ark 232873; ALCF Aurora docs): 2 stacks, 128 Xe "
                "cores at up to 1.6 GHz, 128 GB HBM2e at 3.2768 TB/s, 16 Xe Links, PCIe Gen5 x16")
_SN40L_SRC = ("SambaNova SN40L RDU, Hot Chips 2024 (R. Prabhakar, Aug 2024) and Prabhakar et al., "
              "'SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and Composition of Experts' "
              "(arXiv 2405.07518, 2024): per socket 638 TFLOPS BF16, 520 MB SRAM, 64 GB HBM, "
              "1.5 TB DDR")

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
            name="a100-sxm-40gb", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=312 * _TB,
            memory_bytes=40 * _GB, memory_bandwidth_bytes_per_s=1.555 * _TB,
            interconnect_bytes_per_s=600 * _GB, pcie_bytes_per_s=_PCIE4,
            nic_bytes_per_s=_POLARIS_NIC,
            max_batch_size=512,
            sources=(("chips", ("one A100 SXM4 40GB; LLM-Inference-Bench's 'Nvidia A100 GPU' "
                                "rows ran on these (ALCF Polaris nodes: see memory_bytes)")),
                     ("peak_flops_fp16", _A100_40_SRC),
                     ("memory_bytes", _A100_40_SRC + ". " + _A100_40_WHY),
                     ("memory_bandwidth_bytes_per_s", _A100_40_SRC),
                     ("fp8_speedup", "no FP8; INT8 tensor 624 TOPS = 2x FP16 ("
                                     + _POLARIS_SRC + ")"),
                     ("interconnect_bytes_per_s", "NVLink 3, 600 GB/s (" + _POLARIS_SRC + ")"),
                     ("pcie_bytes_per_s", "PCIe Gen4 x16 ~31.5 GB/s per direction (SOURCES.md)"),
                     ("nic_bytes_per_s", "a pair of Slingshot 11 (200 Gb/s) adapters per 4-GPU "
                                         "Polaris node = 100 Gb/s per GPU (" + _POLARIS_SRC + ")"),
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
            name="gh200", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=989 * _TB,
            memory_bytes=96 * _GB, memory_bandwidth_bytes_per_s=4.0 * _TB,
            interconnect_bytes_per_s=900 * _GB, pcie_bytes_per_s=450 * _GB, nic_bytes_per_s=_NDR,
            max_batch_size=512,
            sources=(("chips", "one GH200 superchip's GPU; the calibration data ran it at TP 1 only"),
                     ("peak_flops_fp16", _GH200_SRC),
                     ("memory_bytes", _GH200_SRC + ". The later HBM3e version has 144 GB at 4.9 TB/s; "
                                      "the data does not say which it ran. We take the HBM3 one: its "
                                      "batch-1 decode is 1.25x the H100's there, nearer 4.0/3.35 = "
                                      "1.19x than 4.9/3.35 = 1.46x"),
                     ("memory_bandwidth_bytes_per_s", _GH200_SRC + " (see memory_bytes for the variant)"),
                     ("interconnect_bytes_per_s", ("NVLink 4 on the Hopper GPU, 18 links = 900 GB/s "
                                                   "both directions (GH200 datasheet; used in NVL2/NVL32 "
                                                   "systems)")),
                     ("fp8_speedup", "FP8 Tensor Core 3,958 TFLOPS with sparsity = 2x FP16 (GH200 datasheet)"),
                     ("pcie_bytes_per_s", ("host link is NVLink-C2C, 900 GB/s both directions = 450 GB/s "
                                           "per direction (GH200 datasheet), not PCIe")),
                     ("nic_bytes_per_s", "assumption: one InfiniBand NDR 400 Gb/s NIC per superchip"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="mi250", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=362.1 * _TB,
            memory_bytes=128 * _GB, memory_bandwidth_bytes_per_s=3.2768 * _TB,
            interconnect_bytes_per_s=_MI250_IF, pcie_bytes_per_s=_PCIE4,
            nic_bytes_per_s=200e9 / 8, max_batch_size=512, fp8_speedup=1.0,
            sources=(("chips", ("one MI250 OAM module = 2 graphics compute dies (GCDs), each seen by "
                                "ROCm as its own GPU with 64 GB and 1.64 TB/s (ROCm MI250 "
                                "microarchitecture docs). The calibration data counts modules: it runs "
                                "Llama-3-70B (141 GB in FP16) on '2' MI250s, which only 2 modules "
                                "(256 GB) hold, not 2 GCDs (128 GB). So its TP degree N means 2N GCDs "
                                "in vLLM's terms; the all-reduce between the 2 GCDs of a module runs "
                                "over in-package Infinity Fabric")),
                     ("peak_flops_fp16", _MI250_SRC), ("memory_bytes", _MI250_SRC),
                     ("fp8_speedup", "no FP8; INT8 peak 362.1 TOPS = the FP16 rate (" + _MI250_SRC + ")"),
                     ("memory_bandwidth_bytes_per_s", _MI250_SRC),
                     ("interconnect_bytes_per_s", ("6 external Infinity Fabric links x 100 GB/s both "
                                                   "directions (25 GT/s x 16 lanes = 50 GB/s each way: "
                                                   "ROCm MI250 microarchitecture docs) = 600 GB/s")),
                     ("pcie_bytes_per_s", "PCIe Gen4 x16 ~31.5 GB/s per direction (" + _MI250_SRC + ")"),
                     ("nic_bytes_per_s", "assumption: one 200 Gb/s NIC per module"),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="gaudi2", kind=DeviceKind.HPU, chips=1, peak_flops_fp16=432 * _TB,
            memory_bytes=96 * _GB, memory_bandwidth_bytes_per_s=2.46 * _TB,
            interconnect_bytes_per_s=_GAUDI2_SCALE_UP, pcie_bytes_per_s=_PCIE4,
            nic_bytes_per_s=3 * 100e9 / 8, max_batch_size=512,
            sources=(("chips", "one Gaudi2 HPU (OAM); the data ran 1-8 in one HLS-Gaudi2 server"),
                     ("peak_flops_fp16", _GAUDI2_SRC + " (BF16 matrix engines; FP16 taken equal)"),
                     ("memory_bytes", _GAUDI2_SRC), ("memory_bandwidth_bytes_per_s", _GAUDI2_SRC),
                     ("interconnect_bytes_per_s", ("21 of the 24 on-die 100 GbE RoCE ports link the "
                                                   "8 HPUs of an HLS-Gaudi2 server all-to-all (3 per "
                                                   "peer; Gaudi2 white paper, May 2022): 21 x 100 Gb/s "
                                                   "x 2 directions = 525 GB/s")),
                     ("fp8_speedup", ("approx.: FP8 matrix ~2x BF16 (Intel's Gaudi 2 vs 3 comparisons "
                                      "quote 835-865 TFLOPS FP8)")),
                     ("pcie_bytes_per_s", "PCIe Gen4 x16, 64 GB/s both directions (" + _GAUDI2_SRC + ")"),
                     ("nic_bytes_per_s", ("the other 3 of the 24 RoCE ports scale out: 3 x 100 Gb/s "
                                          "(Gaudi2 white paper)")),
                     ("max_batch_size", "assumption: engine limit, not the device's; 512 as for GPUs"))),
        HardwareSpec(
            name="max1550", kind=DeviceKind.GPU, chips=1, peak_flops_fp16=128 * 4096 * 1.6e9,
            memory_bytes=128 * _GB, memory_bandwidth_bytes_per_s=3.2768 * _TB,
            interconnect_bytes_per_s=16 * 2 * 25 * _GB, pcie_bytes_per_s=_PCIE5,
            nic_bytes_per_s=8 * 200e9 / 8 / 6, max_batch_size=512,
            sources=(("chips", ("one Max 1550 (both stacks, 128 GB), as the data's vLLM runs used it "
                                "('single GPU (both tiles)', LLM-Inference-Bench vLLM/Max1550 README)")),
                     ("peak_flops_fp16", ("derived: 128 Xe cores x 4,096 FP16/BF16 matrix (XMX) ops per "
                                          "clock per core (Intel Architecture Day 2021, Xe HPC) x "
                                          "1.6 GHz peak = 838.9 TFLOPS; ALCF measured ~263 TFLOPS "
                                          "FP16 GEMM on pre-production Aurora (ALCF Aurora node "
                                          "performance overview)")),
                     ("memory_bytes", _MAX1550_SRC), ("memory_bandwidth_bytes_per_s", _MAX1550_SRC),
                     ("interconnect_bytes_per_s", "16 Xe Links per GPU (" + _MAX1550_SRC + "); "
                                                  "assumption: 25 GB/s each way per link (no per-link "
                                                  "rate found in the vendor material at hand) = 800 GB/s "
                                                  "both directions; all-reduce cost is to be fitted"),
                     ("fp8_speedup", ("no FP8; INT8 (XMX) 8,192 ops per clock per Xe core = 2x "
                                      "FP16 (Intel Architecture Day 2021, Xe HPC)")),
                     ("pcie_bytes_per_s", "PCIe Gen5 x16 ~63 GB/s per direction (" + _MAX1550_SRC + ")"),
                     ("nic_bytes_per_s", ("Aurora node: 8 Slingshot-11 200 Gb/s NICs for 6 GPUs (ALCF "
                                          "Aurora machine overview) = 1/6 of 8 x 200 Gb/s per GPU")),
                     ("max_batch_size", "assumption: vLLM-style max_num_seqs=512"))),
        HardwareSpec(
            name="sn40l", kind=DeviceKind.RDU, chips=1, peak_flops_fp16=638 * _TB,
            memory_bytes=64 * _GB, memory_bandwidth_bytes_per_s=1.6 * _TB,
            interconnect_bytes_per_s=400 * _GB, pcie_bytes_per_s=_PCIE5, nic_bytes_per_s=100e9 / 8,
            max_batch_size=512,
            sources=(("chips", ("one SN40L socket. The calibration data ran 8 sockets as one replica "
                                "('Num of Hardware' 8): we model that as TP 8 over this per-socket "
                                "entry, like 8 GPUs, rather than one 8-socket entry like groqrack: "
                                "SambaFlow shards each layer's weights across the sockets (tensor "
                                "parallel) and the same chip ships in 8- and 16-socket nodes, so the "
                                "socket is the unit that scales; weights and KV split 8 ways and the "
                                "per-layer exchanges go over the peer links")),
                     ("peak_flops_fp16", _SN40L_SRC + " (BF16; FP16 taken equal)"),
                     ("memory_bytes", _SN40L_SRC + ". Only the 64 GB HBM tier counts here: serving "
                                      "runs from HBM; the 1.5 TB DDR tier holds models not being "
                                      "served (model switching)"),
                     ("memory_bandwidth_bytes_per_s", ("derived: the Hot Chips 2024 slide gives 25.6 TB/s "
                                                       "HBM bandwidth for a 16-socket node = 1.6 TB/s "
                                                       "per socket (our reading of its per-node totals)")),
                     ("interconnect_bytes_per_s", "assumption: SN40L sockets talk over dedicated "
                                                  "peer-to-peer links (" + _SN40L_SRC + ") whose rate "
                                                  "we found no figure for; 400 GB/s both directions "
                                                  "as a placeholder, to be fitted"),
                     ("fp8_speedup", "assumption: 2x (no FP8/INT8 rate found; the data ran BF16)"),
                     ("pcie_bytes_per_s", "assumption: PCIe Gen5 x16 host link"),
                     ("nic_bytes_per_s", ("assumption: 100 Gb/s per socket. The data's SN40L runs went "
                                          "through SambaNova's cloud API (LLM-Inference-Bench "
                                          "Sambaflow/SN40L README), so their latencies include the "
                                          "network round trip")),
                     ("max_batch_size", "assumption: engine limit, not the device's; 512 as for GPUs"))),
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
                     ("max_context_tokens", ("Groq's published Llama-2-7B deployment used a 2,048-token "
                                             "context, consistent with the SRAM left after FP16 weights")))),
    )
}


def get_hardware(name: str) -> HardwareSpec:
    """A catalog entry by name; InputError listing the known names otherwise."""
    try:
        return HARDWARE[name]
    except KeyError:
        known = ", ".join(sorted(HARDWARE))
        raise InputError(f"unknown hardware '{name}' (known: {known})") from None
