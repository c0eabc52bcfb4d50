"""KV-cache block accounting, and decode-side reservations: granted first come first served, only
while a seat and the blocks (above the watermark once anything is seated) are free."""

from __future__ import annotations

import pytest

from phasesim.simulator.kv import KVCache, KVReservations, blocks_for
from phasesim.simulator.request import Request


def _request(i: int) -> Request:
    return Request(index=i, request_id=i, prompt_tokens=10, output_tokens=5, priority=0,
                   arrival_ns=0)


def test_blocks_round_up_and_the_cache_counts_whole_blocks() -> None:
    assert [blocks_for(t, 16) for t in (0, 1, 16, 17, 32, 33)] == [0, 1, 1, 2, 2, 3]
    kv = KVCache(capacity_tokens=1000, block_tokens=16, watermark_fraction=0.1)
    assert (kv.capacity_blocks, kv.capacity_tokens, kv.watermark_blocks) == (62, 992, 6)
    kv.allocate(60)
    assert (kv.used_blocks, kv.free_blocks) == (60, 2)
    with pytest.raises(AssertionError, match="over-allocation"):
        kv.allocate(3)
    kv.free(60)
    with pytest.raises(AssertionError, match="double free"):
        kv.free(1)


class _Seats:
    """A decode instance's lists as the reservations see them."""

    def __init__(self, *, capacity_blocks: int, watermark_blocks: int, max_num_seqs: int):
        self.kv = KVCache(capacity_tokens=capacity_blocks, block_tokens=1, watermark_fraction=0)
        self.kv.watermark_blocks = watermark_blocks
        self.running: list[Request] = []
        self.ready: list[Request] = []
        self.waiting: list[Request] = []
        self.reservations = KVReservations(kv=self.kv, running=self.running, ready=self.ready,
                                           waiting=self.waiting, max_num_seqs=max_num_seqs)
        self.told: list[int] = []

    def ask(self, i: int, blocks: int) -> Request:
        request = _request(i)
        self.reservations.ask(request, blocks, lambda: self.told.append(i))
        return request


def test_reservations_are_granted_in_order_while_the_blocks_are_free() -> None:
    seats = _Seats(capacity_blocks=100, watermark_blocks=0, max_num_seqs=10)
    a, b, c = seats.ask(0, 60), seats.ask(1, 50), seats.ask(2, 10)
    seats.reservations.grant()
    # b does not fit; c would, but waits behind b (first come first served)
    assert (a.kv_blocks, b.kv_blocks, c.kv_blocks) == (60, 0, 0)
    assert seats.kv.used_blocks == 60 and seats.reservations.incoming == 1
    assert [r for r, _, _ in seats.reservations.pending] == [b, c]
    assert seats.told == []  # told only when asked to
    seats.reservations.tell_granted()
    assert seats.told == [0] and seats.reservations.granted == []
    seats.kv.free(60)  # e.g. a finished sequence's blocks
    seats.reservations.grant()
    seats.reservations.tell_granted()
    assert seats.told == [0, 1, 2] and seats.kv.used_blocks == 50 + 10
    assert seats.reservations.incoming == 3 and not seats.reservations.pending


def test_no_reservation_is_granted_while_a_preempted_request_waits() -> None:
    """vLLM puts a preempted request back at the head of its waiting queue: the transfers not
    yet allocated KV wait behind it, however many blocks are free."""
    seats = _Seats(capacity_blocks=100, watermark_blocks=0, max_num_seqs=10)
    seats.waiting.append(_request(9))  # preempted, to be recomputed here
    seats.ask(0, 10)
    seats.reservations.grant()
    assert seats.reservations.incoming == 0 and len(seats.reservations.pending) == 1
    assert seats.kv.used_blocks == 0
    seats.waiting.clear()  # admitted again
    seats.reservations.grant()
    assert seats.reservations.incoming == 1 and not seats.reservations.pending


def test_reservations_wait_for_a_seat() -> None:
    seats = _Seats(capacity_blocks=100, watermark_blocks=0, max_num_seqs=2)
    seats.running.append(_request(9))  # one seat taken by a running sequence
    seats.ask(0, 1)
    seats.ask(1, 1)
    seats.reservations.grant()
    assert seats.reservations.incoming == 1 and len(seats.reservations.pending) == 1
    seats.reservations.incoming -= 1  # the granted request joins ...
    seats.ready.append(_request(0))  # ... and still holds its seat
    seats.reservations.grant()
    assert len(seats.reservations.pending) == 1
    seats.ready.clear()
    seats.running.clear()  # both leave
    seats.reservations.grant()
    seats.reservations.tell_granted()
    assert seats.told == [0, 1]


def test_the_watermark_applies_once_anything_is_seated() -> None:
    seats = _Seats(capacity_blocks=100, watermark_blocks=10, max_num_seqs=10)
    seats.ask(0, 95)  # empty instance: no headroom needed
    seats.ask(1, 1)  # 5 free, but 1 + 10 headroom do not fit
    seats.reservations.grant()
    seats.reservations.tell_granted()
    assert seats.told == [0] and seats.kv.free_blocks == 5
