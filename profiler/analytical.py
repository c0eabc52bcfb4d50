"""Moved: the roofline and its analytical tables live in ``phasesim.simulator.costs.roofline``
(issue 12: the simulator builds a table for any catalog hardware x engine x model x TP on the
fly, so the builder sits in the simulator layer). This name is kept for scripts that import it.
"""

from phasesim.simulator.costs.roofline import *  # noqa: F401,F403
from phasesim.simulator.costs.roofline import __all__  # noqa: F401
