"""Label kinetics: where the label of a labelled cell product is, solved with the cells.

The network that produced a :class:`~mscpk.engine.result.Result` is augmented with label
states (label in live cells, in dead material, held by macrophages, unbound in plasma,
excreted) and solved by the same solver; radioactive decay multiplies each dose group's
label afterwards, and division dilutes the label per cell only. The states and processes
are specified in docs/detection.md ("Label kinetics").

>>> lk = label_kinetics("examples/iv_mouse.toml", label="51Cr", times_h=[1, 24])
>>> bool(lk.by_site()["liver"][1] > lk.by_site()["liver"][0])
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.analysis.detection.noise import log_variance
from mscpk.engine.model.fate import PHAGOCYTIC
from mscpk.engine.network import (CIRCULATING_KINDS, LIVE_KINDS, Input, Network, StateLayout, Transition,
                                  split_state, state_id)
from mscpk.engine.result import Result
from mscpk.engine.simulate import network_for, simulate
from mscpk.engine.solvers import LinearSolver, SaturatingSolver
from mscpk.errors import DetectionError
from mscpk.inputs.catalogue import LabelInfo, label_info
from mscpk.inputs.load import load_scenario
from mscpk.inputs.resolve import Inputs
from mscpk.inputs.resolve import resolve as resolve_inputs
from mscpk.inputs.scenario import Scenario

#: Parts of the label, by where it sits.
LABEL_PARTS = ("live", "dead", "host", "unbound")
#: Part of the label a label state kind (``label_<kind>``) belongs to; urine and cleared
#: label is out of the body (no part).
_PART_OF_KIND = MappingProxyType({**{k: "live" for k in LIVE_KINDS}, "dead": "dead", "macrophage": "host",
                                  "unbound": "unbound"})
#: Largest difference [fraction of the dose] between a Result's cells and those of the
#: network rebuilt for it (a Result without its network) before they are said to differ.
_REBUILD_TOLERANCE = 1e-4


# --------------------------------------------------------------------------------------------
# resolving inputs
# --------------------------------------------------------------------------------------------
def as_scenario(obj: Any) -> Scenario:
    """A :class:`~mscpk.inputs.scenario.Scenario` from a Scenario or a TOML path."""
    if isinstance(obj, Scenario):
        return obj
    if isinstance(obj, (str, Path)):
        return load_scenario(obj)
    raise DetectionError(f"expected a scenario or a scenario file, got {type(obj).__name__}")


def resolve(source: Any, scenario: Any = None, times_h: Sequence[float] | None = None,
            params=None) -> tuple[Inputs, Result]:
    """``(inputs, result)``: the scenario's :class:`~mscpk.inputs.resolve.Inputs` (model
    parameters from ``params``, default set unless given) and its Result - ``source`` itself
    when it is a Result (then ``scenario=`` is needed), else simulated here."""
    if isinstance(source, Result):
        if scenario is None:
            raise DetectionError("a Result needs scenario=... (the scenario it was simulated from): "
                                 "the label, product origin and species come from the scenario")
        if times_h is not None:
            raise DetectionError("times_h cannot be chosen for a given Result; pass the scenario instead")
        return resolve_inputs(as_scenario(scenario), params), source
    inputs = resolve_inputs(as_scenario(source), params)
    # the engine sees the scenario without detection parameters (and checks times_h)
    return inputs, simulate(inputs.cell_scenario, times_h=times_h, params=params)


def resolve_label(inputs: Inputs, label: str | None, label_options: Mapping[str, Any] | None = None) -> LabelInfo:
    """The :class:`LabelInfo` in force: ``label`` or the product's, with the scenario's
    detection parameters (``inputs.detection``), then ``label_options``."""
    info = inputs.detection.label(inputs.scenario.product.label if label is None else label)
    return info.updated(**dict(label_options)) if label_options else info


# --------------------------------------------------------------------------------------------
# the augmented network
# --------------------------------------------------------------------------------------------
def label_groups(net: Network, info: LabelInfo) -> tuple[float, ...]:
    """Labelling times [h] of the dose groups (one group for a stable label)."""
    if info.decay_rate == 0.0:
        return (min(i.time_h for i in net.inputs),)
    return tuple(sorted({float(i.time_h) for i in net.inputs}))


def build_label_network(net: Network, info: LabelInfo, organs: Sequence[str],
                        groups: tuple[float, ...] | None = None) -> Network:
    """The cell network augmented with label states (docs/detection.md, "Label kinetics")."""
    if not info.direct:
        raise DetectionError(f"label {info.name!r} is not a direct label; it has no label kinetics "
                             "(reporter signals come from live cells only)")
    groups = groups or label_groups(net, info)
    layout = StateLayout()
    for name in net.names:
        layout.add(*split_state(name))
    k_eff = info.rate("efflux_half_life_h")
    k_rel = info.rate("dead_release_half_life_h")
    k_unb = info.rate("unbound_half_life_h")
    k_host = info.rate("host_half_life_h")
    for site in info.unbound_fate:
        if site != "urine" and site not in organs:
            raise DetectionError(f"label {info.name!r}: unbound_fate site {site!r} is not an organ of "
                                 f"this species; organs are: {', '.join(organs)}")
    extra: list[Transition] = []
    per_mode: dict[str, list[Transition]] = {m: list(trs) for m, trs in net.modes.items()}
    twins: list[dict[str, str]] = []
    for g, _t in enumerate(groups):
        suffix = "" if len(groups) == 1 else f"_g{g + 1}"

        def lab(site: str, kind: str, _s: str = suffix) -> str:
            return layout.add(site, f"label_{kind}{_s}")

        twin: dict[str, str] = {}
        for name in net.names:
            site, kind = split_state(name)
            if kind in LIVE_KINDS or kind == "dead":
                twin[name] = lab(site, kind)
        unbound = lab("blood", "unbound")
        urine = lab("eliminated", "urine")
        cleared = lab("eliminated", "cleared")
        hosts: dict[str, str] = {}

        def host(site: str) -> str:
            if site not in hosts:
                hosts[site] = lab(site, "macrophage")
            return hosts[site]

        for site in PHAGOCYTIC:
            if site in organs:
                host(site)
        for mode, trs in net.modes.items():
            for tr in trs:
                src = twin.get(tr.source)
                if src is None:
                    raise DetectionError(f"label network: no label twin for source state {tr.source!r}")
                s_site, s_kind = split_state(tr.source)
                if tr.target in twin:
                    dst = twin[tr.target]
                elif split_state(tr.target)[1] == "degraded":
                    if s_kind in LIVE_KINDS:
                        dst = cleared
                    elif s_site in PHAGOCYTIC or info.debris_to_local_macrophages:
                        dst = host(s_site)
                    else:
                        dst = unbound
                else:
                    raise DetectionError(f"label network: cannot map target state {tr.target!r}")
                per_mode[mode].append(Transition(src, dst, tr.rate, f"label: {tr.process}", tr.saturable))
        for name, tw in twin.items():
            _, kind = split_state(name)
            if kind in LIVE_KINDS and k_eff > 0:
                extra.append(Transition(tw, unbound, k_eff, "label efflux from live cells"))
            if kind == "dead" and k_rel > 0:
                extra.append(Transition(tw, unbound, k_rel, "label release from dead cells"))
        if k_unb > 0:
            for site, frac in info.unbound_fate.items():
                if frac <= 0:
                    continue
                dst = urine if site == "urine" else host(site)
                extra.append(Transition(unbound, dst, k_unb * frac,
                                        "renal excretion of unbound label" if site == "urine"
                                        else f"uptake of unbound label in {site}"))
        if k_host > 0:
            for site, h in hosts.items():
                extra.append(Transition(h, urine, k_host, f"turnover of host-held label in {site}"))
        # live cells lost out of the body at administration (spill of a local injection) take
        # their label with them: a dose target of kind "degraded" maps to the label cleared
        twin.update({name: cleared for name in net.names if split_state(name)[1] == "degraded"})
        twins.append(twin)
    modes = {m: tuple(trs) + tuple(extra) for m, trs in per_mode.items()}
    inputs = []
    for inp in net.inputs:
        twin = twins[0 if len(groups) == 1 else groups.index(float(inp.time_h))]
        targets = dict(inp.targets)
        for name, frac in inp.targets.items():
            targets[twin[name]] = targets.get(twin[name], 0.0) + frac
        inputs.append(Input(inp.time_h, inp.duration_h, inp.cells, MappingProxyType(targets)))
    layout.freeze()
    return Network(layout, MappingProxyType(modes), tuple(inputs), net.capacities, net.schedule)


@dataclass(frozen=True)
class LabelKinetics:
    """Solved label kinetics of one scenario and label.

    ``group_states[g, t, k]``: label units (decay-corrected) of dose group ``g`` in label state
    ``state_names[k]`` at ``times_h[t]`` [h]; ``group_times_h[g]``: labelling time of the group.
    ``administered``: cells (= label units) given by each time. ``live_cells`` / ``live_label``
    helpers return per-site arrays over time.
    """

    label: LabelInfo
    times_h: np.ndarray
    state_names: tuple[str, ...]
    group_times_h: tuple[float, ...]
    group_states: np.ndarray
    administered: np.ndarray
    sites: tuple[str, ...] = field(default=())

    def decay_factors(self) -> np.ndarray:
        """``(G, T)`` factors ``exp(-lambda (t - t_g))`` (1 before labelling and for stable labels)."""
        lam = self.label.decay_rate
        dt = np.maximum(self.times_h[None, :] - np.asarray(self.group_times_h)[:, None], 0.0)
        return np.exp(-lam * dt)

    def amounts(self, decay_correct: bool = True) -> np.ndarray:
        """``(T, K)`` label units per label state, decay-corrected or decayed (activity)."""
        if decay_correct:
            return self.group_states.sum(axis=0)
        return np.einsum("gtk,gt->tk", self.group_states, self.decay_factors())

    def _weights(self, parts: Sequence[str], regions: bool = False) -> dict[str, np.ndarray]:
        """Site -> 0/1 weights over the label states of ``parts`` (circulating: ``blood``;
        ``regions``: cells in an organ's vasculature count in that organ)."""
        out: dict[str, np.ndarray] = {}
        for k, name in enumerate(self.state_names):
            site, kind = split_state(name)
            base = kind[len("label_"):]
            if _PART_OF_KIND.get(base) in parts:
                if base in CIRCULATING_KINDS and not (regions and base == "vascular"):
                    site = "blood"
                out.setdefault(site, np.zeros(len(self.state_names)))[k] = 1.0
        return out

    def by_site(self, decay_correct: bool = True, parts: Sequence[str] = LABEL_PARTS,
                regions: bool = False) -> dict[str, np.ndarray]:
        """Label units [cell equivalents of label] per site over time, in the body.

        ``parts``: any of ``live`` (inside live cells), ``dead`` (in dead material), ``host``
        (held by macrophages / host tissue), ``unbound`` (free in plasma; site ``blood``).
        Circulating cells count under ``blood`` (as in the result table); with ``regions``
        (an image region or an unperfused organ counted ex vivo) the cells in an organ's
        vasculature count in that organ. Every site of the cell result is present (zeros
        where there is no label).
        """
        for p in parts:
            if p not in LABEL_PARTS:
                raise DetectionError(f"label part {p!r}; allowed: {', '.join(LABEL_PARTS)}")
        x = self.amounts(decay_correct)
        w = self._weights(parts, regions)
        out = {s: np.zeros(len(self.times_h)) for s in self.sites if s != "eliminated"}
        for site, vec in w.items():
            out[site] = out.get(site, 0.0) + x @ vec
        return out

    def total(self, decay_correct: bool = True) -> np.ndarray:
        """All label units (in the body and eliminated); decay-corrected equals administered."""
        return self.amounts(decay_correct).sum(axis=1)

    def live_group_by_site(self) -> list[dict[str, np.ndarray]]:
        """Per dose group: label units inside live cells per site (decay-corrected)."""
        w = self._weights(("live",))
        return [{site: x @ vec for site, vec in w.items()} for x in self.group_states]


def solve_labels(inputs: Inputs, result: Result, info: LabelInfo) -> LabelKinetics:
    """Label kinetics of ``info`` for ``result``: its own network (rebuilt from ``inputs``
    only for a Result without one, e.g. read back from a dict) augmented with label states
    and solved with the result's solver."""
    net = result.network
    if net is None:
        net = network_for(inputs.cell_scenario, inputs.params, inputs.species)
        if tuple(net.names) != tuple(result.state_names):
            raise DetectionError("the result does not belong to this scenario (its states differ)")
    groups = label_groups(net, info)
    aug = build_label_network(net, info, inputs.species.organ_names(), groups)
    solver = SaturatingSolver() if result.solver == "exprb" else LinearSolver()
    times = np.asarray(result.times_h, dtype=float)
    states = solver.solve(aug, times)
    n = len(net.names)
    if result.network is None and len(times):
        scale = max(float(np.max(result.administered)), 1.0)
        err = float(np.max(np.abs(states[:, :n] - result.states))) / scale
        if err > _REBUILD_TOLERANCE:
            raise DetectionError(f"the result does not match the scenario (cell states differ by {err:.2g} of "
                                 "the dose): was it simulated with other parameters? pass params=...")
    # label state -> (dose group, state without the group suffix "_g<k>")
    index: dict[str, int] = {}
    where = []
    for name in aug.names[n:]:
        site, kind = split_state(name)
        head, _, g = kind.rpartition("_g") if len(groups) > 1 else (kind, "", "1")
        where.append((int(g) - 1, index.setdefault(state_id(site, head), len(index))))
    gstates = np.zeros((len(groups), len(times), len(index)))
    for k, (g, j) in enumerate(where):
        gstates[g, :, j] += states[:, n + k]
    return LabelKinetics(info, times, tuple(index), groups, gstates, np.asarray(result.administered, float),
                         tuple(result.sites))


def label_kinetics(source: Any, *, scenario: Any = None, label: str | None = None,
                   times_h: Sequence[float] | None = None, params=None,
                   label_options: Mapping[str, Any] | None = None, result=None) -> LabelKinetics:
    """Solve the label kinetics of a direct label alongside the scenario's cells.

    ``source``: a scenario (object or TOML path), or a :class:`~mscpk.engine.result.Result` together
    with ``scenario=`` (or pass the scenario as ``source`` and its Result as ``result=``).
    ``label``: overrides the product's label. ``label_options``: override fields of the label
    (e.g. ``{"efflux_half_life_h": 30.0}``). ``params``: the model parameter set (default
    set). Raises :class:`DetectionError` for an indirect label (reporters have no label
    kinetics).

    >>> lk = label_kinetics("examples/iv_mouse.toml", label="111In-oxine", times_h=[0, 24])
    >>> [round(float(x), 6) for x in lk.total() / lk.administered]
    [1.0, 1.0]
    """
    if result is not None:
        source, scenario = result, source
    inputs, res = resolve(source, scenario, times_h, params)
    return solve_labels(inputs, res, resolve_label(inputs, label, label_options))


# --------------------------------------------------------------------------------------------
# label per cell: efflux, division, decay
# --------------------------------------------------------------------------------------------
def label_per_cell(times_h: Sequence[float] | float, label: str | LabelInfo, *,
                   division_time_h: float = math.inf, decay_correct: bool = True,
                   label_time_h: float = 0.0) -> np.ndarray:
    """Mean label per live cell [-, fraction of the initial label per cell].

    ``exp(-k_efflux t) * 2**(-t / division_time_h)`` (times ``exp(-lambda t)`` when not
    decay-corrected), with ``t`` the time since labelling. Each division halves the label
    per cell; the daughters share it, so the *total* label in the cells is unchanged by
    division (the cell network is not affected). For a reporter label the expression per cell
    does not dilute (1.0).

    >>> float(label_per_cell(48.0, "SPIO", division_time_h=48.0) / label_per_cell(48.0, "SPIO"))
    0.5
    """
    info = label if isinstance(label, LabelInfo) else label_info(label)
    if not (division_time_h > 0):
        raise DetectionError(f"division_time_h: {division_time_h!r} must be > 0 (inf = no division)")
    t = np.maximum(np.asarray(times_h, dtype=float) - label_time_h, 0.0)
    if not info.direct:
        return np.ones_like(t)
    q = np.exp(-info.rate("efflux_half_life_h") * t)
    if math.isfinite(division_time_h):
        q = q * np.power(2.0, -t / division_time_h)
    if not decay_correct:
        q = q * np.exp(-info.decay_rate * t)
    return q


def label_positive_fraction(times_h: Sequence[float] | float, label: str | LabelInfo, threshold: float, *,
                            division_time_h: float = math.inf, label_time_h: float = 0.0) -> np.ndarray:
    """Fraction [-] of live cells whose label is above ``threshold`` (fraction of the mean
    initial label per cell).

    The initial label per cell is log-normal with CV ``per_cell_cv`` around the mean, and a
    fraction ``labelled_fraction`` of the cells carries label at all; the mean then follows
    :func:`label_per_cell`. Reporter labels: ``labelled_fraction`` at all times (expression
    survives division).
    """
    from scipy.special import ndtr

    info = label if isinstance(label, LabelInfo) else label_info(label)
    t = np.asarray(times_h, dtype=float)
    if not info.direct:
        return np.full_like(t, info.labelled_fraction)
    if not (threshold > 0):
        raise DetectionError(f"per-cell label threshold {threshold!r} must be > 0")
    q = label_per_cell(t, info, division_time_h=division_time_h, label_time_h=label_time_h)
    cv = info.per_cell_cv
    if cv <= 0:
        return info.labelled_fraction * (q >= threshold).astype(float)
    s2 = log_variance(cv)
    z = (np.log(np.maximum(q, 1e-300)) - 0.5 * s2 - math.log(threshold)) / math.sqrt(s2)
    return info.labelled_fraction * ndtr(z)


__all__ = ["LabelKinetics", "label_kinetics", "solve_labels", "build_label_network", "label_per_cell",
           "label_positive_fraction", "label_groups", "LABEL_PARTS", "resolve", "resolve_label", "as_scenario"]
