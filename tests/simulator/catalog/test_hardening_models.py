"""Hardening round 2, model definitions: a Hugging Face ``config.json`` given as ``--model`` is
checked key by key where it enters (``model_from_hf_config``). Before, kv_heads 0 or hidden <
heads were a ZeroDivisionError deep in the KV capacity, a context of 0, -5 or "4k" an IndexError
or ValueError, a context of 1e30 an OverflowError, and a string or float kv_heads, a bool layer
count or a zero head_dim were accepted with exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.errors import InputError
from phasesim.simulator.catalog import model_from_hf_config
from tests.one_line import exits_with_one_error_line

BASE = {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 4,
        "intermediate_size": 344, "vocab_size": 512, "max_position_embeddings": 2048}

BAD = [
    ({"num_key_value_heads": 0}, "num_key_value_heads"),
    ({"num_key_value_heads": "4"}, "num_key_value_heads"),
    ({"num_key_value_heads": 2.5}, "num_key_value_heads"),
    ({"num_key_value_heads": 3}, "num_key_value_heads"),  # does not divide 4 heads
    ({"hidden_size": 2}, "hidden_size"),  # fewer dimensions than heads: head_dim 0
    ({"head_dim": 0}, "head_dim"),
    ({"max_position_embeddings": 0}, "max_position_embeddings"),
    ({"max_position_embeddings": -5}, "max_position_embeddings"),
    ({"max_position_embeddings": 8}, "max_position_embeddings"),  # below the table grid
    ({"max_position_embeddings": "4k"}, "max_position_embeddings"),
    ({"max_position_embeddings": 10**30}, "max_position_embeddings"),
    ({"num_hidden_layers": True}, "num_hidden_layers"),
    ({"num_hidden_layers": 10**30}, "num_hidden_layers"),
    ({"tie_word_embeddings": "no"}, "tie_word_embeddings"),
]


@pytest.mark.parametrize(("change", "key"), BAD, ids=[f"{k}={v!r}"[:40] for c, k in BAD
                                                       for v in [c[k]]])
def test_bad_model_definition_is_one_error_line_naming_file_and_key(tmp_path: Path, change, key):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**BASE, **change}))
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model", str(path),
                                      "--input-len", "16", "--output-len", "4", "--batch-size", "2"])
    exits_with_one_error_line(result, str(path), f"column '{key}'")


@pytest.mark.parametrize("text", ["[1, 2]", "[" * 100_000 + "]" * 100_000,
                                  '{"hidden_size": 128, "x": "caf\xe9"}'])
def test_model_file_that_is_no_json_object(tmp_path: Path, text: str):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="config.json"):
        model_from_hf_config(path)


def test_valid_definition_with_nulls_reads_the_defaults(tmp_path: Path):
    path = tmp_path / "toy" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**BASE, "num_key_value_heads": None, "head_dim": None,
                                "tie_word_embeddings": None}))
    spec = model_from_hf_config(path)
    assert (spec.kv_heads, spec.head_dim, spec.tied_embeddings) == (4, 32, False)
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model", str(path),
                                      "--input-len", "16", "--output-len", "4", "--batch-size", "2",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["latency_s"] > 0
