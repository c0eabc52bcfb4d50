"""The one context object a simulation carries (clock, named random streams, metrics sink), and
the phases of its clock. Cost models belong to pools and are handed to their instances.

Time is an integer number of nanoseconds (``env.now``). Every duration is rounded once, with
``ns()``, where it is computed.

Event phases at one instant (SimPy orders its heap by ``(time, priority, id)``): first everything
that *happens* at ``t`` (link latencies end, transfers are delivered, an idle instance wakes;
SimPy's ``NORMAL``), then every instance ends its step and *decides* its next one (``DECIDE``),
then requests *arrive* and are routed and handed over (``ROUTE``). Fixing these phases makes a decision at ``t`` independent of the order
in which simultaneous events were scheduled, which is what lets the fast (closed-form decode) and
the reference (one event per step) modes agree to the nanosecond.

The hot path runs on callbacks, not processes: ``Timer(env, delay_ns, priority, callback)``
schedules one event whose only callback is ``callback(event)``. Instances and requests are state
machines driven by such events (a SimPy process costs a generator resume per event and an
``Interrupt`` costs an exception; a callback costs a call), so the event order is SimPy's, with
far less work per event. Two SimPy internals are used on purpose, both hot, and this module is
the only one that touches them: ``env._now``, read through ``now_ns(env)`` (what ``env.now``
returns, without a property call: an ``operator.attrgetter``, a C call), and
``Environment.schedule``'s push onto ``env._queue`` with ``next(env._eid)``, inlined in
``Timer``. SimPy is pinned below 5 and ``tests/simulator/test_context.py`` checks both against
the public API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappush
from operator import attrgetter

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

from phasesim.seeds import check_seed
from phasesim.simulator.recorder import Recorder

__all__ = ["URGENT", "NORMAL", "DECIDE", "ROUTE", "Timer", "SimContext", "ns", "now_ns"]

DECIDE = NORMAL + 1
ROUTE = NORMAL + 2

now_ns: Callable[[simpy.Environment], int] = attrgetter("_now")
"""``now_ns(env)``: the clock in integer ns, ``env.now`` without the property call (hot)."""


def ns(duration_s: float) -> int:
    """Seconds -> integer nanoseconds (round half to even, once)."""
    return int(round(duration_s * 1e9))


class Timer(Event):
    """An event that fires ``delay_ns`` from now with a given priority (``URGENT``, ``NORMAL``,
    ``DECIDE`` or ``ROUTE``): a Timeout with a priority and, optionally, its one callback."""

    def __init__(self, env: simpy.Environment, delay_ns: int, priority: int,
                 callback: Callable[[Event], object] | None = None) -> None:
        # Event.__init__ inlined (hot: one per step): born triggered, processed at its time,
        # as simpy.Timeout does
        self.env = env
        self.callbacks = [callback] if callback is not None else []
        self._ok = True
        self._value = None
        heappush(env._queue, (env._now + delay_ns, priority, next(env._eid), self))  # schedule()


@dataclass(slots=True, kw_only=True)
class SimContext:
    """Environment + named, independent random streams (derived from one seed) + the recorder."""

    env: simpy.Environment
    seed: int
    recorder: Recorder = field(default_factory=Recorder)
    _streams: dict[str, np.random.Generator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.seed = check_seed(self.seed)

    def rng(self, name: str) -> np.random.Generator:
        """The stream ``name``: same seed and name, same draws, whatever other streams do."""
        stream = self._streams.get(name)
        if stream is None:
            key = [int(b) for b in name.encode()]
            stream = np.random.default_rng(np.random.SeedSequence([self.seed, *key]))
            self._streams[name] = stream
        return stream
