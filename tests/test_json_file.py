"""phasesim.json_file.read_json: a user's JSON read strictly, every refusal an InputError naming
the file (its CLI uses: tests/cli/test_calibration_option.py)."""

from __future__ import annotations

import pytest

from phasesim import json_file
from phasesim.errors import InputError


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"note": "' + "[" * 200 + '\\" {{{", "x": [[1]]}')
    assert json_file.read_json(path)["x"] == [[1]]


@pytest.mark.parametrize(("raw", "expect"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": 1, "a": 2}', 'key "a" appears twice'),
    (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
    (b"[" * 65 + b"]" * 65, "nested more than 64 levels"),
    (b'{"a": 1', "not JSON"),
    (b'{"a": 1' + b"0" * 5000 + b"}", "not JSON of ours"),  # an integer of > 4,300 digits
])
def test_each_refusal_names_the_file(tmp_path, raw, expect):
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(InputError) as exc:
        json_file.read_json(path)
    assert expect in str(exc.value) and "bad.json" in str(exc.value)


def test_a_file_over_the_bound_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 600 + "1]")
    with pytest.raises(InputError, match="larger than 1,000 bytes"):
        json_file.read_json(path, max_bytes=1000)
    assert len(json_file.read_json(path, max_bytes=10_000)) == 601
