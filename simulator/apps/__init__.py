"""Applications over the simulation: ``latency`` (the fixed-shape benchmark behind ``sim latency``)."""
