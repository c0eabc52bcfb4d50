"""Format readers: each turns one input file into validated chunks of canonical columns.

Bad input raises :class:`InputError` with the file, the 1-based file line (header = line 1) or
parquet row, and the source column. Arrival order and request ids are the assembler's job
(:mod:`phasesim.traces.importers`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from phasesim.errors import InputError
from phasesim.json_file import JSONRefused, unique_keys
from phasesim.traces import schema
from phasesim.traces.formats import (
    MOONCAKE_KEYS,
    TraceFormat,
    check_header,
    columns_for,
    detect_format,
    existing_file,
    parse_format,
    read_header,
)
from phasesim.traces.generators import ArrivalClock, ArrivalProcess, spec_dict
from phasesim.traces.storage import ARROW_TYPES, coerce_table, new_meta, read_meta, with_transform
from phasesim.units import MAX_TIME_S

__all__ = ["CHUNK_BYTES", "JSONL_CHUNK_ROWS", "MOONCAKE_BLOCK_TOKENS", "Chunk", "TraceInput",
           "horizon_error", "location_kw", "open_trace_input"]

CHUNK_BYTES = 16 << 20
JSONL_CHUNK_ROWS = 1 << 16
MOONCAKE_BLOCK_TOKENS = 512

# --- chunks -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    table: pa.Table  # arrival_s, prompt_tokens, output_tokens (+ request_id and optional columns)
    locations: np.ndarray  # 1-based file line (text formats) or row (parquet) of each row


@dataclass(slots=True, kw_only=True)
class TraceInput:
    """What an importer knows about its input; the chunks come from ``chunks`` (a generator, set
    once by the reader; ``notes`` is filled while it runs)."""

    path: Path
    fmt: TraceFormat
    time_column: str | None  # source column named in ordering errors
    location: str  # "line" or "row"
    rebase: bool  # arrivals are relative to the earliest request (Azure wall clock)
    keeps_ids: bool  # request ids come from the file (parquet)
    chunks: Iterator[Chunk]
    meta: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)  # filled while reading (e.g. Azure t0)


def location_kw(src: TraceInput, loc: int) -> dict[str, int]:
    return {src.location: int(loc)}


def horizon_error(src: TraceInput, loc: int, span_s: float) -> InputError:
    """An arrival ``span_s`` seconds after 0 s (or, for wall-clock sources, apart from another
    request) that the simulator's int64-nanosecond clock cannot hold."""
    what = f"arrival {span_s:.6g} s " + ("apart from another request " if src.rebase else "")
    return InputError(f"{what}is beyond the simulator's horizon of {MAX_TIME_S:.6g} s (64-bit nanoseconds, "
                      "about 292 years)", path=src.path, column=src.time_column or schema.ARRIVAL_S,
                      **location_kw(src, loc))


def _check_values(src: TraceInput, table: pa.Table, locations: np.ndarray,
                  columns: tuple[str | None, str, str]) -> None:
    arrival_col, prompt_col, output_col = columns
    arrival = table.column(schema.ARRIVAL_S).to_numpy()
    bad = ~np.isfinite(arrival)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError("arrival is NaN or infinite", path=src.path, column=arrival_col or schema.ARRIVAL_S,
                         **location_kw(src, locations[i]))
    if not src.rebase and (arrival < 0).any():
        i = int(np.argmax(arrival < 0))
        raise InputError(f"arrival must be >= 0, got {arrival[i]}", path=src.path,
                         column=arrival_col or schema.ARRIVAL_S, **location_kw(src, locations[i]))
    for name, col in ((schema.PROMPT_TOKENS, prompt_col), (schema.OUTPUT_TOKENS, output_col)):
        tokens = table.column(name).to_numpy()
        if (tokens < 1).any():
            i = int(np.argmax(tokens < 1))
            raise InputError(f"token count must be >= 1, got {tokens[i]}", path=src.path, column=col,
                             **location_kw(src, locations[i]))


_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def _numbers(values: pa.Array, *, src: TraceInput, first_line: int, column: str,
             integer: bool) -> np.ndarray:
    """Parse a string column; InputError at the first empty, NaN, non-numeric or non-integer value."""
    ok = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.argmax(~ok))
        text = values[i].as_py().strip()
        what = ("empty value" if not text else "NaN" if text.lower() == "nan"
                else f"not a number: {text[:40]!r}")
        raise InputError(what, path=src.path, line=first_line + i, column=column)
    parsed = pc.cast(pc.utf8_trim_whitespace(values), pa.float64()).to_numpy()
    if not integer:
        return parsed
    frac = parsed != np.floor(parsed)
    if frac.any():
        i = int(np.argmax(frac))
        raise InputError(f"not an integer: {parsed[i]}", path=src.path, line=first_line + i, column=column)
    huge = np.abs(parsed) > 2.0**53
    if huge.any():
        i = int(np.argmax(huge))
        raise InputError(f"value too large: {parsed[i]:g}", path=src.path, line=first_line + i, column=column)
    return parsed.astype(np.int64)


_TIMESTAMP = (r"^\s*(?P<dt>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
              r"\s*(?P<tz>Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?\s*$")
# wall-clock seconds since the epoch whose nanoseconds fit an int64 (datetime64[ns]): 1677-09-21
# 00:12:44 up to 2262-04-11 23:47:15; outside it the arithmetic below would wrap around silently
_EPOCH_S_RANGE = (-int(MAX_TIME_S), int(MAX_TIME_S) - 1)


def _timestamps_ns(values: pa.Array, *, src: TraceInput, first_line: int,
                   column: str) -> np.ndarray:
    """Wall-clock timestamps to integer nanoseconds since the epoch, exact (fraction parsed as digits)."""
    parts = pc.extract_regex(values, _TIMESTAMP)
    seconds = pc.strptime(pc.replace_substring(parts.field("dt"), "T", " "),
                          format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    bad = pc.is_null(seconds).to_numpy(zero_copy_only=False) | ~parts.is_valid().to_numpy(zero_copy_only=False)
    if bad.any():
        i = int(np.argmax(bad))
        text = values[i].as_py().strip()
        raise InputError(f"bad timestamp {text[:40]!r} (expected YYYY-MM-DD HH:MM:SS[.fffffff])" if text
                         else "empty value", path=src.path, line=first_line + i, column=column)
    # Arrow's strptime rolls an impossible date or time over (2023-02-29 -> 1 March, 2023-02-31
    # -> 3 March, 23:59:60 -> the next day): only a value that prints back as written is real
    written = pc.replace_substring(parts.field("dt"), "T", " ")
    unreal = pc.not_equal(pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"), written)
    unreal = unreal.to_numpy(zero_copy_only=False)
    if unreal.any():
        i = int(np.argmax(unreal))
        raise InputError(f"no such date or time: {values[i].as_py().strip()[:40]!r}",
                         path=src.path, line=first_line + i, column=column)
    utc_s = seconds.cast(pa.int64()).to_numpy()
    tz = parts.field("tz").to_numpy(zero_copy_only=False)
    if any(tz):
        utc_s = utc_s - np.array([_tz_offset_s(t) for t in tz], dtype=np.int64)
    low, high = _EPOCH_S_RANGE
    outside = (utc_s < low) | (utc_s > high)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(f"timestamp {values[i].as_py().strip()[:40]!r} is outside {np.datetime64(low, 's')} .. "
                         f"{np.datetime64(high, 's')}, the range of 64-bit nanoseconds", path=src.path,
                         line=first_line + i, column=column)
    frac_ns = pc.cast(pc.utf8_rpad(parts.field("frac"), width=9, padding="0"), pa.int64()).to_numpy()
    return utc_s * 1_000_000_000 + frac_ns


def _tz_offset_s(text: str) -> int:
    if not text or text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)


def _csv_batches(path: Path, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first file line, batch of string columns) in file order; CSV structure errors located.

    pyarrow's streaming reader parses on its own native threads, so nothing Python is handed to it
    (no ``invalid_row_handler``): a native thread that needs the GIL while the interpreter exits
    after an error is killed mid-C++ and aborts the process ("terminate called without an active
    exception", exit 134). Ragged rows are located from pyarrow's message instead, which names
    the row (a 1-based file line) when ``use_threads=False``.
    """
    header = read_header(path)
    reader_cols = {name: pa.string() for name in header}
    reader = None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=CHUNK_BYTES),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=reader_cols, include_columns=columns,
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        line = 2
        trailing_blank = None  # first line of a blank run that ended the previous batch
        for batch in reader:
            blank = _blank_rows(batch)
            rows = np.flatnonzero(~blank)
            if len(rows) and trailing_blank is not None:
                raise InputError("blank line inside the data", path=path, line=trailing_blank)
            used = int(rows[-1]) + 1 if len(rows) else 0
            if blank[:used].any():
                raise InputError("blank line inside the data", path=path, line=line + int(np.argmax(blank[:used])))
            if used < batch.num_rows and trailing_blank is None:
                trailing_blank = line + used  # fine if nothing but blank lines follow
            if used:
                yield line, batch.slice(0, used)
            line += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _csv_structure_error(path, str(exc)) from None
    finally:
        if reader is not None:
            reader.close()


_RAGGED = re.compile(r"Row #(?P<row>\d+): Expected (?P<expected>\d+) columns, got (?P<got>\d+): ?(?P<text>.*)",
                     re.DOTALL)


def _csv_structure_error(path: Path, message: str) -> InputError:
    """The InputError for a pyarrow CSV parse or conversion error, located by its ``Row #N``."""
    ragged = _RAGGED.search(message)
    if ragged:
        blank = " (blank line)" if not ragged["text"].strip() else ""
        return InputError(f"expected {ragged['expected']} fields, got {ragged['got']}{blank}", path=path,
                          line=int(ragged["row"]))
    match = re.search(r"Row #(\d+)", message)
    return InputError(f"malformed CSV ({message[:100]})", path=path, line=int(match.group(1)) if match else None)


def _blank_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Rows whose fields are all empty (a blank line reads as one)."""
    blank = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        blank &= pc.equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False)
    return blank


def _csv_input(path: Path, fmt: TraceFormat, *, arrival: ArrivalProcess | None,
               seed: int) -> TraceInput:
    header = read_header(path)
    check_header(path, fmt, header)
    columns = columns_for(fmt, header)
    time_col, prompt_col, output_col = columns
    meta = new_meta(source={"file": path.name, "format": fmt.value, "sha256": _sha256(path)})
    if fmt is TraceFormat.LENGTHS:
        meta = with_transform(meta, {"op": "synthesize_arrivals", "seed": seed,
                                     "arrival": spec_dict(arrival) if arrival else "all at 0 s (offline batch)"})
    src = TraceInput(path=path, fmt=fmt, time_column=time_col,
                     location="line", rebase=fmt is TraceFormat.AZURE,
                     keeps_ids=False, chunks=iter(()), meta=meta)
    if fmt is TraceFormat.LENGTHS and arrival is None:
        src.notes["all_arrivals_at_0"] = True  # the importer warns once (TraceWarning)

    def chunks() -> Iterator[Chunk]:
        clock = ArrivalClock(process=arrival, rng=np.random.default_rng(seed)) if arrival else None
        base_ns = None
        wanted = [c for c in columns if c is not None]
        for first_line, batch in _csv_batches(path, wanted):
            n = batch.num_rows
            prompt = _numbers(batch.column(prompt_col), src=src, first_line=first_line, column=prompt_col,
                              integer=True)
            output = _numbers(batch.column(output_col), src=src, first_line=first_line, column=output_col,
                              integer=True)
            if fmt is TraceFormat.AZURE:
                ns = _timestamps_ns(batch.column(time_col), src=src, first_line=first_line, column=time_col)
                if base_ns is None and n:
                    base_ns = int(ns[0])
                    src.notes["t0_ns"] = base_ns
                apart_s = np.abs(ns.astype(np.float64) - base_ns) / 1e9  # the int64 difference below would wrap
                if (apart_s > MAX_TIME_S).any():
                    i = int(np.argmax(apart_s > MAX_TIME_S))
                    raise horizon_error(src, first_line + i, float(apart_s[i]))
                arrival_s = (ns - base_ns) / 1e9
            elif fmt is TraceFormat.VIDUR:
                arrival_s = _numbers(batch.column(time_col), src=src, first_line=first_line, column=time_col,
                                     integer=False)
            else:
                arrival_s = clock.next(n) if clock else np.zeros(n)
            table = pa.table({schema.ARRIVAL_S: arrival_s, schema.PROMPT_TOKENS: prompt,
                              schema.OUTPUT_TOKENS: output})
            locations = np.arange(first_line, first_line + n, dtype=np.int64)
            _check_values(src, table, locations, columns)
            yield Chunk(table=table, locations=locations)

    src.chunks = chunks()
    return src


def _mooncake_input(path: Path) -> TraceInput:
    meta = new_meta(source={"file": path.name, "format": TraceFormat.MOONCAKE.value, "sha256": _sha256(path)},
                    prefix_block_tokens=MOONCAKE_BLOCK_TOKENS)
    src = TraceInput(path=path, fmt=TraceFormat.MOONCAKE, time_column="timestamp",
                     location="line", rebase=False,
                     keeps_ids=False, chunks=iter(()), meta=meta)

    def chunks() -> Iterator[Chunk]:
        rows: list[tuple[float, int, int, list[int] | None]] = []
        lines: list[int] = []
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                rows.append(_mooncake_row(raw, path=path, line=number))
                lines.append(number)
                if len(rows) >= JSONL_CHUNK_ROWS:
                    yield checked(_mooncake_chunk(rows, lines))
                    rows, lines = [], []
        if rows:
            yield checked(_mooncake_chunk(rows, lines))

    def checked(chunk: Chunk) -> Chunk:
        _check_values(src, chunk.table, chunk.locations, MOONCAKE_KEYS)
        return chunk

    src.chunks = chunks()
    return src


_MAX_EXACT = 2**53  # the largest count a float64 holds exactly: the limit for token counts everywhere
_INT64 = (-(2**63), 2**63 - 1)


def _mooncake_row(raw: bytes, *, path: Path, line: int) -> tuple[float, int, int, list[int] | None]:
    try:
        obj = json.loads(raw, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, not UTF-8, an int of > 4300 digits
        if isinstance(exc, JSONRefused):
            raise InputError(f"invalid JSON object ({exc})", path=path, line=line) from None
        msg = getattr(exc, "msg", None) or ("not UTF-8" if isinstance(exc, UnicodeDecodeError) else
                                            "nested too deeply" if isinstance(exc, RecursionError) else str(exc))
        raise InputError(f"truncated or invalid JSON ({msg} at char {getattr(exc, 'pos', 0) + 1})",
                         path=path, line=line) from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", path=path, line=line)
    values = []
    for key in MOONCAKE_KEYS:
        if key not in obj:
            raise InputError("missing field", path=path, line=line, column=key)
        values.append(_json_number(obj[key], integer=key != "timestamp", path=path, line=line, column=key))
    hash_ids = obj.get("hash_ids")
    if hash_ids is not None:
        if not isinstance(hash_ids, list) or not all(type(h) is int for h in hash_ids):
            raise InputError("expected a list of integers", path=path, line=line, column="hash_ids")
        if hash_ids and (min(hash_ids) < _INT64[0] or max(hash_ids) > _INT64[1]):
            big = next(h for h in hash_ids if not _INT64[0] <= h <= _INT64[1])
            raise InputError(f"hash id {_magnitude(big)} is outside the 64-bit integer range", path=path, line=line,
                             column="hash_ids")
    return values[0] / 1000.0, int(values[1]), int(values[2]), hash_ids


def _json_number(value: Any, *, integer: bool, path: Path, line: int, column: str) -> float:
    """A JSON number checked like a CSV field: finite, at most 2**53 in magnitude, an integer
    where one is expected. Python's ``json`` reads integers of any size and NaN/Infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"expected a number, got {json.dumps(value)[:40]}", path=path, line=line, column=column)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value}", path=path, line=line, column=column)
    if abs(value) > _MAX_EXACT:
        raise InputError(f"value too large: {_magnitude(value)}", path=path, line=line, column=column)
    if integer and value != int(value):
        raise InputError(f"not an integer: {value}", path=path, line=line, column=column)
    return value


def _magnitude(value: float) -> str:
    """A number of any size, short: ``1e+300``, ``1.84467e+19``, ``-123456...(400 digits)``."""
    if isinstance(value, int) and abs(value) >= 10**300:  # beyond float; json caps ints at 4300 digits
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[:6]}...({len(digits)} digits)"
    return f"{value:g}"


def _mooncake_chunk(rows: list[tuple[float, int, int, list[int] | None]], lines: list[int]) -> Chunk:
    arrival_s, prompt, output, hashes = zip(*rows, strict=True)
    columns = {
        schema.ARRIVAL_S: pa.array(arrival_s, pa.float64()),
        schema.PROMPT_TOKENS: pa.array(prompt, pa.int64()),
        schema.OUTPUT_TOKENS: pa.array(output, pa.int64()),
    }
    # always present (empty lists where a row has no hash_ids), so every chunk has the same schema
    columns[schema.PREFIX_HASH_IDS] = pa.array([h or [] for h in hashes], ARROW_TYPES[schema.PREFIX_HASH_IDS])
    return Chunk(table=pa.table(columns), locations=np.asarray(lines, dtype=np.int64))


def _parquet_input(path: Path) -> TraceInput:
    meta = read_meta(path)
    src = TraceInput(path=path, fmt=TraceFormat.PARQUET, time_column=schema.ARRIVAL_S,
                     location="row", rebase=False,
                     keeps_ids=True, chunks=iter(()), meta=meta)

    def chunks() -> Iterator[Chunk]:
        first_row = 1
        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=JSONL_CHUNK_ROWS)
            for batch in batches:
                table = coerce_table(pa.Table.from_batches([batch]), path=path, first_row=first_row)
                locations = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
                _check_values(src, table, locations, (schema.ARRIVAL_S, schema.PROMPT_TOKENS, schema.OUTPUT_TOKENS))
                yield Chunk(table=table, locations=locations)
                first_row += table.num_rows
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"not a readable parquet file ({' '.join(str(exc).split())[:100]})", path=path) from None

    src.chunks = chunks()
    return src


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def open_trace_input(src_path: str | Path, *, format: str | TraceFormat | None,
                     arrival: ArrivalProcess | None, seed: int) -> TraceInput:
    path = existing_file(src_path)
    fmt = parse_format(format) or detect_format(path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", path=path, line=1)
    if fmt is TraceFormat.PARQUET:
        return _parquet_input(path)
    if fmt is TraceFormat.MOONCAKE:
        return _mooncake_input(path)
    return _csv_input(path, fmt, arrival=arrival, seed=seed)
