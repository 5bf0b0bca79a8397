"""Cross-checks of a scenario against species, homing, route, label and parameter data.

Every failure is one :class:`~mscpk.errors.ScenarioError` naming the key, the value and what
is allowed.
"""

from __future__ import annotations

import warnings
from typing import Iterable

from mscpk.errors import MscpkWarning, ParameterError, PhysiologyError, ScenarioError, did_you_mean, refuse_repeats
from mscpk.inputs.catalogue import label_names
from mscpk.inputs.homing import homing_data
from mscpk.inputs.physiology import available_species, load_species
from mscpk.inputs.resolve import resolve
from mscpk.inputs.routes import route
from mscpk.inputs.scenario import Scenario


def _choose(key: str, value: str, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ScenarioError(f"{key}: unknown value {value!r}; {did_you_mean(value, allowed)}"
                            f"allowed: {', '.join(allowed)}")


def check_scenario(sc: Scenario) -> None:
    """Raise :class:`ScenarioError` unless every name and value of ``sc`` is known and allowed."""
    _choose("subject.species", sc.subject.species, available_species())
    try:
        species = load_species(sc.subject.species, sc.subject.body_weight_kg)
    except PhysiologyError as exc:
        raise ScenarioError(f"subject: {exc}") from None
    organs = species.organ_names()
    data = homing_data()
    for i, inj in enumerate(sc.subject.injury, 1):
        _choose(f"subject.injury[{i}].site", inj.site, (*organs, "joint"))
        for chem in inj.chemokines:
            _choose(f"subject.injury[{i}].chemokines", chem, data.chemokines)
    refuse_repeats("subject.injury", (inj.site for inj in sc.subject.injury), "site ")  # applied twice otherwise
    for name in sc.product.receptors:
        _choose("product.receptors", name, data.receptors)
    for name in sc.product.preconditioning:
        _choose("product.preconditioning", name, data.preconditioning)
    refuse_repeats("product.preconditioning", sc.product.preconditioning)
    _choose("product.label", sc.product.label, label_names())
    targets = set()
    for i, d in enumerate(sc.dose, 1):
        r = route(d.route)
        if r.site != "none":
            _choose(f"dose[{i}].site", d.target_site(), r.site_choices(organs))
            if r.depot == "injection_site":
                targets.add(d.target_site())
        elif d.site is not None:
            depot = r.depot or "blood"
            if d.site != depot:
                raise ScenarioError(f"dose[{i}].site: route {d.route!r} does not take a site (its cells go to "
                                    f"{depot!r}); got {d.site!r}; remove 'site' or set it to {depot!r}")
        if d.time_h > sc.run.end_h:
            raise ScenarioError(f"dose[{i}].time_h: {d.time_h:g} is after run.end_h = {sc.run.end_h:g}")
    if sc.run.times_h is not None:
        late = [t for t in sc.run.times_h if t > sc.run.end_h]
        if late:
            raise ScenarioError(f"run.times_h: {late[0]:g} is after run.end_h = {sc.run.end_h:g}; "
                                "raise end_h or drop the time")
    if len(targets) > 1:
        raise ScenarioError(f"dose: local injections into several organs ({', '.join(sorted(targets))}); "
                            "one injection_site per scenario is allowed")
    try:
        resolve(sc)
    except (ParameterError, PhysiologyError) as exc:
        raise ScenarioError(f"parameters: {exc}") from None
    _warn_joint(sc)


def _warn_joint(sc: Scenario) -> None:
    """A ``joint`` injury acts only on the intra-articular depot (the model's joint): warn
    (:class:`MscpkWarning`) when no dose fills it. Not an error, so that a scan or a fit may
    compare routes in one arthritic subject."""
    routes = [d.route for d in sc.dose]
    for i, inj in enumerate(sc.subject.injury, 1):
        if inj.site == "joint" and "intra_articular" not in routes:
            warnings.warn(MscpkWarning(
                f"subject.injury[{i}].site: 'joint' has no effect: the model's joint is the "
                f"intra_articular depot (circulating cells do not home to it) and no dose is "
                f"intra_articular (routes: {', '.join(dict.fromkeys(routes))})"), stacklevel=4)


__all__ = ["check_scenario"]
