"""What a run produces: metrics, output files, energy and money."""
