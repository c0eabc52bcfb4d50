"""phasesim: a prefill/decode-aware simulator of LLM inference clusters.

One import namespace, layered so that imports only point down:

1. shared basics: ``phasesim.errors``, ``phasesim.units``, ``phasesim.atomic``,
   ``phasesim.safe_yaml``;
2. ``phasesim.traces``, and the simulator's catalogs and cost tables;
3. the engine: ``phasesim.simulator`` (``from phasesim.simulator.run import simulate``);
4. ``phasesim.profiler`` (writes cost tables) and ``phasesim.scenarios`` (experiments, sweeps);
5. ``phasesim.cli``: the ``sim``/``phasesim`` and ``profiler`` commands, the only layer that
   imports all of the above.

Importing this package imports nothing else.

``phasesim.simulator``, ``.traces``, ``.profiler`` and ``.scenarios`` live in the repository's
top-level folders of those names and are mapped into this namespace by the packaging
(``pyproject.toml``). Python run from a checkout's root finds this folder before an installed
copy; ``extend_path`` then adds the installed ``phasesim`` folder to the search path, so the
mapped subpackages resolve instead of vanishing.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__all__: list[str] = []
