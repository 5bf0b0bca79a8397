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
from mscpk.inputs.resolve import scenario_parameters, scenario_species
from mscpk.engine.network import Network, split_state
from mscpk.inputs.parameters import Parameter, ParameterSet
from mscpk.engine.result import CELL_QUANTITIES, site_quantity_weights
from mscpk.inputs.scenario import Scenario, check_times
from mscpk.engine import saturation as sat
from mscpk.engine.solvers import LinearSolver, StiffSolver, administered, modal
from mscpk.utils import single_threaded_blas

#: Largest relative mass-balance error accepted from modal propagation before falling back.
MASS_TOL = 1e-9


class ArrayParameters(Mapping[str, object]):
    """A :class:`~mscpk.inputs.parameters.ParameterSet` look-alike whose sampled entries are arrays.

    ``params[name]`` is the array (N,) of per-subject values for a sampled name, else the
    base set's float. ``subject(i)`` is subject ``i``'s ordinary (scalar) ParameterSet.
    """

    def __init__(self, base: ParameterSet, samples: Mapping[str, np.ndarray]) -> None:
        self.base = base
        self.samples = dict(samples)
        self.set_name = base.set_name
        sizes = {len(v) for v in self.samples.values()}
        self.n = sizes.pop() if sizes else 0

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

    def take(self, sl: slice) -> "ArrayParameters":
        """The subjects ``sl`` (a slice) only."""
        return ArrayParameters(self.base, {k: v[sl] for k, v in self.samples.items()})

    def subject(self, i: int) -> ParameterSet:
        """Subject ``i``'s scalar parameter set (for the per-subject solvers)."""
        return self.base.updated({k: float(v[i]) for k, v in self.samples.items()},
                                 source="batch sample")


def check_samples(base: ParameterSet, samples: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Samples as float arrays (N,), checked: known names, one length, values in range."""
    if not samples:
        raise ParameterError("samples: give at least one parameter with per-subject values")
    out: dict[str, np.ndarray] = {}
    n = None
    for name, values in samples.items():
        rec = base.record(name)  # unknown name -> ParameterError with a did-you-mean
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ParameterError(f"samples[{name!r}]: need a 1-D array of per-subject values, got shape {arr.shape}")
        if n is None:
            n = arr.size
        elif arr.size != n:
            raise ParameterError(f"samples[{name!r}]: {arr.size} values, but other parameters have {n}")
        if np.isnan(arr).any():
            raise ParameterError(f"samples[{name!r}]: value is NaN for subject {int(np.argmax(np.isnan(arr)))}")
        for bound, bad, side in ((rec.minimum, arr < (rec.minimum or 0.0), "below the allowed minimum"),
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
    def of(cls, net: Network) -> "OutputRows":
        names = net.names
        sites = _sites(names)
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
    """Peak occlusion [-] per subject from arrested cells per bed (N, beds, T)."""
    if caps.shape[1] == 0:
        return np.zeros(caps.shape[0])
    return (y_beds.max(axis=2) / caps).max(axis=1)


def _solve_chunk(scenario: Scenario, species, params: ArrayParameters, times: np.ndarray,
                 saturation: str) -> dict:
    """Outputs of one chunk of subjects (see :func:`simulate_batch`)."""
    n_sub = params.n
    net = build_network(scenario, params, species)
    rows = OutputRows.of(net)
    res = modal.propagate(net, n_sub, times, rows.weights)
    y = res.y
    adm = administered(net, times)
    scale = max(float(np.max(adm)), 1.0)
    mass = np.abs(y[:, rows.total, :] - adm[None, :]).max(axis=1) / scale
    solver = np.full(n_sub, "eig", dtype=object)
    caps = _bed_capacities(net, n_sub)
    peak_occ = _peak(y[:, rows.beds, :], caps)

    def redo(s: int, solver_obj, label: str) -> None:  # one subject, scalar build
        states = solver_obj.solve(build_network(scenario, params.subject(s), species), times)
        y[s] = rows.weights @ states.T
        mass[s] = np.abs(states.sum(axis=1) - adm).max() / scale
        solver[s] = label
        peak_occ[s] = _peak(y[s:s + 1, rows.beds, :], caps[s:s + 1])[0]

    for s in np.nonzero(res.bad | ~(mass <= MASS_TOL))[0]:  # ill-conditioned or unbalanced
        redo(int(s), LinearSolver(), "expm")
    onset = np.broadcast_to(np.asarray(params[sat.ONSET], dtype=float), (n_sub,))
    for s in np.nonzero(np.broadcast_to(sat.nonlinear(saturation, peak_occ, onset), (n_sub,)))[0]:
        redo(int(s), StiffSolver(), "bdf")  # as mscpk.simulate: nonlinear beds
    return {"cells": y[:, rows.cells, :], "mass": mass, "solver": solver, "cond": res.cond,
            "peak_occ": peak_occ, "sites": _sites(net.names), "administered": adm, "names": net.names}


def simulate_batch(scenario: Scenario, samples: Mapping[str, Sequence[float]],
                   times_h: Sequence[float] | None = None, *, chunk: int = 500,
                   threads: int | None = None, saturation: str | None = None,
                   params: ParameterSet | None = None):
    """Simulate N subjects of ``scenario`` with per-subject parameter values.

    Parameters
    ----------
    scenario : the shared scenario (its ``parameters`` overrides apply to every subject).
    samples : parameter name -> array (N,) of values, one per subject (model parameters as
        in ``mscpk params``; same N for every name; range-checked like overrides). Species
        physiology is shared by all subjects; so is ``Vasodilator effect duration [h]`` when
        a dose has a vasodilator, and ``Immune priming delay [h]`` in an immunocompetent host
        (they set event times: ParameterError if sampled). Every mode (base, vasodilated,
        primed, primed+vasodilated) is handled per subject; ``Primed immune hazard factor
        [-]`` may vary (a subject with factor 1 gets primed rates equal to its base rates).
    times_h : output times [h] (default: the scenario's output grid, as ``simulate``).
    chunk : subjects per chunk (working memory per chunk ~ chunk * n_states * n_times * 24
        bytes; 500 keeps the temporaries small enough to be reused).
    threads : worker threads over chunks (default: min(2, cpu count)).
    saturation : "off" or "auto" (default: the scenario's ``run.saturation``); "on" is not
        supported in batch (use :func:`mscpk.simulate` per subject).
    params : base parameter set (default: the packaged defaults).

    Returns
    -------
    xarray.Dataset with

    * ``cells`` (subject, time_h, site, quantity) [cells]: ``live_cells`` and ``dead_cells``
      per site, as :meth:`mscpk.Result.to_xarray` of each subject;
    * ``mass_balance_error`` (subject) [-]: max |sum of states - administered| / dose;
    * ``administered`` (time_h) [cells]; ``peak_occlusion`` (subject) [-];
    * ``solver`` (subject): "eig" (modal), "expm" (fallback) or "bdf" (saturated beds);
    * ``condition_number`` (subject): 1-norm condition number of the eigenvector matrix;
    * ``parameter_values`` (subject, parameter): the samples.
    """
    import xarray as xr

    mode = sat.check_mode(saturation if saturation is not None else scenario.run.saturation)
    if mode == "on":
        raise SolverError("simulate_batch: saturation 'on' (nonlinear capillary beds for every subject) "
                          "is not supported in batch; use saturation 'off'/'auto' or mscpk.simulate per subject")
    species = scenario_species(scenario)
    base = scenario_parameters(scenario, params)
    arrays = check_samples(base, samples)
    if "Vasodilator effect duration [h]" in arrays and any(d.vasodilator for d in scenario.dose):
        raise ParameterError("samples: 'Vasodilator effect duration [h]' sets event times and cannot vary "
                             "between subjects in a batch (all subjects share one event schedule)")
    if "Immune priming delay [h]" in arrays and scenario.subject.immune == "immunocompetent":
        raise ParameterError("samples: 'Immune priming delay [h]' sets the time from which the host is primed "
                             "(an event time) and cannot vary between subjects in a batch (all subjects "
                             "share one event schedule); 'Primed immune hazard factor [-]' may vary")
    ap = ArrayParameters(base, arrays)
    n = ap.n
    times = np.asarray(check_times(times_h, "times_h") if times_h is not None else scenario.output_times())
    chunk = max(1, int(chunk))
    bounds = [(i, min(n, i + chunk)) for i in range(0, n, chunk)]
    workers = threads if threads is not None else min(2, os.cpu_count() or 1)

    # the layout (states, sites) is the same for every subject: from a one-subject build
    names = build_network(scenario, ap.take(slice(0, 1)), species).names
    sites = _sites(names)
    nq = len(CELL_QUANTITIES)
    cells = np.empty((n, len(times), len(sites), nq))

    def run(b):
        part = _solve_chunk(scenario, species, ap.take(slice(*b)), times, mode)
        if part["names"] != names:
            raise SolverError("internal error: the batch network layout differs between chunks")
        i0, i1 = b  # (chunk, q, T), q site-major, quantity-minor -> (chunk, T, site, quantity)
        cells[i0:i1] = part.pop("cells").reshape(i1 - i0, len(sites), nq, len(times)).transpose(0, 3, 1, 2)
        return part

    with single_threaded_blas():
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=workers) as ex:
                parts = list(ex.map(run, bounds))
        else:
            parts = [run(b) for b in bounds]

    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    pnames = list(arrays)
    return xr.Dataset(
        {"cells": (("subject", "time_h", "site", "quantity"), cells, {"units": "cells"}),
         "mass_balance_error": (("subject",), cat("mass")),
         "administered": (("time_h",), parts[0]["administered"], {"units": "cells"}),
         "peak_occlusion": (("subject",), cat("peak_occ")),
         "solver": (("subject",), cat("solver").astype(str)),
         "condition_number": (("subject",), cat("cond")),
         "parameter_values": (("subject", "parameter"), np.column_stack([arrays[k] for k in pnames]))},
        coords={"subject": np.arange(n), "time_h": times, "site": list(sites),
                "quantity": list(CELL_QUANTITIES), "parameter": pnames},
        attrs={"scenario": scenario.name, "species": species.name, "n_states": len(names)})


__all__ = ["simulate_batch", "ArrayParameters", "check_samples"]
