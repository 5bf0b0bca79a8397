"""Virtual populations: ``[population]`` subjects -> per-subject metrics, bands, responders
(docs/populations.md)."""

from mscpk.analysis.population.bands import Bands
from mscpk.analysis.population.evaluate import Plan, evaluate, plan
from mscpk.analysis.population.run import PopulationResult, population, responders
from mscpk.analysis.population.sample import draw

__all__ = ["population", "PopulationResult", "responders", "draw", "plan", "Plan", "evaluate", "Bands"]
