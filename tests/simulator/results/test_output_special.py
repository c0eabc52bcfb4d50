"""Output paths that are no regular file or directory are refused, never replaced (issue 24):
an ``-o`` symlink was replaced by a regular file, and as root ``-o /dev/full`` replaced the
device node with a CSV. One error line, exit 2, the path left as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.cli.profiler_cmd import app as profiler_app
from tests.one_line import one_error_line

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "traces" / "samples" / "azure_code_2023.parquet"
runner = CliRunner()


def _import(out: Path):
    return runner.invoke(app, ["traces", "import", str(SAMPLE), "-o", str(out)])


def _replay(out: Path):
    return runner.invoke(app, ["replay", str(SAMPLE), "-t", "gpu", "-o", str(out)])


def _refused(result, *expect: str) -> str:
    assert result.exit_code == 2, result.output
    return one_error_line(result.stderr, *expect, ignore_warnings=True)


def test_a_symlink_to_a_file_is_refused_and_left_alone(tmp_path):
    real = tmp_path / "real.parquet"
    real.write_text("mine")
    link = tmp_path / "out.parquet"
    link.symlink_to(real)
    _refused(_import(link), str(link), "symbolic link")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "real.parquet"]


def test_a_dangling_symlink_is_refused_too(tmp_path):
    link = tmp_path / "out.parquet"
    link.symlink_to(tmp_path / "nowhere")
    _refused(_import(link), "symbolic link")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "out.parquet"
    os.mkfifo(fifo)  # opening it to write would wait for a reader forever
    _refused(_import(fifo), str(fifo), "is a FIFO, not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="as root a broken writer would replace the machine's /dev/null")
def test_dev_null_is_refused():
    _refused(_import(Path("/dev/null")), "/dev/null", "is a device node")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="making a device node needs root (the case the issue found)")
def test_a_device_node_is_never_replaced_even_as_root(tmp_path):
    full = tmp_path / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is
    _refused(_import(full), str(full), "is a device node")
    mode = os.lstat(full).st_mode
    assert stat.S_ISCHR(mode) and os.major(os.lstat(full).st_rdev) == 1


def test_a_symlinked_output_directory_is_refused_and_left_alone(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "mine.txt").write_text("mine")
    link = tmp_path / "run"
    link.symlink_to(real, target_is_directory=True)
    _refused(_replay(link), str(link), "symbolic link")
    assert link.is_symlink() and [p.name for p in real.iterdir()] == ["mine.txt"]


def test_a_fifo_where_an_output_directory_goes_is_refused(tmp_path):
    fifo = tmp_path / "run"
    os.mkfifo(fifo)
    _refused(_replay(fifo), str(fifo), "not a directory")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_capture_onto_a_symlink_is_refused_before_capturing(tmp_path):
    real = tmp_path / "real.parquet"
    real.write_text("mine")
    link = tmp_path / "t.parquet"
    link.symlink_to(real)
    result = runner.invoke(profiler_app, ["capture", "--backend", "analytical", "--hardware",
                                          "h100-sxm", "--model", "llama3-8b", "-o", str(link)])
    _refused(result, str(link), "symbolic link")
    assert link.is_symlink() and real.read_text() == "mine"
