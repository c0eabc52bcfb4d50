"""A CSV header naming a column twice is refused (issue 24): pandas renamed the second one
(``batch_size.1``), so ``sim latency --from-csv`` ignored it and renamed the output's header, and
``profiler fit`` would have fitted on whichever came first."""

from __future__ import annotations

import pytest

from tests.one_line import exits_with_one_error_line


def test_latency_from_csv_refuses_a_repeated_column(sim, tmp_path):
    src = tmp_path / "runs.csv"
    src.write_text("hardware,model,input_len,output_len,batch_size,batch_size\n"
                   "h100-sxm,llama3-8b,128,128,8,16\n")
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", src, "-o", out)
    exits_with_one_error_line(result, "runs.csv", "line 1", "column 'batch_size'",
                              "appears twice in the header (column 5 and 6)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_a_repeated_column_differing_only_in_spaces_is_refused_too(sim, tmp_path):
    src = tmp_path / "runs.csv"
    src.write_text("hardware,model,input_len,output_len, input_len,batch_size\n"
                   "h100-sxm,llama3-8b,128,128,256,8\n")
    result = sim("latency", "--from-csv", src, "-o", tmp_path / "out.csv")
    exits_with_one_error_line(result, "column 'input_len'", "column 3 and 5")


def test_profiler_fit_refuses_a_repeated_column(profiler, tmp_path):
    pytest.importorskip("scipy")
    src = tmp_path / "bench.csv"
    src.write_text("hardware,engine,model,tp,input_len,output_len,batch_size,latency_s,latency_s\n"
                   "h100-sxm,vllm,llama3-8b,1,128,128,8,1.5,99\n")
    result = profiler("fit", src, "-o", tmp_path / "cal.json")
    exits_with_one_error_line(result, "bench.csv", "column 'latency_s'", "appears twice")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv"]
