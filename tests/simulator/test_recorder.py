"""The metrics sink: rows come out as the contract's frame; an instance writes one row per change
and none when nothing changed; its counters add up."""

from __future__ import annotations

import numpy as np

from phasesim.simulator.kv import KVCache
from phasesim.simulator.recorder import (
    TIMESERIES_COLUMNS,
    InstanceSeries,
    InstanceStats,
    Recorder,
)
from phasesim.simulator.request import Request


def _request(i: int) -> Request:
    return Request(index=i, request_id=i, prompt_tokens=10, output_tokens=5, priority=0,
                   arrival_ns=0)


def _series(recorder: Recorder, index: int = 1):
    waiting: list[Request] = []
    running: list[Request] = []
    kv = KVCache(capacity_tokens=160, block_tokens=16, watermark_fraction=0.0)
    series = InstanceSeries(recorder=recorder, pool="gpu", index=index, waiting=waiting,
                            running=running, kv=kv)
    return series, waiting, running, kv


def test_one_row_per_change_and_none_when_nothing_changed() -> None:
    recorder = Recorder()
    series, waiting, running, kv = _series(recorder)
    series.record(0)  # the first row
    series.record(5)  # nothing changed
    waiting.append(_request(0))
    series.record(10)
    series.record(10)  # again nothing
    running.append(waiting.pop())
    kv.allocate(2)
    series.record(20)
    kv.allocate(0)
    series.record(30)
    frame = recorder.frame()
    assert list(frame.columns) == list(TIMESERIES_COLUMNS)
    assert frame.time_s.tolist() == [0.0, 1e-8, 2e-8]
    assert frame.queue_len.tolist() == [0, 1, 0]
    assert frame.running.tolist() == [0, 0, 1]
    assert frame.kv_used_tokens.tolist() == [0, 0, 32]  # blocks x 16 tokens
    assert (frame.kv_capacity_tokens == 160).all()
    assert set(frame.entity) == {"instance"} and set(frame.pool) == {"gpu"}
    assert (frame.instance == 1).all() and set(frame.link) == {""}


def test_instances_and_links_interleave_in_time_order_of_writing() -> None:
    recorder = Recorder()
    series, waiting, _running, _kv = _series(recorder, index=0)
    series.record(0)
    recorder.link(3, recorder.code("nvlink"), 2, 1.5e6)
    waiting.append(_request(0))
    series.record(4)
    frame = recorder.frame()
    assert frame.entity.tolist() == ["instance", "link", "instance"]
    assert frame.pool.tolist() == ["gpu", "", "gpu"]
    assert frame.link.tolist() == ["", "nvlink", ""]
    assert frame.active_transfers.tolist() == [0, 2, 0]
    assert frame.bytes_in_flight.tolist() == [0.0, 1.5e6, 0.0]
    assert frame.instance.tolist() == [0, -1, 0]


def test_a_disabled_recorder_writes_nothing() -> None:
    recorder = Recorder(enabled=False)
    series, waiting, _running, _kv = _series(recorder)
    for t in range(3):
        waiting.append(_request(t))
        series.record(t)
    recorder.link(1, recorder.code("l"), 1, 1.0)
    frame = recorder.frame()
    assert frame.empty and list(frame.columns) == list(TIMESERIES_COLUMNS)


def test_instance_stats_count_iterations_and_batch_sums() -> None:
    stats = InstanceStats()
    stats.count(1_000, 4, 1)  # one step of four sequences
    stats.count(9_000, 3, 5)  # a run of five steps of three
    assert (stats.busy_ns, stats.iterations, stats.batch_sum) == (10_000, 6, 4 + 15)
    assert np.isclose(stats.batch_sum / stats.iterations, 19 / 6)
