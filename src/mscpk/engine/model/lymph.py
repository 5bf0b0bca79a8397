"""Transit of cells leaving a depot through its draining lymphatics to venous blood.

Cells that leave a depot (peritoneal and synovial drainage, CSF outflow, the slow leak of an
injection site) do not reach blood at once: they pass the depot's lymphatic vessels and a
draining lymph node first. The state ``{depot}__lymph`` holds them (counted with the depot's
site); they reach venous blood with the lymphatic transit half-life or die on the way
(docs/model.md section 6).
"""

from __future__ import annotations

from mscpk.engine.model.context import BuildContext, tr
from mscpk.engine.network import Transition

#: The state kind of cells in a depot's draining lymphatics.
LYMPH = "lymph"


def lymph_drainage(ctx: BuildContext, source: tuple[str, str], dead: tuple[str, str], k_drain,
                   h_death, process: str) -> list[Transition]:
    """``source`` -> ``{site}__lymph`` at ``k_drain`` [1/h], then lymph -> venous blood at
    "Depot lymphatic transit half-life [h]" and lymph -> ``dead`` at ``h_death`` [1/h]."""
    lymph = (source[0], LYMPH)
    return [
        tr(ctx, source, lymph, k_drain, process),
        tr(ctx, lymph, ("blood", "venous"), ctx.rate_from_half_life("Depot lymphatic transit half-life [h]"),
           "lymphatic transit to venous blood"),
        tr(ctx, lymph, dead, h_death, "death in lymphatic transit"),
    ]


__all__ = ["LYMPH", "lymph_drainage"]
