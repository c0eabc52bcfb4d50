"""Paged KV-cache accounting for one instance: blocks of ``block_tokens`` tokens (vLLM's 16),
the prefix cache that shares prompt blocks between requests (``PrefixKVCache``), and the decode
side's reservations of blocks for incoming KV transfers."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

from phasesim.simulator.request import Request

__all__ = ["KVCache", "PrefixKVCache", "KVReservations", "blocks_for"]


def blocks_for(tokens: int, block_tokens: int) -> int:
    """Blocks needed to hold ``tokens`` tokens."""
    return -(-tokens // block_tokens)


class KVCache:
    """Block counts only; which request holds how many lives on the request (``kv_blocks``)."""

    __slots__ = ("capacity_blocks", "block_tokens", "used_blocks", "watermark_blocks",
                 "evictable_blocks")

    def __init__(self, *, capacity_tokens: int, block_tokens: int,
                 watermark_fraction: float) -> None:
        self.block_tokens = block_tokens
        self.capacity_blocks = capacity_tokens // block_tokens
        self.used_blocks = 0
        self.watermark_blocks = int(watermark_fraction * self.capacity_blocks)
        # blocks in use that no request holds (a prefix cache's idle blocks): free on demand
        self.evictable_blocks = 0

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


class PrefixKVCache(KVCache):
    """A paged KV cache whose full prompt blocks are shared between requests (vLLM's automatic
    prefix caching, SGLang's radix cache), in units of the trace's prefix blocks
    (``prefix_block_tokens``: Mooncake's 512 tokens = 32 KV blocks of 16).

    A resident prefix block is a hash id with a reference count: the running requests that use
    it. ``used_blocks`` counts every resident block once, plus each request's private blocks
    (its ``kv_blocks`` less its ``shared_blocks``). A block no request holds stays resident, idle
    and evictable (``evictable_blocks``), least recently used first; ``allocate`` evicts idle
    blocks (LRU) when the free ones do not suffice, so eviction comes before preemption (a policy
    sees free + evictable blocks). The chain of a request's hash ids is matched from its start
    (``match``): block k is reused only if blocks 0..k-1 are too.
    """

    __slots__ = ("prefix_tokens", "blocks_per_prefix", "refs", "idle", "evictions",
                 "inserted", "cached_blocks")

    def __init__(self, *, capacity_tokens: int, block_tokens: int, watermark_fraction: float,
                 prefix_block_tokens: int) -> None:
        super().__init__(capacity_tokens=capacity_tokens, block_tokens=block_tokens,
                         watermark_fraction=watermark_fraction)
        assert prefix_block_tokens % block_tokens == 0, "prefix blocks are whole KV blocks"
        self.prefix_tokens = prefix_block_tokens
        self.blocks_per_prefix = prefix_block_tokens // block_tokens
        self.refs: dict[int, int] = {}  # resident hash id -> requests holding it (0: idle)
        self.idle: OrderedDict[int, None] = OrderedDict()  # refs == 0, least recently used first
        self.evictions = 0  # prefix blocks evicted
        self.inserted = 0  # prefix blocks made resident
        self.cached_blocks = 0  # KV blocks of resident prefix blocks (held or idle)

    def match(self, hash_ids: tuple[int, ...], limit: int) -> int:
        """How many of the first ``limit`` hash ids are resident, counted from the first."""
        refs, k = self.refs, 0
        while k < limit and hash_ids[k] in refs:
            k += 1
        return k

    def reuse(self, hash_ids: tuple[int, ...], limit: int) -> int:
        """``match`` and ``acquire`` in one pass: hold the resident leading blocks among the
        first ``limit``; how many."""
        refs, idle = self.refs, self.idle
        k = 0
        while k < limit:
            h = hash_ids[k]
            held = refs.get(h)
            if held is None:
                break
            if held == 0:
                del idle[h]
                self.evictable_blocks -= self.blocks_per_prefix
            refs[h] = held + 1
            k += 1
        return k

    def acquire(self, hash_ids: tuple[int, ...]) -> None:
        """Hold resident prefix blocks (a request reuses them)."""
        refs, idle = self.refs, self.idle
        for h in hash_ids:
            if refs[h] == 0:
                del idle[h]
                self.evictable_blocks -= self.blocks_per_prefix
            refs[h] += 1

    def insert(self, hash_ids: tuple[int, ...]) -> None:
        """A request's freshly computed prefix blocks, held by it, become shared: its private
        blocks become the resident copy, or, where another request made the block resident
        meanwhile, are freed and the resident copy is held instead."""
        refs, idle, per = self.refs, self.idle, self.blocks_per_prefix
        for h in hash_ids:
            held = refs.get(h)
            if held is None:
                refs[h] = 1
                self.inserted += 1
                self.cached_blocks += per
            else:
                if held == 0:
                    del idle[h]
                    self.evictable_blocks -= per
                refs[h] = held + 1
                self.used_blocks -= per  # the duplicate private copy

    def release(self, hash_ids: tuple[int, ...]) -> None:
        """Let go of held prefix blocks; the last holder leaves them idle (most recently used),
        the chain's tail before its head, so the tail is evicted first (as vLLM frees them)."""
        refs, idle = self.refs, self.idle
        for h in reversed(hash_ids):
            held = refs[h] - 1
            refs[h] = held
            if held == 0:
                idle[h] = None
                self.evictable_blocks += self.blocks_per_prefix

    def allocate(self, blocks: int) -> None:
        free = self.capacity_blocks - self.used_blocks
        if blocks > free:
            self.evict(blocks - free)
            free = self.capacity_blocks - self.used_blocks
        assert 0 <= blocks <= free, "KV over-allocation"
        self.used_blocks += blocks

    def evict(self, blocks: int) -> None:
        """Evict idle prefix blocks, least recently used first, until ``blocks`` are freed (or
        none is idle)."""
        idle, refs, per = self.idle, self.refs, self.blocks_per_prefix
        while blocks > 0 and idle:
            h, _ = idle.popitem(last=False)
            del refs[h]
            self.used_blocks -= per
            self.evictable_blocks -= per
            self.cached_blocks -= per
            self.evictions += 1
            blocks -= per


class KVReservations:
    """A decode instance's queue of KV reservations for incoming transfers (disaggregated).

    ``ask`` queues one; ``grant`` grants them first come first served while a seat (running +
    ready + ``incoming`` < ``max_num_seqs``) and the blocks are free (above the watermark unless
    the instance is empty) and no request waits on the instance to be recomputed (preempted:
    vLLM puts it back at the head of its waiting queue, ahead of every request not yet
    allocated KV, so new transfers wait for it rather than starve it), allocating the blocks
    and setting the request's ``kv_blocks``;
    ``tell_granted`` then calls the granted requests back, once the caller's step is complete.
    A granted request is ``incoming`` until its owner lowers the count as it joins.
    """

    __slots__ = ("pending", "incoming", "granted", "_kv", "_running", "_ready", "_waiting",
                 "_max_num_seqs")

    def __init__(self, *, kv: KVCache, running: list[Request], ready: list[Request],
                 waiting: list[Request], max_num_seqs: int) -> None:
        self.pending: deque[tuple[Request, int, Callable[[], object]]] = deque()
        self.incoming = 0  # granted, transfer in flight
        self.granted: list[Callable[[], object]] = []  # granted, not yet called back
        self._kv = kv
        self._running = running  # the instance's own lists, read here
        self._ready = ready
        self._waiting = waiting
        self._max_num_seqs = max_num_seqs

    def ask(self, request: Request, blocks: int, on_granted: Callable[[], object]) -> None:
        """Queue a reservation of ``blocks`` for ``request``; ``on_granted()`` once granted."""
        self.pending.append((request, blocks, on_granted))

    def grant(self) -> None:
        """Grant decode-side KV first come first served while a seat and the blocks are free and
        no preempted request waits here."""
        kv, pending = self._kv, self.pending
        if self._waiting:
            return
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
