"""Write outputs all or nothing, and say plainly when the file system refuses.

- :func:`atomic_path`: one file, written to a temporary sibling and renamed onto its name.
- :func:`staged_dir`: a whole output directory, written into a staging directory and swapped in,
  so the directory always holds exactly one run's files (see "Directories" below).
- :func:`output_errors`: an ``OSError`` while writing an output becomes an :class:`OutputError`
  naming the path the user gave and the OS's reason (``No space left on device``, ``Read-only file
  system``, ``Is a directory`` ...): one ``error:`` line and exit code 2 in the CLIs.
- :func:`remove_stale`: temporaries left by a run that was killed (``kill -9``, power loss).
- :func:`refuse_special`: an output path that is a symbolic link, a device node, a FIFO or a
  socket is refused, never replaced (both writers above call it).

Temporary names are ``.<name>.psim.<host>.<pid>.<random>.tmp``: the host and process id of the
writer. A temporary is stale, and removed, only when its host is this host and no process with
its id runs (a live process with a reused id keeps it: a leak, never a loss). On a shared file
system a temporary of another host is left alone.

Directories
-----------
``staged_dir(out, owned=names)`` refuses an existing ``out`` that holds anything but ``names``
(files phasesim did not write are never deleted: choose an empty or new directory), then:

1. writes into ``.<out>.psim.<host>.<pid>.<random>.tmp`` beside ``out``;
2. if ``out`` does not exist: renames the staging directory onto it (one rename);
3. else exchanges the two in one ``renameat2(RENAME_EXCHANGE)`` (Linux) and removes the staging
   name, which now holds the old run. Where the exchange is not supported: renames ``out`` aside
   (``.<out>.psim...old.tmp``) and the staging directory onto ``out``.

A kill before step 2/3 leaves ``out`` as it was, plus a stale staging directory; after it, ``out``
holds the new run plus a stale one holding the old. With the two-rename fallback a kill between
the renames leaves no ``out`` and the old run in the aside directory (never a mix of two runs).

A mount point cannot be renamed or replaced, and a directory beside it may be on another file
system, so for a mount point (or an ``out`` whose parent is not writable) the staging directory is
made inside ``out`` (for a bind mount that ``os.path.ismount`` cannot tell, the rename's ``EBUSY``
moves the files staged beside it into such a directory), and after a manifest of the new names is written the files are moved in one
by one (the old run's files that the new one lacks are removed first). A kill during the moves
leaves a mix until the next write into ``out``, which finishes the moves (the manifest says which
files are new) before doing anything else; a kill before the manifest leaves ``out`` untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from phasesim.errors import InputError, OutputError

__all__ = ["atomic_path", "check_output_dir", "output_errors", "refuse_special", "remove_stale",
           "staged_dir", "temp_prefix", "replace_marked_block"]

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_STALE = re.compile(r"^\.(?P<name>.*)\.psim\.(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)"
                    r"\.[A-Za-z0-9_]*(\.old)?\.tmp$")
_INSIDE = "run"  # the name part of a staging directory made inside a mount-point ``out``
_MANIFEST = ".manifest"
_IGNORED_AT_MOUNT = frozenset({"lost+found"})  # made by mkfs at a file system's root


def temp_prefix(name: str) -> str:
    """The start of a temporary's name for ``name``, written by this process on this host."""
    return f".{name}.psim.{_HOST}.{os.getpid()}."


@contextlib.contextmanager
def output_errors(path: str | Path, *, own: Collection[str | Path] = ()) -> Iterator[None]:
    """Turn an ``OSError`` about ``path``, a folder above or a file below it, a path starting with
    one of ``own`` (temporaries), or one with no file name (a failed write) into :class:`OutputError`;
    an ``OSError`` about any other file (an input read inside the block) passes through."""
    try:
        yield
    except OutputError as exc:
        if _about(exc.path, Path(path), own):  # about a temporary of ours: name the real path
            raise OutputError(path, exc.reason) from None
        raise
    except OSError as exc:
        if exc.filename is not None and not _about(os.fsdecode(exc.filename), Path(path), own):
            raise
        raise OutputError(path, exc.strerror or str(exc)) from None


def _about(name: str, path: Path, own: Collection[str | Path]) -> bool:
    target = os.path.abspath(path)
    name = os.path.abspath(name)
    if target == name or target.startswith(name.rstrip(os.sep) + os.sep) \
            or name.startswith(target.rstrip(os.sep) + os.sep):
        return True  # the path itself, a folder above it or a file below it
    return any(name.startswith(os.path.abspath(prefix)) for prefix in own)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    refuse_special(target, want_dir=False)
    with output_errors(target, own=[target.parent / temp_prefix(target.name)]):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent, name=target.name)  # left by a killed writer of this file
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=".tmp",
                                        dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            os.chmod(tmp, _default_mode())  # mkstemp makes 0600; give the usual umask mode
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def staged_dir(out: str | Path, *, owned: Collection[str] | Callable[[str], bool],
               tidy: bool = True) -> Iterator[Path]:
    """Yield an empty staging directory; on clean exit make it ``out`` (see the module doc).

    ``owned``: the names (or a test of a name) phasesim writes into such a directory; an existing
    ``out`` holding anything else is refused with :class:`InputError`. On any exception ``out`` is untouched.
    ``tidy=False`` skips removing stale temporaries beside ``out`` (a sweep does that once for
    its thousands of point directories instead of once per point).
    """
    owns = owned if callable(owned) else frozenset(owned).__contains__
    given = Path(out)
    refuse_special(given, want_dir=True)
    target = given
    with output_errors(given, own=[target, target.parent / temp_prefix(target.name)]):
        if target.is_dir():
            _finish_inside(target, owns=owns)  # a move into a mount point cut short by a kill
            remove_stale(target)
            _refuse_foreign(target, given, owns)
        target.parent.mkdir(parents=True, exist_ok=True)
        if tidy:
            remove_stale(target.parent, name=target.name)
        inside = target.is_dir() and (os.path.ismount(target)
                                      or not os.access(target.parent, os.W_OK | os.X_OK))
        where = target if inside else target.parent
        name = _INSIDE if inside else target.name
        staging = Path(tempfile.mkdtemp(prefix=temp_prefix(name), suffix=".tmp", dir=where))
        try:
            yield staging
            if inside:
                _write_manifest(staging)
                _finish_inside(target, staging, owns=owns)
            else:
                try:
                    _swap_in(staging, target)
                except OSError as exc:  # a mount point os.path.ismount cannot see (a bind
                    if exc.errno not in (errno.EBUSY, errno.EXDEV) or not target.is_dir():
                        raise  # mount of a folder of the same file system)
                    _move_inside(staging, target, owns=owns)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def refuse_special(path: str | Path, *, want_dir: bool) -> None:
    """An :class:`InputError` if ``path`` exists and is not what an output may replace: a regular
    file (``want_dir`` False) or a directory. A symbolic link (even to such a file: the
    rename would replace the link, not what it points at), a device node (``-o /dev/full`` as
    root replaced the device with a CSV), a FIFO or a socket is refused, never replaced.
    Callers may use it up front, before any work; :func:`atomic_path` and :func:`staged_dir`
    check again."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    if stat.S_ISLNK(mode):
        raise InputError("the output path is a symbolic link; give the path of a regular "
                         f"{'directory' if want_dir else 'file'} (outputs never replace a link)",
                         path=path)
    if stat.S_ISDIR(mode):
        if want_dir:
            return
        raise OutputError(path, os.strerror(errno.EISDIR))  # what the rename would say, early
    if stat.S_ISREG(mode) and not want_dir:
        return
    kind = ("a regular file" if stat.S_ISREG(mode)
            else "a device node" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")
    wanted = "a directory" if want_dir else "a regular file"
    raise InputError(f"the output path exists and is {kind}, not {wanted}; phasesim replaces "
                     f"only {wanted}", path=path)


def check_output_dir(out: str | Path, *, owned: Collection[str] | Callable[[str], bool]) -> None:
    """What :func:`staged_dir` would refuse about ``out`` (a link, a file, a device, a directory
    holding files phasesim did not write), said before a command does its work rather than after."""
    owns = owned if callable(owned) else frozenset(owned).__contains__
    given = Path(out)
    refuse_special(given, want_dir=True)
    if given.is_dir():
        with output_errors(given):
            _refuse_foreign(given, given, owns)


def remove_stale(directory: str | Path, *, name: str | None = None) -> list[Path]:
    """Remove this host's temporaries in ``directory`` whose writer is dead (only those of
    ``name`` when given); return them. Errors are ignored: a temporary is never worth a failure."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _refuse_foreign(target: Path, given: Path, owns: Callable[[str], bool]) -> None:
    ignored = _IGNORED_AT_MOUNT if os.path.ismount(target) else frozenset()
    foreign = sorted(entry.name for entry in os.scandir(target)
                     if not owns(entry.name) and entry.name not in ignored
                     and _STALE.match(entry.name) is None)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise InputError(f"the output directory holds files phasesim did not write ({shown}); "
                         "choose an empty or new directory", path=given)


def _swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` be ``target``; afterwards ``staging`` holds the old run, if any."""
    if not target.exists():
        os.chmod(staging, _default_mode(0o777))  # mkdtemp makes 0700
        os.rename(staging, target)
        return
    os.chmod(staging, target.stat().st_mode & 0o7777)
    if _exchange(staging, target):
        return
    aside = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), suffix=".old.tmp",
                                  dir=target.parent))
    try:
        os.replace(target, aside)  # rename over the empty directory just made
    except OSError:
        aside.rmdir()
        raise
    os.rename(staging, target)
    shutil.rmtree(aside, ignore_errors=True)


def _move_inside(staging: Path, target: Path, *, owns: Callable[[str], bool]) -> None:
    """The mount-point way, for files already staged beside ``target``."""
    inner = Path(tempfile.mkdtemp(prefix=temp_prefix(_INSIDE), suffix=".tmp", dir=target))
    try:
        for entry in sorted(os.scandir(staging), key=lambda e: e.name):
            shutil.move(entry.path, inner / entry.name)  # copies across file systems
        _write_manifest(inner)
        _finish_inside(target, inner, owns=owns)
    finally:
        shutil.rmtree(inner, ignore_errors=True)


def _write_manifest(staging: Path) -> None:
    names = sorted(entry.name for entry in os.scandir(staging))
    tmp = staging / f"{_MANIFEST}.tmp"
    tmp.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    os.replace(tmp, staging / _MANIFEST)  # from here on the new run is complete


def _finish_inside(target: Path, staging: Path | None = None, *,
                   owns: Callable[[str], bool]) -> None:
    """Move a complete staging directory's files into ``target`` (``staging`` given), or finish
    one a killed writer left (found by name; a live writer's is left alone). Of the files already
    in ``target`` only owned ones the new run lacks are removed."""
    if staging is None:
        for entry in os.scandir(target):
            match = _STALE.match(entry.name)
            if match is not None and match["name"] == _INSIDE and match["host"] == _HOST \
                    and not _alive(int(match["pid"])) \
                    and (Path(entry.path) / _MANIFEST).is_file():
                _finish_inside(target, Path(entry.path), owns=owns)
        return
    names = (staging / _MANIFEST).read_text(encoding="utf-8").split()
    for entry in os.scandir(target):
        if owns(entry.name) and entry.name not in names:
            _remove(Path(entry.path))  # the old run's file the new run does not have
    for name in names:
        if (staging / name).exists():
            if (target / name).is_dir() and not (target / name).is_symlink():
                shutil.rmtree(target / name)
            os.replace(staging / name, target / name)
    shutil.rmtree(staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint)
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _default_mode(base: int = 0o666) -> int:
    """``base`` minus the process umask (what a plain ``open``/``mkdir`` would create)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return base & ~umask


def replace_marked_block(path: str | Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between the markers ``begin`` and ``end`` of the text file ``path`` with
    ``body`` (a generated table: ``begin``, a newline, ``body``, ``end``), atomically; an
    :class:`InputError` naming the file if either marker is missing."""
    path = Path(path)
    text = path.read_text()
    if begin not in text or end not in text:
        raise InputError(f"no generated block ({begin} ... {end})", path=path)
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    with atomic_path(path) as tmp:
        tmp.write_text(f"{head}{begin}\n{body}{end}{tail}")
