"""Benchmark of populations and sensitivity (issue 10). Prints ONE JSON line.

Run:  python benchmarks/bench_population.py            (about a minute)
      python benchmarks/bench_population.py --million  (adds 1e6 subjects on a 2-worker Dask cluster)

* ``cli_linear_10k_s``, ``cli_saturating_10k_s``: ``mscpk population`` end to end in a fresh
  process (start-up, sampling, simulation, metrics, writing parquet) for 10,000 subjects of
  examples/population_iv_mouse.toml with two varied model parameters (its cardiac output
  replaced by the systemic arrested-cell death half-life; the saturating case at 2e6 cells
  with saturation "on"); target <= 10 s each;
* ``cli_linear_physiology_10k_s``: the example as it is (cardiac output, a physiology
  parameter, varies: a species holding per-subject arrays, one build per chunk); target <= 10 s;
* ``cli_diameter_dose_10k_s``: the example with cell diameter (uniform 14-22 um), viability
  (uniform 0.7-1.0) and the dose (lognormal, median 5e5 cells, CV 0.3) varied besides the
  lung death half-life, in its own ``saturation = "auto"`` (~6 % of the subjects pass the
  onset: the batch's saturating solver); ``cli_diameter_dose_linear_10k_s``: the same with
  ``saturation = "off"``. The dose is simulated as capacities / f and the cells scaled by f
  (docs/populations.md, "Evaluation"); target <= 10 s;
* ``sobol_5_factors_n1024_s``: ``mscpk.sensitivity`` (Sobol, N = 1024, 5 factors, one metric:
  1024 x 7 = 7168 subjects); target <= 30 s;
* with ``--million``: ``dask_1e6_subjects_per_s_{1,2}w`` (a LocalCluster of processes, 1 thread
  each, 2 GiB limit each; 1 worker timed on 200,000 subjects, 2 workers on 1,000,000) and
  ``dask_1e6_worker_peak_mb_{1,2}w`` (largest worker RSS at the end of the run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "population_iv_mouse.toml"
FACTORS = {
    "Lung arrested cell death half-life [h]": {"dist": "lognormal", "median": 6.0, "cv": 0.4},
    "Cardiac output [L/h]": {"dist": "lognormal", "median": 0.84, "cv": 0.15},
    "Systemic arrested cell death half-life [h]": {"dist": "lognormal", "median": 24.0, "cv": 0.4},
    "Joint attachment half-life [h]": {"dist": "lognormal", "median": 100.0, "cv": 0.4},
    "Immune clearance rate of xenogeneic cells [1/h]": {"dist": "lognormal", "median": 0.0065, "cv": 0.4},
}


PHYSIOLOGY_LINE = '"Cardiac output [L/h]" = { dist = "lognormal", median = 0.84, cv = 0.15 }'
PARAMETER_LINE = '"Systemic arrested cell death half-life [h]" = { dist = "lognormal", median = 24.0, cv = 0.4 }'


PRODUCT_LINES = ('"product.diameter_um.mean" = { dist = "uniform", low = 14.0, high = 22.0 }\n'
                 '"product.viability" = { dist = "uniform", low = 0.7, high = 1.0 }\n'
                 '"dose[1].cells" = { dist = "lognormal", median = 5e5, cv = 0.3 }')


def _scenario_text(saturating: bool, n: int, physiology: bool = False, product: str | None = None) -> str:
    """The benchmark's scenario; ``product``: None, or the run's saturation ("auto", "off")
    with :data:`PRODUCT_LINES` in place of the cardiac output."""
    text = EXAMPLE.read_text().replace("n = 1000", f"n = {n}")
    if PHYSIOLOGY_LINE not in text:
        raise SystemExit(f"{EXAMPLE} changed: the benchmark expects the line {PHYSIOLOGY_LINE!r}")
    if product is not None:
        text = text.replace(PHYSIOLOGY_LINE, PRODUCT_LINES).replace("end_h = 672.0",
                                                                    f'end_h = 672.0\nsaturation = "{product}"')
    elif not physiology:
        text = text.replace(PHYSIOLOGY_LINE, PARAMETER_LINE)
    if saturating:
        text = text.replace("cells = 5e5", "cells = 2e6").replace("end_h = 672.0", 'end_h = 672.0\nsaturation = "on"')
    return text


def cli_seconds(saturating: bool, n: int, physiology: bool = False, product: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sc = Path(tmp) / "pop.toml"
        sc.write_text(_scenario_text(saturating, n, physiology, product))
        t0 = time.perf_counter()
        cmd = [shutil.which("mscpk") or "mscpk", "population", str(sc), "-o", str(Path(tmp) / "p.parquet")]
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def sobol_seconds(n: int = 1024) -> float:
    import mscpk

    sc = mscpk.load_scenario(EXAMPLE)
    raw = sc.model_dump(mode="json", exclude_none=True)
    raw["population"] = {"n": 10, "seed": 1, "vary": FACTORS}
    sc = mscpk.scenario_from_dict(raw)
    t0 = time.perf_counter()
    mscpk.sensitivity(sc, ["lung:cell_days"], method="sobol", n=n)
    return time.perf_counter() - t0


def dask_rate(workers: int, n: int) -> tuple[float, float]:
    """Subjects per second and the largest worker RSS [MB] at the end, for ``n`` subjects of the
    parameter-only population (as ``cli_linear_10k_s``) on a LocalCluster of ``workers``
    processes (1 thread each, 2 GiB memory limit each)."""
    import tomllib

    from distributed import Client, LocalCluster

    import mscpk
    from mscpk.analysis.population.evaluate import plan
    from mscpk.analysis.population.run import population_of, run_chunks

    sc = mscpk.scenario_from_dict(tomllib.loads(_scenario_text(False, n)))
    pop = population_of(sc, n=n)
    p = plan(sc, ["lung:cell_days"])
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="2GiB") as cluster:
        t0 = time.perf_counter()
        run_chunks(p, pop, chunk=5000, scheduler=cluster.scheduler_address)
        dt = time.perf_counter() - t0
        with Client(cluster.scheduler_address) as c:
            rss = max(w["metrics"]["memory"] for w in c.scheduler_info()["workers"].values()) / 2 ** 20
    return n / dt, rss


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--million", action="store_true")
    args = ap.parse_args(argv)
    out = {"cli_linear_10k_s": round(cli_seconds(False, args.n), 2),
           "cli_saturating_10k_s": round(cli_seconds(True, args.n), 2),
           "cli_linear_physiology_10k_s": round(cli_seconds(False, args.n, physiology=True), 2),
           "cli_diameter_dose_10k_s": round(cli_seconds(False, args.n, product="auto"), 2),
           "cli_diameter_dose_linear_10k_s": round(cli_seconds(False, args.n, product="off"), 2),
           "sobol_5_factors_n1024_s": round(sobol_seconds(), 2), "n": args.n}
    if args.million:  # 1 worker on 200,000 subjects (time), 2 workers on 1,000,000
        for w, n_sub in ((1, 200_000), (2, 1_000_000)):
            rate, rss = dask_rate(w, n_sub)
            out[f"dask_1e6_subjects_per_s_{w}w"] = round(rate, 1)
            out[f"dask_1e6_worker_peak_mb_{w}w"] = round(rss, 1)
    out["targets_met"] = {"cli_10k_le_10s": max(out["cli_linear_10k_s"], out["cli_saturating_10k_s"]) <= 10,
                          "cli_physiology_and_product_10k_le_10s": max(
                              out["cli_linear_physiology_10k_s"], out["cli_diameter_dose_10k_s"],
                              out["cli_diameter_dose_linear_10k_s"]) <= 10,
                          "sobol_le_30s": out["sobol_5_factors_n1024_s"] <= 30}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
