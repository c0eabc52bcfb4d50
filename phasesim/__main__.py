"""``python -m phasesim``: the ``sim`` command."""

from phasesim.cli import main

main()
