"""The profiler's two rooms: capture cost tables on hardware (torch, groq, OpenAI-compatible
endpoints; torch/groq/httpx optional) and calibrate the roofline on public end-to-end benchmarks
(engine fits, their validations and prediction intervals, the power fit; scipy optional)."""

__all__: list[str] = []
