"""Benchmark of the mscpk engine on the 28-day IV mouse example (issue 2, item 10).

Run:  python benchmarks/bench_engine.py            (about a minute)
      python benchmarks/bench_engine.py --repeats 10 --batch-n 2000   (quick look)

Prints ONE JSON line. Per scenario (medians over ``--repeats`` timed calls, after a warm-up
call; every timed call computes afresh: the dose changes by 0.1 % from call to call):

* ``mscpk_ms``: ``mscpk.simulate(scenario)`` -- scenario -> parameters -> network build ->
  exact solution -> Result. The solver's propagators depend on the rate matrix only (the
  built model, not the dose) and are cached by it, so a dose-only change re-propagates
  without recomputing matrix exponentials ("caching a built model is fine"). For the
  honest worst case, ``mscpk_param_varied_ms`` varies a rate parameter by 0.1 % per call
  instead, so nothing can be reused;
* ``libroadrunner_ms``: ``roadrunner.RoadRunner(mscpk.export_sbml(scenario))`` loaded once
  (its compiled model is the cached "built model"); per call reset, set the initial dose
  amounts, ``simulate(times=...)`` on the same output times; CVODE with relative and
  absolute tolerance 1e-10;
* ``scipy_bdf_ms``: ``scipy.integrate.solve_ivp(method="BDF")`` on the same linear equations
  ``dx/dt = A x`` (the network's rate matrix, built once), constant analytic Jacobian ``A``,
  ``rtol=1e-8`` (scipy's default ``atol=1e-6`` cells), ``t_eval`` = the same output times;
* ``batch_n`` subjects with log-normal (30 % CV) variation of 6 rate parameters,
  ``mscpk.simulate_batch`` (median of ``--batch-repeats`` runs, fresh samples each run):
  ``batch_s``;
* ``max_rel_dev``: max over output times and states of |libroadrunner - mscpk| / dose (same
  dose); ``scipy_bdf_max_rel_dev`` likewise; ``batch_max_rel_dev``: max over a few subjects
  of |batch - mscpk.simulate| / dose;
* ``peak_rss_mb``: peak resident memory of this process (``resource.getrusage``);
* the speed-up ratios and which targets of the issue are met.

Issue 8 fields, on the same mouse at hourly output (673 times), each regime against
libroadrunner on the same SBML (``export_sbml``, with ``saturation="on"`` for the saturating
case) with its ratio and ``max_rel_dev`` (|libroadrunner - mscpk| / dose):
``linear_ms`` (5e5 cells), ``saturating_ms`` (2e6 cells, Lee 2009; ``saturation="on"``),
``param_varied_ms`` (5e5 cells, a rate parameter changed by 0.1 % per call, libroadrunner
setting the same SBML parameter per call); ``batch_linear_s`` and ``batch_saturating_s``
(``--batch-n`` subjects at 2e6 cells with ``saturation="auto"``, which sends every one of
them to the saturating solver, ``batch_saturating_solvers``; ``--batch-sat-n`` subjects
timed and scaled to ``--batch-n`` when smaller), each with its CPU time over all threads
(``batch_linear_cpu_s``, ``batch_saturating_cpu_s``: less sensitive to other jobs on the
machine than the wall time), and ``batch_linear_touch_s``, the wall time to allocate and
write once an array of the linear batch's ``cells`` size right after it (the first-touch
floor of the result on this machine); ``batch_1e5_s`` and ``batch_1e5_rss_mb``
(100,000 linear subjects streamed chunk by chunk with ``sink=``; skipped with
``--no-1e5`` or by a package without ``sink``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"

#: Rate parameters varied between the batch's subjects (log-normal, 30 % CV).
BATCH_PARAMETERS = ("Lung arrested cell death half-life [h]", "Systemic arrested cell death half-life [h]",
                    "Engrafted cell death half-life [h]", "Lung arrested cell release half-life [h]",
                    "Circulating cell death half-life [h]", "Dead material uptake from blood half-life [h]")
VARIED_PARAMETER = "Engrafted cell death half-life [h]"

TARGETS = {"mscpk_vs_libroadrunner": 5.0, "mscpk_vs_scipy_bdf": 100.0, "batch_s": 5.0,
           "batch_n": 10_000, "peak_rss_mb": 2048.0, "max_rel_dev": 1e-6}


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _median_scaled_ms(run, repeats: int) -> float:
    """Median wall time [ms] of ``run(scale)`` with a new dose scale each call (computed afresh)."""
    ts = []
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        run(1 + 1e-3 * i)
        ts.append(time.perf_counter() - t0)
    return _median_ms(ts)


def bench_mscpk(sc, repeats: int) -> tuple[float, float]:
    import mscpk

    dose = sc.dose[0]
    cells = dose.cells

    def with_dose(i: int):
        return sc.model_copy(update={"dose": (dose.model_copy(update={"cells": cells * (1 + 1e-3 * i)}),)})

    def with_param(i: int):
        base = mscpk.load_parameter_set()[VARIED_PARAMETER]
        return sc.model_copy(update={"parameters": {**sc.parameters, VARIED_PARAMETER: base * (1 + 1e-3 * i)}})

    mscpk.simulate(with_dose(0))  # warm-up (imports, species and parameter files)
    dose_t, param_t = [], []
    for i in range(1, repeats + 1):
        s = with_dose(i)
        t0 = time.perf_counter()
        mscpk.simulate(s)
        dose_t.append(time.perf_counter() - t0)
    for i in range(1, repeats + 1):
        s = with_param(i)
        t0 = time.perf_counter()
        mscpk.simulate(s)
        param_t.append(time.perf_counter() - t0)
    return _median_ms(dose_t), _median_ms(param_t)


def bench_roadrunner(sc, net, times: np.ndarray, repeats: int, reference: np.ndarray):
    import roadrunner

    import mscpk

    rr = roadrunner.RoadRunner(mscpk.export_sbml(sc))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-10
    ids = list(rr.model.getFloatingSpeciesIds())
    x0 = net.input_vector(net.inputs[0])  # cells per state for the scenario's dose at t = 0
    given = [k for k in range(len(x0)) if x0[k] != 0]
    rr_index = [ids.index(net.names[k]) for k in given]
    selections = ["time"] + list(net.names)
    cells = net.inputs[0].cells

    def run(scale: float) -> np.ndarray:
        rr.reset()
        rr.model.setFloatingSpeciesInitAmounts(rr_index, [float(x0[k] * scale) for k in given])
        rr.reset()
        return np.asarray(rr.simulate(times=times, selections=selections))

    out = run(1.0)
    if not np.array_equal(out[:, 0], times):
        raise RuntimeError("libroadrunner did not report the requested output times")
    dev = float(np.max(np.abs(out[:, 1:] - reference))) / cells
    return _median_scaled_ms(run, repeats), dev


def bench_scipy_bdf(net, times: np.ndarray, repeats: int, reference: np.ndarray):
    from scipy.integrate import solve_ivp

    # the same piecewise-linear equations: one matrix per mode, switched at the schedule's
    # bounds (e.g. immune priming at 168 h), integrated piece by piece
    mats = {m: net.matrix(m) for m in net.modes}
    end = float(times[-1])
    bounds = sorted({0.0, end, *(t for w in net.schedule for t in w[:2] if 0.0 < t < end)})
    x0 = net.input_vector(net.inputs[0])
    cells = net.inputs[0].cells

    def run(scale: float) -> np.ndarray:
        out = np.zeros((len(times), len(x0)))
        x = x0 * scale
        for ta, tb in zip(bounds[:-1], bounds[1:]):
            a = mats[net.mode_at(ta)]
            sel = (times >= ta) & ((times < tb) | (tb == end))
            t_eval = np.unique(np.append(times[sel], tb))  # outputs in the piece, and its end
            sol = solve_ivp(lambda _t, y, a=a: a @ y, (ta, tb), x, method="BDF", jac=a,
                            t_eval=t_eval, rtol=1e-8)
            if not sol.success:
                raise RuntimeError(f"scipy BDF failed: {sol.message}")
            out[sel] = sol.y.T[np.searchsorted(t_eval, times[sel])]
            x = sol.y[:, -1]
        return out

    dev = float(np.max(np.abs(run(1.0) - reference))) / cells
    return _median_scaled_ms(run, repeats), dev


def bench_batch(sc, n: int, repeats: int, check_subjects: int = 3):
    import mscpk
    from mscpk.inputs.resolve import scenario_parameters

    base = scenario_parameters(sc)
    s2 = np.log1p(0.3 ** 2)  # 30 % CV
    ts, ds, samples = [], None, None
    mscpk.simulate_batch(sc, {k: np.full(4, base[k]) for k in BATCH_PARAMETERS})  # warm-up (imports)
    for rep in range(repeats):
        rng = np.random.default_rng(100 + rep)
        samples = {k: base[k] * rng.lognormal(-s2 / 2, np.sqrt(s2), n) for k in BATCH_PARAMETERS}
        ds = None  # free the previous run's result first
        t0 = time.perf_counter()
        ds = mscpk.simulate_batch(sc, samples)
        ts.append(time.perf_counter() - t0)
    dose = float(ds.administered.max())
    dev = 0.0
    for i in np.random.default_rng(0).choice(n, check_subjects, replace=False):
        p = base.updated({k: float(v[i]) for k, v in samples.items()})
        ref = mscpk.simulate(sc, params=p).to_xarray().values
        dev = max(dev, float(np.max(np.abs(ds.cells.isel(subject=int(i)).values - ref))) / dose)
    solvers = {str(k): int(v) for k, v in zip(*np.unique(ds.solver.values, return_counts=True))}
    return statistics.median(ts), dev, float(ds.mass_balance_error.max()), solvers


def _with_cells(sc, cells: float):
    return sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),)})


def bench_regimes(sc, repeats: int) -> dict:
    """``linear``/``saturating``/``param_varied`` at hourly output, each against libroadrunner."""
    import roadrunner

    import mscpk

    times = np.arange(0.0, 673.0)
    out = {}
    base_value = mscpk.load_parameter_set()[VARIED_PARAMETER]
    for regime, cells, saturation in (("linear", 5e5, "off"), ("saturating", 2e6, "on"),
                                      ("param_varied", 5e5, "off")):
        s0 = _with_cells(sc, cells)
        varied = regime == "param_varied"

        def case(i: int):
            if varied:
                return s0.model_copy(update={"parameters": {**s0.parameters, VARIED_PARAMETER: base_value * (1 + 1e-3 * i)}})
            return _with_cells(s0, cells * (1 + 1e-3 * i))

        ref = mscpk.simulate(case(0), times_h=times, saturation=saturation)
        ts = []
        for i in range(1, repeats + 1):
            c = case(i)
            t0 = time.perf_counter()
            mscpk.simulate(c, times_h=times, saturation=saturation)
            ts.append(time.perf_counter() - t0)
        rr = roadrunner.RoadRunner(mscpk.export_sbml(s0, saturation=saturation))
        rr.integrator.relative_tolerance = 1e-10
        rr.integrator.absolute_tolerance = 1e-10
        sel = ["time"] + list(ref.state_names)
        ids = list(rr.model.getFloatingSpeciesIds())
        x0 = ref.states[0]
        given = [k for k in range(len(x0)) if x0[k] != 0]
        rr_index = [ids.index(ref.state_names[k]) for k in given]

        def rr_run(i: int) -> np.ndarray:
            rr.resetAll()
            scale = 1.0 if varied else 1 + 1e-3 * i
            rr.model.setFloatingSpeciesInitAmounts(rr_index, [float(x0[k] * scale) for k in given])
            rr.reset()
            return np.asarray(rr.simulate(times=times, selections=sel))

        dev = float(np.max(np.abs(rr_run(0)[:, 1:] - ref.states))) / cells
        rts = []
        for i in range(1, repeats + 1):
            t0 = time.perf_counter()
            rr_run(i)
            rts.append(time.perf_counter() - t0)
        ms, rms = _median_ms(ts), _median_ms(rts)
        out[f"{regime}_ms"] = round(ms, 3)
        out[f"{regime}_libroadrunner_ms"] = round(rms, 3)
        out[f"{regime}_ratio"] = round(rms / ms, 3)
        out[f"{regime}_max_rel_dev"] = float(f"{dev:.3e}")
        out[f"{regime}_solver"] = ref.solver
    return out


def bench_batches(sc, n: int, n_sat: int, do_1e5: bool) -> dict:
    import inspect

    import mscpk
    from mscpk.inputs.resolve import scenario_parameters

    base = scenario_parameters(sc)
    s2 = np.log1p(0.3 ** 2)
    times = np.arange(0.0, 673.0)

    def samples(k: int, seed: int):
        rng = np.random.default_rng(seed)
        return {p: base[p] * rng.lognormal(-s2 / 2, np.sqrt(s2), k) for p in BATCH_PARAMETERS}

    out = {}
    mscpk.simulate_batch(sc, samples(4, 0), times_h=times)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    ds = mscpk.simulate_batch(_with_cells(sc, 5e5), samples(n, 1), times_h=times, saturation="off")
    out["batch_linear_s"] = round(time.perf_counter() - t0, 3)
    out["batch_linear_cpu_s"] = round(time.process_time() - c0, 3)
    shape = ds.cells.shape
    del ds
    out["batch_linear_touch_s"] = round(_touch_s(shape), 3)
    k = min(n, n_sat)
    t0, c0 = time.perf_counter(), time.process_time()
    ds = mscpk.simulate_batch(_with_cells(sc, 2e6), samples(k, 2), times_h=times, saturation="auto")
    el = time.perf_counter() - t0
    out["batch_saturating_s"] = round(el * n / k, 3)
    out["batch_saturating_cpu_s"] = round((time.process_time() - c0) * n / k, 3)
    out["batch_saturating_timed_n"] = k
    out["batch_saturating_solvers"] = {str(a): int(b) for a, b in zip(*np.unique(ds.solver.values, return_counts=True))}
    del ds
    if do_1e5 and "sink" in inspect.signature(mscpk.simulate_batch).parameters:
        out.update(_batch_1e5_in_subprocess())
    else:
        out["batch_1e5_s"] = out["batch_1e5_rss_mb"] = None
    return out


def _touch_s(shape) -> float:
    """Wall time [s] to allocate an array of ``shape`` (float64) and write every element once:
    the floor that the first touch of a fresh result of that size sets on this machine."""
    t0 = time.perf_counter()
    a = np.empty(shape)
    a.fill(0.0)
    el = time.perf_counter() - t0
    del a
    return el


def _batch_1e5_in_subprocess() -> dict:
    """``batch_1e5_s`` and ``batch_1e5_rss_mb`` from a fresh Python process (``--only-1e5``),
    so that the peak resident memory is the batch's own, not this process's history."""
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--only-1e5"], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_1e5() -> dict:
    """100,000 linear subjects at 673 hourly times streamed chunk by chunk (``sink=``)."""
    import mscpk
    from mscpk.inputs.resolve import scenario_parameters

    sc = mscpk.load_scenario(EXAMPLE)
    base = scenario_parameters(sc)
    s2 = np.log1p(0.3 ** 2)
    rng = np.random.default_rng(3)
    samples = {p: base[p] * rng.lognormal(-s2 / 2, np.sqrt(s2), 100_000) for p in BATCH_PARAMETERS}
    kept = []
    t0 = time.perf_counter()
    mscpk.simulate_batch(sc, samples, times_h=np.arange(0.0, 673.0), saturation="off",
                         sink=lambda part: kept.append(float(part.cells.sel(site="lung").max())))
    return {"batch_1e5_s": round(time.perf_counter() - t0, 3), "batch_1e5_rss_mb": round(_own_peak_mb(), 1)}


def _own_peak_mb() -> float:
    """Peak resident memory [MB] of this process image: VmHWM (Linux; ``ru_maxrss`` would
    keep the parent's peak across fork and exec), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: The fit benchmark: qPCR (human Alu) of a xenogeneic product in 3 sites, destructive
#: sampling (4 animals per time, one sample per site each), 7 times -> 84 observations.
FIT_SITES = ("lung", "liver", "spleen")
FIT_TIMES = (0.5, 2.0, 6.0, 24.0, 48.0, 96.0, 168.0)
FIT_ANIMALS = 4
FIT_PARAMETERS = ("Lung arrested cell death half-life [h]", "Systemic arrested cell death half-life [h]")
FIT_TRUE = (12.0, 50.0)  # defaults 6 h and 25.4 h


def bench_fit(repeats: int = 3) -> dict:
    """``fit_s``: median wall time of ``mscpk.fit`` (2 parameters, its defaults: 4 starts,
    profile intervals) on the 84-observation qPCR dataset simulated at ``FIT_TRUE`` (log-normal
    noise CV 30 %, LLOQ 2,000 copies), with ``fit_n_evaluations`` model evaluations."""
    import pandas as pd

    import mscpk
    from mscpk.inputs.resolve import scenario_parameters
    from mscpk.inputs.studydata import study_from_frame

    sc = mscpk.load_scenario(EXAMPLE)
    sc = sc.model_copy(update={"product": sc.product.model_copy(update={"origin": "xenogeneic"})})
    p = scenario_parameters(sc).updated(dict(zip(FIT_PARAMETERS, FIT_TRUE)))
    res = mscpk.simulate(sc, times_h=list(FIT_TIMES), params=p)
    rng = np.random.default_rng(8)
    sd = np.sqrt(np.log(1 + 0.3 ** 2))
    rows = []
    for i, t in enumerate(FIT_TIMES):
        for a in range(FIT_ANIMALS):
            for site in FIT_SITES:
                y = float(res.quantity(site, "live_cells")[i] + res.quantity(site, "dead_cells")[i])
                dv = y * float(np.exp(rng.normal(0.0, sd)))
                cens = int(dv < 2000.0)
                rows.append({"ID": f"m{i}{a}", "TIME": t, "SITE": site, "ASSAY": "qpcr",
                             "DV": np.nan if cens else dv, "CENS": cens, "LLOQ": 2000.0})
    data = study_from_frame(pd.DataFrame(rows))
    ts, fr = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        fr = mscpk.fit(sc, data, list(FIT_PARAMETERS))
        ts.append(time.perf_counter() - t0)
    evals = sum(m.n_evaluations for m in fr.model.models.values())
    return {"fit_s": round(statistics.median(ts), 3), "fit_n_obs": fr.n_obs, "fit_n_evaluations": evals,
            "fit_converged": bool(fr.converged),
            "fit_estimates": {k: round(float(v["estimate"]), 3) for k, v in fr.parameters.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per single-scenario method")
    ap.add_argument("--batch-n", type=int, default=10_000, help="subjects in the batch")
    ap.add_argument("--batch-repeats", type=int, default=3, help="timed batch runs (median)")
    ap.add_argument("--batch-sat-n", type=int, default=10_000, help="saturating subjects timed (scaled to --batch-n)")
    ap.add_argument("--no-1e5", action="store_true", help="skip the 100,000-subject streamed batch")
    ap.add_argument("--only-1e5", action="store_true", help=argparse.SUPPRESS)  # the subprocess
    ap.add_argument("--no-fit", action="store_true", help="skip the 2-parameter fit")
    args = ap.parse_args(argv)
    if args.only_1e5:
        print(json.dumps(bench_1e5()))
        return 0

    import mscpk
    from mscpk.engine.model.build import build_network

    sc = mscpk.load_scenario(EXAMPLE)
    if len(sc.dose) != 1 or sc.dose[0].time_h != 0 or sc.dose[0].infusion_min != 0 or sc.dose[0].cells is None:
        raise SystemExit("the benchmark expects one bolus at t = 0 given in cells")
    res = mscpk.simulate(sc)
    net = build_network(sc)
    times = np.asarray(res.times_h)
    if res.solver != "expm" or tuple(net.names) != tuple(res.state_names):
        raise SystemExit("the example is expected to be linear (expm solver)")

    mscpk_ms, mscpk_param_ms = bench_mscpk(sc, args.repeats)
    rr_ms, rr_dev = bench_roadrunner(sc, net, times, args.repeats, res.states)
    bdf_ms, bdf_dev = bench_scipy_bdf(net, times, args.repeats, res.states)
    batch_s, batch_dev, batch_mass, batch_solvers = bench_batch(sc, args.batch_n, args.batch_repeats)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    regimes = bench_regimes(sc, args.repeats)
    batches = bench_batches(sc, args.batch_n, args.batch_sat_n, not args.no_1e5)
    fitting = {} if args.no_fit else bench_fit()

    out = {
        "mscpk_ms": round(mscpk_ms, 4),
        "libroadrunner_ms": round(rr_ms, 4),
        "scipy_bdf_ms": round(bdf_ms, 4),
        "batch_n": args.batch_n,
        "batch_s": round(batch_s, 4),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "max_rel_dev": float(f"{rr_dev:.3e}"),
        "speedup_vs_libroadrunner": round(rr_ms / mscpk_ms, 2),
        "speedup_vs_scipy_bdf": round(bdf_ms / mscpk_ms, 2),
        "mscpk_param_varied_ms": round(mscpk_param_ms, 4),
        "speedup_vs_libroadrunner_param_varied": round(rr_ms / mscpk_param_ms, 2),
        "speedup_vs_scipy_bdf_param_varied": round(bdf_ms / mscpk_param_ms, 2),
        "scipy_bdf_max_rel_dev": float(f"{bdf_dev:.3e}"),
        "batch_max_rel_dev": float(f"{batch_dev:.3e}"),
        "batch_max_mass_balance_error": float(f"{batch_mass:.3e}"),
        "batch_solvers": batch_solvers,
        "targets_met": {
            "libroadrunner_5x": rr_ms / mscpk_ms >= TARGETS["mscpk_vs_libroadrunner"],
            "scipy_bdf_100x": bdf_ms / mscpk_ms >= TARGETS["mscpk_vs_scipy_bdf"],
            "batch_10000_in_5s": args.batch_n >= TARGETS["batch_n"] and batch_s <= TARGETS["batch_s"],
            "peak_rss_le_2gb": peak_rss_mb <= TARGETS["peak_rss_mb"],
            "max_rel_dev_le_1e-6": rr_dev <= TARGETS["max_rel_dev"],
        },
        "repeats": args.repeats,
        "n_times": int(len(times)),
        "n_states": len(net.names),
        "cpus": os.cpu_count(),
        **regimes,
        **batches,
        **fitting,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
