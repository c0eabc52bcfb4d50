"""The clock's phases, and the two SimPy internals the hot path relies on (``env._now`` and the
inlined ``schedule`` in ``Timer``), checked against SimPy's public API."""

from __future__ import annotations

import simpy

from phasesim.simulator.context import DECIDE, NORMAL, ROUTE, URGENT, SimContext, Timer


def test_phase_events_fire_like_scheduled_events_in_phase_order() -> None:
    env = simpy.Environment()
    fired: list[tuple[str, int, int]] = []

    def note(name: str):
        return lambda _event: fired.append((name, env.now, env._now))

    Timer(env, 5, ROUTE, note("route@5"))
    Timer(env, 5, DECIDE, note("decide@5"))
    env.timeout(5).callbacks.append(note("timeout@5"))  # SimPy's own NORMAL event
    Timer(env, 5, URGENT, note("urgent@5"))
    Timer(env, 3, ROUTE, note("route@3"))
    Timer(env, 5, NORMAL, note("normal@5"))  # same time and priority: after the timeout (FIFO)
    env.run()
    assert [name for name, _, _ in fired] == ["route@3", "urgent@5", "timeout@5", "normal@5",
                                              "decide@5", "route@5"]
    assert all(now == private for _, now, private in fired)  # env._now is env.now
    assert env.now == 5


def test_named_streams_are_independent_and_reproducible() -> None:
    a = SimContext(env=simpy.Environment(), seed=3)
    b = SimContext(env=simpy.Environment(), seed=3)
    first = a.rng("route:gpu").integers(1 << 30, size=4)
    b.rng("other").integers(1 << 30, size=100)  # drawing elsewhere changes nothing
    assert (b.rng("route:gpu").integers(1 << 30, size=4) == first).all()
    assert a.rng("route:gpu") is a.rng("route:gpu")
