"""The arithmetic of a fast-forwarded decode run: ``k`` decode steps of an unchanged batch whose
step ends are known at once (see ``phasesim.simulator.instance``).

A run starts with the most steps that are due (up to the batch's next completion) whose KV
growth fits the free blocks (``steps_that_fit``); its step ends come from the cost model's
``decode_run`` (a slice ``cum_ns[lo:]`` of cumulative step ends in ns). While it runs, the steps
it has started (``DecodeRun.started``) give the KV growth routers see (``grown_blocks``); a
poke cuts it at the end of the step in progress (``cut``). Nothing here touches requests or the
KV cache: the instance applies a run's tokens and growth when it ends.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phasesim.simulator.context import Timer
from phasesim.simulator.costs.interface import DecodeRunFn
from phasesim.simulator.request import Request

__all__ = ["DecodeRun", "start_run", "steps_that_fit", "kv_growth_blocks"]



@dataclass(slots=True)
class DecodeRun:
    """A fast-forwarded decode run in progress."""

    batch: tuple[Request, ...]
    start_ns: int
    cum_ns: Sequence[int]  # step k ends cum_ns[lo + 1 + k] - base_ns after start_ns
    lo: int
    base_ns: int  # cum_ns[lo]
    steps: int  # steps it will have run when it ends (fewer once cut short)
    cached: list[int]  # each sequence's cached tokens at the start
    blocks: list[int]  # each sequence's KV blocks at the start
    end: Timer | None = None  # the event that ends the run (cut short: a new one)
    interrupted: bool = False
    allocated: int = 0  # growth blocks allocated before the end (a prefix-cache read mid-run)

    def end_ns(self, k: int) -> int:
        """When step k-1 ends (the k-th step), in ns after the run's start."""
        return self.cum_ns[self.lo + k] - self.base_ns

    def started(self, elapsed_ns: int) -> int:
        """Steps started by ``elapsed_ns`` after the start: those ended, plus the one in
        progress (``steps`` + 1 once the run is over)."""
        lo = self.lo
        return bisect.bisect_right(self.cum_ns, self.base_ns + elapsed_ns, lo,
                                   lo + self.steps + 1) - lo

    def cut(self, elapsed_ns: int) -> int:
        """End the run with the step in progress ``elapsed_ns`` after its start (``steps``
        becomes the steps started); the ns from now until that step ends."""
        lo, cum, base = self.lo, self.cum_ns, self.base_ns
        steps = self.steps = bisect.bisect_right(cum, base + elapsed_ns, lo,
                                                 lo + self.steps + 1) - lo
        return cum[lo + steps] - base - elapsed_ns

    def grown_blocks(self, elapsed_ns: int, block_tokens: int) -> int:
        """KV blocks the steps started by ``elapsed_ns`` add to the batch (not yet allocated:
        the instance allocates a run's growth when it ends)."""
        return kv_growth_blocks(self.cached, self.blocks, min(self.steps, self.started(elapsed_ns)),
                                block_tokens)


def kv_growth_blocks(cached: Sequence[int], blocks: Sequence[int], steps: int,
                     block_tokens: int) -> int:
    """Blocks that ``steps`` more tokens per sequence need beyond those held (sequences with
    ``cached`` tokens in ``blocks`` blocks of ``block_tokens`` tokens)."""
    return sum(max(0, -(-(c + steps) // block_tokens) - b) for c, b in zip(cached, blocks))


def steps_that_fit(cached: list[int], blocks: list[int], steps: int, free_blocks: int,
                   block_tokens: int) -> int:
    """The most steps (<= ``steps``) whose KV growth fits ``free_blocks``; at least 1 (the
    batching policy checked that one step fits)."""
    bt = block_tokens
    need = 0
    for c, b in zip(cached, blocks):
        grow = -(-(c + steps) // bt) - b
        if grow > 0:
            need += grow
    if need <= free_blocks:
        return steps
    cached_a, blocks_a = np.asarray(cached), np.asarray(blocks)

    def growth(k: int) -> int:
        return int(np.maximum(-(-(cached_a + k) // bt) - blocks_a, 0).sum())

    lo, hi = 1, steps  # growth(1) fits: the policy checked it
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if growth(mid) <= free_blocks:
            lo = mid
        else:
            hi = mid
    return lo


def start_run(batch: tuple[Request, ...], start_ns: int, free_blocks: int, block_tokens: int,
              decode_run: DecodeRunFn) -> DecodeRun:
    """The run of ``batch`` starting at ``start_ns``: up to its next completion, or fewer steps
    where the KV growth would not fit."""
    cached, blocks, left = [], [], []
    for r in batch:
        cached.append(r.cached_tokens)
        blocks.append(r.kv_blocks)
        left.append(r.output_tokens - r.generated_tokens)
    steps = steps_that_fit(cached, blocks, min(left), free_blocks, block_tokens)
    cum, lo = decode_run(len(batch), sum(cached), steps)
    return DecodeRun(batch, start_ns, cum, lo, cum[lo], steps, cached, blocks)
