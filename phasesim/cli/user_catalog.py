"""``--hardware-file`` and ``PHASESIM_CATALOG``: the user's catalog, registered by the root
callback of ``sim`` and ``profiler`` before any command runs
(``phasesim.simulator.catalog.user``).

A hardware file named here is also put into ``PHASESIM_HARDWARE_FILES`` so that the worker
processes of a sweep or a plan register it too. The simulator module is imported only when there
is something to register (start-up time of the commands, as in ``phasesim.cli``).
"""

from __future__ import annotations

import os
from pathlib import Path

from phasesim.cli.errors import fail
from phasesim.errors import InputError

__all__ = ["HARDWARE_FILE_HELP", "register_user_catalog"]

HARDWARE_FILE_HELP = ("A YAML file of your hardware (the built-in entries' fields; power and "
                      "price optional), registered before the command runs; may be repeated. "
                      "PHASESIM_CATALOG=DIR adds a catalog directory (hardware, models, engines, "
                      "prices, tables).")
_CATALOG_ENV = "PHASESIM_CATALOG"  # phasesim.simulator.catalog.user.CATALOG_ENV
_FILES_ENV = "PHASESIM_HARDWARE_FILES"  # phasesim.simulator.catalog.user.FILES_ENV


def register_user_catalog(hardware_files: list[Path] | None) -> None:
    """Register ``--hardware-file`` files and the environment's catalog; one ``error:`` line
    (exit 2) for a bad file."""
    if hardware_files:
        given = os.pathsep.join(str(Path(p).resolve()) for p in hardware_files)
        before = os.environ.get(_FILES_ENV)
        os.environ[_FILES_ENV] = given if not before else before + os.pathsep + given
    if not (os.environ.get(_FILES_ENV) or os.environ.get(_CATALOG_ENV)):
        return
    from phasesim.simulator.catalog.user import register_from_environment

    try:
        register_from_environment()
    except InputError as exc:
        raise fail(str(exc)) from None
