"""Shipped canonical trace samples (see SOURCES.md); rebuilt by make_samples.py."""
