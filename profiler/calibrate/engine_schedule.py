"""The step plan of one closed-batch benchmark run under an engine's scheduler, free of parameters.

A latency benchmark (LLM-Inference-Bench, vLLM's ``benchmark_latency``, ``sim latency``) submits
``requests`` prompts of ``input_len`` tokens at once and lets each generate ``output_len`` tokens.
Which forward passes the engine runs depends only on the scheduler and the lengths, never on how
long a pass takes: all requests are there at t = 0 and the policies of
``phasesim.simulator.batching`` decide from state alone. So the plan can be worked out once and
priced many times, which is what makes fitting by simulation affordable (``engine_fit``): a row's
time is a sum of roofline terms over the plan, the same sum the simulator accumulates step by step
when it replays the run on a table built from the same constants (``tests/profiler/
test_engine_fit.py`` checks the two agree).

A plan is three lists of terms (``T(n, x)``: one prefill pass of ``n`` sequences of ``x`` tokens;
``D(b, c)``: one decode step of ``b`` sequences at mean context ``c``, affine in ``c``):

- ``prefill``: ``(n, x, weight)``, adding ``weight * T(n, x)``; a pass of chunks after prefixes
  costs ``T(n, 0) + (1/n) * sum_i [T(n, p_i + c_i) - T(n, p_i)]`` (the table model's rule);
- ``decode``: ``(b, steps, context_sum)``, adding ``steps * D(b, 0) + slope(b) * context_sum``
  where ``context_sum`` sums the mean context of each step;
- ``mixed``: ``(n, b)``, subtracting ``min(T(n, 0), D(b, 0))`` for an iteration that ran prefill
  chunks and decodes together (weights read once);
- ``passes``: the iterations in all (a layer-split engine pays its device hand-offs per pass).

Each term also says whether it happens before the last request's first token (``ttft``).
KV capacity is not modelled here: a run that would preempt in the simulator is priced as if it
fitted (the fit's final errors come from the simulator itself, which does model it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Plan", "plan_run"]


@dataclass(slots=True)
class Plan:
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


def _decode_tail(plan: Plan, input_len: int, generated: list[int], output_len: int) -> None:
    """Lock-step decode of sequences that have ``generated`` tokens each until every one has
    ``output_len``; the batch shrinks as they finish. Context of a sequence = its cached tokens,
    ``input_len + generated - 1`` before a step."""
    left = sorted(output_len - g for g in generated if g < output_len)
    done_steps = 0
    remaining = list(generated)
    while left:
        b = len(left)
        steps = left[0] - done_steps
        if steps > 0:
            ctx0 = sum(input_len + g - 1 for g in remaining if g < output_len)  # sum over batch
            # mean context at step k: (ctx0 + k*b)/b; sum over k < steps
            context_sum = steps * ctx0 / b + steps * (steps - 1) / 2
            plan.add_decode(b, steps, context_sum, False)
            remaining = [g + steps if g < output_len else g for g in remaining]
            done_steps += steps
        left = [x for x in left if x > done_steps]


def plan_run(*, batching: str, requests: int, input_len: int, output_len: int,
             max_num_seqs: int, token_budget: int) -> Plan:
    """The plan of ``requests`` equal prompts under ``batching`` (a ``Batching`` value) with the
    instance's seat and token limits (module docstring)."""
    plan = Plan()
    if batching == "chunked":
        _plan_chunked(plan, requests, input_len, output_len, max_num_seqs, token_budget)
        return plan
    seats = 1 if batching == "none" else max_num_seqs
    waiting = requests
    while waiting:
        wave = min(seats, waiting)
        waiting -= wave
        last = waiting == 0
        group = wave if batching in ("static", "none") else max(1, min(wave, token_budget // input_len))
        left = wave
        while left:
            n = min(group, left)
            plan.add_pass([(input_len, 0)] * n, ttft=True)
            left -= n
        if not last:  # later waves' first tokens come after this wave's decode
            _decode_tail(plan, input_len, [1] * wave, output_len)
            plan.decode[-1:] = [(*plan.decode[-1][:3], True)] if plan.decode else []
        else:
            _decode_tail(plan, input_len, [1] * wave, output_len)
    return plan


def _plan_chunked(plan: Plan, requests: int, input_len: int, output_len: int, max_num_seqs: int,
                  token_budget: int) -> None:
    """Sarathi-style iterations (``phasesim.simulator.batching.chunked``): decodes first, then
    unfinished prompt chunks, then admissions, within ``token_budget`` tokens; once every prompt
    is in, the rest is a decode tail."""
    waiting = requests
    running: list[list[int]] = []  # [prefill_done, generated]
    while waiting or any(r[0] < input_len for r in running):
        decoding = [r for r in running if r[0] >= input_len][:token_budget]
        budget = token_budget - len(decoding)
        chunks: list[tuple[list[int], int]] = []
        for r in running:
            if budget <= 0:
                break
            if r[0] < input_len:
                take = min(budget, input_len - r[0])
                chunks.append((r, take))
                budget -= take
        if budget > 0 and waiting:
            admitted = 0
            used = 0
            while waiting - admitted > 0 and len(running) + admitted < max_num_seqs:
                if admitted and used + input_len > budget:
                    break
                admitted += 1
                used += input_len
            for _ in range(admitted):
                if budget <= 0:
                    break
                r = [0, 0]
                running.append(r)
                waiting -= 1
                take = min(budget, input_len)
                chunks.append((r, take))
                budget -= take
        ttft = True  # every iteration of this loop ends at or before the last first token
        n = plan.add_pass([(take, r[0]) for r, take in chunks], ttft) if chunks else 0
        if decoding:
            b = len(decoding)
            ctx = sum(input_len + r[1] - 1 for r in decoding) / b
            plan.add_decode(b, 1, ctx, ttft)
            if n:
                plan.add_mixed(n, b, ttft)
        for r in decoding:
            r[1] += 1
        for r, take in chunks:
            r[0] += take
            if r[0] >= input_len:
                r[1] = 1
        running = [r for r in running if r[1] < output_len or r[0] < input_len]
        if not chunks and not decoding:  # nothing fits: cannot happen without KV limits
            raise ValueError("chunked plan made no progress")
    _decode_tail(plan, input_len, [r[1] for r in running], output_len)
