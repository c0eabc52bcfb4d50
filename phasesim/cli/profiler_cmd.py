"""The ``profiler`` command: capture cost tables and validate them in closed loop.

``profiler capture --backend torch|groq|openai|analytical ... -o T.parquet``
``profiler fit T.records.jsonl -o T.parquet`` (endpoint records from ``--backend openai``)
``profiler validate --table T --device D --model M --trace small.parquet [--json]``

torch and groq are optional extras, imported only by the backend that needs them.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from phasesim.atomic import atomic_path, check_output_dir, refuse_special, staged_dir
from phasesim.cli.errors import cli_errors, root_app, terminate_like_ctrl_c
from phasesim.cli.user_catalog import HARDWARE_FILE_HELP, register_user_catalog
from phasesim.errors import InputError, show_warnings_on_one_line
from phasesim.output_check import check_writable
from phasesim.profiler.capture.endpoint_fit import read_records, write_endpoint_table
from phasesim.profiler.capture.grid import parse_int_list
from phasesim.simulator.catalog.engines import canonical_engine
from phasesim.simulator.catalog.models import MODELS, get_model
from phasesim.simulator.costs import write_table
from phasesim.simulator.costs.roofline import build_analytical_table
from phasesim.simulator.costs.table_name import TableName

__all__ = ["app", "main"]

app = root_app(help="Capture cost tables on hardware and validate them in closed loop.")


@app.callback()
def _root(hardware_file: list[Path] | None = typer.Option(None, "--hardware-file",
                                                          help=HARDWARE_FILE_HELP)) -> None:
    """Capture cost tables on hardware and validate them in closed loop."""
    register_user_catalog(hardware_file)


DEFAULT_PREFILL_BATCHES = "1,2,4,8"
DEFAULT_PROMPT_LENS = "32,64,128,256,512,1024,2048,3072,4096"
DEFAULT_DECODE_BATCHES = "1,2,4,8,16,32,64,128,256"
DEFAULT_CONTEXTS = "128,256,512,1024,2048,3072,4032"


class Backend(enum.StrEnum):
    TORCH = "torch"
    GROQ = "groq"
    OPENAI = "openai"
    ANALYTICAL = "analytical"


def _model_name(model: str) -> str:
    return model if model in MODELS else get_model(model).name


def _fit_lengths(values: list[int], max_context: int, explicit: bool, option: str) -> list[int]:
    """Default grids are clipped to the model's context; explicit ones are checked later."""
    if explicit:
        return values
    room = 0 if option == "--prompt-lens" else 1  # a decode step adds one token to the context
    kept = [v for v in values if v + room <= max_context]
    if not kept:
        raise InputError(f"no default length fits the model's context ({max_context})",
                         column=option)
    return kept


# The options each backend reads, beyond those every backend reads (backend, -o, model, dtype,
# hardware). One it does not read, given on the command line, is refused rather than ignored.
_BACKEND_OPTIONS: dict[Backend, frozenset[str]] = {
    Backend.TORCH: frozenset({
        "config", "device", "prefill_batch_sizes", "prompt_lens", "decode_batch_sizes",
        "contexts", "repeats", "warmup", "graphs", "resume", "max_seconds", "max_points",
        "memory_limit_gb", "seed", "threads"}),
    Backend.GROQ: frozenset({
        "prompt_lens", "repeats", "resume", "seed", "base_url", "api_key", "output_tokens",
        "max_rps", "timeout_s", "max_retries"}),
    Backend.OPENAI: frozenset({
        "prompt_lens", "repeats", "resume", "seed", "base_url", "api_key", "output_tokens",
        "max_rps", "timeout_s", "max_retries", "max_seconds", "tensor_parallel", "catalog_model",
        "engine", "concurrency", "api_key_env", "ignore_eos"}),
    Backend.ANALYTICAL: frozenset({"tensor_parallel"}),
}
_COMMON_OPTIONS = frozenset({"backend", "out", "model", "dtype", "hardware"})


def _refuse_unused_options(ctx: typer.Context, backend: Backend) -> None:
    """An option the backend does not read, given explicitly, is an error naming it (an
    analytical table has its own grid: ``--prompt-lens`` there would be silently ignored)."""
    used = _COMMON_OPTIONS | _BACKEND_OPTIONS[backend]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name not in used and source is not None and source.name != "DEFAULT":
            flag = next(opt for opt in param.opts if opt.startswith("--"))
            readers = " and ".join(b.value for b in Backend if param.name in _BACKEND_OPTIONS[b])
            raise InputError(f"{flag}: the {backend.value} backend does not use it "
                             f"(it is for {readers})")


SECRET_PARAMS = frozenset({"api_key"})


def command_line(ctx: typer.Context) -> str:
    """The command as parsed (every option, defaults included; secrets left out): what the
    tables and reports record as provenance."""
    params = {param.name: param for param in ctx.command.params}
    parts = [ctx.command_path]
    for name, value in ctx.params.items():
        if name in SECRET_PARAMS or value is None:
            continue
        param = params[name]
        flag = next(opt for opt in param.opts if opt.startswith("--"))  # the option's own name
        if isinstance(value, bool):
            parts.append(flag if value else next(iter(param.secondary_opts), f"--no-{flag[2:]}"))
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _require(module: str) -> None:
    """Import an optional extra now, so a missing one gives the install hint (exit 2)."""
    __import__(module)


def _set_threads(threads: int | None) -> None:
    """torch intra-op threads for CPU timing (recorded in the table's capture libraries)."""
    if threads is not None:
        import torch  # optional extra, already checked by _require

        torch.set_num_threads(threads)


@app.command()
@cli_errors
def capture(
    ctx: typer.Context,
    backend: Backend = typer.Option(..., "--backend", help="torch | groq | openai | analytical"),
    out: Path = typer.Option(..., "-o", "--out", "--output",
                             help="Output cost table (.parquet); --output: the old name."),
    model: str = typer.Option("llama2-7b", "--model", help="Catalog model name (torch/analytical), "
                              "or the Groq model id (groq)."),
    config: Path | None = typer.Option(None, "--config", help="Hugging Face config.json for the "
                                       "architecture (torch; random weights)."),
    device: str = typer.Option("cuda", "--device", help="cuda | cpu | mps | xpu (torch)."),
    dtype: str = typer.Option("fp16", "--dtype", help="bf16 | fp16 | fp32."),
    hardware: str | None = typer.Option(None, "--hardware", help="The table's hardware name "
                                        "(default: derived from the device, e.g. h100-sxm)."),
    prefill_batch_sizes: str = typer.Option(DEFAULT_PREFILL_BATCHES, "--prefill-batch-sizes"),
    prompt_lens: str | None = typer.Option(None, "--prompt-lens",
                                           help=f"[default: {DEFAULT_PROMPT_LENS}]"),
    decode_batch_sizes: str = typer.Option(DEFAULT_DECODE_BATCHES, "--decode-batch-sizes"),
    contexts: str | None = typer.Option(None, "--contexts", help=f"[default: {DEFAULT_CONTEXTS}]"),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Timed runs per point."),
    warmup: int = typer.Option(3, "--warmup", min=0, help="Untimed runs per point first."),
    graphs: bool = typer.Option(True, "--graphs/--no-graphs", help="CUDA graphs for decode."),
    resume: bool = typer.Option(False, "--resume/--no-resume",
                                help="Continue from the checkpoint beside -o."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", min=0.0,
                                             help="Stop cleanly when this budget is spent."),
    max_points: int | None = typer.Option(None, "--max-points", min=0,
                                          help="Stop after this many new points."),
    memory_limit_gb: float | None = typer.Option(None, "--memory-limit-gb", min=0.0,
                                                 help="Pretend the device has only this much "
                                                 "memory (weights + one point)."),
    seed: int = typer.Option(0, "--seed", min=0),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU device: torch "
                                       "threads (1 gives steadier timings on a shared box)."),
    base_url: str = typer.Option("https://api.groq.com", "--base-url", help="Groq endpoint."),
    api_key: str | None = typer.Option(None, "--api-key", help="Groq key (default: "
                                       "$GROQ_API_KEY); never written anywhere."),
    output_tokens: int = typer.Option(64, "--output-tokens", min=1, help="Groq: tokens to ask."),
    max_rps: float | None = typer.Option(None, "--max-rps", min=0.0, help="Groq: request rate cap."),
    timeout_s: float = typer.Option(60.0, "--timeout-s", min=0.1, max=86400.0, help=(
        "groq, openai: the most one request may take (openai: from sending it to its last "
        "token, so an endless or trickling stream is cut).")),
    max_retries: int = typer.Option(6, "--max-retries", min=0, help="Groq: retries per request."),
    tensor_parallel: int = typer.Option(1, "--tensor-parallel", "--tp", min=1,
                                        help="analytical, openai."),
    # --backend openai (any OpenAI-compatible endpoint; --model is the served name there)
    catalog_model: str | None = typer.Option(None, "--catalog-model", help="openai: the catalog "
                                             "model the table is for (e.g. llama3-8b)."),
    engine: str = typer.Option("vllm", "--engine", help="openai: the serving engine "
                               "(provenance: vllm, sglang, trt-llm, tgi, llama.cpp, ...; other spellings of a "
                               "catalog engine are written as the catalog spells it)."),
    concurrency: str = typer.Option("1,2,4,8", "--concurrency", help="openai: simultaneous "
                                    "requests per round (must include 1)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: the "
                                    "environment variable holding the key (none: no auth)."),
    ignore_eos: bool = typer.Option(True, "--ignore-eos/--no-ignore-eos", help="openai: send "
                                    "vLLM/SGLang's ignore_eos + min_tokens (hosted APIs may "
                                    "refuse them)."),
) -> None:
    """Capture a cost table (measured on hardware, or analytical from specs)."""
    console = Console(stderr=True)
    _refuse_unused_options(ctx, backend)
    refuse_special(out, want_dir=False)  # a link, device or FIFO: refused now, not after hours
    if backend is Backend.ANALYTICAL:
        if hardware is None:
            raise InputError("the analytical backend needs --hardware (a catalog name, e.g. "
                             "h100-sxm)", column="--hardware")
        df, meta = build_analytical_table(hardware=hardware, model=model,
                                          dtype=dtype, tensor_parallel=tensor_parallel)
        write_table(df, meta, out)
        console.print(f"[profiler] wrote {out} ({len(df)} rows, analytical)", highlight=False,
                      markup=False)
        return
    if backend is Backend.GROQ:
        _require("groq")
        from phasesim.profiler.capture.groq_capture import GroqCaptureConfig, capture_groq

        key = api_key or os.environ.get("GROQ_API_KEY", "")
        if not key:
            raise InputError("no API key: set GROQ_API_KEY or pass --api-key", column="--api-key")
        lens = parse_int_list(prompt_lens or "128,512,1024,2048", option="--prompt-lens")
        capture_groq(GroqCaptureConfig(
            model=model, base_url=base_url, api_key=key, prompt_lens=tuple(lens),
            output_tokens=output_tokens, repeats=repeats, max_rps=max_rps, resume=resume,
            output=out, hardware=hardware or "groqrack", dtype=dtype, timeout_s=timeout_s,
            max_retries=max_retries, seed=seed, command=command_line(ctx)), console=console)
        return
    if backend is Backend.OPENAI:
        _capture_openai(ctx, base_url=base_url, served_model=model, catalog_model=catalog_model,
                        hardware=hardware, engine=engine, dtype=dtype,
                        tensor_parallel=tensor_parallel, prompt_lens=prompt_lens,
                        concurrency=concurrency, output_tokens=output_tokens, repeats=repeats,
                        max_rps=max_rps, max_seconds=max_seconds, resume=resume, out=out,
                        timeout_s=timeout_s, max_retries=max_retries, seed=seed,
                        key=api_key or os.environ.get(api_key_env, ""), ignore_eos=ignore_eos)
        return
    _require("torch")
    _set_threads(threads)
    from phasesim.profiler.capture.torch_capture import TorchCaptureConfig, capture_torch

    spec = get_model(str(config) if config is not None else model)
    model_name = _model_name(model) if config is None else spec.name
    cfg = TorchCaptureConfig(
        device=device, model=spec, model_name=model_name, dtype=dtype, output=out,
        prefill_batch_sizes=tuple(parse_int_list(prefill_batch_sizes,
                                                 option="--prefill-batch-sizes")),
        prompt_lens=tuple(_fit_lengths(parse_int_list(prompt_lens or DEFAULT_PROMPT_LENS,
                                                      option="--prompt-lens"),
                                       spec.max_context_tokens, prompt_lens is not None,
                                       "--prompt-lens")),
        decode_batch_sizes=tuple(parse_int_list(decode_batch_sizes,
                                                option="--decode-batch-sizes")),
        contexts=tuple(_fit_lengths(parse_int_list(contexts or DEFAULT_CONTEXTS,
                                                   option="--contexts"),
                                    spec.max_context_tokens, contexts is not None, "--contexts")),
        repeats=repeats, warmup=warmup, graphs=graphs, resume=resume, hardware=hardware,
        max_seconds=max_seconds, max_points=max_points,
        memory_limit_bytes=None if memory_limit_gb is None else int(memory_limit_gb * 1024**3),
        seed=seed, command=command_line(ctx))
    capture_torch(cfg, console=console)


def _capture_openai(ctx: typer.Context, *, base_url: str, served_model: str,
                    catalog_model: str | None, hardware: str | None, engine: str, dtype: str,
                    tensor_parallel: int, prompt_lens: str | None, concurrency: str,
                    output_tokens: int, repeats: int, max_rps: float | None,
                    max_seconds: float | None, resume: bool, out: Path, timeout_s: float,
                    max_retries: int, seed: int, key: str, ignore_eos: bool) -> None:
    """``--backend openai``: capture an endpoint's rounds, fit them, write the table."""
    _require("httpx")
    from phasesim.profiler.capture.openai_capture import OpenAICaptureConfig, capture_openai

    source = ctx.get_parameter_source("base_url")
    if source is None or source.name == "DEFAULT":  # the groq default is no endpoint of yours
        raise InputError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)",
                         column="--base-url")
    if catalog_model is None:
        raise InputError("the openai backend needs --catalog-model (the catalog model the "
                         "table is for)", column="--catalog-model")
    if hardware is None:
        raise InputError("the openai backend needs --hardware (a catalog name, e.g. h100-sxm)",
                         column="--hardware")
    capture_openai(OpenAICaptureConfig(
        base_url=base_url, served_model=served_model, model=_model_name(catalog_model),
        hardware=hardware, engine=canonical_engine(engine), api_key=key, dtype=dtype,
        tensor_parallel=tensor_parallel,
        prompt_lens=tuple(parse_int_list(prompt_lens or "128,512,2048", option="--prompt-lens")),
        concurrency=tuple(parse_int_list(concurrency, option="--concurrency")),
        output_tokens=output_tokens, repeats=repeats, output=out, ignore_eos=ignore_eos,
        max_rps=max_rps, max_seconds=max_seconds, resume=resume, timeout_s=timeout_s,
        max_retries=max_retries, seed=seed, command=command_line(ctx)),
        console=Console(stderr=True))


@app.command()
@cli_errors
def fit(
    records: Path = typer.Argument(..., show_default=False, help=(
        "What to fit: raw records of an endpoint capture (T.records.jsonl, or its checkpoint) -> "
        "a cost table; or a CSV of end-to-end benchmark runs (our format: hardware, engine, "
        "model, tp, input_len, output_len, batch_size, latency_s[, ttft_s]; or "
        "LLM-Inference-Bench's All_results.csv) -> engine constants per (hardware, engine).")),
    out: Path = typer.Option(..., "-o", "--out", help=(
        "Output: a cost table (.parquet) for records; the calibration (.json, the format of "
        "simulator/tables/engine_calibration.json, usable with sim --calibration) for a CSV.")),
    report: Path | None = typer.Option(None, "--report", help=(
        "Also write the fit report: JSON for records; for a CSV, a CSV of every row with its "
        "measured, fitted and leave-one-model-out predicted latency.")),
    pairs: str | None = typer.Option(None, "--pairs", show_default=False, help=(
        "CSV only: fit these hardware/engine pairs (comma-separated; default: every pair).")),
    cross_validate: bool = typer.Option(True, "--cv/--no-cv", help=(
        "CSV only: leave-one-model-out cross-validation (one refit per model).")),
    tables: Path | None = typer.Option(None, "--tables", show_default=False, help=(
        "CSV only: also write a cost table per fitted pair and --table-models model into this "
        "folder.")),
    table_models: str | None = typer.Option(None, "--table-models", show_default=False, help=(
        "CSV only: models for --tables (comma-separated; default: each pair's own models).")),
    tp: int = typer.Option(1, "--tp", min=1, help="CSV only: tensor-parallel degree of --tables."),
) -> None:
    """Fit step-time parameters: endpoint records -> a cost table; benchmark CSV -> engine constants."""
    check_writable(out, option="-o/--out")  # every output, before the fit's work
    if report is not None:
        check_writable(report, option="--report")
    if tables is not None:
        check_writable(tables, option="--tables", directory=True)
    if records.suffix.lower() == ".csv":
        _fit_benchmarks(records, out, report, pairs, cross_validate, tables, table_models, tp)
        return
    for name, value in (("--pairs", pairs), ("--tables", tables), ("--table-models", table_models)):
        if value is not None:
            raise InputError(f"{name}: only when fitting a benchmark CSV")
    for path in (out, report):
        if path is not None:
            refuse_special(path, want_dir=False)
    header, rounds = read_records(records)
    with contextlib.ExitStack() as stack:  # the report's temporary first: an unwritable
        tmp = None if report is None else stack.enter_context(atomic_path(report))  # --report
        meta = write_endpoint_table(header, rounds, out, console=Console(stderr=True))  # fails
        if tmp is not None:  # before the table is written, not after
            tmp.write_text(json.dumps(meta["fit"], indent=2, sort_keys=True) + "\n")


def _fit_benchmarks(path: Path, out: Path, report: Path | None, pairs: str | None,
                    cross_validate: bool, tables: Path | None, table_models: str | None,
                    tp: int) -> None:
    from phasesim.profiler.calibrate.benchmark_csv import read_benchmark_csv
    from phasesim.profiler.calibrate.engine_calibrate import (
        calibrate_engines,
        usable_rows,
        write_calibration,
    )

    if out.suffix.lower() != ".json":
        raise InputError("-o/--out: a benchmark fit writes a .json calibration", path=out)
    if report is not None and report.suffix.lower() != ".csv":
        raise InputError("--report: a benchmark fit writes a .csv report", path=report)
    models = None if table_models is None else [m.strip() for m in table_models.split(",") if m.strip()]
    for m in models or []:
        get_model(m)
    for target in (out, report):
        if target is not None:
            refuse_special(target, want_dir=False)
    if tables is not None:
        check_output_dir(tables, owned=_owned_table)
    data = read_benchmark_csv(path)
    err = Console(stderr=True)
    for label, n in sorted(data.unmapped.items()):
        err.print(f"note: {n} row(s) not fitted, no catalog name for {label}", highlight=False)
    wanted = None if pairs is None else [p.strip() for p in pairs.split(",") if p.strip()]
    for line in _row_accounting(data.rows, usable_rows(data.rows), wanted, path):
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    # all or nothing: every output gets its temporary before the fit (an unwritable one fails at
    # once) and is renamed onto its name only when all were written, the calibration last, so
    # a --report or --tables that cannot be written leaves no .json behind
    with contextlib.ExitStack() as stack:
        cal = stack.enter_context(atomic_path(out))
        rep = None if report is None else stack.enter_context(atomic_path(report))
        folder = None if tables is None else stack.enter_context(
            staged_dir(tables, owned=_owned_table))
        doc, per_row = calibrate_engines(data.rows, wanted, data=f"{path.name} ({data.format})",
                                         cross_validate=cross_validate,
                                         log=lambda s: err.print(s, highlight=False))
        write_calibration(doc, cal)  # into the temporary (its format, written one way)
        if rep is not None:
            per_row.to_csv(rep, index=False, float_format="%.6g")
        for key, entry in doc["pairs"].items() if folder is not None else ():
            hw, engine = key.split("/")
            for m in models or entry["models"]:
                df, meta = build_analytical_table(hardware=hw, model=m, tensor_parallel=tp,
                                                  engine=engine, engine_calibration=doc)
                name = TableName(hardware=hw, model=m, dtype="fp16", engine=engine,
                                 source="analytical")
                write_table(df, meta, folder / name.file_name)
    for key, e in doc["pairs"].items():
        cv = "-" if e["cv_mape_pct"] is None else f"{e['cv_mape_pct']} %"
        typer.echo(f"{key}: {e['rows']} rows, {len(e['models'])} models, train MAPE "
                   f"{e['train_mape_pct']} %, leave-one-model-out MAPE {cv}"
                   f"{_left_out(e['excluded_rows'])}")


def _owned_table(name: str) -> bool:
    """The files ``profiler fit --tables DIR`` writes (and may replace) there."""
    parsed = TableName.parse(name.removesuffix(".parquet")) if name.endswith(".parquet") else None
    return parsed is not None and parsed.source == "analytical" and parsed.tensor_parallel is None


def _left_out(excluded: dict[str, int]) -> str:
    """``; left out: 2 tp-not-supported, ...`` (rows the fit did not use, by reason)."""
    if not excluded:
        return ""
    return "; left out: " + ", ".join(f"{n} {why}" for why, n in sorted(excluded.items()))


def _row_accounting(rows, usable, wanted: list[str] | None, path: Path) -> list[str]:
    """Notes for every catalog row the fit will not use, by pair and reason; an
    :class:`InputError` for a pair (every pair in the file, or each of ``wanted``) none of whose
    rows can be fitted: it would otherwise vanish from the calibration without a word."""
    kept, excluded = usable
    have = rows.groupby(["hardware", "engine"]).size().to_dict()
    fit = kept.groupby(["hardware", "engine"]).size().to_dict()
    pairs = [tuple(p.split("/", 1)) if "/" in p else (p, "") for p in wanted] if wanted else None
    for hw, eng in pairs or []:
        if (hw, eng) not in have:
            known = ", ".join(f"{h}/{e}" for h, e in sorted(have)) or "none"
            raise InputError(f"no usable rows for pair '{hw}/{eng}' (have: {known})", path=path)
    notes = []
    for (hw, eng), n in sorted(have.items()):
        key = f"{hw}/{eng}"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(excluded.get((hw, eng), {}).items()))
        if pairs is not None and (hw, eng) not in pairs:
            notes.append(f"note: {n} row(s) of {key} not fitted (not in --pairs)")
        elif not fit.get((hw, eng)):
            raise InputError(f"pair {key}: none of its {n} row(s) can be fitted ({reasons})",
                             path=path)
        elif reasons:
            notes.append(f"note: {key}: {n - fit[(hw, eng)]} of {n} row(s) left out of the fit "
                         f"({reasons})")
    return notes


@app.command()
@cli_errors
def validate(
    ctx: typer.Context,
    table: Path = typer.Option(..., "--table", help="Cost table to validate."),
    trace: Path = typer.Option(..., "--trace", help="Short trace to replay (canonical parquet)."),
    model: str = typer.Option("llama2-7b", "--model"),
    device: str = typer.Option("cuda", "--device", help="cuda | cpu | mps | xpu"),
    dtype: str | None = typer.Option(None, "--dtype", help="Default: the table's dtype."),
    save_real: Path | None = typer.Option(None, "--save-real", help="Store the real per-request "
                                          "records (re-run the comparison later with --real)."),
    real: Path | None = typer.Option(None, "--real", help="Use stored real records instead of "
                                     "running the model (no device needed)."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", min=0.0,
                                             help="Stop admitting requests after this budget."),
    graphs: bool = typer.Option(True, "--graphs/--no-graphs", help="CUDA graphs for decode."),
    as_json: bool = typer.Option(False, "--json/--no-json",
                                 help="Print the report as JSON on stdout."),
    seed: int = typer.Option(0, "--seed", min=0),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="CPU device: torch threads."),
) -> None:
    """Run the real model over a short trace, simulate the same trace with the table, compare."""
    if real is None and threads is not None:
        _require("torch")
        _set_threads(threads)
    from phasesim.profiler.capture.validate import ValidateConfig, render_report, run_validation

    report = run_validation(ValidateConfig(
        table=table, trace=trace, model=model, device=device, dtype=dtype, save_real=save_real,
        real=real, max_seconds=max_seconds, graphs=graphs, seed=seed,
        command=command_line(ctx)),
        console=Console(stderr=True))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n")
    else:
        Console().print(render_report(report))


def main() -> None:
    show_warnings_on_one_line()
    terminate_like_ctrl_c()
    app()


if __name__ == "__main__":  # `python -m phasesim.cli.profiler_cmd` (the GPU script uses this form)
    main()
