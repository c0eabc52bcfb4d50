"""Capture cost tables on hardware: torch, groq and analytical backends (torch/groq optional)."""

__all__: list[str] = []
