"""One serving instance: a waiting queue, a running batch, a KV cache and the loop that drives
them.

The loop is vLLM's decide / run / update: ask the batching policy for a ``StepPlan``, schedule
the step's end, apply it, tell the requests that finished. It is a state machine on SimPy
callbacks (see ``simulator.context``): ``_decide`` takes a decision and schedules the event that
ends the step; an idle instance schedules nothing until a request pokes it. In ``fast`` mode a
plan that only decodes (joins applied first) is fast-forwarded in closed form: the ends of the
next ``k`` steps come from one call (``decode_run`` of a table cost model: a slice of a
cumulative table shared by all runs of that batch size; else one vectorised
``decode_step_times_s``), up to the next completion (or the last step whose KV growth fits); a
new arrival, reservation or hand-over cuts the run short at the end of the step in progress,
exactly where the per-step reference mode would take its next decision (the run's own end event
then fires stale and is ignored). A run's KV growth is applied when it ends, so
the fast mode's time series shows KV use at run ends (the reference mode's, at every step).

Requests talk to an instance only in the ROUTE phase: ``enqueue`` (wait for prefill / for
completion), ``reserve`` (decode-side KV before a transfer), ``join`` (a transferred request
starts decoding), ``release_kv`` (the prefill side lets go of KV). The instance calls the
request's ``on_done(request)`` when it is finished here (or, in a prefill pool, prefilled).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from phasesim.simulator.batching import InstanceView, StepPlan, prefill_tokens
from phasesim.simulator.context import DECIDE, NORMAL, SimContext, Timer, now_ns, ns
from phasesim.simulator.costs.interface import CostModel, decode_run_of, prefill_step_s_of
from phasesim.simulator.kv import KVCache
from phasesim.simulator.request import Request
from phasesim.simulator.topology import Role

__all__ = ["Instance", "InstanceLimits", "InstanceStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceLimits:
    max_num_seqs: int
    max_num_batched_tokens: int


@dataclass(slots=True)
class InstanceStats:
    busy_ns: int = 0
    iterations: int = 0
    batch_sum: int = 0  # running sequences summed over iterations
    preemptions: int = 0


@dataclass(slots=True)
class _Run:
    """A fast-forwarded decode run in progress (for lazy views of KV use)."""

    batch: tuple[Request, ...]
    start_ns: int
    cum_ns: Sequence[int]  # step k ends cum_ns[lo + 1 + k] - base_ns after start_ns
    lo: int
    base_ns: int  # cum_ns[lo]
    steps: int  # steps it will have run when it ends (fewer once cut short)
    cached: list[int]
    blocks: list[int]
    end: Timer | None = None  # the event that ends the run (cut short: a new one)
    interrupted: bool = False

    def end_ns(self, k: int) -> int:
        """When step k-1 ends (the k-th step), in ns after the run's start."""
        return self.cum_ns[self.lo + k] - self.base_ns

    def started(self, elapsed_ns: int) -> int:
        """Steps started by ``elapsed_ns`` after the start: those ended, plus the one in
        progress (``steps`` + 1 once the run is over)."""
        lo = self.lo
        return bisect.bisect_right(self.cum_ns, self.base_ns + elapsed_ns, lo,
                                   lo + self.steps + 1) - lo


class Instance:
    """One instance of a pool (a GPU, or a whole GroqRack)."""

    def __init__(self, *, ctx: SimContext, pool: str, role: Role, index: int,
                 cost_model: CostModel, kv: KVCache, policy: Callable[[InstanceView], StepPlan],
                 limits: InstanceLimits, queue_key: Callable[[Request], tuple],
                 prefill_emits_token: bool, fast: bool) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.pool = pool
        self.role = role
        self.index = index
        self.cost_model = cost_model
        self.kv = kv
        self.policy = policy
        self.limits = limits
        self.queue_key = queue_key
        self.prefill_emits_token = prefill_emits_token
        self.fast = fast
        self.stats = InstanceStats()
        self.waiting: list[Request] = []  # sorted by queue_key
        self.running: list[Request] = []  # admission order (newest last)
        self.ready: list[Request] = []  # transferred in, KV reserved, not yet joined
        self.incoming = 0  # reservations granted, transfer in flight
        # what routers see: requests waiting, running, or on their way in (= waiting + running +
        # ready + incoming + reservations; kept as a count: +1 at enqueue/reserve, -1 on leaving)
        self.outstanding = 0
        self.reservations: deque[tuple[Request, int, Callable[[], object]]] = deque()
        self._granted: list[Callable[[], object]] = []  # granted reservations to call back
        self._asleep = False  # on an idle decision: a poke schedules the next one
        self._plan: StepPlan | None = None  # the (non fast-forwarded) step in progress
        self._run: _Run | None = None
        self._decode_run = decode_run_of(cost_model)
        self._prefill_step_s = prefill_step_s_of(cost_model)
        self._policy_view = InstanceView(
            waiting=self.waiting, running=self.running, ready=self.ready,
            free_blocks=kv.free_blocks, watermark_blocks=kv.watermark_blocks,
            block_tokens=kv.block_tokens, max_num_seqs=limits.max_num_seqs,
            max_num_batched_tokens=limits.max_num_batched_tokens)
        self._recorder = ctx.recorder
        self._recording = ctx.recorder.enabled
        self._capacity_tokens = kv.capacity_tokens
        self._pool_code = ctx.recorder.code(pool)
        self._last_row: tuple[int, int, int] | None = None
        Timer(self.env, 0, DECIDE, self._decide)  # the first decision

    # --- what routers and requests see -----------------------------------------------------------

    def kv_used_blocks(self) -> int:
        """Blocks in use now, including the growth of a fast-forwarded run's started steps."""
        used = self.kv.used_blocks
        run = self._run
        if run is not None:
            elapsed = now_ns(self.env) - run.start_ns
            started = min(run.steps, run.started(elapsed))
            bt = self.kv.block_tokens
            used += sum(max(0, -(-(c + started) // bt) - b) for c, b in zip(run.cached, run.blocks))
        return used

    def kv_used_fraction(self) -> float:
        return self.kv_used_blocks() / max(1, self.kv.capacity_blocks)

    def enqueue(self, request: Request, on_done: Callable[[Request], object]) -> None:
        """Queue for prefill. ``on_done(request)`` when the request finishes here (colocated) or
        when its prefill is done (prefill role; its KV stays held until ``release_kv``)."""
        request.on_done = on_done
        request.queue_key = self.queue_key(request)
        request.waiting_since_ns = now_ns(self.env)
        bisect.insort(self.waiting, request, key=_waiting_order)
        self.outstanding += 1
        self._record()
        self._poke()

    def reserve(self, request: Request, blocks: int, on_granted: Callable[[], object]) -> None:
        """Ask for ``blocks`` of KV for an incoming transfer; ``on_granted()`` once granted (first
        come first served), after the decision or reservation that granted it."""
        self.reservations.append((request, blocks, on_granted))
        self.outstanding += 1
        if self._asleep_and_empty():  # what the woken loop would do, without waking it
            self._grant_reservations()
            self._record()
            self._tell_granted()
        else:
            self._poke()

    def join(self, request: Request, on_done: Callable[[Request], object]) -> None:
        """A transferred request (KV reserved) joins at the next iteration; ``on_done(request)``
        when it has finished."""
        request.on_done = on_done
        request.queue_key = self.queue_key(request)
        self.incoming -= 1
        self.ready.append(request)
        self._poke()

    def release_kv(self, blocks: int) -> None:
        """The prefill side frees a transferred request's KV."""
        self.kv.free(blocks)
        if self._asleep_and_empty():  # more free KV cannot wake an empty instance: just note it
            self._record()
        else:
            self._poke()

    # --- the loop ------------------------------------------------------------------------------

    def _decide(self, _event: object = None) -> None:
        """Take the next decision and schedule what ends it (nothing when idle); then tell the
        requests whose reservations it granted."""
        if self.reservations:
            self._grant_reservations()
        self._decide_step()
        if self._granted:
            self._tell_granted()

    def _decide_step(self) -> None:
        plan = self.policy(self._view())
        if plan.idle:
            self._record()
            self._asleep = True  # a poke (ROUTE phase) schedules the next decision
            return
        fast_run = self.fast and plan.decode_only
        self._begin(plan, fast_run)
        self._record()
        if fast_run:
            self._start_run(plan.decode)
        elif not (plan.chunks or plan.decode):
            Timer(self.env, 0, DECIDE, self._decide)  # only preemptions/joins: decide again
        else:
            step_ns = self._step_ns(plan)
            self._count(step_ns, len(plan.chunks) + len(plan.decode), 1)
            self._plan = plan
            Timer(self.env, step_ns, DECIDE, self._step_done)  # apply and decide in one go

    def _step_done(self, _event: object) -> None:
        plan, self._plan = self._plan, None
        self._end(plan)
        self._decide()

    def _view(self) -> InstanceView:
        """The policy's view: the instance's own queues (read-only to the policy) and its free
        KV now. One view object per instance, refreshed before each decision."""
        view = self._policy_view
        view.free_blocks = self.kv.capacity_blocks - self.kv.used_blocks
        return view

    def _grant_reservations(self) -> None:
        """Grant decode-side KV first come first served while a seat and the blocks are free."""
        kv = self.kv
        while self.reservations:
            request, blocks, granted = self.reservations[0]  # granted: the on_granted callback
            seated = len(self.running) + len(self.ready) + self.incoming
            if seated >= self.limits.max_num_seqs:
                return
            headroom = kv.watermark_blocks if seated else 0
            if blocks + headroom > kv.free_blocks:
                return
            self.reservations.popleft()
            kv.allocate(blocks)
            request.kv_blocks = blocks
            self.incoming += 1
            self._granted.append(granted)

    def _tell_granted(self) -> None:
        """Call the granted requests back, after the decision that granted them is complete."""
        granted, self._granted = self._granted, []
        for on_granted in granted:
            on_granted()

    def _begin(self, plan: StepPlan, fast_run: bool) -> None:
        now = now_ns(self.env)
        kv = self.kv
        for request in plan.join:
            self.ready.remove(request)
            self.running.append(request)
        for request in plan.preempt:
            self._preempt(request, now)
        if plan.admit:
            n = len(plan.admit)
            if self.waiting[:n] == list(plan.admit):
                del self.waiting[:n]
            else:
                admitted = set(map(id, plan.admit))
                self.waiting[:] = [r for r in self.waiting if id(r) not in admitted]
            for request in plan.admit:
                request.prefill_target_tokens = prefill_tokens(request)
                request.prefill_done_tokens = 0
                request.cached_tokens = 0
                request.kv_blocks = kv.blocks_for(request.prefill_target_tokens)
                kv.allocate(request.kv_blocks)
                request.queue_ns += now - request.waiting_since_ns
                if request.prefill_start_ns < 0:
                    request.prefill_start_ns = now
                self.running.append(request)
        for request in plan.decode:
            if request.decode_start_ns < 0:
                request.decode_start_ns = now
            if not fast_run:
                grow = kv.blocks_for(request.cached_tokens + 1) - request.kv_blocks
                if grow > 0:
                    kv.allocate(grow)
                    request.kv_blocks += grow

    def _preempt(self, request: Request, now: int) -> None:
        self.running.remove(request)
        self.kv.free(request.kv_blocks)
        request.kv_blocks = 0
        request.cached_tokens = 0
        request.prefill_done_tokens = 0
        request.preemptions += 1
        self.stats.preemptions += 1
        request.waiting_since_ns = now
        bisect.insort(self.waiting, request, key=_waiting_order)

    def _step_ns(self, plan: StepPlan) -> int:
        cost = self.cost_model
        if plan.chunks and not plan.decode:  # a prefill iteration
            if len(plan.chunks) == 1:
                (request, tokens), = plan.chunks
                seconds = self._prefill_step_s((tokens,), (request.prefill_done_tokens,))
            else:
                seconds = self._prefill_step_s(
                    tuple(c for _, c in plan.chunks),
                    tuple(r.prefill_done_tokens for r, _ in plan.chunks))
        elif plan.chunks:  # a mixed iteration (chunked prefill)
            chunk = np.fromiter((c for _, c in plan.chunks), dtype=np.int64, count=len(plan.chunks))
            prefix = np.fromiter((r.prefill_done_tokens for r, _ in plan.chunks), dtype=np.int64,
                                 count=len(plan.chunks))
            ctx = np.fromiter((r.cached_tokens for r in plan.decode), dtype=np.int64,
                              count=len(plan.decode))
            seconds = cost.mixed_step_time_s(chunk, prefix, ctx)
        else:
            batch = len(plan.decode)
            mean_ctx = sum(r.cached_tokens for r in plan.decode) / batch
            seconds = float(cost.decode_step_times_s(batch, np.array([mean_ctx]))[0])
        return max(1, ns(seconds))

    def _count(self, busy_ns: int, batch: int, iterations: int) -> None:
        stats = self.stats
        stats.busy_ns += busy_ns
        stats.iterations += iterations
        stats.batch_sum += batch * iterations

    def _end(self, plan: StepPlan) -> None:
        now = now_ns(self.env)
        for request, tokens in plan.chunks:
            request.prefill_done_tokens += tokens
            request.cached_tokens = request.prefill_done_tokens
            if request.prefill_done_tokens >= request.prefill_target_tokens:
                self._prefilled(request, now)
        for request in plan.decode:
            request.cached_tokens += 1
            request.generated_tokens += 1
            if request.generated_tokens == 1:
                request.first_token_ns = now
            if request.generated_tokens >= request.output_tokens:
                self._finish(request)

    def _prefilled(self, request: Request, now: int) -> None:
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
        self.kv.free(request.kv_blocks)
        request.kv_blocks = 0
        request.on_done(request)

    def _start_run(self, batch: tuple[Request, ...]) -> None:
        """Fast-forward decode steps of an unchanged batch (see the module docstring)."""
        start = now_ns(self.env)
        size = len(batch)
        cached, blocks, left = [], [], []
        for r in batch:
            cached.append(r.cached_tokens)
            blocks.append(r.kv_blocks)
            left.append(r.output_tokens - r.generated_tokens)
        steps = self._steps_that_fit(cached, blocks, min(left))
        cum, lo = self._decode_run(size, sum(cached), steps)
        run = self._run = _Run(batch, start, cum, lo, cum[lo], steps, cached, blocks)
        run.end = Timer(self.env, run.end_ns(steps), DECIDE, self._run_done)

    def _cut_run(self) -> None:
        """A poke during a run: end it at the end of the step in progress."""
        run = self._run
        elapsed = now_ns(self.env) - run.start_ns
        run.steps = run.started(elapsed)
        run.end = Timer(self.env, run.end_ns(run.steps) - elapsed, DECIDE, self._run_done)

    def _run_done(self, event: Timer) -> None:
        run = self._run
        if run is None or event is not run.end:
            return  # the end of a run that was cut short
        self._run = None
        batch, steps = run.batch, run.steps
        self._count(now_ns(self.env) - run.start_ns, len(batch), steps)
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
        self.kv.allocate(grown)  # fits: the run was cut to the steps whose growth fits
        for request in finished:
            self._finish(request)
        self._decide()

    def _steps_that_fit(self, cached: list[int], blocks: list[int], steps: int) -> int:
        """The most steps (<= ``steps``) whose KV growth fits the free blocks."""
        free = self.kv.free_blocks
        bt = self.kv.block_tokens
        need = 0
        for c, b in zip(cached, blocks):
            grow = -(-(c + steps) // bt) - b
            if grow > 0:
                need += grow
        if need <= free:
            return steps
        cached_a, blocks_a = np.asarray(cached), np.asarray(blocks)

        def growth(k: int) -> int:
            return int(np.maximum(-(-(cached_a + k) // bt) - blocks_a, 0).sum())

        lo, hi = 1, steps  # growth(1) fits: the policy checked it
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if growth(mid) <= free:
                lo = mid
            else:
                hi = mid
        return lo

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

    def _record(self) -> None:
        if self._recording:
            row = (len(self.waiting), len(self.running), self.kv.used_blocks)
            if row != self._last_row:
                self._last_row = row
                self._recorder.instance(now_ns(self.env), self._pool_code, self.index, row[0],
                                        row[1], row[2] * self.kv.block_tokens,
                                        self._capacity_tokens)


def _waiting_order(request: Request) -> tuple:
    return request.queue_key
