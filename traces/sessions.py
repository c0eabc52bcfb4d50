"""Seeded multi-turn sessions (chat, agents) with prefix hash ids, so prefix caching can be studied
without Mooncake's traces.

A session starts at a Poisson arrival (``session_rate_rps``) and has a number of turns; the next
turn arrives a think time (exponential, mean ``think_s``) after the previous turn's arrival (the
answer's own time is inside it: a generator cannot know it). Turn ``t``'s prompt is the shared
system prompt (``system_prompt_tokens``, the same for every session), then everything said
before (the previous prompt and the previous answer), then new user tokens. So its leading
blocks repeat the previous turn's, and the system prompt's full blocks are shared by every
session.

Hash ids follow Mooncake's convention: one per ``prefix_block_tokens`` block of the prompt,
oldest first, the last one partial. A full block's id names its content (the whole prefix up to
its end): the system prompt's blocks have the same ids in every session; a session's later
blocks keep their ids from turn to turn; a partial last block gets a fresh id (its content
changes in the next turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.traces import schema
from phasesim.traces.generators import (
    MAX_GENERATED_REQUESTS,
    MAX_GENERATED_TOKENS,
    LengthDist,
    _positive,
    _positive_int,
    draw_lengths,
    spec_dict,
)
from phasesim.traces.storage import META_ATTR, new_meta
from phasesim.units import MAX_TIME_S

__all__ = ["MAX_SESSION_HASH_IDS", "Sessions", "generate_sessions"]

# The most prefix hash ids a generated session trace may hold in all (each row lists its prompt's
# blocks, so a long conversation in small blocks makes many): about 1 GB of lists in memory.
MAX_SESSION_HASH_IDS = 20_000_000
# A block longer than this names no real engine's cache block (16 to 512 tokens).
MAX_BLOCK_TOKENS = 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class Sessions:
    """How sessions look: ``sessions`` of them starting at ``session_rate_rps`` (Poisson),
    ``turns`` per session, ``think_s`` mean time between a session's turns, ``user`` new user
    tokens per turn, ``output`` tokens per answer, ``system_prompt_tokens`` shared by all
    sessions (0: none), hash ids per ``prefix_block_tokens`` block."""

    sessions: int
    session_rate_rps: float
    turns: LengthDist
    think_s: float
    user: LengthDist
    output: LengthDist
    system_prompt_tokens: int = 0
    prefix_block_tokens: int = 512

    def __post_init__(self) -> None:
        _positive_int("sessions", self.sessions, most=MAX_GENERATED_REQUESTS)
        _positive("session_rate_rps", self.session_rate_rps)
        _positive("think_s", self.think_s)
        if self.think_s > MAX_TIME_S:
            raise InputError(f"think_s {self.think_s:g} is beyond the simulator's horizon of "
                             f"{MAX_TIME_S:.6g} s", column="think_s")
        _positive_int("prefix_block_tokens", self.prefix_block_tokens, most=MAX_BLOCK_TOKENS)
        if isinstance(self.system_prompt_tokens, bool) or not isinstance(
                self.system_prompt_tokens, (int, np.integer)) or self.system_prompt_tokens < 0:
            raise InputError(f"system_prompt_tokens must be an integer >= 0, got "
                             f"{self.system_prompt_tokens!r}", column="system_prompt_tokens")
        if self.system_prompt_tokens > MAX_GENERATED_TOKENS:
            raise InputError(f"system_prompt_tokens must be at most {MAX_GENERATED_TOKENS:,}",
                             column="system_prompt_tokens")


def generate_sessions(spec: Sessions, *, seed: int = 0) -> pd.DataFrame:
    """A canonical trace of ``spec``'s sessions with ``session_id`` and ``prefix_hash_ids``
    (block size in the metadata), rows in arrival order (ties: session, then turn). Same spec
    and seed: identical frame."""
    start_seq, turns_seq, think_seq, user_seq, output_seq = np.random.SeedSequence(seed).spawn(5)
    n = spec.sessions
    starts = np.concatenate([[0.0], np.cumsum(
        np.random.default_rng(start_seq).exponential(1.0 / spec.session_rate_rps, n - 1))])
    turns = draw_lengths(spec.turns, np.random.default_rng(turns_seq), n)
    total = int(turns.sum())
    if total > MAX_GENERATED_REQUESTS:  # before drawing anything per turn
        raise InputError(f"{n:,} sessions of these turns make {total:,} requests, more than "
                         f"{MAX_GENERATED_REQUESTS:,}, the most a generated trace may hold",
                         column="turns")
    thinks = np.random.default_rng(think_seq).exponential(spec.think_s, total)
    users = draw_lengths(spec.user, np.random.default_rng(user_seq), total)
    outputs = draw_lengths(spec.output, np.random.default_rng(output_seq), total)
    block = spec.prefix_block_tokens
    system_blocks = list(range(spec.system_prompt_tokens // block))  # shared ids 0..k-1
    next_id = len(system_blocks)
    arrival, session, prompt, hashes = [], [], [], []
    row = listed = 0
    for s in range(n):
        at = float(starts[s])
        context = spec.system_prompt_tokens  # tokens before this turn's new user tokens
        full: list[int] = list(system_blocks)  # ids of the session's full blocks so far
        for _ in range(int(turns[s])):
            tokens = context + int(users[row])
            listed += tokens // block + 1  # this row's ids, counted before any is made
            if listed > MAX_SESSION_HASH_IDS:
                raise InputError(f"the sessions' prompts span more than {MAX_SESSION_HASH_IDS:,} "
                                 f"prefix blocks of {block} tokens in all; use larger blocks or "
                                 "fewer or shorter sessions", column="prefix_block_tokens")
            while (len(full) + 1) * block <= tokens:
                full.append(next_id)
                next_id += 1
            ids = list(full)
            if tokens % block:  # the partial last block: its content changes next turn
                ids.append(next_id)
                next_id += 1
            arrival.append(at)
            session.append(s)
            prompt.append(tokens)
            hashes.append(ids)
            context = tokens + int(outputs[row])
            at += float(thinks[row])
            row += 1
    order = np.lexsort((np.arange(total), np.asarray(arrival)))  # by arrival, then generation
    df = pd.DataFrame({
        schema.REQUEST_ID: np.arange(total, dtype=np.int64),
        schema.ARRIVAL_S: np.asarray(arrival)[order],
        schema.PROMPT_TOKENS: np.asarray(prompt, dtype=np.int64)[order],
        schema.OUTPUT_TOKENS: outputs[order],
        schema.SESSION_ID: np.asarray(session, dtype=np.int64)[order],
        schema.PREFIX_HASH_IDS: [hashes[i] for i in order.tolist()],
    })
    source = {"generator": {
        "sessions": n, "session_rate_rps": spec.session_rate_rps, "turns": spec_dict(spec.turns),
        "think_s": spec.think_s, "user": spec_dict(spec.user), "output": spec_dict(spec.output),
        "system_prompt_tokens": spec.system_prompt_tokens, "seed": seed}}
    df.attrs[META_ATTR] = new_meta(source=source, prefix_block_tokens=block)
    return df
