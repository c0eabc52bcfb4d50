"""Calibrate the roofline on public measurements: engine fits on end-to-end benchmarks, their
validations and prediction intervals, the power fit, the kernel-level calibration. Never imports
``phasesim.profiler.capture``."""
