"""The inputs of a report, checked before any work: the scenario (file or object), optional
study data and an optional fit output JSON (``mscpk fit -o``), each with its SHA-256."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscpk.analysis.fitting import FitResult
from mscpk.errors import DataError, MscpkError, ScenarioError
from mscpk.inputs.load import load_scenario
from mscpk.inputs.scenario import Scenario
from mscpk.inputs.studydata import StudyData, read_study

#: Entries of a fit output JSON that the report reads, with their JSON types.
FIT_KEYS: dict[str, tuple[type, ...]] = {
    "parameters": (dict,), "objective": (int, float), "converged": (bool,), "sigma": (int, float),
    "n_obs": (int,), "n_blq": (int,), "predictions": (list,)}
#: Columns every prediction row of a fit JSON has.
FIT_ROW_KEYS = ("TIME", "SITE", "DV", "PRED")
#: Entries of each estimated parameter of a fit JSON.
FIT_PARAMETER_KEYS = ("estimate", "ci_low", "ci_high", "unit", "identifiable")


class ReportError(MscpkError, ValueError):
    """A report input (fit file, option) is invalid, or the report cannot be written."""


@dataclass(frozen=True)
class Source:
    """Where an input came from: ``path`` (or a description of the object), its text's
    ``sha256`` (hex) and, for a scenario, its ``text``."""

    path: str
    sha256: str
    text: str = ""


@dataclass(frozen=True)
class ReportInputs:
    """The checked inputs: the scenario, study data and fit (each None when not given)."""

    scenario: Scenario
    scenario_source: Source
    data: StudyData | None = None
    data_source: Source | None = None
    fit: FitResult | None = None
    fit_source: Source | None = None


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``.

    >>> sha256(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def _file(path: Path, what: str, error: type[MscpkError]) -> bytes:
    if not path.exists():
        raise error(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise error(f"{what} {str(path)!r} is a folder; give a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what} {str(path)!r}: cannot be read ({exc.strerror or exc})") from None


def scenario_input(scenario: Any) -> tuple[Scenario, Source]:
    """The scenario and its source: a TOML file (its text as written) or a Scenario object (its
    fields as TOML)."""
    if isinstance(scenario, Scenario):
        import tomli_w

        text = tomli_w.dumps(scenario.model_dump(mode="json", exclude_none=True))
        return scenario, Source("(Scenario object)", sha256(text.encode("utf-8")), text)
    if not isinstance(scenario, (str, Path)):
        raise ScenarioError(f"report: give a scenario file or a Scenario, not {type(scenario).__name__}")
    path = Path(scenario)
    raw = _file(path, "scenario file", ScenarioError)
    sc = load_scenario(path)
    return sc, Source(str(path), sha256(raw), raw.decode("utf-8-sig"))


def data_input(data: Any) -> tuple[StudyData | None, Source | None]:
    """Study data from a file (CSV/XLSX) or a StudyData object; (None, None) when not given."""
    if data is None:
        return None, None
    if isinstance(data, StudyData):
        return data, Source(data.source or "(StudyData object)", "")
    path = Path(data)
    raw = _file(path, "study data file", DataError)
    return read_study(path), Source(str(path), sha256(raw))


def _number(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"{where}: {value!r} is not a number")
    return float(value)


def fit_from_dict(d: Any, where: str = "fit") -> FitResult:
    """A :class:`FitResult` from the fit output JSON (``FitResult.to_dict``), without its
    forward model (so without fitted curves between the data times).

    >>> fit_from_dict({"parameters": {}, "objective": 1.0})
    Traceback (most recent call last):
    ...
    mscpk.analysis.report.inputs.ReportError: fit: missing entry 'converged' (a fit file has parameters, ...)
    """
    import pandas as pd

    if not isinstance(d, dict):
        raise ReportError(f"{where}: not a fit output (a JSON object written by mscpk fit -o)")
    for key, types in FIT_KEYS.items():
        if key not in d:
            raise ReportError(f"{where}: missing entry {key!r} (a fit file has {', '.join(FIT_KEYS)}; "
                              "written by mscpk fit -o)")
        if isinstance(d[key], bool) and bool not in types or not isinstance(d[key], types):
            raise ReportError(f"{where}: entry {key!r} is {d[key]!r}; allowed: "
                              f"{' or '.join(t.__name__ for t in types)}")
    params = {}
    for name, p in d["parameters"].items():
        if not isinstance(p, dict) or any(k not in p for k in FIT_PARAMETER_KEYS):
            raise ReportError(f"{where}: parameter {name!r} needs {', '.join(FIT_PARAMETER_KEYS)}")
        params[name] = {**p, **{k: _number(p[k], f"{where}: parameter {name!r} {k}")
                                for k in ("estimate", "ci_low", "ci_high")}}
    if not params:
        raise ReportError(f"{where}: no estimated parameter")
    rows = d["predictions"]
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or any(k not in row for k in FIT_ROW_KEYS):
            raise ReportError(f"{where}: prediction {i + 1} needs {', '.join(FIT_ROW_KEYS)}")
    pred = pd.DataFrame(rows)
    for col in ("TIME", "DV", "PRED", "LOGRES", "LLOQ", "SD"):
        if col in pred:
            pred[col] = pd.to_numeric(pred[col], errors="coerce").astype(float)
    sigmas = d.get("sigmas") or {}
    omega_ci = d.get("omega_ci")
    return FitResult(
        parameters=params, sigma=_number(d["sigma"], f"{where}: sigma"),
        objective=_number(d["objective"], f"{where}: objective"), converged=d["converged"],
        n_obs=d["n_obs"], n_blq=d["n_blq"], predictions=pred,
        start_objectives=tuple(_number(v, f"{where}: start objective") for v in d.get("start_objectives", ())),
        n_starts=int(d.get("n_starts", 1)), seed=int(d.get("seed", 0)),
        sigmas={k: _number(v, f"{where}: sigma {k}") for k, v in sigmas.items()},
        sigma_mode=str(d.get("sigma_mode", "shared")), n_summary=int(d.get("n_summary", 0)),
        groups=dict(d.get("groups") or {}), centre=str(d.get("centre", "median")),
        animal_effect=bool(d.get("animal_effect", False)),
        omega=None if d.get("omega") is None else _number(d["omega"], f"{where}: omega"),
        omega_ci=None if omega_ci is None else tuple(_number(v, f"{where}: omega_ci") for v in omega_ci),
        n_animals=d.get("n_animals"), convergence=str(d.get("convergence", "converged")),
        excluded=tuple(d.get("excluded") or ()), warnings=tuple(d.get("warnings") or ()))


def fit_input(fit: Any) -> tuple[FitResult | None, Source | None]:
    """A fit from its output JSON file or a FitResult; (None, None) when not given."""
    if fit is None:
        return None, None
    if isinstance(fit, FitResult):
        return fit, Source("(FitResult object)", sha256(fit.to_json().encode("utf-8")))
    path = Path(fit)
    raw = _file(path, "fit file", ReportError)
    try:
        d = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"fit file {str(path)!r}: not valid JSON ({exc})") from None
    return fit_from_dict(d, f"fit file {str(path)!r}"), Source(str(path), sha256(raw))


def check_inputs(scenario: Any, data: Any = None, fit: Any = None) -> ReportInputs:
    """Every input read and checked (:class:`ScenarioError`, :class:`DataError` or
    :class:`ReportError` naming the file and what is wrong)."""
    sc, sc_source = scenario_input(scenario)
    study, data_source = data_input(data)
    result, fit_source = fit_input(fit)
    return ReportInputs(sc, sc_source, study, data_source, result, fit_source)


__all__ = ["ReportError", "ReportInputs", "Source", "check_inputs", "fit_from_dict", "sha256"]
