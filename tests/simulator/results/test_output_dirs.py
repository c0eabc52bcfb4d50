"""Output directories: one run's files at every moment, one error line when the disk refuses.

Group 4 (file-system errors) and group 8 (directories mixing two runs) of the hardening issue:
an ``OSError`` while writing becomes ``OutputError`` (path + the OS's reason); a reused directory
is swapped whole, never file by file; a mount point can be an output directory; temporaries of a
killed run are removed by the next one (only when their writer is dead).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim import atomic
from phasesim.cli import app
from phasesim.errors import InputError, OutputError
from phasesim.simulator.results.output import RESULT_FILES, write_results
from tests.one_line import one_error_line
from tests.simulator.small_results import small_result

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "traces" / "samples" / "azure_code_2023.parquet"
runner = CliRunner()

_result = small_result


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _temporaries(*folders: Path) -> list[str]:
    return [p.name for folder in folders if folder.is_dir() for p in folder.iterdir()
            if ".psim." in p.name]


def _one_error_line(output: str) -> str:
    return one_error_line(output, ignore_warnings=True)


# --- group 4: OSError on output -> one line naming the path and the reason ---------------------


def test_full_disk_is_an_output_error_naming_the_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_results(_result(10), out)
    before = _digests(out)

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError) as caught:
        write_results(_result(30), out)
    assert str(caught.value) == f"{out}: cannot write: No space left on device"
    assert _digests(out) == before  # the earlier run is untouched
    assert _temporaries(tmp_path, out) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("args", [
    ["replay", str(SAMPLE), "-t", "gpu", "-o", "/proc/phasesim-test/out"],
    ["replay", str(SAMPLE), "-t", "gpu", "-o", "/proc/phasesim-test"],
    ["traces", "import", str(SAMPLE), "-o", "/proc/phasesim-test.parquet"],
])
def test_output_under_proc_is_one_error_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert "/proc/phasesim-test" in line and "cannot write" in line


def test_traces_import_onto_a_directory_is_one_error_line(tmp_path: Path) -> None:
    target = tmp_path / "existing"
    target.mkdir()
    result = runner.invoke(app, ["traces", "import", str(SAMPLE), "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == f"error: {target}: cannot write: Is a directory"
    assert list(target.iterdir()) == [] and _temporaries(tmp_path) == []


def test_sweep_onto_a_file_is_one_error_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\ntopology: gpu\ntrace: {{path: {SAMPLE}, max_requests: 20}}\n"
                        "sweep: {grid: {seed: [1, 2]}}\n")
    target = tmp_path / "file"
    target.write_text("mine")
    result = runner.invoke(app, ["sweep", str(scenario), "-o", str(target), "--serial"])
    assert result.exit_code == 2, result.output
    assert "not a directory" in _one_error_line(result.output)
    assert target.read_text() == "mine"


def test_a_mount_point_can_be_the_output_directory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A mount point cannot be renamed: the files are staged inside it and moved in."""
    out = tmp_path / "mnt"
    out.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out or real(p))
    monkeypatch.setattr(atomic, "_swap_in", _never)  # no rename of the directory itself
    write_results(_result(10), out)
    write_results(_result(30), out)
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert json.loads((out / "summary.json").read_text()) == {"requests": 30}
    assert _temporaries(tmp_path, out) == []


def test_a_bind_mount_that_ismount_cannot_see_works_too(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bind mount of a folder of the same file system looks like a plain directory until the
    rename fails with EBUSY; the staged files are then moved in."""
    out = tmp_path / "bind"
    out.mkdir()

    def busy(staging: Path, target: Path) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(target))

    monkeypatch.setattr(atomic, "_swap_in", busy)
    write_results(_result(10), out)
    write_results(_result(30), out)
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert json.loads((out / "summary.json").read_text()) == {"requests": 30}
    assert _temporaries(tmp_path, out) == []


def _never(*args: object) -> None:
    raise AssertionError("a mount point must not be renamed")


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = atomic._HOST
    stale = tmp_path / f".out.psim.{host}.{dead}.abc123.tmp"
    stale.mkdir()
    (stale / "requests.parquet").write_bytes(b"half")
    stale_file = tmp_path / f".out.psim.{host}.{dead}.k_9x.tmp"
    stale_file.write_bytes(b"half")
    alive = tmp_path / f".out.psim.{host}.{os.getppid()}.def456.tmp"  # a live writer's
    alive.mkdir()
    other_host = tmp_path / f".out.psim.not-{host}.{dead}.ghi789.tmp"  # not ours to judge
    other_host.mkdir()
    write_results(_result(10), tmp_path / "out")
    assert not stale.exists() and not stale_file.exists()
    assert alive.exists() and other_host.exists()


def test_a_killed_file_writer_is_tidied_by_the_next_write(tmp_path: Path) -> None:
    """`sim traces import -o t.parquet` killed mid-write leaves a temporary file; the next write
    of the same file removes it."""
    script = ("import os, sys\nfrom phasesim.atomic import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    target = tmp_path / "t.parquet"
    proc = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert proc.returncode == 9 and len(_temporaries(tmp_path)) == 1 and not target.exists()
    result = runner.invoke(app, ["traces", "import", str(SAMPLE), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert _temporaries(tmp_path) == [] and target.is_file()


# --- group 8: one run's files at every moment ---------------------------------------------------


def test_a_reused_directory_loses_the_earlier_runs_files(tmp_path: Path) -> None:
    """`sim run` without a timeseries into a directory of a run with one: no stale file."""
    def scenario(name: str, timeseries: bool) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: {name}\ntopology: gpu\n"
                        f"trace: {{path: {SAMPLE}, max_requests: 30}}\n"
                        f"outputs: {{timeseries: {str(timeseries).lower()}}}\n")
        return path

    out = tmp_path / "out"
    first = runner.invoke(app, ["run", str(scenario("a", True)), "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert (out / "timeseries.parquet").is_file()
    second = runner.invoke(app, ["run", str(scenario("b", False)), "-o", str(out)])
    assert second.exit_code == 0, second.output
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "meta.json",
                                                     "requests.parquet", "summary.json"]
    assert "name: b" in (out / "config.yaml").read_text()


def test_a_directory_with_foreign_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="did not write .*thesis.tex"):
        write_results(_result(10), out)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


KILLER = textwrap.dedent(f'''
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {str(REPO)!r})
    from phasesim import atomic
    from phasesim.simulator.results.output import write_results
    from tests.simulator.small_results import small_result as result
    step, out, mount = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "mount"
    if mount:
        os.path.ismount = lambda p: Path(p) == out
    count = [0]
    def dies_at_step(func):
        def wrapper(*args, **kwargs):
            count[0] += 1
            if count[0] == step:
                os._exit(9)  # as kill -9: no finally, no cleanup
            return func(*args, **kwargs)
        return wrapper
    os.replace = dies_at_step(os.replace)
    os.rename = dies_at_step(os.rename)
    atomic._exchange = dies_at_step(atomic._exchange)
    write_results(result(30), out)
''')


@pytest.mark.parametrize("mode", ["plain", "mount"])
def test_a_kill_at_any_step_leaves_one_runs_files(tmp_path: Path, mode: str) -> None:
    """Kill the writer before each rename in turn. A plain directory holds the old run or the
    new one at every step; a mount point (files moved one by one) is put right by the next
    write. Either way no temporary survives the next write."""
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    old_dir, new_dir = tmp_path / "ref-old", tmp_path / "ref-new"
    write_results(_result(10), old_dir)
    write_results(_result(30), new_dir)
    old, new = _digests(old_dir), _digests(new_dir)
    for step in range(1, 40):
        out = tmp_path / f"{mode}-{step}"
        write_results(_result(10), out)
        proc = subprocess.run([sys.executable, str(script), str(step), str(out), mode],
                              capture_output=True, text=True, check=False)
        assert proc.returncode in (0, 9), proc.stderr
        if mode == "plain":
            assert _digests(out) in (old, new), f"step {step}: a mix of two runs"
        write_results(_result(50), out)  # the next run tidies up after the killed one
        assert sorted(_digests(out)) == sorted(RESULT_FILES)
        assert json.loads((out / "summary.json").read_text()) == {"requests": 50}
        assert _temporaries(tmp_path, out) == [], f"step {step}"
        if proc.returncode == 0:
            break
    else:
        raise AssertionError("the writer never finished")


def test_writes_stay_byte_identical(tmp_path: Path) -> None:
    write_results(_result(10), tmp_path / "a")
    write_results(_result(30), tmp_path / "b")
    write_results(_result(10), tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert socket.gethostname() not in "".join((tmp_path / "a" / "meta.json").read_text())
    assert pd.read_parquet(tmp_path / "a" / "requests.parquet")["request_id"].tolist() == \
        np.arange(10).tolist()


# --- the same on real file systems, where this test may mount them (root on Linux) -------------


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount small tmpfs file systems under tmp_path (skip where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, check=False)
        if proc.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(point)
        return point

    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting needs root on Linux")
    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_real_full_read_only_and_mount_point_file_systems(tmpfs) -> None:
    small = tmpfs("small", "size=64k")
    read_only = tmpfs("ro", "size=64k,ro")
    roomy = tmpfs("roomy", "size=8m")
    with pytest.raises(OutputError, match=f"^{small / 'out'}: cannot write: No space left"):
        write_results(_result(20_000), small / "out")
    assert list(small.iterdir()) == []
    with pytest.raises(OutputError, match=f"^{read_only / 'out'}: cannot write: Read-only"):
        write_results(_result(10), read_only / "out")
    write_results(_result(10), roomy)  # the mount point itself is the output directory
    write_results(_result(30), roomy)
    assert {p.name for p in roomy.iterdir()} == RESULT_FILES
    assert json.loads((roomy / "summary.json").read_text()) == {"requests": 30}
