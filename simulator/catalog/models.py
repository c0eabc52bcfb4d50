"""Model catalog: architecture numbers that set parameter bytes and KV bytes per token.

Sources: the models' Hugging Face ``config.json`` files (meta-llama/Llama-2-{7b,13b,70b}-hf,
meta-llama/Meta-Llama-3-8B, mistralai/Mistral-7B-v0.1; meta-llama/Llama-3.1-8B,
meta-llama/Meta-Llama-3-70B, Qwen/Qwen2-7B, Qwen/Qwen2-72B, mistralai/Mixtral-8x7B-v0.1).
``tiny-llama`` is our own test size.

Multi-head-attention 7B models of LLM-Inference-Bench's Fig_10 (issue 12: they pin how engines
read a full-width KV cache, which Llama-2-7B has and the GQA models do not): Qwen/Qwen1.5-7B,
BAAI/Aquila-7B, EleutherAI/gpt-j-6b, facebook/opt-6.7b, bigscience/bloom-7b1 (their config.json).
GPT-J, OPT and BLOOM have a plain two-matrix MLP of width 16,384; it is written here as the gated
MLP this catalog models with ``ffn`` = 10,923 (3 x 10,923 = 32,769 ~ 2 x 16,384 columns: the same
weights and FLOPs within 0.003 %). Their other differences (GPT-J's parallel attention/MLP, OPT's
learned positions, BLOOM's ALiBi) move no weight or KV bytes and are not modelled.

Mixture of experts (Mixtral): each decoder layer has ``experts`` gated MLPs of width ``ffn`` and
a router; each token runs ``experts_per_token`` of them. All experts stay resident (parameter and
memory counts include them), but a forward pass over N tokens reads only the experts its tokens
picked. Assuming uniform, independent routing (each token picks k of E experts at random; real
routers are skewed, which touches fewer), the expected number of distinct experts one layer
reads is E * (1 - (1 - k/E)^N): k at N = 1, approaching E as N grows (Mixtral, E = 8, k = 2:
2 at N = 1, 3.5 at N = 2, 7.2 at N = 8). ``expected_experts_touched`` and
``weight_bytes_touched`` compute this; FLOPs per token count k experts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phasesim.errors import InputError

__all__ = ["DTYPE_BYTES", "MAX_CONTEXT_TOKENS", "MAX_MODEL_DIMENSION", "MAX_VOCAB",
           "MIN_CONTEXT_TOKENS", "MODELS", "ModelSpec", "get_model", "model_from_hf_config"]

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """A Llama-family decoder, dense or mixture of experts (see the module docstring).

    All sizes are counts (not bytes) unless the name says bytes. ``ffn`` is one expert's (or the
    dense MLP's) intermediate size; ``experts`` routed MLPs per layer (1: dense), of which each
    token runs ``experts_per_token``. ``attention_bias``: q/k/v projections carry biases (Qwen2).
    """

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
    attention_bias: bool = False
    experts: int = 1
    experts_per_token: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.experts_per_token <= self.experts:
            raise InputError(f"model '{self.name}': experts_per_token must be in 1..experts "
                             f"({self.experts}), got {self.experts_per_token}")

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    def _attention_params(self) -> int:
        attn = self.hidden * self.heads * self.head_dim  # q
        attn += 2 * self.hidden * self.kv_heads * self.head_dim  # k, v
        attn += self.heads * self.head_dim * self.hidden  # o
        if self.attention_bias:
            attn += (self.heads + 2 * self.kv_heads) * self.head_dim
        return attn

    def _expert_params(self) -> int:
        return 3 * self.hidden * self.ffn  # gate, up, down

    def _router_params(self) -> int:
        return self.hidden * self.experts if self.is_moe else 0

    def _param_count(self, experts_per_layer: int) -> int:
        mlp = experts_per_layer * self._expert_params() + self._router_params()
        norms = 2 * self.hidden
        per_layer = self._attention_params() + mlp + norms
        embed = self.vocab * self.hidden
        lm_head = 0 if self.tied_embeddings else self.vocab * self.hidden
        return self.layers * per_layer + embed + lm_head + self.hidden

    @property
    def param_count(self) -> int:
        """Every parameter, all experts included (what has to fit in memory)."""
        return self._param_count(self.experts)

    @property
    def active_param_count(self) -> int:
        """Parameters one token runs through: ``experts_per_token`` experts per layer."""
        return self._param_count(self.experts_per_token)

    def param_bytes(self, dtype: str) -> int:
        return self.param_count * DTYPE_BYTES[dtype]

    def kv_bytes_per_token(self, dtype: str) -> int:
        """K and V for every layer: 2 * layers * kv_heads * head_dim * bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * DTYPE_BYTES[dtype]

    def flops_per_token_linear(self) -> int:
        """Matmul FLOPs per token outside attention scores: 2 x (active params - embedding table)."""
        return 2 * (self.active_param_count - self.vocab * self.hidden)

    def expected_experts_touched(self, tokens: float) -> float:
        """Expected distinct experts one MoE layer reads in a pass over ``tokens`` tokens.

        E * (1 - (1 - k/E)^N) under uniform, independent routing (an assumption: trained routers
        are skewed and touch fewer). 1 for a dense model; 0 for no tokens. For a decode step,
        ``tokens`` is the batch size; for a prefill, every prompt token of the batch. A number or
        a numpy array (element-wise).
        """
        if not self.is_moe:
            if np.ndim(tokens):
                return np.where(np.asarray(tokens) > 0, 1.0, 0.0)
            return float(tokens > 0)
        e, k = self.experts, self.experts_per_token
        return e * (1.0 - (1.0 - k / e) ** tokens)

    def weight_bytes_touched(self, tokens: float, dtype: str) -> float:
        """Weight bytes a forward pass over ``tokens`` tokens reads from memory.

        Decoder layers (attention, router, norms and the expected distinct experts of
        ``expected_experts_touched``) plus the final norm and LM head. The embedding table is left
        out: a pass reads only its ``tokens`` rows (unless tied to the LM head, which is read
        whole). Dense models: every weight but the embedding table, independent of ``tokens``.
        """
        experts = self.expected_experts_touched(tokens)
        mlp = experts * self._expert_params() + self._router_params()
        per_layer = self._attention_params() + mlp + 2 * self.hidden
        lm_head = self.vocab * self.hidden
        return (self.layers * per_layer + lm_head + self.hidden) * DTYPE_BYTES[dtype]


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
        ModelSpec(name="llama3.1-8b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                  ffn=14336, vocab=128256, max_context_tokens=131072),
        ModelSpec(name="llama3-70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
                  ffn=28672, vocab=128256, max_context_tokens=8192),
        ModelSpec(name="qwen2-7b", layers=28, hidden=3584, heads=28, kv_heads=4, head_dim=128,
                  ffn=18944, vocab=152064, max_context_tokens=131072, attention_bias=True),
        ModelSpec(name="qwen2-72b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
                  ffn=29568, vocab=152064, max_context_tokens=131072, attention_bias=True),
        ModelSpec(name="mixtral-8x7b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                  ffn=14336, vocab=32000, max_context_tokens=32768, experts=8, experts_per_token=2),
        ModelSpec(name="qwen1.5-7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                  ffn=11008, vocab=151936, max_context_tokens=32768, attention_bias=True),
        ModelSpec(name="aquila-7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                  ffn=11008, vocab=100008, max_context_tokens=2048),
        ModelSpec(name="gpt-j-6b", layers=28, hidden=4096, heads=16, kv_heads=16, head_dim=256,
                  ffn=10923, vocab=50400, max_context_tokens=2048),
        ModelSpec(name="opt-6.7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                  ffn=10923, vocab=50272, max_context_tokens=2048, tied_embeddings=True),
        ModelSpec(name="bloom-7b1", layers=30, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                  ffn=10923, vocab=250880, max_context_tokens=2048, tied_embeddings=True),
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


# Bounds on a model definition's numbers, far above any published model (Llama 3.1 405B: 126
# layers, hidden 16,384, ffn 53,248; vocabularies up to 256k; contexts up to 10M tokens) and low
# enough that parameter and KV byte counts stay exact in float64 and int64.
MAX_MODEL_DIMENSION = 2**20
MAX_VOCAB = 2**24
MAX_CONTEXT_TOKENS = 2**26
MIN_CONTEXT_TOKENS = 16  # the smallest length of an analytical table's token grid

_HF_COUNTS = (  # config.json key, its bound
    ("num_hidden_layers", MAX_MODEL_DIMENSION), ("hidden_size", MAX_MODEL_DIMENSION),
    ("num_attention_heads", MAX_MODEL_DIMENSION), ("num_key_value_heads", MAX_MODEL_DIMENSION),
    ("head_dim", MAX_MODEL_DIMENSION), ("intermediate_size", MAX_MODEL_DIMENSION),
    ("vocab_size", MAX_VOCAB), ("max_position_embeddings", MAX_CONTEXT_TOKENS),
    ("num_local_experts", MAX_MODEL_DIMENSION), ("num_experts_per_tok", MAX_MODEL_DIMENSION))
_HF_FLAGS = ("tie_word_embeddings", "attention_bias")


def model_from_hf_config(path: str | Path) -> ModelSpec:
    """Read a Hugging Face Llama/Mistral/Qwen2/Mixtral ``config.json``.

    MoE: ``num_local_experts`` and ``num_experts_per_tok`` (Mixtral's names). Qwen2 configs do
    not spell out their q/k/v biases: ``model_type`` "qwen2" implies them. Every count must be a
    JSON integer in 1..its bound (``MAX_MODEL_DIMENSION``, ``MAX_VOCAB``,
    ``MAX_CONTEXT_TOKENS``), the flags JSON booleans, and the attention shape consistent (a
    whole head_dim >= 1, kv heads dividing the heads): anything else is an :class:`InputError`
    naming the file and the key.
    """
    path = Path(path)
    try:
        cfg = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if not isinstance(cfg, dict):
        raise InputError(f"must hold a JSON object, got {type(cfg).__name__}", path=path)
    required = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                "vocab_size")
    for key in required:
        if key not in cfg:
            raise InputError("missing field", path=path, column=key)
    for key, bound in _HF_COUNTS:
        value = cfg.get(key)
        if value is None and key not in required:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
            raise InputError(f"must be a whole number in 1..{bound:,}, got {_shown(value)}",
                             path=path, column=key)
    context = cfg.get("max_position_embeddings")
    if context is not None and context < MIN_CONTEXT_TOKENS:
        raise InputError(f"must be at least {MIN_CONTEXT_TOKENS} tokens, got {context}", path=path,
                         column="max_position_embeddings")
    for key in _HF_FLAGS:
        if cfg.get(key) is not None and not isinstance(cfg[key], bool):
            raise InputError(f"must be true or false, got {_shown(cfg[key])}", path=path, column=key)
    heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    if heads % kv_heads:
        raise InputError(f"{kv_heads} key/value heads do not divide the {heads} attention heads",
                         path=path, column="num_key_value_heads")
    if cfg.get("head_dim") is None and hidden < heads:
        raise InputError(f"hidden_size {hidden} is smaller than num_attention_heads {heads} "
                         "(a head of no width); give head_dim", path=path, column="hidden_size")
    experts = cfg.get("num_local_experts") or 1
    if experts > 1 and cfg.get("num_experts_per_tok") is None:
        raise InputError("missing field (a mixture of experts needs it)", path=path,
                         column="num_experts_per_tok")
    name = cfg.get("_name_or_path") or path.parent.name or path.stem
    try:
        return ModelSpec(
            name=str(name),
            layers=cfg["num_hidden_layers"],
            hidden=hidden,
            heads=heads,
            kv_heads=kv_heads,
            head_dim=cfg.get("head_dim") or hidden // heads,
            ffn=cfg["intermediate_size"],
            vocab=cfg["vocab_size"],
            max_context_tokens=cfg.get("max_position_embeddings") or 4096,
            tied_embeddings=cfg.get("tie_word_embeddings") or False,
            attention_bias=cfg.get("attention_bias", cfg.get("model_type") == "qwen2") is True,
            experts=experts,
            experts_per_token=cfg["num_experts_per_tok"] if experts > 1 else 1,
        )
    except InputError as exc:
        raise InputError(exc.message, path=path, column="num_experts_per_tok") from None


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
