"""Capture cost tables on hardware: torch on a local GPU, GroqCloud through the groq SDK, any
OpenAI-compatible endpoint; closed-loop validation of a captured table. Never imports
``phasesim.profiler.calibrate``."""
