"""The story of one request through a cluster, told with SimPy callbacks.

Colocated (``serve_colocated``): arrive, route, wait for prefill, prefill, decode, record.
Disaggregated (``serve_disaggregated`` then ``Handover``): arrive, route, prefill; then route to
a decode instance, reserve its KV, move the KV over the link, hand over, decode, record. Each
step of the story is one callback in the phase it belongs to (see ``phasesim.simulator.context``): a
SimPy process per request would cost a generator resume per step, on the hottest path there is.
Every request ends exactly once: completed, or rejected with a reason when it can never fit
(longer than the context, or than one instance's KV cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phasesim.simulator.context import ROUTE, SimContext, Timer, now_ns
from phasesim.simulator.instance import Instance
from phasesim.simulator.kv import blocks_for
from phasesim.simulator.links import Link
from phasesim.simulator.request import RejectReason, Request, RequestLog
from phasesim.simulator.routing import ROUTERS
from phasesim.simulator.topology import FirstToken, PoolSpec, Role

__all__ = ["Pool", "Cluster", "Arrivals", "Handover", "serve_colocated", "serve_disaggregated"]

_ARRIVAL_CHUNK = 4096  # trace rows turned into Python ints at a time (bounded memory)
_ARRIVAL_COLUMNS = ("request_id", "prompt_tokens", "output_tokens", "priority", "arrival_ns")


@dataclass(slots=True, kw_only=True)
class Pool:
    """A pool's instances and what requests need to know of it (limits, KV per token)."""

    spec: PoolSpec
    instances: list[Instance]
    context_limit_tokens: int
    kv_capacity_tokens: int
    kv_bytes_per_token: int
    layers: int
    rng: np.random.Generator
    turns: int = 0
    sessions: dict[int, int] = field(default_factory=dict)  # session id -> its last instance

    def route(self, request: Request) -> Instance:
        index = ROUTERS[self.spec.routing](self.instances, turn=self.turns, rng=self.rng,
                                           request=request, sessions=self.sessions)
        self.turns += 1
        if request.session_id >= 0:
            self.sessions[request.session_id] = index
        return self.instances[index]

    def fits(self, tokens: int) -> bool:
        return blocks_for(tokens, self.spec.block_tokens) <= self.kv_capacity_tokens // \
            self.spec.block_tokens


@dataclass(slots=True, kw_only=True)
class Cluster:
    """Everything a request's story touches: the clock, the log, the pools and the links."""

    ctx: SimContext
    log: RequestLog
    pools: dict[Role, Pool]
    links: dict[int, Link]  # by prefill instance index (one shared link under 'pool' sharing)
    first_token: FirstToken
    layerwise_overlap: bool

    def link_for(self, prefill: Instance) -> Link:
        return self.links.get(prefill.index) or self.links[-1]

    def finished(self, request: Request) -> None:
        self.log.finish(request, now_ns(self.ctx.env))


# --- the story of one request --------------------------------------------------------------------


def serve_colocated(cluster: Cluster, request: Request) -> None:
    """At arrival (ROUTE phase): reject, or route and queue; the instance finishes it."""
    log = cluster.log
    pool = cluster.pools[Role.COLOCATED]
    reason = _problem(request, pool, pool)
    if reason is not None:
        log.reject(request, reason)
        return
    instance = pool.route(request)
    log.prefill_instance[request.index] = log.decode_instance[request.index] = instance.index
    instance.enqueue(request, cluster.finished)  # prefill, then decode to the last token


def serve_disaggregated(cluster: Cluster, request: Request) -> None:
    """At arrival (ROUTE phase): reject, or route to a prefill instance (see ``Handover``)."""
    prefill_pool, decode_pool = cluster.pools[Role.PREFILL], cluster.pools[Role.DECODE]
    reason = _problem(request, prefill_pool, decode_pool)
    if reason is not None:
        cluster.log.reject(request, reason)
        return
    prefill = prefill_pool.route(request)
    cluster.log.prefill_instance[request.index] = prefill.index
    handover = Handover(cluster, request, prefill)
    prefill.enqueue(request, handover.after_prefill)  # the first token too unless first_token=decode


class Handover:
    """A prefilled request's way to its decode instance: (ROUTE) route and reserve decode KV;
    (NORMAL, once granted) move the KV over the link; (ROUTE) the prefill side frees its KV and
    the request joins the decode batch. Until the grant, the prefill side holds the KV (blocking
    time)."""

    __slots__ = ("cluster", "request", "prefill", "decode", "held_blocks", "held_hashes",
                 "held_since_ns")

    def __init__(self, cluster: Cluster, request: Request, prefill: Instance) -> None:
        self.cluster = cluster
        self.request = request
        self.prefill = prefill
        self.decode: Instance | None = None
        self.held_blocks = 0
        self.held_hashes: tuple[int, ...] = ()  # prefix-cache blocks held on the prefill side
        self.held_since_ns = 0

    def after_prefill(self, request: Request) -> None:
        self.held_blocks = request.kv_blocks - request.shared_blocks
        if request.shared_hashes:  # the prefill side's prefix cache: held until the hand-over
            self.held_hashes = request.prefix_hash_ids[:request.shared_hashes]
            request.shared_hashes = request.shared_blocks = 0
        Timer(self.cluster.ctx.env, 0, ROUTE, self._route)

    def _route(self, _event: object) -> None:
        cluster, request = self.cluster, self.request
        if request.generated_tokens >= request.output_tokens:  # a one-token answer: done here
            self.prefill.release_kv(self.held_blocks, self.held_hashes)
            cluster.finished(request)
            return
        decode_pool = cluster.pools[Role.DECODE]
        decode = self.decode = decode_pool.route(request)
        cluster.log.decode_instance[request.index] = decode.index
        self.held_since_ns = now_ns(cluster.ctx.env)
        decode.reserve(request, blocks_for(request.cached_tokens, decode_pool.spec.block_tokens),
                       self._granted)

    def _granted(self) -> None:
        cluster, i = self.cluster, self.request.index
        now = now_ns(cluster.ctx.env)
        cluster.log.blocking_ns[i] = now - self.held_since_ns  # decode had no room until now
        cluster.log.times["transfer_start"][i] = now
        nbytes = _transfer_bytes(cluster, cluster.pools[Role.PREFILL], self.request)
        cluster.link_for(self.prefill).start(nbytes, self._delivered)

    def _delivered(self) -> None:
        env = self.cluster.ctx.env
        self.cluster.log.times["transfer_end"][self.request.index] = now_ns(env)
        Timer(env, 0, ROUTE, self._hand_over)

    def _hand_over(self, _event: object) -> None:
        self.prefill.release_kv(self.held_blocks, self.held_hashes)
        self.decode.join(self.request, self.cluster.finished)  # decode to the last token


def _problem(request: Request, first: Pool, last: Pool) -> RejectReason | None:
    """Why this request can never be served, or None."""
    total = request.prompt_tokens + request.output_tokens
    if total > min(first.context_limit_tokens, last.context_limit_tokens):
        return RejectReason.EXCEEDS_CONTEXT
    if not first.fits(request.prompt_tokens if first is not last else total):
        return RejectReason.EXCEEDS_KV_CAPACITY
    if not last.fits(total):
        return RejectReason.EXCEEDS_KV_CAPACITY
    return None


def _transfer_bytes(cluster: Cluster, prefill_pool: Pool, request: Request) -> int:
    """KV of the prompt (the first token travels as an id). With layer-wise overlap, all but the
    last layer's share was streamed during the prefill and only that share remains."""
    nbytes = prefill_pool.kv_bytes_per_token * request.prompt_tokens
    if cluster.layerwise_overlap:
        nbytes = -(-nbytes // prefill_pool.layers)
    return nbytes


class Arrivals:
    """Serves each trace row at its arrival time: one ROUTE-phase event per distinct arrival
    time, each scheduling the next. Rows become Python ints a chunk at a time (bounded memory).
    Where the run uses prefix caching or session routing, ``trace`` also holds each row's prefix
    hash ids (``prefix_hash_ids``: tuples) and ``session_id``."""

    def __init__(self, cluster: Cluster, trace: dict[str, np.ndarray]) -> None:
        self.cluster = cluster
        self.env = cluster.ctx.env
        self.serve = serve_disaggregated if Role.PREFILL in cluster.pools else serve_colocated
        self.rows = _rows(trace)
        self.hash_ids: list[tuple[int, ...]] | None = trace.get("prefix_hash_ids")
        self.session_ids: list[int] | None = trace.get("session_id")
        self.next_row = next(self.rows, None)
        if self.next_row is not None:
            Timer(self.env, self.next_row[-1], ROUTE, self._arrive)

    def _arrive(self, _event: object) -> None:
        now, row, rows, serve, cluster = now_ns(self.env), self.next_row, self.rows, self.serve, \
            self.cluster
        hash_ids = self.hash_ids
        while row is not None and row[-1] <= now:
            i, request_id, prompt, output, priority, at = row
            request = Request(index=i, request_id=request_id, prompt_tokens=prompt,
                              output_tokens=output, priority=priority, arrival_ns=at)
            if hash_ids is not None:
                request.prefix_hash_ids = hash_ids[i]
                request.session_id = self.session_ids[i]
            serve(cluster, request)
            row = next(rows, None)
        self.next_row = row
        if row is not None:
            Timer(self.env, row[-1] - now, ROUTE, self._arrive)


def _rows(trace: dict[str, np.ndarray]):
    """(row index, request_id, prompt, output, priority, arrival_ns) in arrival order."""
    order = trace["order"]
    for start in range(0, len(order), _ARRIVAL_CHUNK):
        rows = order[start:start + _ARRIVAL_CHUNK]
        columns = (rows, *(trace[name][rows] for name in _ARRIVAL_COLUMNS))
        yield from zip(*(c.tolist() for c in columns))
