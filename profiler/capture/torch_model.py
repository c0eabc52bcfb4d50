"""A Llama-family decoder in plain torch, built for timing (random weights, nothing downloaded).

RMSNorm, RoPE, SwiGLU, grouped-query attention through
``torch.nn.functional.scaled_dot_product_attention`` and a real KV cache. Weights are created
directly on the device in the target dtype (``torch.empty(...).normal_()``, no CPU copy) and QKV /
gate-up projections are fused as serving engines do.

torch is an optional extra, imported at module level here: a missing torch surfaces as
ModuleNotFoundError, which the ``profiler`` command turns into an install hint
(``phasesim.cli.errors.cli_errors``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from phasesim.errors import InputError
from phasesim.simulator.catalog.models import ModelSpec

__all__ = ["TORCH_DTYPES", "ATTENTION_BACKENDS", "LlamaWeights", "KVCache", "build_weights",
           "new_kv_cache", "prefill", "decode_step"]

TORCH_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "bf16": torch.bfloat16,
                                        "fp32": torch.float32}
# Attention kernels allowed on CUDA. cuDNN attention is left out: on Hopper torch may prefer it,
# and it builds a cuDNN graph for every new sequence length (tens to hundreds of ms, seen on an
# H100 as 2-3x slower first prefills of each prompt length in `profiler validate`). Serving
# engines use FlashAttention-style kernels with no per-shape build; so do we, in capture and in
# the validation loop alike.
ATTENTION_BACKENDS = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)
ROPE_THETA = 10000.0
RMS_EPS = 1e-5


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerWeights:
    attn_norm: torch.Tensor  # [hidden]
    w_qkv: torch.Tensor  # [hidden, (heads + 2 kv_heads) * head_dim]
    w_o: torch.Tensor  # [heads * head_dim, hidden]
    mlp_norm: torch.Tensor  # [hidden]
    w_gate_up: torch.Tensor  # [hidden, 2 ffn]
    w_down: torch.Tensor  # [ffn, hidden]


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaWeights:
    spec: ModelSpec
    embed: torch.Tensor  # [vocab, hidden]
    layers: tuple[LayerWeights, ...]
    final_norm: torch.Tensor  # [hidden]
    lm_head: torch.Tensor  # [hidden, vocab]
    inv_freq: torch.Tensor  # [head_dim / 2], float32

    @property
    def device(self) -> torch.device:
        return self.embed.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.dtype


@dataclass(frozen=True, slots=True, kw_only=True)
class KVCache:
    """Per layer K and V, each ``[batch, kv_heads, capacity_tokens, head_dim]``."""

    k: tuple[torch.Tensor, ...]
    v: tuple[torch.Tensor, ...]

    @property
    def capacity_tokens(self) -> int:
        return int(self.k[0].shape[2])


def _normal(shape: tuple[int, ...], *, std: float, device: torch.device,
            dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, device=device, dtype=dtype).normal_(0.0, std)


def build_weights(spec: ModelSpec, *, device: torch.device, dtype: torch.dtype,
                  seed: int = 0) -> LlamaWeights:
    """Random weights scaled 1/sqrt(fan_in) so activations stay finite in fp16 (NaNs or
    denormals would distort CPU timings)."""
    if spec.is_moe:
        raise InputError(f"{spec.name} is a mixture of experts; the plain-torch decoder is dense "
                         "(use the analytical backend)")
    torch.manual_seed(seed)
    h, d = spec.hidden, spec.head_dim
    qkv_out = (spec.heads + 2 * spec.kv_heads) * d

    def ones(n: int) -> torch.Tensor:
        return torch.ones(n, device=device, dtype=dtype)

    layers = tuple(
        LayerWeights(
            attn_norm=ones(h),
            w_qkv=_normal((h, qkv_out), std=1 / math.sqrt(h), device=device, dtype=dtype),
            w_o=_normal((spec.heads * d, h), std=1 / math.sqrt(spec.heads * d), device=device,
                        dtype=dtype),
            mlp_norm=ones(h),
            w_gate_up=_normal((h, 2 * spec.ffn), std=1 / math.sqrt(h), device=device, dtype=dtype),
            w_down=_normal((spec.ffn, h), std=1 / math.sqrt(spec.ffn), device=device, dtype=dtype),
        )
        for _ in range(spec.layers)
    )
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))
    return LlamaWeights(
        spec=spec,
        embed=_normal((spec.vocab, h), std=1.0, device=device, dtype=dtype),
        layers=layers,
        final_norm=ones(h),
        lm_head=_normal((h, spec.vocab), std=1 / math.sqrt(h), device=device, dtype=dtype),
        inv_freq=inv_freq,
    )


def new_kv_cache(spec: ModelSpec, *, batch: int, capacity_tokens: int, device: torch.device,
                 dtype: torch.dtype, random_fill: bool) -> KVCache:
    """Allocate a cache; ``random_fill`` writes random values (a decode step over a "pre-filled"
    cache without running prefill for it)."""
    shape = (batch, spec.kv_heads, capacity_tokens, spec.head_dim)

    def one() -> torch.Tensor:
        t = torch.empty(shape, device=device, dtype=dtype)
        return t.normal_(0.0, 1.0) if random_fill else t

    return KVCache(k=tuple(one() for _ in range(spec.layers)),
                   v=tuple(one() for _ in range(spec.layers)))


def _rms_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + RMS_EPS)
    return xf.to(x.dtype) * weight


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [b, heads, s, d]; cos/sin: [b, 1, s, d/2] (rotate-half convention)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def _cos_sin(w: LlamaWeights, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """positions: [b, s] int64 -> cos/sin [b, 1, s, d/2] in the model dtype."""
    freqs = positions.to(torch.float32)[..., None] * w.inv_freq  # [b, s, d/2]
    return freqs.cos().to(w.dtype)[:, None], freqs.sin().to(w.dtype)[:, None]


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool,
               mask: torch.Tensor | None, gqa: bool) -> torch.Tensor:
    if gqa:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                              enable_gqa=True)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)


def _layer(w: LlamaWeights, lw: LayerWeights, x: torch.Tensor, cos: torch.Tensor,
           sin: torch.Tensor, kv_write: tuple[torch.Tensor, torch.Tensor, torch.Tensor | slice],
           kv_read: tuple[torch.Tensor, torch.Tensor] | None, *, causal: bool,
           mask: torch.Tensor | None) -> torch.Tensor:
    spec = w.spec
    b, s, _ = x.shape
    h = _rms_norm(x, lw.attn_norm)
    qkv = h @ lw.w_qkv
    q, k, v = qkv.split([spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim,
                         spec.kv_heads * spec.head_dim], dim=-1)
    q = q.view(b, s, spec.heads, spec.head_dim).transpose(1, 2)
    k = k.view(b, s, spec.kv_heads, spec.head_dim).transpose(1, 2)
    v = v.view(b, s, spec.kv_heads, spec.head_dim).transpose(1, 2)
    q, k = _rope(q, cos, sin), _rope(k, cos, sin)
    k_cache, v_cache, where = kv_write
    if isinstance(where, slice):  # prefill / uniform decode: same positions for every sequence
        k_cache[:b, :, where] = k
        v_cache[:b, :, where] = v
    else:  # per-sequence decode positions: where = [b] int64
        rows = torch.arange(b, device=x.device)
        k_cache[rows, :, where] = k[:, :, 0]
        v_cache[rows, :, where] = v[:, :, 0]
    keys, values = (k, v) if kv_read is None else kv_read
    attn = _attention(q, keys, values, causal=causal, mask=mask, gqa=spec.heads != spec.kv_heads)
    x = x + attn.transpose(1, 2).reshape(b, s, spec.heads * spec.head_dim) @ lw.w_o
    h = _rms_norm(x, lw.mlp_norm)
    gate, up = (h @ lw.w_gate_up).chunk(2, dim=-1)
    return x + (F.silu(gate) * up) @ lw.w_down


def _attention_kernels(device: torch.device) -> contextlib.AbstractContextManager[object]:
    if device.type == "cuda":
        return sdpa_kernel(list(ATTENTION_BACKENDS))
    return contextlib.nullcontext()


def _logits(w: LlamaWeights, x_last: torch.Tensor) -> torch.Tensor:
    return _rms_norm(x_last, w.final_norm) @ w.lm_head


@torch.inference_mode()
def prefill(w: LlamaWeights, tokens: torch.Tensor, cache: KVCache, *,
            start_row: int = 0) -> torch.Tensor:
    """Whole prompts ``tokens`` [b, s] -> next-token ids [b]; K/V written to cache rows
    ``start_row..start_row+b`` at positions 0..s-1. Logits only for the last position."""
    b, s = tokens.shape
    positions = torch.arange(s, device=tokens.device).expand(b, s)
    cos, sin = _cos_sin(w, positions)
    x = w.embed[tokens]
    with _attention_kernels(tokens.device):
        for i, lw in enumerate(w.layers):
            kc = cache.k[i][start_row:start_row + b]
            vc = cache.v[i][start_row:start_row + b]
            x = _layer(w, lw, x, cos, sin, (kc, vc, slice(0, s)), None, causal=True, mask=None)
    return _logits(w, x[:, -1]).argmax(-1)


@torch.inference_mode()
def decode_step(w: LlamaWeights, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache, *,
                attn_tokens: int, uniform_position: int | None = None) -> torch.Tensor:
    """One decode step for cache rows 0..b-1. ``tokens``/``positions`` are [b]; the new K/V go to
    ``positions`` and attention reads cache positions ``0..attn_tokens-1``.

    ``uniform_position``: every sequence is at this position (capture grid): no mask is needed and
    the attention kernel is the unmasked one. Otherwise a boolean mask hides each sequence's
    positions beyond its own. Static shapes for a given (b, attn_tokens): CUDA-graph capturable.
    """
    b = tokens.shape[0]
    cos, sin = _cos_sin(w, positions[:, None])
    x = w.embed[tokens][:, None]
    if uniform_position is None:
        ar = torch.arange(attn_tokens, device=tokens.device)
        mask = (ar[None, :] <= positions[:, None])[:, None, None, :]  # [b, 1, 1, L]
        where: torch.Tensor | slice = positions
    else:
        mask = None
        where = slice(uniform_position, uniform_position + 1)
    with _attention_kernels(tokens.device):
        for i, lw in enumerate(w.layers):
            kc, vc = cache.k[i], cache.v[i]
            read = (kc[:b, :, :attn_tokens], vc[:b, :, :attn_tokens])
            x = _layer(w, lw, x, cos, sin, (kc, vc, where), read, causal=False, mask=mask)
    return _logits(w, x[:, 0]).argmax(-1)
