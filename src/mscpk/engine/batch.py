"""``simulate_batch``: N virtual subjects of one scenario with per-subject parameter values.

One array-valued build per chunk, the modal propagator of :mod:`mscpk.engine.solvers.modal`
with per-subject checks (condition number, mass balance) and an exact matrix-exponential
fallback; the saturation rule of :mod:`mscpk.engine.saturation`. Details: docs/model.md,
section "Solvers".

Examples
--------
>>> import numpy as np, mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
>>> rng = np.random.default_rng(1)
>>> samples = {"Lung arrested cell death half-life [h]": 6.0 * rng.lognormal(0, 0.3, 200)}
>>> ds = mscpk.simulate_batch(sc, samples)
>>> ds.cells.sizes["subject"], float(ds.mass_balance_error.max()) < 1e-9
(200, True)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from mscpk.errors import ParameterError, SolverError
from mscpk.engine.model.build import build_network
from mscpk.inputs.resolve import engine_inputs
from mscpk.engine.network import Network, split_state
from mscpk.engine.scenario_arrays import take_subjects
from mscpk.inputs.parameters import Parameter, ParameterSet
from mscpk.engine.result import CELL_QUANTITIES, site_quantity_weights
from mscpk.inputs.scenario import Scenario, check_times
from mscpk.engine import saturation as sat
from mscpk.engine.solvers import LinearSolver, SaturatingSolver, administered, modal
from mscpk.inputs.physiology import apply_physiology, physiology_names
from mscpk.utils import single_threaded_blas

#: Largest relative mass-balance error accepted from modal propagation before falling back.
MASS_TOL = 1e-9


class ArrayParameters(Mapping[str, object]):
    """A :class:`~mscpk.inputs.parameters.ParameterSet` look-alike whose sampled entries are arrays.

    ``params[name]`` is the array (N,) of per-subject values for a sampled name, else the
    base set's float. ``subject(i)`` is subject ``i``'s ordinary (scalar) ParameterSet.
    """

    def __init__(self, base: ParameterSet, samples: Mapping[str, np.ndarray], n: int | None = None) -> None:
        self.base = base
        self.samples = dict(samples)
        self.set_name = base.set_name
        sizes = {len(v) for v in self.samples.values()}
        self.n = n if n is not None else sizes.pop() if sizes else 0

    def __getitem__(self, name: str):
        if name in self.samples:
            return self.samples[name]
        return self.base[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    def record(self, name: str) -> Parameter:
        return self.base.record(name)

    def take(self, sl) -> "ArrayParameters":
        """The subjects ``sl`` (a slice or an index array) only."""
        return ArrayParameters(self.base, {k: v[sl] for k, v in self.samples.items()}, np.arange(self.n)[sl].size)

    def subject(self, i: int) -> ParameterSet:
        """Subject ``i``'s scalar parameter set (for the per-subject solvers)."""
        return self.base.updated({k: float(v[i]) for k, v in self.samples.items()},
                                 source="batch sample")


def check_samples(base: ParameterSet, samples: Mapping[str, Sequence[float]],
                  physiology: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Samples as float arrays (N,), checked: known names, one length, values in range (the
    ``physiology`` names are checked per subject by the species validation instead)."""
    if not samples:
        raise ParameterError("samples: give at least one parameter with per-subject values")
    out: dict[str, np.ndarray] = {}
    n = None
    for name, values in samples.items():
        rec = None if name in physiology else base.record(name)  # unknown -> did-you-mean
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ParameterError(f"samples[{name!r}]: need a 1-D array of per-subject values, got shape {arr.shape}")
        if n is None:
            n = arr.size
        elif arr.size != n:
            raise ParameterError(f"samples[{name!r}]: {arr.size} values, but other parameters have {n}")
        if np.isnan(arr).any():
            raise ParameterError(f"samples[{name!r}]: value is NaN for subject {int(np.argmax(np.isnan(arr)))}")
        for bound, bad, side in () if rec is None else ((rec.minimum, arr < (rec.minimum or 0.0), "below the allowed minimum"),
                                 (rec.maximum, arr > (rec.maximum or 0.0), "above the allowed maximum")):
            if bound is not None and bad.any():
                i = int(np.argmax(bad))
                raise ParameterError(f"samples[{name!r}]: value {arr[i]:g} of subject {i} is {side} {bound:g}")
        out[name] = np.ascontiguousarray(arr)
    return out


def _sites(names: Sequence[str]) -> tuple[str, ...]:
    """Sites in the order of :attr:`mscpk.engine.result.Result.sites`."""
    seen = dict.fromkeys(split_state(s)[0] for s in names)
    return tuple(s for s in seen if s not in ("blood", "eliminated")) + ("blood", "eliminated")


@dataclass(frozen=True)
class OutputRows:
    """The outputs formed per subject, as rows of a weight matrix over states: the cell
    quantities (site-major, quantity-minor), the total (for the mass balance) and the
    arrested cells of each capillary bed (for the peak occlusion)."""

    weights: np.ndarray  # (q, n_states)
    cells: slice
    total: int
    beds: slice

    @classmethod
    def of(cls, net: Network, sites: Sequence[str]) -> "OutputRows":
        names = net.names
        wts = site_quantity_weights(names)
        rows = [wts.get((s, q), np.zeros(len(names))) for s in sites for q in CELL_QUANTITIES]
        n_cells = len(rows)
        rows.append(np.ones(len(names)))
        for cap in net.capacities.values():
            w = np.zeros(len(names))
            for s in cap.states:
                w[net.layout.index(s)] = 1.0
            rows.append(w)
        return cls(np.array(rows), slice(0, n_cells), n_cells, slice(n_cells + 1, len(rows)))


def _bed_capacities(net: Network, n_sub: int) -> np.ndarray:
    """(N, n_beds) capacity [cells] of each bed per subject."""
    caps = [np.broadcast_to(np.asarray(c.capacity, dtype=float), (n_sub,)) for c in net.capacities.values()]
    return np.stack(caps, axis=1) if caps else np.ones((n_sub, 0))


def _peak(y_beds: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Peak occlusion [-] per subject and bed (N, beds) from arrested cells per bed (N, beds, T)."""
    if caps.shape[1] == 0:
        return np.zeros((caps.shape[0], 0))
    return y_beds.max(axis=2) / caps


def _stacked_network(scenario: Scenario, params: ArrayParameters, phys: Mapping[str, np.ndarray],
                     species, sel: np.ndarray) -> Network:
    """One network with array-valued rates and capacities for the subjects ``sel`` of a batch
    with sampled physiology: one species holding their values as arrays, checked per subject
    (:func:`~mscpk.inputs.physiology.apply_physiology`), and one build."""
    try:
        sp = apply_physiology(species, {k: v[sel] for k, v in phys.items()})
    except ParameterError as exc:
        raise ParameterError(f"samples: {exc}") from None
    net = build_network(scenario, params.take(sel), sp)
    if any(np.ndim(inp.cells) for inp in net.inputs):
        raise ParameterError("samples: the sampled physiology changes the cells given (a dose in cells_per_kg with a "
                             "sampled body weight); give the doses in cells, or simulate these subjects one by one")
    return net


def _solve_chunk(scenario: Scenario, species, params: ArrayParameters, times: np.ndarray,
                 saturation: str, phys: Mapping[str, np.ndarray], sites: Sequence[str], out: np.ndarray) -> dict:
    """Outputs of one chunk of subjects (see :func:`simulate_batch`): the cells into ``out``
    (chunk, T, site x quantity), the rest returned."""
    n_sub = params.n

    def network(sel: np.ndarray) -> Network:  # the subjects ``sel`` of the chunk, one build
        if phys:
            return _stacked_network(take_subjects(scenario, sel), params, phys, species, sel)
        return build_network(take_subjects(scenario, sel), params.take(sel), species)

    every = np.arange(n_sub)
    net = network(every)
    rows = OutputRows.of(net, sites)
    adm = administered(net, times)
    scale = max(float(np.max(adm)), 1.0)
    caps = _bed_capacities(net, n_sub)
    if saturation == "on":  # every subject saturable: no linear solution needed
        part = _saturating(net, every, times, rows, adm, scale, caps,
                           {"cond": np.full(n_sub, np.nan), "names": net.names})
        out[:] = part.pop("cells").transpose(0, 2, 1)
        return part
    mass = np.zeros(n_sub)
    peak_occ = np.zeros((n_sub, caps.shape[1]))  # per bed

    def put(sub, cols, e, coef):  # outputs (coef @ e^T)^T: the cells into out, the rest reduced here
        block = np.matmul(e, coef.transpose(0, 2, 1)).real  # (B, t, q): rows of out written whole
        out[sub, cols] = block[:, :, rows.cells]
        mass[sub] = np.maximum(mass[sub], np.abs(block[:, :, rows.total] - adm[cols]).max(axis=1))
        if caps.shape[1]:
            peak_occ[sub] = np.maximum(peak_occ[sub], block[:, :, rows.beds].max(axis=1) / caps[sub])

    res = modal.propagate(net, n_sub, times, rows.weights, put)
    mass /= scale
    solver = np.full(n_sub, "eig", dtype=object)
    for s in np.nonzero(res.bad | ~(mass <= MASS_TOL))[0]:  # ill-conditioned or unbalanced
        sp = apply_physiology(species, {k: float(v[s]) for k, v in phys.items()}) if phys else species
        one = build_network(take_subjects(scenario, int(s)), params.subject(int(s)), sp)
        states = LinearSolver().solve(one, times)  # one subject
        y = states @ rows.weights.T  # (T, q)
        out[s] = y[:, rows.cells]
        mass[s] = np.abs(states.sum(axis=1) - adm).max() / scale
        solver[s] = "expm"
        peak_occ[s] = _peak(y.T[None, rows.beds, :], caps[s:s + 1])[0]
    onset = np.broadcast_to(np.asarray(params[sat.ONSET], dtype=float), (n_sub,))
    nonlin = np.nonzero(np.broadcast_to(sat.nonlinear(saturation, peak_occ.max(axis=1, initial=0.0), onset),
                                         (n_sub,)))[0]
    part = {"mass": mass, "solver": solver, "cond": res.cond,
            "peak_occ": peak_occ, "administered": adm, "names": net.names}
    if nonlin.size:  # as mscpk.simulate: saturable beds; all these subjects at once
        sub = _saturating(net if nonlin.size == n_sub else network(nonlin), nonlin, times, rows, adm,
                          scale, caps, {})
        out[nonlin] = sub["cells"].transpose(0, 2, 1)
        for key in ("mass", "solver", "peak_occ"):
            part[key][nonlin] = sub[key]
    return part


def _saturating(net: Network, sel: np.ndarray, times: np.ndarray, rows: OutputRows, adm: np.ndarray,
                scale: float, caps: np.ndarray, extra: dict) -> dict:
    """Outputs of the subjects ``sel`` (those of ``net``) by the saturating solver, all at once."""
    ys = SaturatingSolver().outputs(net, sel.size, times, rows.weights)
    return {"cells": ys[:, rows.cells, :], "solver": np.full(sel.size, "exprb", dtype=object),
            "mass": np.abs(ys[:, rows.total, :] - adm[None, :]).max(axis=1) / scale,
            "peak_occ": _peak(ys[:, rows.beds, :], caps[sel]), "administered": adm, **extra}


def simulate_batch(scenario: Scenario, samples: Mapping[str, Sequence[float]],
                   times_h: Sequence[float] | None = None, *, chunk: int = 500,
                   threads: int | None = None, saturation: str | None = None,
                   params: ParameterSet | None = None, sites: Sequence[str] | None = None,
                   sink=None):
    """Simulate N subjects of ``scenario`` with per-subject parameter values.

    Parameters
    ----------
    scenario : the shared scenario (its ``parameters`` overrides apply to every subject).
    samples : parameter name -> array (N,) of values, one per subject (model and physiology
        parameters as ``mscpk params`` lists them; same N for every name; model values
        range-checked like overrides, each subject's physiology checked like a species file).
        ``Vasodilator effect duration [h]`` when a dose has a vasodilator, and ``Immune
        priming delay [h]`` in an immunocompetent host, set event times and are shared
        (ParameterError if sampled). Every mode (base, vasodilated, primed,
        primed+vasodilated) is handled per subject.
    times_h : output times [h] (default: the scenario's output grid, as ``simulate``).
    chunk : subjects per chunk (working memory per chunk ~ chunk * n_states**2 * 40 bytes per
        mode, besides the result).
    threads : worker threads over chunks (default: min(2, cpu count)).
    saturation : "off", "on" or "auto" (default: the scenario's ``run.saturation``); saturable
        subjects are solved together (:class:`~mscpk.engine.solvers.SaturatingSolver`).
    params : base parameter set (default: the packaged defaults).
    sites : the sites whose ``cells`` are formed (default: all; fewer sites, less work and memory).
    sink : optional callable receiving each chunk's Dataset (subjects ``i0:i1``) as it is
        done; the returned Dataset then holds no ``cells`` (streamed output: memory stays
        that of a few chunks whatever N).

    Returns
    -------
    xarray.Dataset with

    * ``cells`` (subject, time_h, site, quantity) [cells]: ``live_cells`` and ``dead_cells``
      per site, as :meth:`mscpk.Result.to_xarray` of each subject;
    * ``mass_balance_error`` (subject) [-]: max |sum of states - administered| / dose;
    * ``administered`` (time_h) [cells]; ``peak_occlusion`` (subject) [-] (the largest of any
      bed) and ``peak_occlusion_by_site`` (subject, bed) [-];
    * ``solver`` (subject): "eig" (modal), "expm" (fallback) or "exprb" (saturable beds);
    * ``condition_number`` (subject): 1-norm condition number of the eigenvector matrix
      (NaN with ``saturation="on"``: no linear solution is formed);
    * ``parameter_values`` (subject, parameter): the samples.
    """
    import xarray as xr

    mode = sat.check_mode(saturation if saturation is not None else scenario.run.saturation)
    species, base = engine_inputs(scenario, params)
    phys_names = set(physiology_names(species))
    arrays = check_samples(base, samples, phys_names)
    phys = {k: v for k, v in arrays.items() if k in phys_names}
    if "Vasodilator effect duration [h]" in arrays and any(d.vasodilator for d in scenario.dose):
        raise ParameterError("samples: 'Vasodilator effect duration [h]' sets event times and cannot vary "
                             "between subjects in a batch (all subjects share one event schedule)")
    if "Immune priming delay [h]" in arrays and scenario.subject.immune == "immunocompetent":
        raise ParameterError("samples: 'Immune priming delay [h]' sets the time from which the host is primed "
                             "(an event time) and cannot vary between subjects in a batch (all subjects "
                             "share one event schedule); 'Primed immune hazard factor [-]' may vary")
    n = len(next(iter(arrays.values())))
    ap = ArrayParameters(base, {k: v for k, v in arrays.items() if k not in phys_names}, n)
    times = np.asarray(check_times(times_h, "times_h") if times_h is not None else scenario.output_times())
    chunk = max(1, int(chunk))
    bounds = [(i, min(n, i + chunk)) for i in range(0, n, chunk)]
    workers = threads if threads is not None else min(2, os.cpu_count() or 1)

    # the layout (states, sites) is the same for every subject: from a one-subject build
    one = build_network(take_subjects(scenario, slice(0, 1)), ap.take(slice(0, 1)), species)
    names, beds = one.names, list(one.capacities)
    all_sites = _sites(names)
    if sites is None:
        sites = all_sites
    unknown = [s for s in sites if s not in all_sites]
    if unknown:
        raise ParameterError(f"sites: {unknown[0]!r} is not a site of this scenario; allowed: {', '.join(all_sites)}")
    sites = tuple(sites)
    nq = len(CELL_QUANTITIES)
    cells = None if sink is not None else np.empty((n, len(times), len(sites), nq))
    pnames = list(arrays)
    coords = {"time_h": times, "site": list(sites), "quantity": list(CELL_QUANTITIES), "parameter": pnames,
              "bed": beds}

    def dataset(part: dict, i0: int, i1: int, with_cells) -> "xr.Dataset":
        data = {"mass_balance_error": (("subject",), part["mass"]),
                "administered": (("time_h",), part["administered"], {"units": "cells"}),
                "peak_occlusion": (("subject",), part["peak_occ"].max(axis=1, initial=0.0)),
                "peak_occlusion_by_site": (("subject", "bed"), part["peak_occ"]),
                "solver": (("subject",), part["solver"].astype(str)),
                "condition_number": (("subject",), part["cond"]),
                "parameter_values": (("subject", "parameter"), np.column_stack([arrays[k][i0:i1] for k in pnames]))}
        if with_cells is not None:
            data["cells"] = (("subject", "time_h", "site", "quantity"), with_cells, {"units": "cells"})
        return xr.Dataset(data, coords={"subject": np.arange(i0, i1), **coords},
                          attrs={"scenario": scenario.name, "species": species.name, "n_states": len(names)})

    def run(b):
        i0, i1 = b
        sel = slice(i0, i1)
        block = cells[i0:i1] if sink is None else np.empty((i1 - i0, len(times), len(sites), nq))
        # rows of the weights: site-major, quantity-minor, as (site, quantity) of ``cells``
        part = _solve_chunk(take_subjects(scenario, sel), species, ap.take(sel), times, mode,
                            {k: v[sel] for k, v in phys.items()}, sites, block.reshape(i1 - i0, len(times), -1))
        if part["names"] != names:
            raise SolverError("internal error: the batch network layout differs between chunks")
        if sink is not None:
            sink(dataset(part, i0, i1, block))
        return part

    with single_threaded_blas():
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=workers) as ex:
                parts = list(ex.map(run, bounds))
        else:
            parts = [run(b) for b in bounds]

    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    whole = {k: cat(k) for k in ("mass", "peak_occ", "solver", "cond")}
    whole["administered"] = parts[0]["administered"]
    return dataset(whole, 0, n, cells)


__all__ = ["simulate_batch", "ArrayParameters", "check_samples"]
