"""Declarative experiments (YAML) and the sweep runner."""

__all__: list[str] = []
