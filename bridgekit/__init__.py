"""bridgekit: a Matrix application-service bridge framework."""

__version__ = "0.1.0"
