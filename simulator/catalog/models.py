"""Model catalog: architecture numbers that set parameter bytes and KV bytes per token.

Sources: the models' Hugging Face ``config.json`` files (meta-llama/Llama-2-{7b,13b,70b}-hf,
meta-llama/Meta-Llama-3-8B, mistralai/Mistral-7B-v0.1). ``tiny-llama`` is our own test size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from phasesim.errors import InputError

__all__ = ["ModelSpec", "MODELS", "DTYPE_BYTES", "get_model", "model_from_hf_config"]

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """A Llama-family decoder. All sizes are counts (not bytes) unless the name says bytes."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    max_context_tokens: int
    tied_embeddings: bool = False

    @property
    def param_count(self) -> int:
        attn = self.hidden * self.heads * self.head_dim  # q
        attn += 2 * self.hidden * self.kv_heads * self.head_dim  # k, v
        attn += self.heads * self.head_dim * self.hidden  # o
        mlp = 3 * self.hidden * self.ffn  # gate, up, down
        norms = 2 * self.hidden
        per_layer = attn + mlp + norms
        embed = self.vocab * self.hidden
        lm_head = 0 if self.tied_embeddings else self.vocab * self.hidden
        return self.layers * per_layer + embed + lm_head + self.hidden

    def param_bytes(self, dtype: str) -> int:
        return self.param_count * DTYPE_BYTES[dtype]

    def kv_bytes_per_token(self, dtype: str) -> int:
        """K and V for every layer: 2 * layers * kv_heads * head_dim * bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * DTYPE_BYTES[dtype]

    def flops_per_token_linear(self) -> int:
        """Matmul FLOPs per token outside attention scores: 2 x (params - embedding table)."""
        return 2 * (self.param_count - self.vocab * self.hidden)


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(name="llama2-7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                  ffn=11008, vocab=32000, max_context_tokens=4096),
        ModelSpec(name="llama2-13b", layers=40, hidden=5120, heads=40, kv_heads=40, head_dim=128,
                  ffn=13824, vocab=32000, max_context_tokens=4096),
        ModelSpec(name="llama2-70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
                  ffn=28672, vocab=32000, max_context_tokens=4096),
        ModelSpec(name="llama3-8b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                  ffn=14336, vocab=128256, max_context_tokens=8192),
        ModelSpec(name="mistral-7b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                  ffn=14336, vocab=32000, max_context_tokens=32768),
        ModelSpec(name="tiny-llama", layers=2, hidden=128, heads=4, kv_heads=4, head_dim=32,
                  ffn=344, vocab=512, max_context_tokens=2048),
    )
}


def get_model(name_or_path: str) -> ModelSpec:
    """A catalog name, or a path to a Hugging Face ``config.json``."""
    if name_or_path in MODELS:
        return MODELS[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        return model_from_hf_config(path)
    known = ", ".join(sorted(MODELS))
    raise InputError(f"unknown model '{name_or_path}' (known: {known}; or a config.json path)")


def model_from_hf_config(path: str | Path) -> ModelSpec:
    """Read a Hugging Face Llama/Mistral ``config.json``."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    required = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                "vocab_size")
    for key in required:
        if key not in cfg:
            raise InputError("missing field", path=path, column=key)
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise InputError(f"must be a positive integer, got {cfg[key]!r}", path=path, column=key)
    heads = cfg["num_attention_heads"]
    return ModelSpec(
        name=str(cfg.get("_name_or_path") or path.parent.name or path.stem),
        layers=cfg["num_hidden_layers"],
        hidden=cfg["hidden_size"],
        heads=heads,
        kv_heads=int(cfg.get("num_key_value_heads", heads)),
        head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
        ffn=cfg["intermediate_size"],
        vocab=cfg["vocab_size"],
        max_context_tokens=int(cfg.get("max_position_embeddings", 4096)),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )
