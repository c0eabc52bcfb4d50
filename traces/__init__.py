"""Request traces: the canonical schema, importers, generators and transforms.

Documented in ``traces/README.md``.
"""

from phasesim.errors import InputError
from phasesim.traces.generators import (
    ArrivalClock,
    ConstantRate,
    Empirical,
    Fixed,
    Gamma,
    LogNormal,
    OnOff,
    Poisson,
    Uniform,
    draw_lengths,
)
from phasesim.traces.importers import (
    ImportReport,
    TraceFormat,
    TraceWarning,
    detect_format,
    import_to_parquet,
    import_trace,
)
from phasesim.traces.sessions import Sessions, generate_sessions
from phasesim.traces.specs import arrival_from_spec, empirical_lengths, generate, length_from_spec
from phasesim.traces.stats import trace_stats
from phasesim.traces.storage import read_meta, read_trace, validate_frame, write_trace
from phasesim.traces.transforms import ContextPolicy, clip_context, head, sample, scale_rate, window

__all__ = [
    "InputError",
    # files
    "read_trace",
    "write_trace",
    "read_meta",
    "validate_frame",
    # importers
    "TraceFormat",
    "TraceWarning",
    "ImportReport",
    "detect_format",
    "import_trace",
    "import_to_parquet",
    # generators
    "generate",
    "Poisson",
    "Gamma",
    "ConstantRate",
    "OnOff",
    "Fixed",
    "Uniform",
    "LogNormal",
    "Empirical",
    "ArrivalClock",
    "draw_lengths",
    "arrival_from_spec",
    "length_from_spec",
    "empirical_lengths",
    "Sessions",
    "generate_sessions",
    # transforms
    "ContextPolicy",
    "scale_rate",
    "window",
    "head",
    "sample",
    "clip_context",
    # stats
    "trace_stats",
]
