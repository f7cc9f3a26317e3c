"""benchbench: benchmark crack detectors trained with and without synthetic frames."""

__version__ = "0.1.0"
