"""`sim plan` and `profiler fit` write all or nothing (issue 24): sim plan through a staged
directory as sim replay (a rerun that finds nothing left the old best.yaml beside the new report;
a refusing file system was a traceback); profiler fit writes its calibration last, so a --report
or --tables that cannot be written leaves no .json; --price-file goes through the bounded YAML
loader (an alias bomb hung)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasesim import traces
from phasesim.profiler.calibrate.bench_data import calibration_rows, load_bench_data
from tests.one_line import exits_with_one_error_line
from tests.profiler.openai_server import serve

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "traces" / "samples" / "azure_code_2023.parquet"
UNWRITABLE = Path("/proc/phasesim-test")  # /proc refuses new files, even to root


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> Path:
    frame = traces.read_trace(CODE).iloc[:200].reset_index(drop=True)
    return traces.write_trace(frame, tmp_path_factory.mktemp("trace") / "t.parquet",
                              {"source": {"kind": "test"}})


def test_a_plan_rerun_that_finds_nothing_leaves_no_earlier_best(sim, tmp_path, small_trace):
    out = tmp_path / "plan"
    first = sim("plan", small_trace, "--hardware", "h100-sxm", "--max-devices", "2",
                "--attainment", "0.5", "-o", out)
    assert first.exit_code == 0, first.output
    assert (out / "best.yaml").is_file()
    again = sim("plan", small_trace, "--hardware", "groqrack", "--max-devices", "1", "-o", out)
    assert again.exit_code == 0, again.output
    assert "Nothing within --max-devices 1 meets the SLO" in again.output
    assert sorted(p.name for p in out.iterdir()) == ["pareto.png", "plans.parquet", "report.md"]
    assert "groqrack" in (out / "report.md").read_text()


def test_a_plan_onto_a_refusing_file_system_is_one_line(sim, small_trace):
    result = sim("plan", small_trace, "--hardware", "groqrack", "--max-devices", "1", "-o",
                 UNWRITABLE / "plan")
    exits_with_one_error_line(result, str(UNWRITABLE), "cannot write")


def test_a_plan_into_a_directory_of_other_files_is_refused_before_searching(sim, tmp_path,
                                                                             small_trace):
    out = tmp_path / "plan"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = sim("plan", small_trace, "--hardware", "h100-sxm", "-o", out)
    exits_with_one_error_line(result, "files phasesim did not write (notes.txt)")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_an_alias_bomb_price_file_is_refused_at_once(sim, tmp_path, small_trace):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = tmp_path / "prices.yaml"
    bomb.write_text("\n".join(levels) + "\n")  # 10**10 nodes once expanded
    result = sim("plan", small_trace, "--price-file", bomb, "-o", tmp_path / "plan")
    exits_with_one_error_line(result, "--price-file", "prices.yaml", "aliases")
    assert not (tmp_path / "plan").exists()


@pytest.fixture
def gh200_trt(tmp_path):
    pytest.importorskip("scipy")
    df = calibration_rows(load_bench_data())
    rows = df[(df["hardware"] == "gh200") & (df["engine"] == "trt-llm")]
    path = tmp_path / "runs.csv"
    rows[["hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
          "latency_s"]].to_csv(path, index=False)
    return path


@pytest.mark.parametrize("option", ["--report", "--tables"])
def test_a_fit_whose_report_or_tables_cannot_be_written_leaves_no_calibration(
        profiler, tmp_path, gh200_trt, option):
    target = UNWRITABLE / ("r.csv" if option == "--report" else "tables")
    result = profiler("fit", gh200_trt, "-o", tmp_path / "cal.json", "--no-cv", option, target)
    exits_with_one_error_line(result, str(UNWRITABLE), "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_a_fit_into_a_tables_folder_of_other_files_is_refused_before_fitting(
        profiler, tmp_path, gh200_trt):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "mine.parquet").write_text("x")
    result = profiler("fit", gh200_trt, "-o", tmp_path / "cal.json", "--tables", tables)
    exits_with_one_error_line(result, "files phasesim did not write (mine.parquet)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv", "tables"]


def test_a_records_fit_whose_report_cannot_be_written_leaves_no_table(profiler, tmp_path):
    pytest.importorskip("httpx")
    table = tmp_path / "endpoint.parquet"
    with serve(timing={"p0": 0.004, "p1": 2e-5, "p2": 0.0, "d0": 0.003, "d1": 0.001,
                       "d2": 1e-6}) as server:
        res = profiler("capture", "--backend", "openai", "--base-url", server.url + "/v1",
                       "--model", "m", "--catalog-model", "llama2-7b", "--hardware", "h100-sxm",
                       "-o", table, "--prompt-lens", "128,384,1024", "--concurrency", "1,2",
                       "--output-tokens", "4", "--repeats", "2")
    assert res.exit_code == 0, res.output
    records = tmp_path / "endpoint.records.jsonl"
    refit = tmp_path / "refit.parquet"
    result = profiler("fit", records, "-o", refit, "--report", UNWRITABLE / "fit.json")
    exits_with_one_error_line(result, str(UNWRITABLE), "cannot write")
    assert not refit.exists()


def test_a_fit_onto_a_directory_fails_before_writing_any_other_output(profiler, tmp_path,
                                                                      gh200_trt):
    out = tmp_path / "cal.json"
    out.mkdir()  # the calibration's rename would fail last, after --report was in place
    result = profiler("fit", gh200_trt, "-o", out, "--no-cv", "--report", tmp_path / "r.csv")
    exits_with_one_error_line(result, str(out), "a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.json", "runs.csv"]
    assert list(out.iterdir()) == []
