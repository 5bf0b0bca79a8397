"""Global and local sensitivity of population metrics (docs/populations.md)."""

from mscpk.analysis.sensitivity.run import METHODS, sensitivity

__all__ = ["sensitivity", "METHODS"]
