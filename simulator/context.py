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

The clock's horizon is ``MAX_TIME_NS`` (``phasesim.units.MAX_TIME_S``, within the int64 range every
time column is written in). Inputs that feed the clock are checked against it where they enter;
``watch_horizon(env)`` ends a run that would still cross it (say, a million steps of an hour each)
with a ``HorizonError``, at no cost per event: one sentinel event at the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappush
from operator import attrgetter

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

from phasesim.errors import InputError
from phasesim.seeds import check_seed
from phasesim.simulator.recorder import Recorder
from phasesim.units import MAX_TIME_S

__all__ = ["URGENT", "NORMAL", "DECIDE", "ROUTE", "MAX_TIME_NS", "HorizonError", "Timer",
           "SimContext", "ns", "now_ns", "watch_horizon"]

DECIDE = NORMAL + 1
ROUTE = NORMAL + 2
MAX_TIME_NS = int(MAX_TIME_S) * 1_000_000_000  # exact: MAX_TIME_S is whole seconds

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


class HorizonError(InputError):
    """A run would pass the simulator's horizon (``MAX_TIME_NS``)."""


def watch_horizon(env: simpy.Environment) -> None:
    """Schedule the horizon's sentinel: an event at ``MAX_TIME_NS``, ahead of anything else due
    then (``URGENT``). A run that ends below the horizon processes it last, with an empty queue,
    and ends as before (``env.now`` is then the horizon); a run with events left at or past the
    horizon stops there with a :class:`HorizonError` before any of them is processed."""
    Timer(env, MAX_TIME_NS - now_ns(env), URGENT, _at_horizon)


def _at_horizon(event: Event) -> None:
    queue = event.env._queue
    if queue:
        time_ns, _, _, first = min(queue)
        owner = _owner(first)
        cause = (owner.horizon_cause() if hasattr(owner, "horizon_cause") else
                 "the trace's arrivals over the rate scale, the cost tables' step times and the "
                 "links' bandwidth and latency set how long a run takes")
        raise HorizonError(f"the run would pass the simulator's horizon of {MAX_TIME_S:.0f} s: "
                           f"its next event, at {time_ns * 1e-9:.4g} s, comes from {cause}")


def _owner(event: Event) -> object | None:
    """The object whose callback ``event`` runs: a bound method's ``self``, or the first object
    a closure holds that can say why it ran late (``horizon_cause``). Error path only."""
    for callback in event.callbacks or ():
        owner = getattr(callback, "__self__", None)
        if owner is not None:
            return owner
        for cell in getattr(callback, "__closure__", None) or ():
            if hasattr(cell.cell_contents, "horizon_cause"):
                return cell.cell_contents
    return None


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
