"""Check, before any work, that an output path can be written: a run of minutes that ends in
"cannot write" (a missing or read-only folder, a file where a folder is wanted) wastes the run, and
a command with several outputs would otherwise write the first and fail on the next.

:func:`check_writable` creates and removes one temporary in the folder the output will be written
in (the nearest existing one: missing folders are made later), so it asks the file system itself
(read-only mounts, ``/proc``, permissions, a full inode table) rather than guessing from mode bits.
It does not reserve space: a disk that fills during the write is the writer's to report
(``phasesim.atomic``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from phasesim.atomic import temp_prefix
from phasesim.errors import InputError, OutputError

__all__ = ["check_writable"]


def check_writable(path: str | Path, *, option: str, directory: bool = False) -> None:
    """Raise unless ``path`` can be written as a file (or, with ``directory``, a folder):
    :class:`InputError` for the wrong kind of thing already there, :class:`OutputError` (the
    path and the OS's reason) where the file system refuses."""
    path = Path(path)
    if path.is_dir() and not directory:
        raise InputError(f"{option}: is a directory", path=path)
    if path.exists() and directory and not path.is_dir():
        raise InputError(f"{option}: exists and is not a directory", path=path)
    folder = path if directory else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{option}: {folder} is not a directory", path=path)
    try:
        fd, probe = tempfile.mkstemp(prefix=temp_prefix("probe"), suffix=".tmp",
                                     dir=os.path.abspath(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
