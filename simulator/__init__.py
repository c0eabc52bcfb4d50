"""phasesim's simulator: SimPy cluster, cost models, policies, links, metrics and the ``sim`` CLI.

Importing the package is cheap; submodules are imported where used.
"""

__all__: list[str] = []
