"""The evidence sections of a report: NCA of study data, the fit and its diagnostics, the model's
qualification, the parameters in force, limitations and what reproduces the report."""

from __future__ import annotations

import json
import math
from dataclasses import replace
import platform
import sys
from importlib import metadata, resources
from typing import Any

import numpy as np

from mscpk._version import __version__
from mscpk.analysis.fitting import FitResult, ForwardModel
from mscpk.analysis.fitting.run import error_model
from mscpk.analysis.nca import nca
from mscpk.analysis.report.content import Figure, Section, Table, fmt
from mscpk.analysis.report.inputs import ReportInputs
from mscpk.analysis.report.settings import FIT_REPRODUCTION_RTOL, LISTED_ROWS, START_TOLERANCE
from mscpk.errors import MscpkError
from mscpk.inputs.studies import load_study, study_ids

#: Key NCA parameters shown per profile (PPTESTCD codes, docs/nca.md).
NCA_SHOWN = ("CMAX", "TMAX", "AUCLST", "LAMZHL", "AUCIFO")
#: Packaged qualification figures (tests/science/test_qualification_baseline.py keeps the model at
#: or above them).
BASELINE_FILE = "qualification_baseline.json"
#: Libraries whose versions the reproducibility section lists.
PACKAGES = ("numpy", "scipy", "pandas", "matplotlib", "pydantic", "jinja2")


def nca_section(inputs: ReportInputs) -> Section:
    study = inputs.data
    pp = nca(study, sparse="auto")
    params = pp[pp["METHOD"] != "ratio"]
    rows = []
    for (group, site, ident, assay), sub in params.groupby(["GROUP", "SITE", "ID", "ASSAY"], sort=False):
        p = {r.PPTESTCD: r for r in sub.itertuples(index=False)}
        flags = sorted({f.split(":")[0] for r in p.values() for f in str(r.FLAGS).split(";") if f})
        rows.append((str(group), site, str(ident) or "-", assay or "-", str(p["CMAX"].METHOD))
                    + tuple(fmt(p[c].PPORRES) if c in p else "-" for c in NCA_SHOWN)
                    + (p["CMAX"].PPORRESU, " ".join(flags) or "-"))
    table = Table("NCA per group, site and assay (mscpk nca, default options)",
                  ("group", "site", "animal", "assay", "method", "CMAX", "TMAX [h]", "AUCLST [unit x h]",
                   "half-life [h]", "AUCIFO [unit x h]", "unit", "flags"), tuple(rows),
                  note="method: sparse = destructive sampling (one observation per animal), mean profile with the "
                       "Bailer SE of AUCLST; flags: docs/nca.md")
    paras = [f"{len(study)} observation rows read from {inputs.data_source.path}; {len(study.excluded)} row(s) "
             f"excluded; {len(rows)} profile(s)."]
    tables = [table]
    if len(study.excluded):
        tables.append(Table.from_frame(study.excluded.head(LISTED_ROWS),
                                      f"Rows excluded from the data (at most {LISTED_ROWS}), with reasons"))
    return Section("nca", "Noncompartmental analysis of the study data", tuple(paras), tables=tuple(tables))


def _residual_table(fit: FitResult) -> Table:
    pred = fit.predictions
    cens = pred.get("CENS", 0)
    cens = (np.asarray(cens) == 1) if not np.isscalar(cens) else np.zeros(len(pred), bool)
    keys = [c for c in ("FITGROUP", "SITE", "ASSAY") if c in pred]
    rows = []
    for key, sub in pred.assign(_CENS=cens).groupby(keys, sort=False):
        q = sub[~sub["_CENS"]]
        res = q["LOGRES"].to_numpy(float) if "LOGRES" in q else np.log(q["DV"] / q["PRED"]).to_numpy(float)
        res = res[np.isfinite(res)]
        rows.append(tuple(str(k) for k in (key if isinstance(key, tuple) else (key,)))
                    + (fmt(len(sub)), fmt(int(sub["_CENS"].sum())),
                       fmt(float(res.mean())) if res.size else "-", fmt(float(res.std())) if res.size else "-",
                       fmt(100 * float(np.mean(np.abs(res) <= math.log(2)))) if res.size else "-"))
    return Table("Residuals by group, site and assay (log DV - log PRED, quantified rows)",
                 tuple(k.lower() for k in keys) + ("rows", "BLQ", "mean residual", "SD residual", "within 2-fold [%]"),
                 tuple(rows), note="a mean residual far from 0 at one site means the model is biased there")


def with_model(fit: FitResult, scenario: Any) -> FitResult:
    """``fit`` with its forward model rebuilt from ``scenario`` (for fitted curves) when the fit
    has one group made from a scenario of that name and the rebuilt model gives the fit's
    predictions to :data:`FIT_REPRODUCTION_RTOL`; else ``fit`` unchanged."""
    if fit.model is not None or len(fit.groups) != 1:
        return fit
    (info,) = fit.groups.values()
    if info.get("scenario") != scenario.name:
        return fit
    pred = fit.predictions
    assays = pred["ASSAY"].fillna("").astype(str) if "ASSAY" in pred else [""] * len(pred)
    try:
        model = ForwardModel(scenario, list(fit.parameters), label=info.get("label"))
        theta = tuple(math.log(p["estimate"]) for p in fit.parameters.values())
        got = model.predict(theta, pred["TIME"].to_numpy(float), pred["SITE"].tolist(), list(assays))
    except (MscpkError, ValueError):
        return fit
    if not np.allclose(got, pred["PRED"].to_numpy(float), rtol=FIT_REPRODUCTION_RTOL, atol=0):
        return fit
    return replace(fit, model=model, theta_log=theta)


def fit_section(inputs: ReportInputs, in_force: Any) -> Section:
    fit = with_model(inputs.fit, inputs.scenario)
    defaults = dict(zip(in_force["name"], in_force["value"]))
    rows = tuple((name, fmt(p["estimate"]), fmt(p["ci_low"]), fmt(p["ci_high"]), p["unit"],
                  fmt(bool(p["identifiable"])),
                  p.get("at_bound") or "-", fmt(defaults.get(name, math.nan)))
                 for name, p in fit.parameters.items())
    est = Table("Estimates with 95 % profile-likelihood intervals", ("parameter", "estimate", "CI low", "CI high",
                "unit", "identifiable", "at search bound", "value in this report's scenario"), rows)
    starts = [v for v in fit.start_objectives if math.isfinite(v)]
    near = sum(v - fit.objective <= START_TOLERANCE for v in starts)
    paras = [f"Fit file {inputs.fit_source.path}: {fit.n_obs} observations ({fit.n_blq} below LLOQ, {fit.n_summary} "
             f"summary rows); -2 log L {fmt(fit.objective)}; converged: {fmt(fit.converged)} ({fit.convergence}).",
             f"Error model: {error_model(fit.sigma_mode, fit.centre, fit.animal_effect)}; sigma "
             + ", ".join(f"{k} {fmt(v)}" for k, v in fit.sigmas.items()) + "."
             + (f" Animal effect omega {fmt(fit.omega)}." if fit.animal_effect and fit.omega is not None else ""),
             f"{near} of {len(starts)} optimiser starts reached the best objective (within {START_TOLERANCE:g}): "
             + ("the optimum is found repeatedly." if near > 1 else "check with more starts (--n-starts).")]
    names = {g.get("scenario") for g in fit.groups.values()}
    if names and inputs.scenario.name not in names:
        paras.append(f"Note: the fit was made with the scenario(s) {', '.join(sorted(map(str, names)))}, not "
                     f"this report's {inputs.scenario.name!r}.")
    bullets = tuple(f"data warning: {w}" for w in fit.warnings) + tuple(
        f"row {e.get('ROW')} left out: {e.get('REASON')}" for e in fit.excluded[:LISTED_ROWS])
    groups = Table("Groups fitted", ("group", "scenario", "species", "label", "doses", "assays", "rows"), tuple(
        (g, str(i.get("scenario")), str(i.get("species")), str(i.get("label")),
         "; ".join(f"{d.get('route')} {fmt(d.get('cells'))} cells at {fmt(d.get('time_h'))} h"
                   for d in i.get("doses", [])),
         ", ".join(i.get("assays", [])), fmt(i.get("n_obs"))) for g, i in fit.groups.items()))
    curves = (f"; fitted curves from the model rebuilt with this report's scenario (it gives the fit file's "
              f"predictions to a relative {FIT_REPRODUCTION_RTOL:g})" if fit.model is not None else
              "; no fitted curves: this report's scenario does not reproduce the fit file's predictions")
    fig = Figure("fit", "Fit diagnostics: observed vs predicted, residuals vs time (dotted: +/- 2 sigma), data per "
                        "group, site and assay" + curves, fit)
    return Section("fit", "Fit to the study data", tuple(paras), bullets=bullets, bullets_title="Rows and warnings",
                   figures=(fig,), tables=(est, _residual_table(fit), groups))


def baseline() -> dict[str, dict[str, float]]:
    """The packaged qualification figures, per ``used_for`` (``mscpk.data``)."""
    return json.loads(resources.files("mscpk.data").joinpath(BASELINE_FILE).read_text("utf-8"))


def qualification_section(scenario: Any, qualification: Any = None) -> Section:
    """From ``qualification`` (a :class:`~mscpk.analysis.qualification.Qualification` run now)
    or else the packaged baseline."""
    if qualification is not None:
        summary = {use: r.to_dict() for use, r in qualification.summary.iterrows()}
        n = qualification.table["study"].nunique()
        origin = f"a run of {n} {'study' if n == 1 else 'studies'} of the library at report time (mscpk qualify)"
    else:
        summary = baseline()
        origin = (f"the packaged baseline (mscpk/data/{BASELINE_FILE}, mscpk {__version__}): figures the test suite "
                  "keeps the current model at or above; run `mscpk qualify` (or `mscpk report --qualify`) for a fresh "
                  "run")
    rows = tuple((use, fmt(int(r["studies"])), fmt(int(r["observations"])), fmt(r["gmfe"]),
                  fmt(100 * r["within_2fold"]), fmt(100 * r["within_3fold"]),
                  f"{int(r['shares_agree'])}/{int(r['shares'])}", f"{int(r['findings_held'])}/{int(r['findings'])}")
                 for use, r in summary.items())
    table = Table("Default model against the study library", ("used for", "studies", "observations", "GMFE",
                  "within 2-fold [%]", "within 3-fold [%]", "detection shares agree", "findings held"), rows,
                  note="GMFE: geometric mean fold error 10^mean|log10(predicted/observed)|; docs/qualification.md")
    routes = {d.route for d in scenario.dose}
    similar = []
    for sid in study_ids():
        st = load_study(sid)
        if st.scenario.subject.species == scenario.subject.species and routes & {d.route for d in st.scenario.dose}:
            similar.append(f"{sid} ({st.used_for}, {st.method}): {st.citation}")
    paras = (f"Source of the figures: {origin}.",
             f"Library studies with this species ({scenario.subject.species}) and route ({', '.join(sorted(routes))}): "
             f"{len(similar)}.")
    return Section("qualification", "Model qualification", paras, bullets=tuple(similar),
                   bullets_title="Studies most like this design", tables=(table,))


def parameters_section(scenario: Any, in_force: Any) -> Section:
    own = set(scenario.parameters)
    frame = in_force.assign(set_by=["scenario" if n in own else "default" for n in in_force["name"]])
    source = frame["source"].astype(str).str.strip().str.lower()
    kinds = np.select([source.str.startswith("assumption"), source.str.startswith("calibrated")],
                      ["assumption", "calibrated"], "cited or derived")
    counts = ", ".join(f"{int((kinds == k).sum())} {k}" for k in ("cited or derived", "calibrated", "assumption"))
    return Section("parameters", "Parameters in force", (
        f"{len(frame)} parameters: model parameters, species physiology and detection settings (as `mscpk params` "
        f"lists them); by the first word of their source: {counts}. {len(own)} set by the scenario.",),
        tables=(Table.from_frame(frame, "Every parameter in force, with unit and source",
                                 ["name", "value", "unit", "set_by", "source"], ["name", "value", "unit", "set by",
                                                                               "source"]),))


def limitations_section(scenario: Any, in_force: Any, qualification: Any = None) -> Section:
    summary = ({u: r.to_dict() for u, r in qualification.summary.iterrows()} if qualification is not None
               else baseline())
    n_assumed = int(in_force["source"].astype(str).str.lower().str.startswith("assumption").sum())
    val = summary.get("validation")
    items = [
        "The model follows numbers of cells (live, dead, where), not what the cells do: it predicts no efficacy "
        "unless the scenario has an [effect] table, and no differentiation (today's assays cannot tell an MSC from "
        "its progeny either).",
        f"{n_assumed} of the {len(in_force)} parameters in force rest on an assumption (their source says so): "
        "their values are magnitudes, not measurements.",
        "Assays see signals, not cells: qPCR counts the DNA of dead cells until it is degraded; direct labels "
        "(radionuclides, SPIO, dyes) stay in macrophages after the cells die; the detection windows are "
        "noise-free and the group sizes assume the method's CV only.",
        "Homing follows the chemokine fold changes and injury severity the scenario gives; the model does not "
        "predict the chemokine levels of a disease.",
        "Immune clearance is one hazard per host immune status and cell origin with one priming step, calibrated "
        "on a few mouse studies.",
        "The embolic limits are few and partly derived from the model itself (data/embolic.toml); a bed without "
        "its own limits uses the lung's.",
    ]
    if val is not None:
        items.insert(2, f"On the validation studies (not used for calibration) the predictions are within 3-fold "
                        f"of what was observed in {100 * val['within_3fold']:.0f} % of {int(val['observations'])} "
                        f"comparisons (GMFE {val['gmfe']:.3g}): read predicted numbers as orders of magnitude.")
    if scenario.subject.species != "human":
        items.append(f"The predictions are for the {scenario.subject.species}; `mscpk translate` scales a design "
                     "to another species by physiology only.")
    return Section("limitations", "Limitations", ("In plain words, what this report cannot tell:",),
                   bullets=tuple(items))


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def reproducibility_section(inputs: ReportInputs, command: str, generated: str) -> Section:
    versions = (f"mscpk {__version__}; Python {sys.version.split()[0]} ({platform.platform()}); "
                + ", ".join(f"{p} {_version(p)}" for p in PACKAGES))
    rows = [("scenario", inputs.scenario_source.path, inputs.scenario_source.sha256)]
    if inputs.data_source is not None:
        rows.append(("study data", inputs.data_source.path, inputs.data_source.sha256 or "-"))
    if inputs.fit_source is not None:
        rows.append(("fit", inputs.fit_source.path, inputs.fit_source.sha256))
    table = Table("Inputs", ("input", "file", "SHA-256"), tuple(rows))
    return Section("reproducibility", "Versions and inputs", (
        f"Generated {generated} by: {command}", f"Versions: {versions}.",
        "The same inputs (same SHA-256) with the same versions give the same numbers."),
        tables=(table,), texts=((f"Scenario text ({inputs.scenario_source.path})", inputs.scenario_source.text),))


__all__ = ["nca_section", "fit_section", "with_model", "qualification_section", "parameters_section",
           "limitations_section", "reproducibility_section", "baseline", "NCA_SHOWN"]
