"""The profiler's two rooms: capture cost tables on hardware (torch, groq, OpenAI-compatible
endpoints; torch/groq/httpx optional) and calibrate the roofline on public measurements (the
kernel-level fit, engine fits on end-to-end benchmarks with their validations and prediction
intervals, the power fit; scipy optional)."""

__all__: list[str] = []
