"""Batching policies: plain functions from a read-only view of one instance to a ``StepDecision``.

A policy never mutates anything; the instance applies the decision (vLLM's schedule() /
update_from_output() split). Adding a policy = one function + one entry in ``POLICIES``.

Shared rules:
- a prefill covers the prompt plus any tokens already generated (recompute after preemption,
  vLLM's default) and emits one token;
- admission reserves KV blocks for that prefill; while anything else is running it also keeps
  ``watermark_blocks`` free (vLLM's watermark);
- before a decode step every decoding sequence may need one more block; if the cache cannot
  supply them, the newest running sequences are preempted (their blocks freed, they go back to
  the waiting queue) until it can;
- the engine's ``KVAdmission`` changes the last two rules (``kv_admission`` of the engine
  catalog, with each engine's source): ``PREEMPT`` is the rules as written (vLLM); ``RESERVE``
  admits only when the blocks of the prompt plus the requested output can be reserved up front
  (no watermark: a reserved sequence never grows past its blocks), so nothing is ever preempted
  (TensorRT-LLM's GUARANTEED_NO_EVICT); ``STALL`` admits on the prompt's blocks, gives the free
  blocks to the oldest decoding sequences and lets the others skip the step holding their KV
  (DeepSpeed-MII FastGen); only when no sequence at all could advance does it preempt as
  ``PREEMPT`` does (FastGen resets its cache and recomputes there);
- ``ready`` requests arrived over a KV-transfer link with their blocks already reserved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from phasesim.simulator.kv import blocks_for
from phasesim.simulator.request import Request
from phasesim.simulator.topology import Batching, KVAdmission

__all__ = ["StepDecision", "InstanceView", "POLICIES", "continuous", "chunked", "static",
           "no_batching", "prefill_tokens", "admission_tokens"]


class StepDecision(NamedTuple):
    """One iteration's decision (immutable). ``chunks`` are (request, new prompt tokens) pairs."""

    join: tuple[Request, ...] = ()
    admit: tuple[Request, ...] = ()
    chunks: tuple[tuple[Request, int], ...] = ()
    decode: tuple[Request, ...] = ()
    preempt: tuple[Request, ...] = ()

    @property
    def idle(self) -> bool:
        return not (self.join or self.admit or self.chunks or self.decode or self.preempt)

    @property
    def decode_only(self) -> bool:
        """Decode steps of running or just-joined sequences, nothing else: the batch can be
        fast-forwarded (the next decisions would be the same until something changes). Not after
        a preemption: the freed KV may let the next decision admit."""
        return bool(self.decode) and not (self.admit or self.chunks or self.preempt)


@dataclass(slots=True, kw_only=True)
class InstanceView:
    """What a policy may look at: read, never mutate. The sequences are the instance's own
    (one view per instance, its ``free_blocks`` refreshed before each decision; a policy must not
    keep it)."""

    waiting: Sequence[Request]
    running: Sequence[Request]
    ready: Sequence[Request]
    free_blocks: int
    watermark_blocks: int
    block_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_admission: KVAdmission = KVAdmission.PREEMPT


def prefill_tokens(request: Request) -> int:
    """Tokens a (re)prefill of this request must cover."""
    return request.prompt_tokens + request.generated_tokens


def admission_tokens(request: Request, kv_admission: KVAdmission) -> int:
    """Tokens of KV an admission allocates: the (re)prefill's, or under ``RESERVE`` the whole
    sequence's (prompt + requested output), so that its decode steps need no further block."""
    if kv_admission is KVAdmission.RESERVE:
        return request.prompt_tokens + request.output_tokens
    return prefill_tokens(request)


def _admit(view: InstanceView, *, busy: int, free_blocks: int, budget: int,
           max_num_seqs: int) -> tuple[list[Request], int]:
    """Admit from the head of the queue while seats, token budget and KV allow (head-of-line
    blocking, like vLLM). The first admission may exceed the token budget alone."""
    admitted: list[Request] = []
    used_tokens = 0
    kv_admission = view.kv_admission
    watermark = 0 if kv_admission is KVAdmission.RESERVE else view.watermark_blocks
    for request in view.waiting:
        if busy + len(admitted) >= max_num_seqs:
            break
        tokens = prefill_tokens(request)
        if admitted and used_tokens + tokens > budget:
            break
        need = blocks_for(admission_tokens(request, kv_admission), view.block_tokens)
        headroom = watermark if busy or admitted else 0
        if need + headroom > free_blocks:
            break
        admitted.append(request)
        free_blocks -= need
        used_tokens += tokens
    return admitted, free_blocks


def _fit_decode(batch: Sequence[Request], free_blocks: int, block_tokens: int,
                kv_admission: KVAdmission) -> tuple[tuple[Request, ...], tuple[Request, ...], int]:
    """Decoding sequences that get their next block, the preempted (newest first), free left
    (under ``STALL`` the sequences left out wait, holding their KV: module docstring)."""
    need = 0
    for r in batch:
        if -(-(r.cached_tokens + 1) // block_tokens) > r.kv_blocks:  # blocks_for(next token)
            need += 1
    if need <= free_blocks:
        return tuple(batch), (), free_blocks - need
    keep = list(batch)
    grows = [-(-(r.cached_tokens + 1) // block_tokens) > r.kv_blocks for r in keep]
    if kv_admission is KVAdmission.STALL:
        advance = []
        for r, grow in zip(keep, grows):  # the oldest first take the free blocks
            if not grow:
                advance.append(r)
            elif free_blocks:
                advance.append(r)
                free_blocks -= 1
        if advance:
            return tuple(advance), (), free_blocks
    preempt: list[Request] = []
    while need > free_blocks and keep:
        victim = keep.pop()
        preempt.append(victim)
        free_blocks += victim.kv_blocks - victim.shared_blocks  # shared prefix blocks: maybe held
        need -= grows.pop()
    return tuple(keep), tuple(preempt), free_blocks - need


def continuous(view: InstanceView) -> StepDecision:
    """vLLM-style iteration-level scheduling: prefill-first, else one decode step for all."""
    join = tuple(view.ready)
    running = len(view.running) + len(join)
    admitted = _admit(view, busy=running, free_blocks=view.free_blocks,
                      budget=view.max_num_batched_tokens,
                      max_num_seqs=view.max_num_seqs)[0] if view.waiting else None
    if admitted:
        return StepDecision(join=join, admit=tuple(admitted),
                        chunks=tuple((r, prefill_tokens(r)) for r in admitted))
    decode, preempt, _ = _fit_decode((*view.running, *join), view.free_blocks,
                                      view.block_tokens, view.kv_admission)
    return StepDecision(join=join, decode=decode, preempt=preempt)


def chunked(view: InstanceView) -> StepDecision:
    """Sarathi-style: a token budget per iteration; running decodes first (one token each, the
    oldest first while the budget lasts), then chunks of unfinished prefills, then new
    admissions, in one mixed iteration."""
    join = tuple(view.ready)
    running = (*view.running, *join)
    # a decode takes one token of the budget: past it, the rest wait a step (as in vLLM)
    decoding = [r for r in running if r.prefilled][:view.max_num_batched_tokens]
    decode, preempt, free = _fit_decode(decoding, view.free_blocks, view.block_tokens,
                                       view.kv_admission)
    budget = view.max_num_batched_tokens - len(decode)
    chunks: list[tuple[Request, int]] = []
    for request in running:
        if budget <= 0:
            break
        if not request.prefilled and request not in preempt:
            take = min(budget, request.prefill_target_tokens - request.prefill_done_tokens)
            chunks.append((request, take))
            budget -= take
    admitted: list[Request] = []
    if budget > 0:
        admitted, _ = _admit(view, busy=len(running) - len(preempt), free_blocks=free,
                             budget=budget, max_num_seqs=view.max_num_seqs)
        for request in admitted:
            if budget <= 0:
                admitted = admitted[: admitted.index(request)]
                break
            take = min(budget, prefill_tokens(request))
            chunks.append((request, take))
            budget -= take
    return StepDecision(join=join, admit=tuple(admitted), chunks=tuple(chunks), decode=decode,
                    preempt=preempt)


def _static(view: InstanceView, max_num_seqs: int) -> StepDecision:
    if view.running:  # run the formed batch to completion
        decode, preempt, _ = _fit_decode(view.running, view.free_blocks, view.block_tokens,
                                         view.kv_admission)
        return StepDecision(decode=decode, preempt=preempt)
    join = tuple(view.ready[:max_num_seqs])
    admitted, _ = _admit(view, busy=len(join), free_blocks=view.free_blocks,
                         budget=view.max_num_batched_tokens, max_num_seqs=max_num_seqs)
    if admitted:
        return StepDecision(join=join, admit=tuple(admitted),
                        chunks=tuple((r, prefill_tokens(r)) for r in admitted))
    decode, preempt, _ = _fit_decode(join, view.free_blocks, view.block_tokens,
                                     view.kv_admission)
    return StepDecision(join=join, decode=decode, preempt=preempt)


def static(view: InstanceView) -> StepDecision:
    """Form a batch (prefill together), run it to completion, only then form the next."""
    return _static(view, view.max_num_seqs)


def no_batching(view: InstanceView) -> StepDecision:
    """One sequence at a time (GroqRack's default)."""
    return _static(view, 1)


POLICIES: dict[Batching, Callable[[InstanceView], StepDecision]] = {
    Batching.CONTINUOUS: continuous,
    Batching.CHUNKED: chunked,
    Batching.STATIC: static,
    Batching.NONE: no_batching,
}
