"""Queue orders: the sort key of a waiting request (smaller = served first).

Adding an order = one key function + one entry in ``QUEUE_ORDERS``. Keys end with the arrival
time and the trace row, so ties are broken first-come first-served, deterministically. A
preempted request keeps its key (under ``fcfs`` it goes back to the head of the queue, as vLLM
puts preempted sequences first).
"""

from __future__ import annotations

from collections.abc import Callable

from phasesim.simulator.request import Request
from phasesim.simulator.topology import QueueOrder

__all__ = ["QUEUE_ORDERS", "fcfs", "shortest_prompt_first", "by_priority"]


def fcfs(request: Request) -> tuple[int, ...]:
    return (request.arrival_ns, request.index)


def shortest_prompt_first(request: Request) -> tuple[int, ...]:
    return (request.prompt_tokens, request.arrival_ns, request.index)


def by_priority(request: Request) -> tuple[int, ...]:
    """The trace's ``priority`` column, lower first."""
    return (request.priority, request.arrival_ns, request.index)


QUEUE_ORDERS: dict[QueueOrder, Callable[[Request], tuple[int, ...]]] = {
    QueueOrder.FCFS: fcfs,
    QueueOrder.SHORTEST_PROMPT_FIRST: shortest_prompt_first,
    QueueOrder.PRIORITY: by_priority,
}
