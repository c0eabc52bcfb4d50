"""Calibrate the roofline on public measurements: engine fits on end-to-end benchmarks
(``engine_fit``, ``engine_calibrate``), their validations and prediction intervals
(``intervals``), the power fit (``energy_fit``), the kernel-level fit (``kernel_fit``). The
scripts that write the shipped results and docs tables are in ``tools/``. Never imports
``phasesim.profiler.capture``."""
