"""The shared file helpers of the root package: a generated block replaced between its markers,
and a user CSV read cell by cell."""

from __future__ import annotations

import pytest

from phasesim.atomic import replace_marked_block
from phasesim.csv_cells import read_csv_cells
from phasesim.errors import InputError

BEGIN, END = "<!-- t:begin -->", "<!-- t:end -->"


def test_a_block_is_replaced_between_its_markers_and_nothing_else(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text(f"intro\n{BEGIN}\nold\nrows\n{END}\noutro\n")
    replace_marked_block(doc, BEGIN, END, "| a |\n")
    assert doc.read_text() == f"intro\n{BEGIN}\n| a |\n{END}\noutro\n"
    assert [p.name for p in tmp_path.iterdir()] == ["d.md"]  # no temporary left


@pytest.mark.parametrize("text", [f"{BEGIN}\nx\n", f"x\n{END}\n", "no markers\n"])
def test_a_missing_marker_is_an_error_and_the_file_is_untouched(tmp_path, text):
    doc = tmp_path / "d.md"
    doc.write_text(text)
    with pytest.raises(InputError, match="no generated block") as exc:
        replace_marked_block(doc, BEGIN, END, "new\n")
    assert "d.md" in str(exc.value) and doc.read_text() == text


def test_csv_cells_are_kept_as_written(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n007,\nNA,1.50\n")
    frame = read_csv_cells(path)
    assert frame.values.tolist() == [["007", ""], ["NA", "1.50"]]


@pytest.mark.parametrize(("content", "expect"), [(None, "no such file"), ("", "not a readable CSV"),
                                                 (b"\xff\xfe\x00bad", "not a readable CSV")])
def test_a_missing_or_unreadable_csv_names_the_file(tmp_path, content, expect):
    path = tmp_path / "r.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=expect) as exc:
        read_csv_cells(path)
    assert "r.csv" in str(exc.value)
