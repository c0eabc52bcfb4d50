"""phasesim's simulator: SimPy cluster, catalogs, cost models, policies, links, metrics, money and
energy (the ``sim`` CLI lives in ``phasesim.cli``).

Importing the package is cheap; submodules are imported where used.
"""

__all__: list[str] = []
