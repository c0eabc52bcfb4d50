"""Request traces: the canonical schema, importers, generators and transforms."""

__all__: list[str] = []
