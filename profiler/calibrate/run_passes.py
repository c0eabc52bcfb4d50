"""How one closed-batch benchmark run unfolds into forward passes, as terms to price.

A latency benchmark (LLM-Inference-Bench, vLLM's ``benchmark_latency``, ``sim latency``) submits
``requests`` prompts of ``input_len`` tokens at once and lets each generate ``output_len`` tokens.
Which forward passes the engine runs depends only on the scheduler and the lengths, never on how
long a pass takes: all requests are there at t = 0 and the policies of
``phasesim.simulator.batching`` decide from state alone. So :func:`unfold_run` asks the engine's
policy for each iteration, as an instance does, and the passes can be worked out once and priced
many times, which is what makes fitting by simulation affordable (``engine_fit``): a row's time is
a sum of roofline terms over its passes, the same sum the simulator accumulates step by step when
it replays the run on a table built from the same constants
(``tests/profiler/calibrate/test_engine_fit.py`` checks the two agree).

:class:`RunPasses` is three lists of terms (``T(n, x)``: one prefill pass of ``n`` sequences of
``x`` tokens; ``D(b, c)``: one decode step of ``b`` sequences at mean context ``c``, affine in
``c``):

- ``prefill``: ``(n, x, weight)``, adding ``weight * T(n, x)``; a pass of chunks after prefixes
  costs ``T(n, 0) + (1/n) * sum_i [T(n, p_i + c_i) - T(n, p_i)]`` (the table model's rule);
- ``decode``: ``(b, steps, context_sum)``, adding ``steps * D(b, 0) + slope(b) * context_sum``
  where ``context_sum`` sums the mean context of each step; a decision that only decodes is
  run up to the next sequence's end in one term (the simulator's fast mode);
- ``mixed``: ``(n, b)``, subtracting ``min(T(n, 0), D(b, 0))`` for an iteration that ran prefill
  chunks and decodes together (weights read once);
- ``passes``: the iterations in all (a layer-split engine pays its device hand-offs per pass).

Each term also says whether it happens before the last request's first token (``ttft``).
KV capacity is not modelled here (the policies see a cache that never fills): a run that would
preempt in the simulator is priced as if it fitted (the fit's final errors come from the
simulator itself, which does model it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from phasesim.simulator.batching import POLICIES, InstanceView, StepDecision, prefill_tokens
from phasesim.simulator.request import Request
from phasesim.simulator.topology import Batching

__all__ = ["RunPasses", "unfold_run"]

# KV the policies see: enough that no admission or decode step ever waits for it
_UNLIMITED_BLOCKS = 1 << 62
_BLOCK_TOKENS = 16


@dataclass(slots=True)
class RunPasses:
    prefill: list[tuple[int, float, float, bool]] = field(default_factory=list)
    decode: list[tuple[int, int, float, bool]] = field(default_factory=list)
    mixed: list[tuple[int, int, bool]] = field(default_factory=list)
    passes: int = 0  # forward passes (iterations) in all

    def add_decode(self, b: int, steps: int, context_sum: float, ttft: bool) -> None:
        self.decode.append((b, steps, context_sum, ttft))
        self.passes += steps

    def add_mixed(self, n: int, b: int, ttft: bool) -> None:
        """Mark the last pass and the last decode step as one iteration."""
        self.mixed.append((n, b, ttft))
        self.passes -= 1

    def add_pass(self, chunks: list[tuple[int, int]], ttft: bool) -> int:
        """One prefill pass over ``(chunk, prefix)`` pairs; returns its sequence count."""
        n = len(chunks)
        self.passes += 1
        if all(p == 0 for _, p in chunks):
            for c, _ in chunks:
                self.prefill.append((n, float(c), 1.0 / n, ttft))
            return n
        self.prefill.append((n, 0.0, 1.0, ttft))
        for c, p in chunks:
            self.prefill.append((n, float(p + c), 1.0 / n, ttft))
            self.prefill.append((n, float(p), -1.0 / n, ttft))
        return n


def unfold_run(*, batching: Batching | str, requests: int, input_len: int, output_len: int,
               max_num_seqs: int, token_budget: int) -> RunPasses:
    """The passes of ``requests`` equal prompts under the ``batching`` policy with the instance's
    seat and token limits: each iteration is the policy's decision on the run's state, applied as
    a colocated instance applies it (a prefill emits the first token); module docstring."""
    policy = POLICIES[Batching(batching)]
    waiting = [Request(index=i, request_id=i, prompt_tokens=input_len, output_tokens=output_len,
                       priority=0, arrival_ns=0) for i in range(requests)]
    running: list[Request] = []
    view = InstanceView(waiting=waiting, running=running, ready=(), free_blocks=_UNLIMITED_BLOCKS,
                        watermark_blocks=0, block_tokens=_BLOCK_TOKENS, max_num_seqs=max_num_seqs,
                        max_num_batched_tokens=token_budget)
    out = RunPasses()
    unfed = requests  # requests without their first token
    while waiting or running:
        step = policy(view)
        if step.idle:  # nothing fits: cannot happen without KV limits
            raise ValueError(f"{Batching(batching).value} batching made no progress")
        ttft = unfed > 0  # this iteration ends at or before the last first token
        if step.decode_only:
            _decode_run(out, step.decode, running, ttft)
            continue
        _admit(step, waiting, running)
        n = out.add_pass([(tokens, r.prefill_done_tokens) for r, tokens in step.chunks],
                         ttft) if step.chunks else 0
        if step.decode:
            out.add_decode(len(step.decode), 1, _context_sum(step.decode, 1), ttft)
            if n:
                out.add_mixed(n, len(step.decode), ttft)
        for request, tokens in step.chunks:
            request.prefill_done_tokens += tokens
            request.cached_tokens = request.prefill_done_tokens
            if request.prefilled:  # the prefill emits the first token
                request.generated_tokens += 1
                unfed -= 1
        _advance(step.decode, 1)
        running[:] = [r for r in running if r.generated_tokens < r.output_tokens]
    return out


def _admit(step: StepDecision, waiting: list[Request], running: list[Request]) -> None:
    """Move the admitted requests from the head of the queue to the running batch."""
    del waiting[:len(step.admit)]
    for request in step.admit:
        request.prefill_target_tokens = prefill_tokens(request)
        request.prefill_done_tokens = request.cached_tokens = 0
        running.append(request)


def _context_sum(batch: Sequence[Request], steps: int) -> float:
    """The mean context of ``steps`` lock-step decode steps of ``batch``, summed: the cached
    tokens at step k are ``ctx0 + k * b``."""
    b = len(batch)
    ctx0 = sum(r.cached_tokens for r in batch)
    return steps * ctx0 / b + steps * (steps - 1) / 2


def _advance(batch: Sequence[Request], steps: int) -> None:
    for request in batch:
        request.cached_tokens += steps
        request.generated_tokens += steps


def _decode_run(out: RunPasses, batch: Sequence[Request], running: list[Request],
                ttft: bool) -> None:
    """Decode-only decisions repeat until a sequence of ``batch`` ends: run them as one term."""
    steps = min(r.output_tokens - r.generated_tokens for r in batch)
    out.add_decode(len(batch), steps, _context_sum(batch, steps), ttft)
    _advance(batch, steps)
    running[:] = [r for r in running if r.generated_tokens < r.output_tokens]
