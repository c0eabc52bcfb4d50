"""The clock's phases, and the two SimPy internals the hot path relies on (``env._now``, read
through ``now_ns``, and the inlined ``schedule`` in ``Timer``), checked against SimPy's public
API. ``simulator.context`` is the only module that touches SimPy's private fields."""

from __future__ import annotations

import ast
from pathlib import Path

import simpy

from phasesim.simulator.context import DECIDE, NORMAL, ROUTE, URGENT, SimContext, Timer, now_ns


def test_phase_events_fire_like_scheduled_events_in_phase_order() -> None:
    env = simpy.Environment()
    fired: list[tuple[str, int, int]] = []

    def note(name: str):
        return lambda _event: fired.append((name, env.now, now_ns(env)))

    Timer(env, 5, ROUTE, note("route@5"))
    Timer(env, 5, DECIDE, note("decide@5"))
    env.timeout(5).callbacks.append(note("timeout@5"))  # SimPy's own NORMAL event
    Timer(env, 5, URGENT, note("urgent@5"))
    Timer(env, 3, ROUTE, note("route@3"))
    Timer(env, 5, NORMAL, note("normal@5"))  # same time and priority: after the timeout (FIFO)
    env.run()
    assert [name for name, _, _ in fired] == ["route@3", "urgent@5", "timeout@5", "normal@5",
                                              "decide@5", "route@5"]
    assert all(now == private for _, now, private in fired)  # now_ns(env) is env.now
    assert env.now == 5


def test_now_ns_follows_the_public_clock() -> None:
    env = simpy.Environment(initial_time=1_000)
    assert now_ns(env) == env.now == 1_000
    seen: list[tuple[int, int]] = []
    for delay in (0, 7, 7, 30):
        env.timeout(delay).callbacks.append(lambda _e: seen.append((env.now, now_ns(env))))
    env.run(until=1_020)
    assert seen == [(1_000, 1_000), (1_007, 1_007), (1_007, 1_007)]
    assert now_ns(env) == env.now == 1_020  # run(until=...) moves the clock, not an event
    env.run()
    assert now_ns(env) == env.now == 1_030 and seen[-1] == (1_030, 1_030)


def test_timer_is_scheduled_like_a_public_timeout() -> None:
    """A Timer with NORMAL priority is a Timeout: same time, FIFO among SimPy's own events
    (the inlined ``next(env._eid)`` shares SimPy's counter), born triggered and ok."""
    env = simpy.Environment()
    order: list[str] = []
    for i in range(3):
        env.timeout(4).callbacks.append(lambda _e, i=i: order.append(f"timeout{i}"))
        timer = Timer(env, 4, NORMAL, lambda _e, i=i: order.append(f"timer{i}"))
        assert timer.triggered and timer.ok and not timer.processed and timer.value is None
    assert env.peek() == 4
    env.run()
    assert order == [f"{kind}{i}" for i in range(3) for kind in ("timeout", "timer")]
    assert timer.processed and env.now == 4
    bare = Timer(env, 2, NORMAL)  # no callback: fires and does nothing
    env.run()
    assert bare.processed and env.now == 6


def test_only_context_touches_simpys_private_fields() -> None:
    """``env._now``, ``env._queue`` and ``env._eid`` are read in ``simulator/context.py`` and
    nowhere else in the package (attribute accesses, found with ``ast``)."""
    repo = Path(__file__).resolve().parents[2]
    private = {"_now", "_queue", "_eid"}
    found: dict[str, set[str]] = {}
    for folder in ("simulator", "traces", "profiler", "scenarios", "phasesim"):
        for path in (repo / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Attribute) and node.attr in private:
                    found.setdefault(str(path.relative_to(repo)), set()).add(node.attr)
    assert found == {"simulator/context.py": private}


def test_named_streams_are_independent_and_reproducible() -> None:
    a = SimContext(env=simpy.Environment(), seed=3)
    b = SimContext(env=simpy.Environment(), seed=3)
    first = a.rng("route:gpu").integers(1 << 30, size=4)
    b.rng("other").integers(1 << 30, size=100)  # drawing elsewhere changes nothing
    assert (b.rng("route:gpu").integers(1 << 30, size=4) == first).all()
    assert a.rng("route:gpu") is a.rng("route:gpu")
