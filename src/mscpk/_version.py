"""The package version (one owner; the facade and exports read it)."""

__version__ = "0.1.0"
