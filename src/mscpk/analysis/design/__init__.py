"""Design and translation: the best dose, route and regimen under safety constraints
(``optimize``), and a scenario carried to another species (``translate``) (docs/design.md)."""

from mscpk.analysis.design.optimize import OptimizeResult, optimize
from mscpk.analysis.design.translate import Translation, translate

__all__ = ["optimize", "OptimizeResult", "translate", "Translation"]
