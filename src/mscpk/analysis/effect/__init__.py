"""Exposure-response: the effect of a scenario's ``[effect]`` model over time (docs/effect.md)."""

from mscpk.analysis.effect.model import driver, effect, effect_curves

__all__ = ["effect", "effect_curves", "driver"]
