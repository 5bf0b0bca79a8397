"""Background jobs of the web app: worker processes claim queued runs from the store, run
them with mscpk's own functions and store their tables and files (docs/web.md lists what
each kind stores). The web server itself never computes a run.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import signal
import tempfile
import threading
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mscpk.analysis.detection import design_study, detection_windows
from mscpk.analysis.fitting import FIT_UNIT_OPTIONS, fit
from mscpk.analysis.nca import nca
from mscpk.analysis.population import population
from mscpk.analysis.qualification import library_curves, qualify
from mscpk.analysis.sbml import export_sbml
from mscpk.analysis.scans import check_quantities, parse_vary, scan
from mscpk.analysis.sensitivity import sensitivity
from mscpk.analysis.summary import DEFAULT_TIMES_H, summarize
from mscpk.engine.simulate import simulate
from mscpk.errors import DataError, MscpkError, MscpkWarning, ScenarioError, StoreError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.scenario import Scenario
from mscpk.inputs.studies import study_ids
from mscpk.inputs.studydata import read_study
from mscpk.interfaces.plots.fit import plot_fit
from mscpk.interfaces.plots.qualification import qualification_html
from mscpk.interfaces.plots.result import figure_bytes, result_figure
from mscpk.interfaces.report import report
from mscpk.store import RunInfo, Store, open_store
from mscpk.store.connect import settings
from mscpk.inputs.parameters import split_names

log = logging.getLogger("mscpk.web")

#: Study-data file types the app accepts (as ``mscpk nca`` and ``mscpk fit``).
STUDY_SUFFIXES = (".csv", ".xlsx")


def scenario_from_text(text: str) -> Scenario:
    """Validate scenario TOML text with mscpk's own loader (the CLI's messages)."""
    try:
        raw = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario: not valid TOML: {exc}") from None
    return scenario_from_dict(raw)


def read_study_bytes(data: bytes, filename: str, **options):
    """:func:`~mscpk.inputs.studydata.read_study` of an uploaded file's bytes."""
    suffix = Path(filename).suffix.lower()
    if suffix not in STUDY_SUFFIXES:
        raise DataError(f"study data {filename!r}: unsupported file type {suffix or '(none)'!r}; "
                        f"allowed: {', '.join(STUDY_SUFFIXES)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(data)
        return read_study(path, **options)


@dataclass
class Output:
    """What a job stores: tables (DataFrames, as Parquet) and files (bytes)."""

    tables: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


class Job:
    """One claimed run: its inputs and a throttled progress reporter."""

    def __init__(self, store: Store, info: RunInfo, min_interval_s: float = 0.5) -> None:
        self.store, self.info, self.inputs = store, info, dict(info.inputs or {})
        self._last = 0.0
        self._min = min_interval_s

    def scenario(self) -> Scenario:
        return scenario_from_text(self.store.scenario_toml(self.info.id))

    def progress(self, fraction: float, message: str | None = None, force: bool = False) -> None:
        """Report progress, at most once per ``min_interval_s`` unless ``force`` (a new stage)."""
        now = time.monotonic()
        if force or now - self._last >= self._min:
            self._last = now
            self.store.set_progress(self.info.id, min(max(float(fraction), 0.0), 1.0), message)

    def study(self, **options):
        """The study data of the run's ``data_run`` (a ``study`` run of the same user)."""
        data_run = self.inputs.get("data_run")
        source = self.store.run(data_run, user_id=self.info.user_id) if isinstance(data_run, int) else None
        if source is None or source.kind != "study":
            raise DataError(f"data_run: {data_run!r} is not one of your study uploads")
        name = source.inputs.get("filename", "data.csv")
        return read_study_bytes(self.store.file(source.id, "data" + Path(name).suffix.lower(),
                                                user_id=self.info.user_id), name, **options)


def run_simulate(job: Job) -> Output:
    """The result table, its summary and the SBML model; with ``inputs["figure"]`` also the
    static figure (``mscpk simulate --plot``; it takes most of the job's time)."""
    sc = job.scenario()
    result = simulate(sc, progress=lambda f: job.progress(0.5 * f, "simulating"))
    # peaks and exposures need a dense grid even when run.times_h asks for a coarse table
    dense = result if sc.run.times_h is None else simulate(sc, times_h=sc.dense_times())
    job.progress(0.6, "summary, model" + (" and figure" if job.inputs.get("figure") else ""))
    with tempfile.TemporaryDirectory() as tmp:
        sbml = export_sbml(sc, Path(tmp) / "model.xml", saturation=None)
    files = {"model.xml": sbml.encode("utf-8")}
    if job.inputs.get("figure"):
        files["figure.png"] = figure_bytes(result_figure(result))
    return Output(tables={"result": result.to_frame(), "summary": summarize(dense, DEFAULT_TIMES_H)}, files=files)


def run_scan(job: Job) -> Output:
    names = job.inputs.get("quantities") or ["live_cells", "dead_cells"]
    check_quantities(names, "quantities")
    grid = parse_vary(list(job.inputs.get("vary") or []))
    job.progress(0.0, f"simulating {math.prod(len(v) for v in grid.values())} grid points")  # scan() has no callback
    da = scan(job.scenario(), grid, quantities=names)
    df = da.to_dataframe().reset_index().rename(columns={"cells": "value"})
    return Output(tables={"scan": df[df.groupby(["site", "quantity"])["value"].transform("count") > 0]})


def run_population(job: Job) -> Output:
    res = population(job.scenario(), job.inputs.get("metrics") or None, n=job.inputs.get("n"),
                     seed=job.inputs.get("seed"), bands=True,
                     on_chunk=lambda table, done, n: job.progress(done / max(n, 1), f"{done} of {n} subjects"))
    tables = {"subjects": res.subjects}
    if res.bands is not None:
        tables["bands"] = res.bands
    return Output(tables=tables)


def run_sensitivity(job: Job) -> Output:
    metrics = job.inputs.get("metrics") or ["lung:cell_days"]
    job.progress(0.0, f"evaluating the {job.inputs.get('method', 'morris')} sample")  # sensitivity() has no callback
    df = sensitivity(job.scenario(), metrics, method=job.inputs.get("method", "morris"),
                     n=int(job.inputs.get("n", 8)))
    return Output(tables={"indices": df})


def run_detection(job: Job) -> Output:
    sc = job.scenario()
    return Output(tables={"windows": detection_windows(sc), "plan": design_study(sc)})


def run_nca(job: Job) -> Output:
    study = job.study()
    return Output(tables={"nca": nca(study, sparse=job.inputs.get("sparse", "auto"))})


def run_fit(job: Job) -> Output:
    names = split_names(str(job.inputs.get("estimate", "")))
    if not names:
        raise ScenarioError("estimate: give the names of the parameters to estimate, as `mscpk params` lists them")
    job.progress(0.0, f"fitting {', '.join(names)}")  # fit() has no callback
    result = fit(job.scenario(), job.study(unit_options=FIT_UNIT_OPTIONS), names)
    job.progress(0.9, "diagnostic figure", force=True)
    import pandas as pd

    params = pd.DataFrame([{"parameter": k, **{c: v.get(c) for c in ("estimate", "ci_low", "ci_high", "unit")}}
                           for k, v in result.parameters.items()])
    with tempfile.TemporaryDirectory() as tmp:
        figure = plot_fit(result, Path(tmp) / "fit.png").read_bytes()
    return Output(tables={"parameters": params}, files={"fit.json": result.to_json().encode("utf-8"),
                                                        "fit.png": figure})


def run_qualify(job: Job) -> Output:
    chosen = job.inputs.get("studies") or study_ids()
    job.progress(0.0, f"simulating {len(chosen)} studies")  # qualify() has no callback
    q = qualify(job.inputs.get("studies") or None)

    def on_new(k: int, sid: str) -> None:  # the report page: one study's curves at a time
        job.progress(0.5 + 0.5 * k / len(chosen), f"report page: study {k + 1} of {len(chosen)}", force=k == 0)

    curve = library_curves(on_new)
    page = qualification_html(q, curve)
    return Output(tables={"qualification": q.table, "summary": q.summary.reset_index()},
                  files={"report.html": page.encode("utf-8"), "summary.txt": "\n".join(q.lines()).encode("utf-8")})


def run_report(job: Job) -> Output:
    """The druggability report (``mscpk report``) of the scenario, with the NCA of the study
    of ``data_run`` and the fit of ``fit_run`` (a fit run of the same user) when given."""
    data = job.study() if job.inputs.get("data_run") is not None else None
    fit_run = job.inputs.get("fit_run")
    with tempfile.TemporaryDirectory() as tmp:
        fit_json = None
        if fit_run is not None:
            source = job.store.run(fit_run, user_id=job.info.user_id)
            if source is None or source.kind != "fit" or source.status != "done":
                raise ScenarioError(f"fit_run: {fit_run!r} is not one of your finished fits")
            fit_json = Path(tmp) / "fit.json"
            fit_json.write_bytes(job.store.file(source.id, "fit.json", user_id=job.info.user_id))
        page = report(job.scenario(), data=data, fit=fit_json).html()
    return Output(files={"report.html": page.encode("utf-8")})


#: The job of each run kind the workers claim.
RUNNERS: dict[str, Callable[[Job], Output]] = {
    "simulate": run_simulate, "scan": run_scan, "population": run_population,
    "sensitivity": run_sensitivity, "detection": run_detection, "nca": run_nca, "fit": run_fit,
    "qualify": run_qualify, "report": run_report,
}


#: The inputs each kind takes from a request, with their types (docs/web.md).
INPUTS: dict[str, dict[str, type]] = {
    "simulate": {"figure": bool}, "scan": {"vary": list, "quantities": list},
    "population": {"n": int, "seed": int, "metrics": list},
    "sensitivity": {"method": str, "n": int, "metrics": list}, "detection": {},
    "nca": {"data_run": int, "sparse": str}, "fit": {"data_run": int, "estimate": str},
    "qualify": {"studies": list}, "report": {"data_run": int, "fit_run": int},
}


def check_inputs(kind: str, inputs: dict) -> dict:
    """``inputs`` when every key is one the kind takes, with a value of its type (lists of
    text); else a :class:`ScenarioError` naming the key, the value and what is allowed."""
    allowed = INPUTS.get(kind)
    if allowed is None:
        raise ScenarioError(f"kind: {kind!r} is not allowed; allowed: {', '.join(INPUTS)}")
    for key, value in inputs.items():
        want = allowed.get(key)
        if want is None:
            raise ScenarioError(f"inputs.{key}: unknown for {kind}; allowed: {', '.join(allowed) or 'none'}")
        ok = (isinstance(value, want) and not (want is int and isinstance(value, bool))
              and not (want is list and not all(isinstance(v, str) for v in value)))
        if not ok:
            what = "a list of text" if want is list else {"int": "an integer", "str": "text", "bool": "true or false"}[want.__name__]
            raise ScenarioError(f"inputs.{key}: {value!r} is not allowed; give {what}")
    return inputs


class Heartbeat:
    """A thread renewing the lease of a claimed run every ``interval_s`` while it runs
    (``store.heartbeat``); ``lost`` once the store says the claim expired."""

    def __init__(self, store: Store, info: RunInfo, interval_s: float) -> None:
        self.store, self.info, self.lost = store, info, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(interval_s,), name=f"heartbeat-{info.id}", daemon=True)

    def _beat(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                if not self.store.heartbeat(self.info.id, self.info.attempts):
                    self.lost = True
                    return
            except MscpkError as exc:  # a store briefly unreachable: try again next time
                log.warning("run %s: heartbeat failed: %s", self.info.id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def heartbeat_interval(lease_s: float | None) -> float:
    """How often a worker renews its lease: data/store.toml ``workers.heartbeat_fraction`` of it."""
    numbers = settings()["workers"]
    return (numbers["lease"] if lease_s is None else lease_s) * numbers["heartbeat_fraction"]


def execute(store: Store, info: RunInfo, lease_s: float | None = None) -> None:
    """Run one claimed run, renewing its lease, and store its outputs (done) or its error
    message (failed); mscpk's warnings go to the stored file ``warnings.txt``. A worker whose
    claim expired meanwhile (the run was re-queued) stores nothing."""
    with Heartbeat(store, info, heartbeat_interval(lease_s)) as beat:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MscpkWarning)
                out = RUNNERS[info.kind](Job(store, info))
            notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, MscpkWarning)))
            if notes:
                out.files["warnings.txt"] = "\n".join(notes).encode("utf-8")
            outcome = {"tables": out.tables, "files": out.files}
        except MscpkError as exc:
            outcome = {"error": str(exc)}
        except Exception as exc:  # a bug: the user gets a clean message, the log the traceback
            log.exception("run %s (%s) failed", info.id, info.kind)
            outcome = {"error": f"internal error ({type(exc).__name__}); the server log has the details"}
    try:
        if "error" in outcome:
            store.fail_run(info.id, outcome["error"], attempt=info.attempts)
        else:
            store.finish_run(info.id, attempt=info.attempts, **outcome)
    except StoreError as exc:
        if not (beat.lost or not store.heartbeat(info.id, info.attempts)):
            raise
        log.warning("run %s: result dropped: %s", info.id, exc)


def run_next(store: Store, kinds: tuple[str, ...] = tuple(RUNNERS), lease_s: float | None = None) -> int | None:
    """Claim the oldest queued run of ``kinds`` (re-queuing those whose lease expired) and run
    it; its id, or None when none waits."""
    info = store.claim_run(list(kinds), lease_s=lease_s)
    if info is None:
        return None
    execute(store, info, lease_s)
    return info.id


def worker_main(db_url: str | None, stop, poll_s: float, lease_s: float | None = None) -> None:
    """A worker process: claim and run queued runs until ``stop`` is set (or SIGTERM)."""
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    store = open_store(db_url)
    while not stop.is_set():
        if run_next(store, lease_s=lease_s) is None:
            stop.wait(poll_s)


class WorkerPool:
    """``n`` worker processes (spawned, so they share nothing with the server's threads)."""

    def __init__(self, db_url: str | None, n: int, poll_s: float = 0.2, lease_s: float | None = None) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._args = (db_url, self._stop, poll_s, lease_s)
        self.n = n
        self.processes: list = []

    def start(self) -> None:
        for i in range(self.n):
            p = self._ctx.Process(target=worker_main, args=self._args, name=f"mscpk-worker-{i + 1}", daemon=True)
            p.start()
            self.processes.append(p)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for p in self.processes:
            p.join(max(deadline - time.monotonic(), 0.1))
            if p.is_alive():
                p.terminate()
                p.join(2.0)
        self.processes.clear()
