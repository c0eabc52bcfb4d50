"""One serving instance: a waiting queue, a running batch, a KV cache and the loop that drives
them.

The loop is vLLM's decide / run / update: ask the batching policy for a ``StepDecision``, schedule
the step's end, apply it, tell the requests that finished. It is a state machine on SimPy
callbacks (see ``phasesim.simulator.context``): ``_decide`` takes a decision and schedules the event that
ends the step; an idle instance schedules nothing until a request pokes it. In ``fast`` mode a
decision that only decodes (joins applied first) is fast-forwarded in closed form
(``phasesim.simulator.decode_runs``): the ends of the next ``k`` steps come from one call (``decode_run``
of a table cost model: a slice of a cumulative table shared by all runs of that batch size; else
one vectorised ``decode_step_times_s``), up to the next completion (or the last step whose KV
growth fits); a new arrival, reservation or hand-over cuts the run short at the end of the step
in progress, exactly where the per-step reference mode would take its next decision (the run's
own end event then fires stale and is ignored). A run's KV growth is applied when it ends, so
the fast mode's time series shows KV use at run ends (the reference mode's, at every step).

The pieces beside the loop live in their own modules: the run arithmetic in
``phasesim.simulator.decode_runs``, the KV cache and the decode side's reservations in ``phasesim.simulator.kv``,
the time series and counters in ``phasesim.simulator.recorder``.

Requests talk to an instance only in the ROUTE phase: ``enqueue`` (wait for prefill / for
completion), ``reserve`` (decode-side KV before a transfer), ``join`` (a transferred request
starts decoding), ``release_kv`` (the prefill side lets go of KV). The instance calls the
request's ``on_done(request)`` when it is finished here (or, in a prefill pool, prefilled).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phasesim.simulator.batching import InstanceView, StepDecision, admission_tokens, prefill_tokens
from phasesim.simulator.context import DECIDE, NORMAL, SimContext, Timer, now_ns, ns
from phasesim.simulator.costs.interface import CostModel, decode_run_of, prefill_step_s_of
from phasesim.simulator.decode_runs import DecodeRun, start_run
from phasesim.simulator.kv import KVCache, KVReservations, PrefixKVCache
from phasesim.simulator.recorder import InstanceSeries, InstanceStats
from phasesim.simulator.request import Request
from phasesim.simulator.topology import KVAdmission, Role

__all__ = ["Instance", "InstanceLimits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceLimits:
    max_num_seqs: int
    max_num_batched_tokens: int
    # what the engine does when KV runs short (phasesim.simulator.batching): the KV an admission
    # allocates follows it (``admission_tokens``)
    kv_admission: KVAdmission = KVAdmission.PREEMPT


class Instance:
    """One instance of a pool (a GPU, or a whole GroqRack)."""

    def __init__(self, *, ctx: SimContext, pool: str, role: Role, index: int,
                 cost_model: CostModel, kv: KVCache, policy: Callable[[InstanceView], StepDecision],
                 limits: InstanceLimits, queue_key: Callable[[Request], tuple],
                 prefill_emits_token: bool, fast: bool) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.pool = pool
        self.role = role
        self.index = index
        self.cost_model = cost_model
        self.kv = kv
        # the prefix cache, where the pool has one (its kv is a PrefixKVCache)
        self.prefix: PrefixKVCache | None = kv if isinstance(kv, PrefixKVCache) else None
        self.policy = policy
        self.limits = limits
        self.queue_key = queue_key
        self.prefill_emits_token = prefill_emits_token
        self.fast = fast
        self.stats = InstanceStats()
        self.waiting: list[Request] = []  # sorted by queue_key
        self.running: list[Request] = []  # admission order (newest last)
        self.ready: list[Request] = []  # transferred in, KV reserved, not yet joined
        # decode-side KV for incoming transfers: queued, granted (``incoming``), told
        self.reservations = KVReservations(kv=kv, running=self.running, ready=self.ready,
                                           waiting=self.waiting,
                                           max_num_seqs=limits.max_num_seqs)
        # what routers see: requests waiting, running, or on their way in (= waiting + running +
        # ready + incoming + reservations; kept as a count: +1 at enqueue/reserve, -1 on leaving)
        self.outstanding = 0
        # what cache-aware routers also see: prompt tokens of the waiting requests, which they
        # will (re)prefill and hold as KV (+ at enqueue/preemption, - at admission)
        self.waiting_tokens = 0
        self._asleep = False  # on an idle decision: a poke schedules the next one
        self._decision: StepDecision | None = None  # the (non fast-forwarded) step in progress
        self._run: DecodeRun | None = None
        self._decode_run = decode_run_of(cost_model)
        self._prefill_step_s = prefill_step_s_of(cost_model)
        self._policy_view = InstanceView(
            waiting=self.waiting, running=self.running, ready=self.ready,
            free_blocks=kv.free_blocks, watermark_blocks=kv.watermark_blocks,
            block_tokens=kv.block_tokens, max_num_seqs=limits.max_num_seqs,
            max_num_batched_tokens=limits.max_num_batched_tokens,
            kv_admission=limits.kv_admission)
        self.series = InstanceSeries(recorder=ctx.recorder, pool=pool, index=index,
                                     waiting=self.waiting, running=self.running, kv=kv,
                                     prefix=self.prefix)
        self._record = self.series.record
        Timer(self.env, 0, DECIDE, self._decide)  # the first decision

    # --- what routers and requests see -----------------------------------------------------------

    def kv_used_blocks(self) -> int:
        """Blocks in use now, including the growth of a fast-forwarded run's started steps (idle
        prefix-cache blocks, free on demand, are not in use)."""
        used = self.kv.used_blocks - self.kv.evictable_blocks
        run = self._run
        if run is not None:
            used += run.grown_blocks(now_ns(self.env) - run.start_ns,
                                     self.kv.block_tokens) - run.allocated
        return used

    def kv_used_fraction(self) -> float:
        return self.kv_used_blocks() / max(1, self.kv.capacity_blocks)

    def prefix_match(self, hash_ids: tuple[int, ...]) -> int:
        """Leading prefix blocks of ``hash_ids`` resident here (0 without a prefix cache)."""
        prefix = self.prefix
        if prefix is None:
            return 0
        self._allocate_started_growth()
        return prefix.match(hash_ids, len(hash_ids))

    def prefix_match_tokens(self, hash_ids: tuple[int, ...]) -> int:
        """Prompt tokens of ``hash_ids``' resident leading blocks (0 without a prefix cache)."""
        prefix = self.prefix
        return 0 if prefix is None else self.prefix_match(hash_ids) * prefix.prefix_tokens

    def _allocate_started_growth(self) -> None:
        """A fast-forwarded run allocates its KV growth when it ends; reference mode allocates
        each step's at its start, evicting idle prefix blocks as it goes. Before the prefix cache
        is read mid-run, allocate the growth of the steps started so far, so the read sees the
        evictions reference mode would have made by now (LRU eviction of a cumulative need frees
        the same blocks step by step or at once)."""
        run = self._run
        if run is None:
            return
        grown = run.grown_blocks(now_ns(self.env) - run.start_ns, self.kv.block_tokens)
        if grown > run.allocated:
            self.kv.allocate(grown - run.allocated)
            run.allocated = grown

    def active_kv_tokens(self) -> int:
        """KV tokens this instance's requests hold now or will hold once admitted: blocks in use
        (as ``kv_used_blocks``) plus the waiting requests' prompts (Dynamo's "active blocks")."""
        return self.kv_used_blocks() * self.kv.block_tokens + self.waiting_tokens

    def enqueue(self, request: Request, on_done: Callable[[Request], object]) -> None:
        """Queue for prefill. ``on_done(request)`` when the request finishes here (colocated) or
        when its prefill is done (prefill role; its KV stays held until ``release_kv``)."""
        request.on_done = on_done
        request.queue_key = self.queue_key(request)
        request.waiting_since_ns = now = now_ns(self.env)
        bisect.insort(self.waiting, request, key=_waiting_order)
        self.outstanding += 1
        self.waiting_tokens += prefill_tokens(request)
        self._record(now)
        self._poke()

    def reserve(self, request: Request, blocks: int, on_granted: Callable[[], object]) -> None:
        """Ask for ``blocks`` of KV for an incoming transfer; ``on_granted()`` once granted (first
        come first served), after the decision or reservation that granted it."""
        if self.limits.kv_admission is KVAdmission.RESERVE:  # the whole sequence's, up front
            blocks = max(blocks, self.kv.blocks_for(admission_tokens(request, KVAdmission.RESERVE)))
        reservations = self.reservations
        reservations.ask(request, blocks, on_granted)
        self.outstanding += 1
        if self._asleep_and_empty():  # what the woken loop would do, without waking it
            reservations.grant()
            self._record(now_ns(self.env))
            reservations.tell_granted()
        else:
            self._poke()

    def join(self, request: Request, on_done: Callable[[Request], object]) -> None:
        """A transferred request (KV reserved) joins at the next iteration; ``on_done(request)``
        when it has finished."""
        request.on_done = on_done
        request.queue_key = self.queue_key(request)
        self.reservations.incoming -= 1
        self.ready.append(request)
        self._poke()

    def release_kv(self, blocks: int, shared_hashes: tuple[int, ...] = ()) -> None:
        """The prefill side frees a transferred request's KV: ``blocks`` of its own and the
        prefix-cache blocks ``shared_hashes`` it held (they stay cached, idle)."""
        self.kv.free(blocks)
        if shared_hashes:
            self.prefix.release(shared_hashes)
        if self._asleep_and_empty():  # more free KV cannot wake an empty instance: just note it
            self._record(now_ns(self.env))
        else:
            self._poke()

    # --- the loop ------------------------------------------------------------------------------

    def _decide(self, _event: object = None) -> None:
        """Take the next decision and schedule what ends it (nothing when idle); then tell the
        requests whose reservations it granted."""
        reservations = self.reservations
        if reservations.pending:
            reservations.grant()
        self._decide_step()
        if reservations.granted:
            reservations.tell_granted()

    def _decide_step(self) -> None:
        decision = self.policy(self._view())
        now = now_ns(self.env)
        if decision.idle:
            self._record(now)
            self._asleep = True  # a poke (ROUTE phase) schedules the next decision
            return
        fast_run = self.fast and decision.decode_only
        kv = self.kv
        decision = self._begin(decision, fast_run, now)
        self._record(now)
        if fast_run:  # fast-forward decode steps of an unchanged batch (module docstring)
            run = self._run = start_run(decision.decode, now, kv.capacity_blocks - kv.used_blocks
                                        + kv.evictable_blocks, kv.block_tokens, self._decode_run)
            run.end = Timer(self.env, run.end_ns(run.steps), DECIDE, self._run_done)
        elif not (decision.chunks or decision.decode):
            Timer(self.env, 0, DECIDE, self._decide)  # only preemptions/joins: decide again
        else:
            step_ns = self._step_ns(decision)
            self.stats.count(step_ns, len(decision.chunks) + len(decision.decode), 1)
            self._decision = decision
            Timer(self.env, step_ns, DECIDE, self._step_done)  # apply and decide in one go

    def _step_done(self, _event: object) -> None:
        decision, self._decision = self._decision, None
        self._end(decision)
        self._decide()

    def _view(self) -> InstanceView:
        """The policy's view: the instance's own queues (read-only to the policy) and its free
        KV now. One view object per instance, refreshed before each decision."""
        view = self._policy_view
        kv = self.kv
        view.free_blocks = kv.capacity_blocks - kv.used_blocks + kv.evictable_blocks
        return view

    def _begin(self, decision: StepDecision, fast_run: bool, now: int) -> StepDecision:
        """Apply the start of ``decision``; the decision to run (its admitted requests' chunks cut
        to what the prefix cache left to compute)."""
        kv = self.kv
        for request in decision.join:
            self.ready.remove(request)
            self.running.append(request)
        for request in decision.preempt:
            self._preempt(request, now)
        if decision.admit:
            n = len(decision.admit)
            if self.waiting[:n] == list(decision.admit):
                del self.waiting[:n]
            else:
                admitted = set(map(id, decision.admit))
                self.waiting[:] = [r for r in self.waiting if id(r) not in admitted]
            prefix = self.prefix
            kv_admission = self.limits.kv_admission
            hits = False
            for request in decision.admit:
                request.prefill_target_tokens = prefill_tokens(request)
                self.waiting_tokens -= request.prefill_target_tokens
                request.prefill_done_tokens = 0
                request.cached_tokens = 0
                request.kv_blocks = kv.blocks_for(admission_tokens(request, kv_admission))
                if prefix is not None and request.prefix_hash_ids:
                    hits |= self._reuse_prefix(request, prefix)
                else:
                    kv.allocate(request.kv_blocks)
                request.queue_ns += now - request.waiting_since_ns
                if request.prefill_start_ns < 0:
                    request.prefill_start_ns = now
                self.running.append(request)
        for request in decision.decode:
            if request.decode_start_ns < 0:
                request.decode_start_ns = now
            if not fast_run:
                grow = kv.blocks_for(request.cached_tokens + 1) - request.kv_blocks
                if grow > 0:
                    kv.allocate(grow)
                    request.kv_blocks += grow
        if decision.admit and hits:
            decision = StepDecision(decision.join, decision.admit, tuple([
                (r, min(tokens, r.prefill_target_tokens - r.prefill_done_tokens))
                for r, tokens in decision.chunks]), decision.decode, decision.preempt)
        return decision

    def _reuse_prefix(self, request: Request, prefix: PrefixKVCache) -> bool:
        """Admission with a prefix cache: hold the request's leading prefix blocks resident here
        (at least one prompt token is left to compute), allocate the rest; whether it hit."""
        ids = request.prefix_hash_ids
        target = request.prefill_target_tokens
        k = prefix.reuse(ids, min(len(ids), (target - 1) // prefix.prefix_tokens))
        first = request.prefill_start_ns < 0
        if k:
            request.shared_hashes = k
            request.shared_blocks = k * prefix.blocks_per_prefix
            request.prefill_done_tokens = request.cached_tokens = k * prefix.prefix_tokens
        if first:  # what the request reports: its first admission's hit
            request.prefix_hit_tokens = request.prefill_done_tokens
        prefix.allocate(request.kv_blocks - request.shared_blocks)
        return k > 0

    def _share_prefix(self, request: Request) -> None:
        """Prefilled: the prompt's full prefix blocks join the prefix cache, held by it."""
        ids, k = request.prefix_hash_ids, request.shared_hashes
        if len(ids) > k:
            self.prefix.insert(ids[k:])
            request.shared_hashes = len(ids)
            request.shared_blocks = len(ids) * self.prefix.blocks_per_prefix

    def _free_kv(self, request: Request) -> None:
        """Free a request's own KV blocks and let go of the prefix blocks it holds."""
        if request.shared_hashes:
            self.kv.free(request.kv_blocks - request.shared_blocks)
            self.prefix.release(request.prefix_hash_ids[:request.shared_hashes])
            request.shared_hashes = request.shared_blocks = 0
        else:
            self.kv.free(request.kv_blocks)
        request.kv_blocks = 0

    def _preempt(self, request: Request, now: int) -> None:
        self.running.remove(request)
        self._free_kv(request)
        request.cached_tokens = 0
        request.prefill_done_tokens = 0
        request.preemptions += 1
        self.stats.preemptions += 1
        request.waiting_since_ns = now
        bisect.insort(self.waiting, request, key=_waiting_order)
        self.waiting_tokens += prefill_tokens(request)

    def _step_ns(self, decision: StepDecision) -> int:
        cost = self.cost_model
        if decision.chunks and not decision.decode:  # a prefill iteration
            if len(decision.chunks) == 1:
                (request, tokens), = decision.chunks
                seconds = self._prefill_step_s((tokens,), (request.prefill_done_tokens,))
            else:
                seconds = self._prefill_step_s(
                    tuple(c for _, c in decision.chunks),
                    tuple(r.prefill_done_tokens for r, _ in decision.chunks))
        elif decision.chunks:  # a mixed iteration (chunked prefill)
            chunk = np.fromiter((c for _, c in decision.chunks), dtype=np.int64,
                                count=len(decision.chunks))
            prefix = np.fromiter((r.prefill_done_tokens for r, _ in decision.chunks),
                                 dtype=np.int64, count=len(decision.chunks))
            ctx = np.fromiter((r.cached_tokens for r in decision.decode), dtype=np.int64,
                              count=len(decision.decode))
            seconds = cost.mixed_step_time_s(chunk, prefix, ctx)
        else:
            batch = len(decision.decode)
            mean_ctx = sum(r.cached_tokens for r in decision.decode) / batch
            seconds = float(cost.decode_step_times_s(batch, np.array([mean_ctx]))[0])
        return max(1, ns(seconds))

    def _end(self, decision: StepDecision) -> None:
        now = now_ns(self.env)
        for request, tokens in decision.chunks:
            request.prefill_done_tokens += tokens
            request.cached_tokens = request.prefill_done_tokens
            if request.prefill_done_tokens >= request.prefill_target_tokens:
                self._prefilled(request, now)
        for request in decision.decode:
            request.cached_tokens += 1
            request.generated_tokens += 1
            if request.generated_tokens == 1:
                request.first_token_ns = now
            if request.generated_tokens >= request.output_tokens:
                self._finish(request)

    def _prefilled(self, request: Request, now: int) -> None:
        if self.prefix is not None and request.prefix_hash_ids:
            self._share_prefix(request)
        if request.prefill_end_ns < 0:
            request.prefill_end_ns = now
        if self.prefill_emits_token:
            request.generated_tokens += 1
            if request.generated_tokens == 1:
                request.first_token_ns = now
        if self.role == Role.PREFILL:
            self.running.remove(request)  # its KV stays until the transfer is done
            self.outstanding -= 1
            request.on_done(request)
        elif request.generated_tokens >= request.output_tokens:
            self._finish(request)

    def _finish(self, request: Request) -> None:
        self.running.remove(request)
        self.outstanding -= 1
        if request.shared_hashes:
            self._free_kv(request)
        else:
            self.kv.free(request.kv_blocks)
            request.kv_blocks = 0
        request.on_done(request)

    def _cut_run(self) -> None:
        """A poke during a run: end it at the end of the step in progress."""
        run = self._run
        delay_ns = run.cut(now_ns(self.env) - run.start_ns)
        run.end = Timer(self.env, delay_ns, DECIDE, self._run_done)

    def _run_done(self, event: Timer) -> None:
        run = self._run
        if run is None or event is not run.end:
            return  # the end of a run that was cut short
        self._run = None
        batch, steps = run.batch, run.steps
        self.stats.count(now_ns(self.env) - run.start_ns, len(batch), steps)
        block_tokens = self.kv.block_tokens
        grown = 0
        finished = []
        for request in batch:
            if request.generated_tokens == 0:
                request.first_token_ns = run.start_ns + run.end_ns(1)
            request.cached_tokens += steps
            request.generated_tokens += steps
            grow = -(-request.cached_tokens // block_tokens) - request.kv_blocks
            if grow > 0:
                grown += grow
                request.kv_blocks += grow
            if request.generated_tokens >= request.output_tokens:
                finished.append(request)
        # fits: the run was cut to the steps whose growth fits (part may be allocated already)
        self.kv.allocate(grown - run.allocated)
        for request in finished:
            self._finish(request)
        self._decide()

    def _asleep_and_empty(self) -> bool:
        """The loop sleeps on an idle decision and has nothing to admit, join or decode. A change
        of free KV or a new reservation leaves its next decision idle, so a caller may apply it
        and record at once instead of waking the loop for a no-op iteration (the woken loop
        would run right after the caller's step, with nothing in between: same rows, same
        order, same grants)."""
        return self._asleep and not self.waiting and not self.running and not self.ready

    def _poke(self) -> None:
        """Something changed that the next decision should see: wake an idle loop now, or cut a
        fast-forwarded run short at the end of its step in progress."""
        if self._asleep:
            self._asleep = False
            Timer(self.env, 0, NORMAL, self._decide)
        elif self._run is not None and not self._run.interrupted:
            self._run.interrupted = True
            self._cut_run()

    def horizon_cause(self) -> str:
        """What made this instance's next event fall past the clock's horizon (its error)."""
        return (f"pool {self.pool} instance {self.index}'s steps, from its cost table "
                f"({len(self.waiting)} waiting, {len(self.running)} running)")


def _waiting_order(request: Request) -> tuple:
    return request.queue_key
