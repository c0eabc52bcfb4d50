"""Paged KV-cache accounting for one instance: blocks of ``block_tokens`` tokens (vLLM's 16)."""

from __future__ import annotations

__all__ = ["KVCache", "blocks_for"]


def blocks_for(tokens: int, block_tokens: int) -> int:
    """Blocks needed to hold ``tokens`` tokens."""
    return -(-tokens // block_tokens)


class KVCache:
    """Block counts only; which request holds how many lives on the request (``kv_blocks``)."""

    __slots__ = ("capacity_blocks", "block_tokens", "used_blocks", "watermark_blocks")

    def __init__(self, *, capacity_tokens: int, block_tokens: int,
                 watermark_fraction: float) -> None:
        self.block_tokens = block_tokens
        self.capacity_blocks = capacity_tokens // block_tokens
        self.used_blocks = 0
        self.watermark_blocks = int(watermark_fraction * self.capacity_blocks)

    @property
    def free_blocks(self) -> int:
        return self.capacity_blocks - self.used_blocks

    @property
    def capacity_tokens(self) -> int:
        return self.capacity_blocks * self.block_tokens

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_tokens)

    def allocate(self, blocks: int) -> None:
        assert 0 <= blocks <= self.capacity_blocks - self.used_blocks, "KV over-allocation"
        self.used_blocks += blocks

    def free(self, blocks: int) -> None:
        assert 0 <= blocks <= self.used_blocks, "KV double free"
        self.used_blocks -= blocks
