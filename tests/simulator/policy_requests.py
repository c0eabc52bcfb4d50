"""A request in the state a batching policy sees it (how much is cached, generated and allocated),
for the policy tests (test_batching, test_kv_admission)."""

from __future__ import annotations

from phasesim.simulator.request import Request


def policy_request(i: int, prompt: int = 100, output: int = 10, *, cached: int = 0,
                   generated: int = 0, blocks: int = 0) -> Request:
    r = Request(index=i, request_id=i, prompt_tokens=prompt, output_tokens=output, priority=0,
                arrival_ns=i)
    r.cached_tokens, r.generated_tokens, r.kv_blocks = cached, generated, blocks
    r.prefill_target_tokens = r.prefill_done_tokens = cached
    return r


def decoding_request(i: int, cached: int, *, block_tokens: int = 16) -> Request:
    """A running sequence past its first token, holding the blocks its ``cached`` tokens fill."""
    return policy_request(i, cached=cached, generated=1, blocks=-(-cached // block_tokens))
