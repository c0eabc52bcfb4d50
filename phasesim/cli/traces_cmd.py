"""`sim traces` commands: import, generate, transform, stats."""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from phasesim.cli.errors import cli_errors
from phasesim.traces import (
    ConstantRate,
    ContextPolicy,
    Fixed,
    Gamma,
    InputError,
    LogNormal,
    OnOff,
    Poisson,
    Sessions,
    TraceWarning,
    Uniform,
    clip_context,
    empirical_lengths,
    generate,
    generate_sessions,
    head,
    import_to_parquet,
    import_trace,
    sample,
    scale_rate,
    trace_stats,
    window,
    write_trace,
)

__all__ = ["app"]

app = typer.Typer(help="traces commands", no_args_is_help=True, pretty_exceptions_enable=False)


class ArrivalKind(str, Enum):
    poisson = "poisson"
    gamma = "gamma"
    constant = "constant"
    onoff = "onoff"


class PolicyName(str, Enum):
    clip = "clip"
    drop = "drop"
    keep = "keep"


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Print each TraceWarning as one ``warning:`` line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TraceWarning)
        yield
    for w in caught:
        if issubclass(w.category, TraceWarning):
            print(f"warning: {' '.join(str(w.message).split())}", file=sys.stderr)


def _arrival(kind: ArrivalKind | None, rate: float | None, cv: float, on_s: float | None,
             off_s: float | None) -> Any:
    if kind is None and rate is None:
        return None
    if rate is None:
        raise InputError("--arrival needs --rate (requests per second)", column="rate")
    kind = kind or ArrivalKind.poisson
    if kind is ArrivalKind.poisson:
        return Poisson(rate_rps=rate) if cv == 1.0 else Gamma(rate_rps=rate, cv=cv)
    if kind is ArrivalKind.gamma:
        return Gamma(rate_rps=rate, cv=cv)
    if kind is ArrivalKind.constant:
        return ConstantRate(rate_rps=rate)
    if on_s is None or off_s is None:
        raise InputError("--arrival onoff needs --on-s and --off-s", column="on_s")
    return OnOff(rate_rps=rate, on_s=on_s, off_s=off_s, cv=cv)


def _length(text: str, *, option: str, column: str) -> Any:
    """fixed:N | uniform:LOW:HIGH | lognormal:MEDIAN:SIGMA[:MAX] | empirical:PATH | N."""
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    try:
        if kind.isdigit() and not rest:
            return Fixed(tokens=int(kind))
        if kind == "fixed" and len(parts) == 1:
            return Fixed(tokens=int(parts[0]))
        if kind == "uniform" and len(parts) == 2:
            return Uniform(low=int(parts[0]), high=int(parts[1]))
        if kind == "lognormal" and len(parts) in (2, 3):
            return LogNormal(median_tokens=float(parts[0]), sigma=float(parts[1]),
                             max_tokens=int(parts[2]) if len(parts) == 3 else None)
        if kind == "empirical" and rest:
            return empirical_lengths(rest, column=column)
    except ValueError:
        pass
    raise InputError(f"bad length spec {text!r}: use N, fixed:N, uniform:LOW:HIGH, "
                     "lognormal:MEDIAN:SIGMA[:MAX] or empirical:PATH", column=option)


@app.command("import")
@cli_errors
def import_cmd(
    src: Annotated[Path, typer.Argument(help="Azure CSV, Vidur CSV, Mooncake JSONL, length-only CSV or parquet.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output parquet file.")],
    format: Annotated[str | None, typer.Option("--format", help="azure|vidur|mooncake|lengths|parquet "
                                               "(default: detected).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict/--no-strict", help="Reject unsorted arrivals instead of sorting.")] = False,
    arrival: Annotated[ArrivalKind | None, typer.Option(help="Length-only CSV: arrival process.")] = None,
    rate: Annotated[float | None, typer.Option(help="Length-only CSV: arrival rate (requests/s).")] = None,
    cv: Annotated[float, typer.Option(help="Inter-arrival coefficient of variation (gamma/onoff).")] = 1.0,
    on_s: Annotated[float | None, typer.Option("--on-s", help="onoff: burst length (s).")] = None,
    off_s: Annotated[float | None, typer.Option("--off-s", help="onoff: gap length (s).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for synthesized arrivals.")] = 0,
) -> None:
    """Convert a trace into canonical parquet (streamed in chunks)."""
    process = _arrival(arrival, rate, cv, on_s, off_s)
    with _warnings_to_stderr():
        report = import_to_parquet(src, out, format=format, strict=strict, arrival=process, seed=seed)
    print(f"wrote {out}: {report.rows} requests ({report.meta['source'].get('format', 'parquet')})")


@app.command("generate")
@cli_errors
def generate_cmd(
    out: Annotated[Path, typer.Option("-o", "--out", help="Output parquet file.")],
    arrival: Annotated[ArrivalKind, typer.Option(help="Arrival process.")] = ArrivalKind.poisson,
    rate: Annotated[float, typer.Option(help="Arrival rate, requests/s (peak rate for onoff).")] = 1.0,
    cv: Annotated[float, typer.Option(help="Inter-arrival coefficient of variation (gamma/onoff).")] = 1.0,
    on_s: Annotated[float | None, typer.Option("--on-s", help="onoff: burst length (s).")] = None,
    off_s: Annotated[float | None, typer.Option("--off-s", help="onoff: gap length (s).")] = None,
    count: Annotated[int | None, typer.Option(help="Number of requests.")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration-s", "--duration",
        help="Seconds of arrivals (--duration: the old name).")] = None,
    prompt: Annotated[str, typer.Option(
        "--prompt-tokens", "--prompt", help="Prompt lengths: N, uniform:LOW:HIGH, "
        "lognormal:MEDIAN:SIGMA[:MAX], empirical:PATH (--prompt: the old name).")] = "512",
    output: Annotated[str, typer.Option(
        "--output-tokens", "--output", help="Output lengths, same forms as --prompt-tokens "
        "(--output: the old name).")] = "128",
    seed: Annotated[int, typer.Option(min=0, help="Seed (same seed: byte-identical file).")] = 0,
    sessions: Annotated[int | None, typer.Option(
        "--sessions", help="Multi-turn sessions instead of single requests: this many, starting "
        "at --rate sessions/s (Poisson); --prompt-tokens are each turn's new user tokens; "
        "writes session_id and prefix_hash_ids.")] = None,
    turns: Annotated[str, typer.Option(
        "--turns", help="Sessions: turns per session (same forms as --prompt-tokens).")] = "4",
    think_s: Annotated[float, typer.Option(
        "--think-s", help="Sessions: mean seconds between a session's turns (exponential).")] = 30.0,
    system_prompt_tokens: Annotated[int, typer.Option(
        "--system-prompt-tokens", help="Sessions: a system prompt shared by every session.")] = 0,
    prefix_block_tokens: Annotated[int, typer.Option(
        "--prefix-block-tokens", help="Sessions: tokens per prefix hash block (Mooncake: 512).")] = 512,
) -> None:
    """Write a seeded synthetic trace (or, with --sessions, multi-turn sessions with prefix
    hash ids)."""
    if sessions is not None:
        if count is not None or duration is not None or arrival is not ArrivalKind.poisson \
                or cv != 1.0:
            raise InputError("--sessions: sessions start as a Poisson process at --rate; "
                             "--count, --duration-s, --arrival and --cv do not apply",
                             column="sessions")
        spec = Sessions(sessions=sessions, session_rate_rps=rate,
                        turns=_length(turns, option="--turns", column="turns"), think_s=think_s,
                        user=_length(prompt, option="--prompt-tokens", column="prompt_tokens"),
                        output=_length(output, option="--output-tokens", column="output_tokens"),
                        system_prompt_tokens=system_prompt_tokens,
                        prefix_block_tokens=prefix_block_tokens)
        df = generate_sessions(spec, seed=seed)
        write_trace(df, out)
        print(f"wrote {out}: {len(df)} requests in {sessions} sessions")
        return
    process = _arrival(arrival, rate, cv, on_s, off_s)
    df = generate(arrival=process,
                  prompt=_length(prompt, option="--prompt-tokens", column="prompt_tokens"),
                  output=_length(output, option="--output-tokens", column="output_tokens"),
                  count=count, duration_s=duration, seed=seed)
    write_trace(df, out)
    print(f"wrote {out}: {len(df)} requests")


def _parse_window(text: str) -> tuple[float, float]:
    start, sep, end = text.partition(":")
    try:
        if sep:
            return float(start or 0.0), (float(end) if end else math.inf)
    except ValueError:
        pass
    raise InputError(f"bad window {text!r}, expected START:END in seconds", column="window")


@app.command("transform")
@cli_errors
def transform_cmd(
    src: Annotated[Path, typer.Argument(help="Any importable trace.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output parquet file.")],
    window_: Annotated[str | None, typer.Option("--window", help="START:END seconds (applied first; "
                                                "arrivals shifted so START is 0).")] = None,
    rate_scale: Annotated[float | None, typer.Option(help="Multiply the request rate (divide times).")] = None,
    head_: Annotated[int | None, typer.Option("--head", help="Keep the first N requests.")] = None,
    sample_: Annotated[int | None, typer.Option("--sample", help="Keep N random requests (seeded).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for --sample.")] = 0,
    max_context: Annotated[int | None, typer.Option(help="Model context length in tokens.")] = None,
    context_policy: Annotated[PolicyName, typer.Option(help="Requests over --max-context.")] = PolicyName.clip,
    format: Annotated[str | None, typer.Option("--format", help="Input format (default: detected).")] = None,
) -> None:
    """Apply window, rate scale, head, sample and context clipping, in that order."""
    with _warnings_to_stderr():
        df = import_trace(src, format=format)
    steps: list[Callable[[Any], Any]] = []
    if window_ is not None:
        start_s, end_s = _parse_window(window_)
        steps.append(lambda d: window(d, start_s, end_s))
    if rate_scale is not None:
        steps.append(lambda d: scale_rate(d, rate_scale))
    if head_ is not None:
        steps.append(lambda d: head(d, head_))
    if sample_ is not None:
        steps.append(lambda d: sample(d, sample_, seed=seed))
    if max_context is not None:
        steps.append(lambda d: clip_context(d, max_context, ContextPolicy(context_policy.value)))
    for step in steps:
        df = step(df)
    write_trace(df, out)
    print(f"wrote {out}: {len(df)} requests")


def _json_safe(value: Any) -> Any:
    """NaN and infinities (an undefined rate/CV of a one-request trace, a rate that overflows for
    arrivals closer than float64 resolves) become null: the output stays valid JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return None if isinstance(value, float) and not math.isfinite(value) else value


@app.command("stats")
@cli_errors
def stats_cmd(
    src: Annotated[Path, typer.Argument(help="Any importable trace.")],
    as_json: Annotated[bool, typer.Option("--json/--no-json",
                                          help="Print one JSON object.")] = False,
    format: Annotated[str | None, typer.Option("--format", help="Input format (default: detected).")] = None,
) -> None:
    """Rows, span, mean rate, inter-arrival CV, token mean/median/p99; with prefix hash ids, the
    ideal prefix-cache hit rate (infinite cache)."""
    with _warnings_to_stderr():
        df = import_trace(src, format=format)
    stats = trace_stats(df)
    if as_json:
        print(json.dumps(_json_safe(stats), allow_nan=False))
        return
    table = Table(title=f"{src.name}", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("rows", f"{stats['rows']:,}")
    table.add_row("span_s", f"{stats['span_s']:.3f}")
    table.add_row("rate_rps", f"{stats['rate_rps']:.4f}")
    table.add_row("iat_cv", f"{stats['iat_cv']:.4f}")
    for col in ("prompt_tokens", "output_tokens"):
        for key in ("mean", "p50", "p99"):
            table.add_row(f"{col} {key}", f"{stats[col][key]:.1f}")
    if "ideal_hit_rate" in stats:
        table.add_row("prefix_block_tokens", f"{stats['prefix_block_tokens']:,}")
        table.add_row("ideal_hit_rate", f"{stats['ideal_hit_rate']:.4f}")
    Console().print(table)
