"""A request's live state while it is in the system, and the log its timestamps end up in.

``Request`` is mutable and slotted: instances, policies (read-only) and the request's own story
(``phasesim.simulator.lifecycle``) see it. ``RequestLog`` holds one row per trace request in compact
arrays (integer nanoseconds, -1 = did not happen) and turns them into the contract's
``requests`` DataFrame at the end.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["Status", "RejectReason", "Request", "RequestLog", "REQUEST_COLUMNS", "COMPLETED",
           "REJECTED", "PREFIX_REQUEST_COLUMN"]

# The values of requests.parquet's ``status`` column
COMPLETED = "completed"
REJECTED = "rejected"


class Status(enum.IntEnum):
    PENDING = 0
    COMPLETED = 1
    REJECTED = 2


class RejectReason(enum.StrEnum):
    EXCEEDS_CONTEXT = "exceeds_context"  # prompt + output > the model's / deployment's context
    EXCEEDS_KV_CAPACITY = "exceeds_kv_capacity"  # can never fit one instance's KV cache
    STALLED = "stalled"  # never finished (a simulator bug: tests assert it never happens)


class Request:
    """One request's live state. Token counters follow vLLM: ``cached_tokens`` have KV on the
    current instance; ``generated_tokens`` have been emitted; a decode step writes one token's
    KV and emits one token."""

    __slots__ = (
        "index", "request_id", "prompt_tokens", "output_tokens", "priority", "arrival_ns",
        "queue_key", "generated_tokens", "cached_tokens", "kv_blocks", "prefill_target_tokens",
        "prefill_done_tokens", "on_done", "waiting_since_ns", "queue_ns", "preemptions",
        "prefill_start_ns", "prefill_end_ns", "decode_start_ns", "first_token_ns",
        # prefix caching (phasesim.simulator.kv.PrefixKVCache): the hash ids of the prompt's full
        # prefix blocks, the session, the prompt tokens its first admission found cached, and
        # the leading prefix blocks (and their KV blocks) it holds shared on its instance now
        "prefix_hash_ids", "session_id", "prefix_hit_tokens", "shared_hashes", "shared_blocks",
    )

    def __init__(self, *, index: int, request_id: int, prompt_tokens: int, output_tokens: int,
                 priority: int, arrival_ns: int) -> None:
        self.index = index
        self.request_id = request_id
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.priority = priority
        self.arrival_ns = arrival_ns
        self.queue_key: tuple = ()
        self.generated_tokens = 0
        self.cached_tokens = 0
        self.kv_blocks = 0
        self.prefill_target_tokens = 0  # the current prefill's tokens (recompute: + output)
        self.prefill_done_tokens = 0
        # called by the instance with this request when its part there ends
        self.on_done: Callable[[Request], object] | None = None
        self.waiting_since_ns = arrival_ns
        self.queue_ns = 0
        self.preemptions = 0
        self.prefill_start_ns = -1
        self.prefill_end_ns = -1
        self.decode_start_ns = -1
        self.first_token_ns = -1
        self.prefix_hash_ids: tuple[int, ...] = ()
        self.session_id = -1
        self.prefix_hit_tokens = 0
        self.shared_hashes = 0
        self.shared_blocks = 0

    @property
    def prefilled(self) -> bool:
        return self.prefill_done_tokens >= self.prefill_target_tokens


REQUEST_COLUMNS = (
    "request_id", "status", "reason", "prefill_pool", "prefill_instance", "decode_pool",
    "decode_instance", "prompt_tokens", "output_tokens", "arrival_s", "prefill_start_s",
    "prefill_end_s", "transfer_start_s", "transfer_end_s", "decode_start_s", "first_token_s",
    "finish_s", "ttft_s", "tpot_s", "e2e_s", "queue_s", "transfer_s", "blocking_s", "preemptions",
)
# with a prefix cache in the run, after preemptions: prompt tokens its (first) prefill found
# cached on its instance (0 without a hit; NaN where it was never prefilled)
PREFIX_REQUEST_COLUMN = "cached_tokens"
_TIMES = ("arrival", "prefill_start", "prefill_end", "transfer_start", "transfer_end",
          "decode_start", "first_token", "finish")


class RequestLog:
    """Per-request outcome columns, indexed by trace row."""

    def __init__(self, *, request_ids: np.ndarray, prompt_tokens: np.ndarray,
                 output_tokens: np.ndarray, arrival_ns: np.ndarray,
                 prefix_cache: bool = False) -> None:
        n = len(request_ids)
        self.request_ids = request_ids
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.status = array("b", [Status.PENDING]) * n
        self.reason = [""] * n
        self.prefill_instance = array("q", [-1]) * n
        self.decode_instance = array("q", [-1]) * n
        # compact arrays with fast scalar writes (numpy item assignment is slow on the hot path)
        self.times = {name: array("q", [-1]) * n for name in _TIMES}
        self.times["arrival"] = array("q", np.asarray(arrival_ns, dtype=np.int64).tobytes())
        self.queue_ns = array("q", [0]) * n
        self.blocking_ns = array("q", [0]) * n
        self.preemptions = array("q", [0]) * n
        # prefix caching: cached prompt tokens per request (-1: never finished)
        self.cached_tokens = array("q", [-1]) * n if prefix_cache else None

    def reject(self, request: Request, reason: RejectReason) -> None:
        assert self.status[request.index] == Status.PENDING, "a request ends exactly once"
        self.status[request.index] = Status.REJECTED
        self.reason[request.index] = reason.value

    def finish(self, request: Request, now_ns: int) -> None:
        """Copy the request's own timestamps and mark it completed at ``now_ns``."""
        i = request.index
        assert self.status[i] == Status.PENDING, "a request ends exactly once"
        self.status[i] = Status.COMPLETED
        t = self.times
        t["prefill_start"][i] = request.prefill_start_ns
        t["prefill_end"][i] = request.prefill_end_ns
        t["decode_start"][i] = request.decode_start_ns
        t["first_token"][i] = request.first_token_ns
        t["finish"][i] = now_ns
        self.queue_ns[i] = request.queue_ns
        self.preemptions[i] = request.preemptions
        if self.cached_tokens is not None:
            self.cached_tokens[i] = request.prefix_hit_tokens

    def stall_leftovers(self) -> None:
        """Mark requests that never ended (there should be none) as rejected 'stalled'."""
        for i in np.flatnonzero(np.asarray(self.status) == Status.PENDING).tolist():
            self.status[i] = Status.REJECTED
            self.reason[i] = RejectReason.STALLED.value

    def frame(self, *, prefill_pool: str, decode_pool: str) -> pd.DataFrame:
        """The contract's ``requests`` DataFrame, sorted by request_id. Pool names are the pools
        the request was bound for; an instance of -1 means it never got there."""
        done = np.asarray(self.status) == Status.COMPLETED
        prefill_instance = np.asarray(self.prefill_instance, dtype=np.int64)
        decode_instance = np.asarray(self.decode_instance, dtype=np.int64)
        sec = {name: _seconds(np.asarray(arr, dtype=np.int64)) for name, arr in self.times.items()}
        out_tokens = self.output_tokens.astype(np.int64)
        ttft = sec["first_token"] - sec["arrival"]
        gaps = np.where(out_tokens > 1, out_tokens - 1, np.nan)
        tpot = (sec["finish"] - sec["first_token"]) / gaps
        transfer = sec["transfer_end"] - sec["transfer_start"]
        status = np.where(done, COMPLETED, REJECTED)
        df = pd.DataFrame({
            "request_id": self.request_ids.astype(np.int64),
            "status": status.astype(object),
            "reason": np.asarray(self.reason, dtype=object),
            "prefill_pool": np.full(len(done), prefill_pool, dtype=object),
            "prefill_instance": prefill_instance,
            "decode_pool": np.full(len(done), decode_pool, dtype=object),
            "decode_instance": decode_instance,
            "prompt_tokens": self.prompt_tokens.astype(np.int64),
            "output_tokens": out_tokens,
            "arrival_s": sec["arrival"],
            "prefill_start_s": sec["prefill_start"],
            "prefill_end_s": sec["prefill_end"],
            "transfer_start_s": sec["transfer_start"],
            "transfer_end_s": sec["transfer_end"],
            "decode_start_s": sec["decode_start"],
            "first_token_s": sec["first_token"],
            "finish_s": sec["finish"],
            "ttft_s": ttft,
            "tpot_s": tpot,
            "e2e_s": sec["finish"] - sec["arrival"],
            "queue_s": np.where(done, _seconds(np.asarray(self.queue_ns, dtype=np.int64)), np.nan),
            "transfer_s": transfer,
            "blocking_s": np.where(done & np.isfinite(transfer),
                                   _seconds(np.asarray(self.blocking_ns, dtype=np.int64)), np.nan),
            "preemptions": np.asarray(self.preemptions, dtype=np.int64),
        }, columns=list(REQUEST_COLUMNS))
        if self.cached_tokens is not None:
            cached = np.asarray(self.cached_tokens, dtype=np.int64)
            df[PREFIX_REQUEST_COLUMN] = np.where(cached >= 0, cached, np.nan)
        return df.sort_values("request_id", kind="stable").reset_index(drop=True)


def _seconds(values_ns: np.ndarray) -> np.ndarray:
    out = values_ns.astype(np.float64) * 1e-9
    out[values_ns < 0] = np.nan
    return out

