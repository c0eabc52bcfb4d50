"""Group 9 of the hardening issue (messages): bad grid items are refused, not ignored; topology
file errors name their line; an unreachable endpoint's message names it; error lines show plain
numbers, not numpy reprs.

Before: ``profiler capture --backend analytical --prompt-lens abc`` wrote a table (the option was
ignored, like every option a backend does not read), ``--prompt-lens 1,,2`` skipped the empty item;
``sim replay -t topo.yaml`` errors named the key but no line; ``--max-retries 0`` against a dead
endpoint said "giving up after 0 retries: connection: APIConnectionError" without the URL; a cost
table with a NaN latency said "got np.float64(nan)"."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phasesim import traces
from phasesim.errors import InputError
from phasesim.profiler.capture.grid import parse_int_list
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology
from tests.extras import needs
from tests.one_line import exits_with_one_error_line

REPO = Path(__file__).resolve().parents[2]
MEASURED = REPO / "simulator" / "tables" / "h100-sxm__llama2-7b__fp16__torch__measured.parquet"


def _one_error(result, *expect: str) -> str:
    return exits_with_one_error_line(result, *expect)


@pytest.mark.parametrize(("text", "item"), [
    ("abc", "item 1 ('abc')"), ("1,,2", "item 2 is empty"), ("1,2,", "item 3 is empty"),
    ("4,0", "item 2 ('0')"), ("-4", "item 1 ('-4')"), ("2.5", "item 1 ('2.5')"),
    ("1e3", "item 1 ('1e3')"), ("+4", "item 1 ('+4')"), ("1_000", "item 1 ('1_000')"),
    ("\u0663", "item 1"), ("", "item 1 is empty"), (" , ", "item 1 is empty"),
])
def test_grid_lists_refuse_every_bad_item(text: str, item: str) -> None:
    with pytest.raises(InputError) as info:
        parse_int_list(text, option="--prompt-lens")
    assert str(info.value).startswith("--prompt-lens: ") and item in str(info.value)
    assert parse_int_list(" 8, 2 ,8", option="--prompt-lens") == [2, 8]


@pytest.mark.parametrize(("args", "expect"), [
    (["--backend", "analytical", "--hardware", "h100-sxm", "--prompt-lens", "abc"],
     ("--prompt-lens", "analytical backend does not use it")),
    (["--backend", "analytical", "--hardware", "h100-sxm", "--prefill-batch-sizes", "1,2"],
     ("--prefill-batch-sizes", "analytical")),
    (["--backend", "groq", "--api-key", "k", "--contexts", "128"], ("--contexts", "groq")),
    (["--backend", "torch", "--device", "cpu", "--model", "tiny-llama", "--base-url", "http://x"],
     ("--base-url", "torch")),
    # the torch backend reads its grid once torch is there (without it: the install hint)
    pytest.param(["--backend", "torch", "--device", "cpu", "--model", "tiny-llama",
                  "--prompt-lens", "16,x"], ("--prompt-lens", "item 2 ('x')"),
                 marks=needs("torch")),
    pytest.param(["--backend", "torch", "--device", "cpu", "--model", "tiny-llama",
                  "--decode-batch-sizes", "1,,8"], ("--decode-batch-sizes", "item 2 is empty"),
                 marks=needs("torch")),
    pytest.param(["--backend", "torch", "--device", "cpu", "--model", "tiny-llama",
                  "--contexts", "0"], ("--contexts", "item 1 ('0')"), marks=needs("torch")),
    (["--backend", "groq", "--api-key", "k", "--prompt-lens", "64,big"],
     ("--prompt-lens", "item 2 ('big')")),
])
def test_capture_options_are_read_or_refused(profiler, tmp_path: Path, args: list[str],
                                             expect: tuple[str, ...]) -> None:
    out = tmp_path / "t.parquet"
    bounded = ["--max-points", "0"] if "torch" in args else []  # were it to capture anything
    _one_error(profiler("capture", "-o", out, *args, *bounded), *expect)
    assert not out.exists()


@pytest.mark.parametrize(("body", "line", "key"), [
    ("pools:\n  - name: g\n    role: colocated\n    hardware: h100-sxm\n    instances: 0\n",
     5, "pools.0.instances"),
    ("pools:\n  - name: g\n    role: colocated\n    hardware: h100-sxm\n    bogus: 1\n",
     5, "pools.0.bogus"),
    ("name: t\nseed: -3\npools:\n  - {name: g, role: colocated, hardware: h100-sxm}\n",
     2, "seed"),
    ("pools:\n  - {name: g, role: colocated, hardware: h100-sxm}\n\n\nrate_scale: 0\n",
     5, "rate_scale"),
])
def test_topology_file_errors_name_their_line(sim, tmp_path: Path, body: str, line: int,
                                              key: str) -> None:
    frame = pd.DataFrame({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [10],
                          "output_tokens": [2]})
    trace = traces.write_trace(frame, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    topo = tmp_path / "topo.yaml"
    topo.write_text(body)
    out = tmp_path / "out"
    _one_error(sim("replay", trace, "-t", topo, "-o", out), f"topo.yaml, line {line}",
               f"column '{key}'")
    assert not out.exists()


@pytest.mark.parametrize("retries", ["0", "1"])
def test_unreachable_endpoint_is_named(profiler, tmp_path: Path, retries: str) -> None:
    pytest.importorskip("groq")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    url = f"http://127.0.0.1:{port}"
    line = _one_error(profiler("capture", "--backend", "groq", "--api-key", "k", "--base-url", url,
                               "--prompt-lens", "64", "--max-retries", retries, "-o",
                               tmp_path / "g.parquet"), url)
    assert "refused" in line.lower()  # and why


def test_cost_table_errors_show_plain_numbers(sim, tmp_path: Path) -> None:
    table = pq.read_table(MEASURED)
    df = table.to_pandas()
    df.loc[3, "latency_s"] = np.nan
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False)
                   .replace_schema_metadata(table.schema.metadata), bad)
    frame = pd.DataFrame({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [10],
                          "output_tokens": [2]})
    trace = traces.write_trace(frame, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    line = _one_error(sim("replay", trace, "-t", "gpu", "--profile", bad, "-o", tmp_path / "o"),
                      "row 4", "latency_s", "got nan")
    assert "np." not in line


def test_trace_value_errors_show_plain_numbers() -> None:
    frame = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 1.0],
                          "prompt_tokens": [10, 0], "output_tokens": [2, 2]})
    with pytest.raises(InputError) as info:
        simulate(frame, builtin_topology("gpu"))
    assert "invalid value 0" in str(info.value) and "np." not in str(info.value)
