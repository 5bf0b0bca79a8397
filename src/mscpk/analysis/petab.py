"""PEtab (v1) export of an estimation problem: the SBML model of :mod:`mscpk.analysis.sbml`
with the estimated parameters as SBML parameters, and the condition, measurement, observable
and parameter tables of mscpk's own fit (data rows, groups and log-normal noise as
:mod:`mscpk.analysis.fitting` reads them). Layout and limits: docs/guide.md ("PEtab export").

>>> import mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
>>> data = mscpk.simulate_study(sc, assay="qpcr", label="luciferase", times_h=[1, 24],
...                             sites=["lung"], seed=1)
>>> pp = petab_problem(sc, data, ["Lung arrested cell death half-life [h]"], label="luciferase")
>>> pp.parameters["parameterId"].tolist()
['lung_arrested_cell_death_half_life_h', 'sigma_all']
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libsbml
import numpy as np
import pandas as pd

from mscpk.analysis.detection.labels import resolve_label
from mscpk.analysis.fitting.forward import ForwardModel, JointModel
from mscpk.analysis.fitting.groups import prepare
from mscpk.analysis.fitting.likelihood import SIGMA_BOUNDS, SIGMA_START, LogLikelihood
from mscpk.analysis.fitting.problem import NO_ASSAY, Problem, rows_of
from mscpk.analysis.sbml import build_sbml_document
from mscpk.engine.result import site_quantity_weights
from mscpk.errors import FitError
from mscpk.inputs.resolve import resolve
from mscpk.utils import write_all_or_nothing

__all__ = ["PetabProblem", "petab_problem", "export_petab", "add_estimated", "readout_formula", "FILES", "PETAB_ASSAYS"]

#: file names written into the output folder
FILES = {"sbml": "model.xml", "conditions": "conditions.tsv", "measurements": "measurements.tsv",
         "observables": "observables.tsv", "parameters": "parameters.tsv", "yaml": "problem.yaml"}
#: assays whose readout is a fixed sum of model species ("" = live cells)
PETAB_ASSAYS = ("", "qpcr", "flow", "ihc")
#: a rate may depend on an estimated parameter p as a + b (p/p0) + c (p0/p) (exponents)
_EXPONENTS = (-1, 0, 1)
#: probes per parameter (ratios to the nominal value, inside the search range)
_N_PROBES = 6
#: a rate is reproduced exactly when the basis fits every probe to this relative error
_EXACT_RTOL = 1e-9
#: at most this many estimated parameters may act on one rate
_MAX_JOINT = 3
_K = re.compile(r"\bk_\d+\b")


@dataclass(frozen=True)
class PetabProblem:
    """The PEtab problem: SBML text and the four tables (pandas DataFrames)."""

    sbml: str
    conditions: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    parameters: pd.DataFrame

    def yaml(self) -> str:
        """The PEtab v1 problem file naming the files of :data:`FILES`."""
        f = FILES
        return (f"format_version: 1\nparameter_file: {f['parameters']}\nproblems:\n"
                f"- condition_files: [{f['conditions']}]\n  measurement_files: [{f['measurements']}]\n"
                f"  observable_files: [{f['observables']}]\n  sbml_files: [{f['sbml']}]\n")

    def write(self, directory: str | os.PathLike, extra: dict[str, str] | None = None) -> list[Path]:
        """Write every file of :data:`FILES` (and ``extra``: file name -> text) into
        ``directory`` (created if missing; its parent must exist): all or none."""
        d = Path(directory)
        tables = {"conditions": self.conditions, "measurements": self.measurements,
                  "observables": self.observables, "parameters": self.parameters}

        def text(s: str) -> Callable[[Path], None]:
            return lambda tmp: tmp.write_text(s, encoding="utf-8")

        def table(df: pd.DataFrame) -> Callable[[Path], None]:
            return lambda tmp: df.to_csv(tmp, sep="\t", index=False)

        items = [(d / FILES["sbml"], text(self.sbml)), (d / FILES["yaml"], text(self.yaml()))]
        items += [(d / FILES[k], table(df)) for k, df in tables.items()]
        items += [(d / name, text(body)) for name, body in (extra or {}).items()]
        created = not d.exists()
        d.mkdir(exist_ok=True)
        try:
            return write_all_or_nothing(items)
        except BaseException:
            if created:
                d.rmdir()
            raise


# --------------------------------------------------------------------------------------
# reading the exported SBML: rate constants and the rest

def _parts(doc: libsbml.SBMLDocument) -> tuple[dict[str, tuple], list[list[str]], dict[str, float]]:
    """(everything but the rate values, the k ids of each reaction's law, parameter values)."""
    m = doc.getModel()
    laws = [libsbml.formulaToL3String(r.getKineticLaw().getMath()) for r in m.getListOfReactions()]
    values = {p.getId(): p.getValue() for p in m.getListOfParameters()}
    events = tuple((libsbml.formulaToL3String(e.getTrigger().getMath()),
                    tuple((a.getVariable(), libsbml.formulaToL3String(a.getMath()))
                          for a in e.getListOfEventAssignments())) for e in m.getListOfEvents())
    rest = {
        "species": tuple(s.getId() for s in m.getListOfSpecies()),
        "amounts": tuple(s.getInitialAmount() for s in m.getListOfSpecies()),
        "parameters": tuple(p for p in values if not _K.fullmatch(p)),
        "values": tuple(v for p, v in values.items() if not _K.fullmatch(p)),
        "reactions": tuple(_K.sub("K", f) for f in laws),
        "events": events,
        "rules": tuple((r.getVariable(), libsbml.formulaToL3String(r.getMath()))
                       for r in m.getListOfRules()),
    }
    return rest, [_K.findall(f) for f in laws], values


def _rates(refs: list[list[str]], values: dict[str, float]) -> list[list[float]]:
    return [[values[k] for k in ks] for ks in refs]


def _differs(a: dict[str, tuple], b: dict[str, tuple], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if a[k] != b[k]]


_WHAT = {"species": "the model species", "amounts": "the doses at t = 0",
         "parameters": "the model parameters", "values": "doses, infusions or capillary beds",
         "reactions": "the transitions", "events": "the administrations after t = 0 or mode switches",
         "rules": "the saturable capillary beds", "rates": "the rate constants"}


# --------------------------------------------------------------------------------------
# how each rate depends on the estimated parameters

def _probe_ratios(p0: float, lower: float, upper: float) -> list[float]:
    """Ratios p/p0 of the probes: spread over [max(lower, p0/10), min(upper, 10 p0)]."""
    lo, hi = max(lower / p0, 0.1), min(upper / p0, 10.0)
    ratios = np.geomspace(lo, hi, _N_PROBES) ** 0.98  # strictly inside the bounds
    return [float(r) for r in ratios if abs(r - 1.0) > 1e-6]


def _basis(ratios: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
    """Design matrix: one column per exponent tuple, prod_j ratio_j ** e_j."""
    return np.column_stack([np.prod(ratios ** np.asarray(e, float), axis=1) for e in exps])


def _dependence(names: list[str], nominal: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                build: Callable[[np.ndarray], tuple[dict, list[list[float]]]],
                rest0: dict[str, tuple], rates0: list[list[float]], processes: list[str],
                allow_idle: bool = False
                ) -> dict[tuple[int, int], list[tuple[float, tuple[int, ...], tuple[int, ...]]]]:
    """For each (reaction, k position) that depends on an estimated parameter: its rate as
    terms ``(coefficient, parameter indices, exponents)``, exact on every probe; a parameter
    that changes anything but rates, or a rate in another way, is refused, as is one that
    changes no rate (unless ``allow_idle``: one block of a merged model)."""
    n = len(names)
    probes: dict[tuple[float, ...], list[list[float]]] = {tuple([1.0] * n): rates0}

    def run(ratios: tuple[float, ...]) -> list[list[float]]:
        if ratios not in probes:
            rest, rates = build(nominal * np.asarray(ratios))
            bad = _differs(rest0, rest, list(rest0))
            if bad:
                j = next(i for i, r in enumerate(ratios) if r != 1.0)
                raise FitError(f"--estimate {names[j]!r}: changes {_WHAT[bad[0]]} of the exported "
                               "model, not only its rate constants; PEtab export can estimate "
                               "parameters that act on rates only")
            probes[ratios] = rates
        return probes[ratios]

    axes = [_probe_ratios(nominal[j], lower[j], upper[j]) for j in range(n)]
    one_d = {j: [tuple(r if i == j else 1.0 for i in range(n)) for r in axes[j]] for j in range(n)}
    for pts in one_d.values():
        for p in pts:
            run(p)
    refs = [(i, q) for i, ks in enumerate(rates0) for q in range(len(ks))]
    acts = {ref: tuple(j for j in range(n)
                       if any(not math.isclose(probes[p][ref[0]][ref[1]], rates0[ref[0]][ref[1]],
                                               rel_tol=1e-12) for p in one_d[j])) for ref in refs}
    used = {j for d in acts.values() for j in d}
    idle = [names[j] for j in range(n) if j not in used]
    if idle and not allow_idle:
        raise FitError(f"--estimate {idle[0]!r}: changes no rate of the model exported for this "
                       "scenario (it acts on another route, label or design, or only on "
                       "capillary-bed saturation, which is off here)")
    out: dict[tuple[int, int], list[tuple[float, tuple[int, ...], tuple[int, ...]]]] = {}
    for d in sorted(set(acts.values()) - {()}):
        if len(d) > _MAX_JOINT:
            raise FitError(f"--estimate: more than {_MAX_JOINT} of the parameters act on one rate")
        grid = ([p for p in one_d[d[0]]] + [tuple([1.0] * n)] if len(d) == 1 else
                [tuple(dict(zip(d, c)).get(i, 1.0) for i in range(n))
                 for c in itertools.product(*[[1.0] + axes[j][::2] + axes[j][-1:] for j in d])])
        x = np.array([[p[j] for j in d] for p in grid])
        exps = list(itertools.product(_EXPONENTS, repeat=len(d)))
        A = _basis(x, exps)
        for ref in (r for r, a in acts.items() if a == d):
            y = np.array([run(p)[ref[0]][ref[1]] for p in grid])
            coef = np.linalg.lstsq(A, y, rcond=None)[0]
            coef[np.abs(coef) < 1e-12 * np.abs(coef).sum()] = 0.0
            if np.max(np.abs(A @ coef - y)) > _EXACT_RTOL * np.max(np.abs(y)):
                who = " and ".join(repr(names[j]) for j in d)
                raise FitError(f"--estimate {who}: the rate of {processes[ref[0]]!r} depends on "
                               "it in a nonlinear way (not a + b p + c / p), so the PEtab model "
                               "could not reproduce mscpk exactly; estimate it with `mscpk fit`")
            out[ref] = [(float(c), d, e) for c, e in zip(coef, exps) if c != 0.0]
    joint = tuple(a[1] for a in axes)  # every parameter changed at once: no cross effects
    for (i, q), got in ((ref, run(joint)[ref[0]][ref[1]]) for ref in refs):
        want = sum(c * math.prod(joint[j] ** ej for j, ej in zip(d, e)) for c, d, e in out[(i, q)]) \
            if (i, q) in out else rates0[i][q]
        if not math.isclose(got, want, rel_tol=_EXACT_RTOL, abs_tol=1e-300):
            raise FitError(f"--estimate: the parameters act on the rate of {processes[i]!r} "
                           "together in a way the PEtab model could not reproduce exactly")
    return out


def _formula(terms: list[tuple[float, tuple[int, ...], tuple[int, ...]]], ids: list[str],
             nominal: np.ndarray) -> str:
    """``c1 * (p / p0) + c2 + c3 * (p0 / p)`` of a rate's terms."""
    out = []
    for c, d, e in terms:
        f = [repr(c)]
        for j, ej in zip(d, e):
            if ej == 1:
                f.append(f"({ids[j]} / {float(nominal[j])!r})")
            elif ej == -1:
                f.append(f"({float(nominal[j])!r} / {ids[j]})")
        out.append(" * ".join(f))
    return " + ".join(out) or "0"


def _add_estimated(doc: libsbml.SBMLDocument, names: list[str], nominal: np.ndarray,
                   refs: list[list[str]], dep: dict) -> list[str]:
    """Add the estimated parameters to ``doc`` (ids from their names) and give every rate
    constant that depends on them an assignment rule (a new constant ``k_<n>_<j>`` where one
    ``k_<n>`` serves transitions that depend on them in different ways); returns their ids."""
    m = doc.getModel()
    ids: list[str] = []
    for n, v in zip(names, nominal):
        sid = re.sub(r"[^0-9a-z]+", "_", n.lower()).strip("_") or "p"
        sid = sid if sid[0].isalpha() else "p_" + sid
        while m.getElementBySId(sid) is not None or sid in ids:
            sid += "_"
        p = m.createParameter()
        for rc in (p.setId(sid), p.setName(n), p.setValue(float(v)), p.setConstant(True)):
            if rc != libsbml.LIBSBML_OPERATION_SUCCESS:  # pragma: no cover - guard
                raise RuntimeError(f"libsbml: parameter {sid!r}: {libsbml.OperationReturnValue_toString(rc)}")
        ids.append(sid)
    uses: dict[str, dict[int, set[str | None]]] = {}  # k id -> reaction -> its formulas
    for i, ks in enumerate(refs):
        for q, k in enumerate(ks):
            f = _formula(dep[(i, q)], ids, nominal) if (i, q) in dep else None
            uses.setdefault(k, {}).setdefault(i, set()).add(f)
    reactions = m.getListOfReactions()
    for k, by_rxn in uses.items():
        forms = list(dict.fromkeys(f for fs in by_rxn.values() for f in fs))
        if forms == [None]:
            continue
        if any(len(fs) > 1 for fs in by_rxn.values()):  # pragma: no cover - guard
            raise FitError(f"--estimate: one transition uses rate {k} in two ways")
        for j, f in enumerate(x for x in forms if x is not None):
            target = k if forms == [f] else f"{k}_{j + 1}"
            if target != k:
                p = m.getParameter(k).clone()
                p.setId(target)
                m.addParameter(p)
                for i, fs in by_rxn.items():
                    if f in fs:
                        kl = reactions.get(i).getKineticLaw()
                        ast = kl.getMath().deepCopy()
                        ast.renameSIdRefs(k, target)
                        kl.setMath(ast)
            m.getParameter(target).setConstant(False)
            rule = m.createAssignmentRule()
            rule.setVariable(target)
            if rule.setMath(libsbml.parseL3Formula(f)) != libsbml.LIBSBML_OPERATION_SUCCESS:
                raise RuntimeError(f"libsbml could not use the rate formula {f!r}")  # pragma: no cover
    return ids


def _builder(fm: ForwardModel, mode: str) -> Callable[[np.ndarray], tuple[dict, list[list[float]]]]:
    """values -> (the rest, the rate constants) of ``fm``'s exported model at ``values``."""
    def build(values: np.ndarray) -> tuple[dict, list[list[float]]]:
        rest, refs, vals = _parts(build_sbml_document(fm.scenario, saturation=mode,
                                                      params=fm.parameter_set(np.log(values))))
        return rest, _rates(refs, vals)
    return build


def add_estimated(doc: libsbml.SBMLDocument, fm: ForwardModel, names: list[str], nominal: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, *, allow_idle: bool = False) -> list[str]:
    """Make ``names`` SBML parameters of ``doc`` (``fm``'s model at ``nominal``) with every rate
    constant that depends on them an exact assignment rule (probed over ``lower``..``upper``,
    :func:`_dependence`); returns their ids. Raises :class:`FitError` for a parameter that acts
    on anything but rates (or on no rate, unless ``allow_idle``)."""
    rest0, refs0, vals0 = _parts(doc)
    build = _builder(fm, "on" if rest0["rules"] else "off")
    processes = [r.getName() for r in doc.getModel().getListOfReactions()]
    dep = _dependence(names, nominal, lower, upper, build, rest0, _rates(refs0, vals0), processes,
                      allow_idle)
    return _add_estimated(doc, names, nominal, refs0, dep)


# --------------------------------------------------------------------------------------
# the problem

def _slug(text: str, taken: set[str]) -> str:
    sid = re.sub(r"[^0-9A-Za-z]+", "_", str(text)).strip("_") or "x"
    while sid in taken:
        sid += "_"
    taken.add(sid)
    return sid


def readout_formula(site: str, assay: str, species: tuple[str, ...], info: Any) -> str:
    """Formula of the readout of ``assay`` at ``site`` (as the detection layer computes it)."""
    w = site_quantity_weights(species)
    pick = ("live_cells", "dead_cells") if assay == "qpcr" else ("live_cells",)
    terms = [s for q in pick for s, x in zip(species, w[(site, q)]) if x]
    factor = 1.0
    if assay in ("flow", "ihc") and assay in info.assays:  # the label itself is stained
        if info.direct or info.kind in ("particle", "dye"):
            raise FitError(f"ASSAY {assay!r} with label {info.name!r}: the readout follows the "
                           "label kinetics (dilution, dead material), which the SBML model does "
                           "not contain; PEtab export needs a reporter or species-marker readout")
        factor = info.labelled_fraction
    body = " + ".join(terms) or "0"
    return body if factor == 1.0 else f"{factor!r} * ({body})"


def petab_problem(scenario: Any, data: Any, estimate: Sequence[str] | str, *,
                  label: str | None = None, sigma: str = "auto") -> PetabProblem:
    """The PEtab problem of fitting ``estimate`` (names as ``mscpk params`` lists them) to
    ``data`` (study data, as :func:`mscpk.fit` reads them; a GROUP or DOSE column gives one
    condition per group) with ``scenario`` as the base design.

    The model is :func:`~mscpk.analysis.sbml.build_sbml_document` at the nominal values
    (saturation as :func:`mscpk.simulate` decides there) with each estimated parameter as an
    SBML parameter and every rate constant that depends on it as an assignment rule
    ``a + b p/p0 + c p0/p``, checked exact on probes over the search range; a parameter that
    acts otherwise (nonlinearly, on doses or capillary beds) is refused. Observables are the
    fit's readouts (live cells; qpcr live + dead; flow/ihc live labelled cells), log-normal
    with one sigma per assay or shared (``sigma`` as in :func:`mscpk.fit`); summary rows keep
    their moment-matched log-scale mean and variance ``(sigma^2 + sdlog^2) / N``.

    Raises :class:`~mscpk.errors.FitError` (a :class:`~mscpk.errors.MscpkError`).
    """
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    frame, scen, row_groups = prepare(scenario, data, None)
    models = {g: ForwardModel(sc, names, label=label) for g, sc in scen.items()}
    joint = JointModel(models)
    problem = Problem(joint, frame, groups=row_groups)
    if problem.censored.any():
        raise FitError(f"{rows_of(problem.frame[problem.censored])}: censored (CENS = 1); PEtab v1 "
                       "has no censored measurements; leave these rows out to export the rest")
    assays = np.asarray(problem.assays, object)
    bad = sorted(set(problem.assays) - set(PETAB_ASSAYS))
    if bad:
        raise FitError(f"{rows_of(problem.frame[assays == bad[0]])}, column ASSAY: {bad[0]!r} reads "
                       "label kinetics or optics that the SBML model does not contain; PEtab "
                       "export supports ASSAY blank (live cells), qpcr, flow and ihc")
    loglik = LogLikelihood(problem, sigma=sigma)
    lower, upper = (np.array([float(f"{math.exp(x):.12g}") for x in b]) for b in (joint.lower, joint.upper))
    nominal = np.clip([float(joint.base[n]) for n in names], lower, upper)

    docs = {g: build_sbml_document(m.scenario, saturation=None, params=m.parameter_set(np.log(nominal)))
            for g, m in models.items()}
    g0, fm0 = next(iter(models.items()))
    doc0 = docs[g0]
    rest0, refs0, vals0 = _parts(doc0)
    mode = "on" if rest0["rules"] else "off"
    same = [k for k in rest0 if k not in ("amounts", "values")]
    parts = {g: _parts(d) for g, d in docs.items()}
    for g, (rest, refs, vals) in parts.items():
        diff = _differs(rest0, rest, same) + (["rates"] if _rates(refs, vals) != _rates(refs0, vals0) else [])
        if diff:
            raise FitError(f"GROUP {g!r} differs from GROUP {g0!r} in {_WHAT[diff[0]]}, not only in "
                           "its doses at t = 0; a PEtab v1 problem has one model for all "
                           "conditions: export such groups separately")

    ids = add_estimated(doc0, fm0, names, nominal, lower, upper)
    probe = nominal * np.array([_probe_ratios(*b)[0] for b in zip(nominal, lower, upper)])
    for g, m in list(models.items())[1:]:  # the doses of every group ignore the estimates
        if _differs(parts[g][0], _builder(m, mode)(probe)[0], ("amounts", "values")):
            raise FitError(f"--estimate: changes the doses of GROUP {g!r}; PEtab export can "
                           "estimate parameters that act on rates only")

    # conditions: one per group, setting the initial amounts (and infusion rates) that differ
    taken: set[str] = set()
    cond_id = {g: "c_" + _slug(g, taken) for g in models}
    cond = pd.DataFrame({"conditionId": list(cond_id.values()), "conditionName": list(cond_id)})
    for key, label_key in (("species", "amounts"), ("parameters", "values")):
        for j, sid in enumerate(rest0[key]):
            col = [parts[g][0][label_key][j] for g in models]
            if len(set(col)) > 1:
                cond[sid] = col

    # observables and measurements
    info = resolve_label(resolve(fm0.scenario), fm0.label_name)
    sig_key = [loglik.sigma_keys[i] for i in loglik.sigma_index]
    obs_rows: dict[str, dict[str, str]] = {}
    obs_of = []
    for site, assay, key in zip(problem.sites, problem.assays, sig_key):
        oid = f"obs_{site}_{assay or NO_ASSAY}"
        if oid not in obs_rows:
            obs_rows[oid] = {
                "observableId": oid, "observableName": f"{site} {assay or NO_ASSAY}",
                "observableFormula": readout_formula(site, assay, rest0["species"], info),
                "observableTransformation": "log",
                "noiseFormula": f"sqrt((sigma_{key}^2 + noiseParameter1_{oid}^2) / noiseParameter2_{oid})",
                "noiseDistribution": "normal"}
        obs_of.append(oid)
    meas = pd.DataFrame({
        "observableId": obs_of,
        "simulationConditionId": [cond_id[g] for g in problem.row_groups],
        "measurement": problem.dv * np.exp(-0.5 * problem.sdlog ** 2),
        "time": problem.times,
        "noiseParameters": [f"{float(s)!r};{float(n)!r}" for s, n in zip(problem.sdlog, problem.n_animals)],
    })
    par = pd.DataFrame({
        "parameterId": ids + [f"sigma_{k}" for k in loglik.sigma_keys],
        "parameterName": names + [f"log-scale residual SD ({k})" for k in loglik.sigma_keys],
        "parameterScale": "log10",
        "lowerBound": list(lower) + [SIGMA_BOUNDS[0]] * len(loglik.sigma_keys),
        "upperBound": list(upper) + [SIGMA_BOUNDS[1]] * len(loglik.sigma_keys),
        "nominalValue": list(nominal) + [SIGMA_START] * len(loglik.sigma_keys),
        "estimate": 1,
    })
    return PetabProblem(libsbml.writeSBMLToString(doc0), cond, meas,
                        pd.DataFrame(list(obs_rows.values())), par)


def export_petab(scenario: Any, data: Any, estimate: Sequence[str] | str,
                 directory: str | os.PathLike, **options: Any) -> PetabProblem:
    """:func:`petab_problem` written into ``directory``: the files of :data:`FILES`, all or
    none (:meth:`PetabProblem.write`)."""
    pp = petab_problem(scenario, data, estimate, **options)
    pp.write(directory)
    return pp
