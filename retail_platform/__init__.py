"""Retail inventory lambda platform: shared code for DAGs, Spark jobs, simulators and tools."""

__version__ = "0.1.0"
