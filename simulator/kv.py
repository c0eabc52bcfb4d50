"""Paged KV-cache accounting for one instance: blocks of ``block_tokens`` tokens (vLLM's 16),
and the decode side's reservations of blocks for incoming KV transfers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from phasesim.simulator.request import Request

__all__ = ["KVCache", "KVReservations", "blocks_for"]


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


class KVReservations:
    """A decode instance's queue of KV reservations for incoming transfers (disaggregated).

    ``ask`` queues one; ``grant`` grants them first come first served while a seat (running +
    ready + ``incoming`` < ``max_num_seqs``) and the blocks are free (above the watermark unless
    the instance is empty), allocating the blocks and setting the request's ``kv_blocks``;
    ``tell_granted`` then calls the granted requests back, once the caller's step is complete.
    A granted request is ``incoming`` until its owner lowers the count as it joins.
    """

    __slots__ = ("pending", "incoming", "granted", "_kv", "_running", "_ready", "_max_num_seqs")

    def __init__(self, *, kv: KVCache, running: list[Request], ready: list[Request],
                 max_num_seqs: int) -> None:
        self.pending: deque[tuple[Request, int, Callable[[], object]]] = deque()
        self.incoming = 0  # granted, transfer in flight
        self.granted: list[Callable[[], object]] = []  # granted, not yet called back
        self._kv = kv
        self._running = running  # the instance's own lists, read here
        self._ready = ready
        self._max_num_seqs = max_num_seqs

    def ask(self, request: Request, blocks: int, on_granted: Callable[[], object]) -> None:
        """Queue a reservation of ``blocks`` for ``request``; ``on_granted()`` once granted."""
        self.pending.append((request, blocks, on_granted))

    def grant(self) -> None:
        """Grant decode-side KV first come first served while a seat and the blocks are free."""
        kv, pending = self._kv, self.pending
        while pending:
            request, blocks, granted = pending[0]  # granted: the on_granted callback
            seated = len(self._running) + len(self._ready) + self.incoming
            if seated >= self._max_num_seqs:
                return
            headroom = kv.watermark_blocks if seated else 0
            if blocks + headroom > kv.free_blocks:
                return
            pending.popleft()
            kv.allocate(blocks)
            request.kv_blocks = blocks
            self.incoming += 1
            self.granted.append(granted)

    def tell_granted(self) -> None:
        """Call the granted requests back (after the step that granted them is complete)."""
        granted, self.granted = self.granted, []
        for on_granted in granted:
            on_granted()
