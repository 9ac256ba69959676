"""Water's version (one place, importable without importing all of ``water``)."""

__version__ = "0.1.0"
