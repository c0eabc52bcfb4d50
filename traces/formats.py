"""Trace file formats: names, expected columns and detection from the content."""

from __future__ import annotations

import enum
from pathlib import Path

from phasesim.errors import InputError

__all__ = ["TraceFormat", "CSV_COLUMNS", "CANONICAL_COLUMNS", "MOONCAKE_KEYS", "parse_format", "read_header",
           "detect_format", "check_header", "columns_for", "existing_file"]


class TraceFormat(enum.Enum):
    AZURE = "azure"
    VIDUR = "vidur"
    MOONCAKE = "mooncake"
    LENGTHS = "lengths"
    PARQUET = "parquet"


_ALIASES = {"splitwise": TraceFormat.VIDUR, "jsonl": TraceFormat.MOONCAKE, "length-only": TraceFormat.LENGTHS}

# source columns: (arrival, prompt, output); None = no arrival column
CSV_COLUMNS: dict[TraceFormat, tuple[str | None, str, str]] = {
    TraceFormat.AZURE: ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    TraceFormat.VIDUR: ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    TraceFormat.LENGTHS: (None, "num_prefill_tokens", "num_decode_tokens"),
}
# the canonical schema's names, accepted where a format's own are not in the header: a length-only
# CSV of prompt_tokens, output_tokens, and (with arrival_s, seconds) a Vidur-style one
CANONICAL_COLUMNS: dict[TraceFormat, tuple[str | None, str, str]] = {
    TraceFormat.VIDUR: ("arrival_s", "prompt_tokens", "output_tokens"),
    TraceFormat.LENGTHS: (None, "prompt_tokens", "output_tokens"),
}
MOONCAKE_KEYS = ("timestamp", "input_length", "output_length")


def _choices(fmt: TraceFormat) -> tuple[tuple[str | None, str, str], ...]:
    canonical = CANONICAL_COLUMNS.get(fmt)
    return (CSV_COLUMNS[fmt],) if canonical is None else (CSV_COLUMNS[fmt], canonical)


def columns_for(fmt: TraceFormat, header: list[str]) -> tuple[str | None, str, str]:
    """The (arrival, prompt, output) columns ``fmt`` reads from a file with ``header``: its own
    names, or the canonical ones where those are all there and its own are not."""
    for columns in _choices(fmt):
        if all(c is None or c in header for c in columns):
            return columns
    return CSV_COLUMNS[fmt]

def parse_format(name: str | TraceFormat | None) -> TraceFormat | None:
    if name is None or isinstance(name, TraceFormat):
        return name
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return TraceFormat(key)
    except ValueError:
        names = ", ".join(f.value for f in TraceFormat)
        raise InputError(f"unknown trace format {name!r} (one of {names})", column="format") from None


# --- detection ----------------------------------------------------------------------------------


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        line = fh.readline()
    return [name.strip() for name in line.rstrip("\r\n").split(",")]


def detect_format(path: str | Path) -> TraceFormat:
    """Guess the format from the content: parquet magic, a JSON object, or the CSV header."""
    path = existing_file(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:4] == b"PAR1":
        return TraceFormat.PARQUET
    if not head.strip():
        raise InputError("file is empty", path=path, line=1)
    if head.lstrip().startswith(b"{"):
        return TraceFormat.MOONCAKE
    header = read_header(path)
    full = [(f, cols) for f in CSV_COLUMNS for cols in _choices(f)
            if all(c is None or c in header for c in cols)]
    if full:  # the most specific format that matches every column (own names before canonical)
        return max(full, key=lambda fc: sum(c is not None for c in fc[1]))[0]
    best = max(CSV_COLUMNS, key=lambda f: sum(c in header for c in CSV_COLUMNS[f] if c))
    if not any(c in header for c in CSV_COLUMNS[best] if c):
        raise InputError("unrecognized header: expected Azure (TIMESTAMP, ContextTokens, GeneratedTokens), "
                         "Vidur (arrived_at, num_prefill_tokens, num_decode_tokens), length-only "
                         "(num_prefill_tokens, num_decode_tokens, or prompt_tokens, output_tokens), "
                         "canonical (arrival_s, prompt_tokens, output_tokens) or a Mooncake JSONL; "
                         "use --format",
                         path=path, line=1, column=header[0] if header else None)
    check_header(path, best, header)  # raises naming the missing column
    return best


def check_header(path: Path, fmt: TraceFormat, header: list[str]) -> None:
    """Every column ``fmt`` reads is in the header exactly once (a duplicate is ambiguous: the CSV
    reader would silently take the first)."""
    for col in columns_for(fmt, header):
        if col is not None and col not in header:
            raise InputError(f"missing column for {fmt.value} format (header has: {', '.join(header)})",
                             path=path, line=1, column=col)
        if col is not None and header.count(col) > 1:
            raise InputError(f"column name appears {header.count(col)} times in the header", path=path, line=1,
                             column=col)


def existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    return path
