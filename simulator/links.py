"""KV-transfer links with exact processor sharing.

A transfer first waits the link's latency, then its bytes are served at ``bandwidth / n`` while
``n`` transfers are in their data phase (fair sharing). Whenever a transfer joins or leaves, the
remaining bytes of every transfer are advanced at the old share and the next completion is
rescheduled at the new one (stale timers are ignored by a version number), so contention is
modelled exactly; the only rounding is each completion time to the nanosecond. A lone transfer
takes ``ns(latency_s) + ns(bytes / bandwidth)``.

Time series: the transfers in flight and the bytes not yet delivered, one row when either changes
(a transfer starts, enters its data phase beside others, or is delivered; transfers delivered at
one instant leave in one row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phasesim.simulator.context import NORMAL, SimContext, Timer, now_ns, ns

__all__ = ["Link", "LinkStats"]

_DONE_WITHIN_NS = 0.5 + 1e-6  # a transfer within half a nanosecond of done is done


@dataclass(slots=True, eq=False)
class _Transfer:
    remaining_bytes: float
    on_done: Callable[[], object]


@dataclass(slots=True)
class LinkStats:
    transfers: int = 0
    bytes_moved: int = 0
    busy_ns: int = 0
    max_concurrent: int = 0


class Link:
    """One shared path: ``start(nbytes, on_done)`` moves ``nbytes`` and calls ``on_done()``."""

    def __init__(self, *, ctx: SimContext, name: str, bandwidth_bytes_per_s: float,
                 latency_s: float) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.name = name
        self.bandwidth_bytes_per_s = bandwidth_bytes_per_s
        self.latency_s = latency_s
        self.latency_ns = ns(latency_s)
        self.stats = LinkStats()
        self._recorder = ctx.recorder
        self._code = ctx.recorder.code(name)
        self._active: list[_Transfer] = []  # in the data phase, in join order
        self._in_flight = 0  # latency or data phase
        self._latent_bytes = 0  # bytes of transfers still in their latency phase
        self._busy_since = 0
        self._last_ns = 0
        self._last_row: tuple[int, float] | None = None  # (in flight, bytes) of the last row
        self._version = 0

    def start(self, nbytes: int, on_done: Callable[[], object]) -> None:
        """Move ``nbytes`` over the link: latency, then a fair share of the bandwidth;
        ``on_done()`` is called when the last byte has arrived (SimPy's ``NORMAL`` phase)."""
        self._begin(nbytes)
        if self.latency_ns:
            Timer(self.env, self.latency_ns, NORMAL,
                  lambda _event: self._data_phase(nbytes, on_done))
        else:
            self._data_phase(nbytes, on_done)

    def _data_phase(self, nbytes: int, on_done: Callable[[], object]) -> None:
        self._latent_bytes -= nbytes
        if nbytes <= 0:
            self._end()
            on_done()
            return
        self._advance()
        self._active.append(_Transfer(float(nbytes), on_done))
        self._reschedule()
        self._record()

    @property
    def bytes_in_flight(self) -> float:
        """Bytes not yet delivered: latency-phase transfers' plus data-phase remainders."""
        return self._latent_bytes + sum(t.remaining_bytes for t in self._active)

    def _begin(self, nbytes: int) -> None:
        if self._in_flight == 0:
            self._busy_since = now_ns(self.env)
        self._in_flight += 1
        self._latent_bytes += nbytes
        self.stats.transfers += 1
        self.stats.bytes_moved += int(nbytes)
        self.stats.max_concurrent = max(self.stats.max_concurrent, self._in_flight)
        self._record()

    def _end(self, transfers: int = 1) -> None:
        self._in_flight -= transfers
        if self._in_flight == 0:
            self.stats.busy_ns += now_ns(self.env) - self._busy_since
        self._record()

    def _advance(self) -> None:
        now = now_ns(self.env)
        if self._active and now > self._last_ns:
            served = (now - self._last_ns) * 1e-9 * self.bandwidth_bytes_per_s / len(self._active)
            for transfer in self._active:
                transfer.remaining_bytes -= served
        self._last_ns = now

    def _reschedule(self) -> None:
        self._version += 1
        if not self._active:
            return
        share = self.bandwidth_bytes_per_s / len(self._active)
        first = min(t.remaining_bytes for t in self._active)
        version = self._version
        Timer(self.env, max(1, ns(first / share)), NORMAL,
              lambda _event: self._on_timer(version))

    def _on_timer(self, version: int) -> None:
        if version != self._version:
            return  # a join or leave rescheduled since
        self._advance()
        share_per_ns = self.bandwidth_bytes_per_s * 1e-9 / len(self._active)
        limit = _DONE_WITHIN_NS * share_per_ns
        finished = [t for t in self._active if t.remaining_bytes <= limit]
        self._active = [t for t in self._active if t.remaining_bytes > limit]
        self._reschedule()
        self._end(len(finished))  # delivered: the link lets go of them (one row), then their
        for transfer in finished:  # owners go on
            transfer.on_done()

    def _record(self) -> None:
        """A time-series row when what it shows changed (a lone transfer entering its data
        phase changes nothing it shows)."""
        self._advance()  # also when not recording: the same float steps either way
        if self._recorder.enabled:
            row = (self._in_flight, self.bytes_in_flight)
            if row != self._last_row:
                self._last_row = row
                self._recorder.link(now_ns(self.env), self._code, *row)

    def horizon_cause(self) -> str:
        """What made this link's next event fall past the clock's horizon (its error)."""
        return (f"link {self.name}'s transfers ({self._in_flight} in flight at "
                f"{self.bandwidth_bytes_per_s:g} B/s shared, after {self.latency_s:g} s latency)")
