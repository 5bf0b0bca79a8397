"""Property-based fuzz test of the command line (issue 14, acceptance): bad input never reaches
the model.

Mutations of the bundled examples (``examples/*.toml``) and of a small study file (ID, TIME,
DV, SITE): NaN, inf, negative, huge values, wrong types, deleted, repeated and unknown keys,
a byte-order mark, other line ends and separators, truncated or non-UTF-8 text, duplicated
rows, bad option values, and paths that are folders or in missing folders. Each case runs one
command (simulate, scan, params, export sbml, observe, nca, fit with one parameter and one
start) through typer's CliRunner and must end in one of two ways (the project store's
``--db URL`` and ``mscpk db`` commands too: unusable URLs and unknown runs, issue 12):

* a clean error: exit status 2, exactly one line on stderr starting with ``error: ``, no
  traceback, no file left in the output folder;
* a valid result: exit status 0, the output written, every value finite and non-negative where
  it must be, mass balance to 1e-9 of the dose, the requested output times present.

Population, sensitivity, optimize, translate and effect run on mutated scenarios too (the
``[population]`` and ``[effect]`` tables of their examples among the mutated keys), and so does
report (issue 12: a page with every model section and no http(s) resource, or a clean error).

The number of cases is bounded (``max_examples``: 130 scenario, 40 design/population, 12 report,
70 study-file, 30 path and 60 option cases, 342 in all, about a minute; plus 60 store cases; derandomised by the suite's hypothesis profile) and the
counts (cases, clean errors, valid results) are printed at the end of the module. Every drawn
case is checked: none is left out as a known defect. Running as root, unwritable paths cannot
be tested (root writes anywhere).
"""

from __future__ import annotations

import json
import math
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
IV_MOUSE = ROOT / "examples" / "iv_mouse.toml"
LUNG_DEATH = "Lung arrested cell death half-life [h]"
COUNTS: Counter = Counter()
pytestmark = pytest.mark.slow

#: Values put in place of a scenario value or a study-file cell.
BAD_VALUES = [math.nan, math.inf, -math.inf, -1, -1e-300, 0, 0.0, 1e300, -1e300, 2 ** 63 - 1, 1e-300,
              "text", "", True, False, [], [1, 2], {}, {"x": 1}]
BAD_CELLS = ["nan", "NaN", "", "inf", "-inf", "-1", "0", "1e300", "-1e300", "abc", "1,5", "TRUE", " ", "1e-300"]


# ---- a small TOML writer (inline tables: enough for a scenario) -------------------------------

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }"


def toml_text(doc: dict) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


def leaves(node, path=()):
    """Every (path, value) of a parsed TOML document: tables, lists and scalars."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield path + (k,), v
        yield from leaves(v, path + (k,))


def parent_of(doc, path):
    node = doc
    for k in path[:-1]:
        node = node[k]
    return node


# ---- cases --------------------------------------------------------------------------------

@st.composite
def scenario_texts(draw):
    """(file name, bytes) of a mutated example scenario."""
    example = draw(st.sampled_from(EXAMPLES))
    text = example.read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    kind = draw(st.sampled_from(["replace"] * 6 + ["parameter"] * 3 + ["times", "cells"] * 2 + [
        "delete", "repeat", "unknown", "bom", "crlf", "truncate", "separator", "empty", "not_utf8", "as_is"]))
    if kind == "parameter":  # an override of any parameter `mscpk params` lists
        doc.setdefault("parameters", {})[draw(st.sampled_from(PARAMETERS))] = draw(st.sampled_from(
            BAD_VALUES + [0.5, 1.0, 1.5, 5.0, 1e6]))
        return f"{example.stem}-parameter.toml", toml_text(doc).encode()
    if kind == "times":
        doc.setdefault("run", {})["times_h"] = draw(st.lists(st.sampled_from(
            [0, 1, 24.0, 1e4, math.nan, math.inf, -1, 1e300, "1", True]), max_size=4))
        return f"{example.stem}-times.toml", toml_text(doc).encode()
    if kind == "cells":  # large but allowed doses (the capillary beds fill)
        dose = doc["dose"][0]
        dose.pop("cells_per_kg", None)
        dose["cells"] = draw(st.sampled_from([1e9, 1e10, 1e11, 1e12]))
        return f"{example.stem}-cells.toml", toml_text(doc).encode()
    if kind in ("replace", "delete", "repeat", "unknown"):
        paths = [p for p, _ in leaves(doc)]
        if kind == "repeat":
            paths = [p for p, v in leaves(doc) if isinstance(v, list) and v] or paths
        if kind == "unknown":
            paths = [p for p, v in leaves(doc) if isinstance(v, dict)]
        path = draw(st.sampled_from(paths))
        parent = parent_of(doc, path)
        if kind == "replace":
            parent[path[-1]] = draw(st.sampled_from(BAD_VALUES))
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "repeat" and isinstance(parent[path[-1]], list):
            parent[path[-1]].append(parent[path[-1]][0])
        elif kind == "unknown":
            parent[path[-1]]["nonsense_key"] = 1.0
        return f"{example.stem}-{kind}.toml", toml_text(doc).encode()
    raw = example.read_bytes()
    if kind == "bom":
        return f"{example.stem}-bom.toml", b"\xef\xbb\xbf" + raw
    if kind == "crlf":
        return f"{example.stem}-crlf.toml", raw.replace(b"\n", b"\r\n")
    if kind == "truncate":
        return f"{example.stem}-cut.toml", raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "separator":
        return f"{example.stem}-sep.toml", raw.replace(b" = ", b": ", 1)
    if kind == "empty":
        return f"{example.stem}-empty.toml", b""
    if kind == "not_utf8":
        return f"{example.stem}-latin1.toml", raw.replace(b"\n", " \u00b5m\n".encode("latin-1"), 1)
    return example.name, raw


def study_frame() -> pd.DataFrame:
    """Lung cells of iv_mouse (5e5 cells IV) at 1, 24 and 72 h in three animals, near the model."""
    res = mscpk.simulate(mscpk.load_scenario(IV_MOUSE), times_h=[1, 24, 72])
    lung = res.quantity("lung", "live_cells")
    rows = [{"ID": a, "TIME": t, "DV": round(float(v) * f, 1), "SITE": "lung"}
            for a, f in ((1, 0.9), (2, 1.0), (3, 1.1)) for t, v in zip((1, 24, 72), lung)]
    return pd.DataFrame(rows)


STUDY = study_frame()
PARAMETERS = sorted(mscpk.parameters_in_force(mscpk.load_scenario(IV_MOUSE))["name"])
#: Optional study columns and values to put in them (INTERFACE study-data format).
OPTIONAL = {"DOSE": ["5e5", "nan", "-1", "1e300", "abc", ""], "ROUTE": ["iv", "ip", "IV", "oral", ""],
            "DVU": ["cells", "cells/g", "%ID", "Ct", "copies/ug", "kg", ""], "LLOQ": ["10", "nan", "-1", "abc"],
            "CENS": ["0", "1", "2", "abc"], "GROUP": ["a", "", "nan"], "ASSAY": ["qpcr", "bli", "x", ""]}


@st.composite
def study_texts(draw):
    """(file name, bytes) of a mutated study file."""
    frame = STUDY.astype(object).copy()
    kind = draw(st.sampled_from(["cell"] * 5 + ["optional"] * 4 + [
        "duplicate", "bom", "semicolon", "tab", "decimal_comma", "drop_column", "header_only", "empty",
        "unknown_site", "extra_column", "as_is"]))
    sep, decimal, prefix = ",", ".", b""
    if kind == "optional":  # an optional column, one value for all rows and another in one row
        column = draw(st.sampled_from(sorted(OPTIONAL)))
        frame[column] = draw(st.sampled_from(OPTIONAL[column]))
        frame.iat[draw(st.integers(0, len(frame) - 1)), frame.columns.get_loc(column)] = draw(
            st.sampled_from(OPTIONAL[column]))
        kind = f"optional_{column}"
    elif kind == "cell":
        frame.iat[draw(st.integers(0, len(frame) - 1)), draw(st.integers(0, 3))] = draw(st.sampled_from(BAD_CELLS))
    elif kind == "duplicate":
        frame = pd.concat([frame, frame.iloc[[draw(st.integers(0, len(frame) - 1))]]], ignore_index=True)
    elif kind == "bom":
        prefix = b"\xef\xbb\xbf"
    elif kind == "semicolon":
        sep = ";"
    elif kind == "tab":
        sep = "\t"
    elif kind == "decimal_comma":
        sep, decimal = ";", ","
    elif kind == "drop_column":
        frame = frame.drop(columns=draw(st.sampled_from(["ID", "TIME", "DV", "SITE"])))
    elif kind == "header_only":
        frame = frame.iloc[:0]
    elif kind == "unknown_site":
        frame.iat[draw(st.integers(0, len(frame) - 1)), 3] = "lungs"
    elif kind == "extra_column":
        frame["WEIGHT"] = 1.0
    if kind == "empty":
        return "study-empty.csv", b""
    text = frame.to_csv(index=False, sep=sep, decimal=decimal) if decimal == "," else frame.to_csv(index=False, sep=sep)
    return f"study-{kind}.csv", prefix + text.encode()


TIME_TEXTS = ["nan", "1,inf", "1e300", "-1", "", "abc", "1;24", "1,,24", "24,1,1", "0"]
NUMBER_TEXTS = ["nan", "inf", "-1", "0", "1e300", "abc", "2.5", ""]
#: Option values to try, per command (the option replaces the case's own value of it).
OPTIONS = {
    "simulate": [("--summary-times", v) for v in TIME_TEXTS] + [("--saturation", v) for v in ("ON", "", "off")],
    "scan": [("--times", v) for v in TIME_TEXTS] + [("--quantities", v) for v in (
        "all", "x", "", "live_cells,live_cells", "occlusion_fraction")] + [("--vary", v) for v in (
        "dose[1].cells=nan", "dose[1].cells=1e5,1e5", "dose[1]={oops", 'dose[1]={"route":"local"}',
        'dose[1]={"route":"local","site":"heart"},{"route":"iv"}', "x=1", "subject.species.x=1", "=",
        f"{LUNG_DEATH}=inf,-1", "dose[2].cells=1")],
    "params": [("--format", v) for v in ("csv", "xml", "")],
    "sbml": [("--saturation", v) for v in ("on", "bogus", "")],
    "observe": [("--times", v) for v in TIME_TEXTS] + [(o, v) for o in ("--detection-limit", "--seed", "--division-time")
                                                      for v in NUMBER_TEXTS],
    "nca": [(o, v) for o in ("--min-hl-points", "--ci-level", "--adj-r2-factor", "--blq-first") for v in NUMBER_TEXTS]
           + [("--sparse", v) for v in ("yes", "maybe", "")],
    "fit": [(o, v) for o in ("--n-starts", "--seed") for v in ("abc", "-1", "0", "2.5", "")]
           + [("--sigma", v) for v in ("shared", "x")],
    "population": [("-n", v) for v in ("0", "-1", "abc", "3")] + [("--metric", v) for v in (
        "lung:oops", "nowhere:cell_days", "effect_max", "persistence_h", "lung:live_at_-1h", "")]
        + [("--by", v) for v in ("x", "")] + [("--workers", v) for v in ("0", "abc")],
    "sensitivity": [("--method", v) for v in ("fast", "", "local")] + [("-n", v) for v in ("1", "0", "abc")]
        + [("--metric", v) for v in ("lung:oops", "")],
    "optimize": [("--vary", v) for v in ("dose[1].cells=1e7..1e5", "dose[1].cells", "dose[1].cells=nan..1",
                                           "dose[1].cells=1e5..1e13", "x.y=1..2", "product.diameter_um.mean=12,abc")]
        + [("--constraint", v) for v in ("lung:peak_occlusion<0.1", "lung:oops<=1", "lung:peak_occlusion<=nan")]
        + [("--maximize", v) for v in ("responders", "", "lung:oops")],
    "translate": [("--to", v) for v in ("cat", "", "human")] + [("--dose", v) for v in ("surface", "")]
        + [("--body-weight", v) for v in ("-1", "nan", "0", "abc", "1e9")],
}
#: Store URLs that cannot be used (issue 12): refused before any work, nothing written.
BAD_STORE_URLS = ["mysql://db/lab", "lab.db", "", "sqlite://", "sqlite:///missing/lab.db", "sqlite:///.",
                  "postgresql://mscpk@127.0.0.1:1/lab", "postgresql://u@h:notaport/db"]
for _name in ("simulate", "nca", "fit", "population"):
    OPTIONS[_name] += [("--db", v) for v in BAD_STORE_URLS]
#: Options that click converts itself (typer annotations int / float), with their type.
CLICK_NUMBERS = {"--seed": int, "--n-starts": int, "--min-hl-points": int, "--detection-limit": float,
                 "--division-time": float, "--ci-level": float, "--adj-r2-factor": float, "-n": int,
                 "--workers": int, "--body-weight": float}
#: The examples the new commands start from when a case mutates no scenario.
POPULATION = ROOT / "examples" / "population_iv_mouse.toml"
EFFECT = ROOT / "examples" / "effect_iv_mi_mouse.toml"


def not_a_click_number(option: str, value: str) -> bool:
    """Whether click refuses ``value`` for a typed option (its usage error, not an mscpk error)."""
    try:
        CLICK_NUMBERS.get(option, str)(value)
    except ValueError:
        return True
    return False


def command(name: str, scenario: str, data: str | None, out: Path) -> list[str]:
    """The command line of one case (outputs in ``out``)."""
    if name == "simulate":
        return ["simulate", scenario, "-o", str(out / "res.csv")]
    if name == "scan":
        return ["scan", scenario, "--vary", "dose[1].cells=1e5,2e5", "--times", "1,24", "--quantities", "all",
                "-o", str(out / "scan.csv")]
    if name == "params":
        return ["params", scenario, "--format", "csv", "-o", str(out / "params.csv")]
    if name == "sbml":
        return ["export", "sbml", scenario, "-o", str(out / "model.xml")]
    if name == "observe":
        return ["observe", scenario, "--assay", "bli", "--label", "luciferase", "--times", "1,24",
                "-o", str(out / "obs.csv")]
    if name == "nca":
        return ["nca", data, "-o", str(out / "pp.csv")]
    if name == "population":
        return ["population", scenario, "-n", "12", "--metric", "lung:cell_days", "-o", str(out / "pop.csv")]
    if name == "sensitivity":
        return ["sensitivity", scenario, "--metric", "lung:cell_days", "--method", "morris", "-n", "2",
                "-o", str(out / "sens.csv")]
    if name == "optimize":
        return ["optimize", scenario, "--maximize", "lung:cell_days", "--vary", "dose[1].cells=1e5..1e6",
                "--constraint", "lung:peak_occlusion<=0.05", "-o", str(out / "best.json")]
    if name == "translate":
        return ["translate", scenario, "--to", "rat", "-o", str(out / "rat.toml")]
    if name == "effect":
        return ["effect", scenario, "-o", str(out / "effect.csv")]
    if name == "report":
        return ["report", scenario, "-o", str(out / "report.html")]
    return ["fit", scenario, data, "--estimate", LUNG_DEATH, "--n-starts", "1", "-o", str(out / "fit.json")]


# ---- the two outcomes -----------------------------------------------------------------------

def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def check_clean_error(res, out: Path, before: list[str]) -> None:
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr: {res.stderr!r}"
    assert "Traceback" not in res.output
    assert files_in(out) == before, f"left behind: {sorted(set(files_in(out)) - set(before))}"


def finite_non_negative(values, what: str, scale: float = 1.0) -> None:
    v = np.asarray(values, float)
    assert np.isfinite(v).all(), f"{what}: not finite"
    assert (v >= -1e-9 * scale).all(), f"{what}: negative ({v.min()!r})"


def check_valid(name: str, args: list[str], res, out: Path) -> None:
    assert "Traceback" not in res.output
    # stderr: warnings only (and the blank line a finished progress bar leaves)
    assert all(ln.startswith("warning: ") for ln in res.stderr.splitlines() if ln.strip()), f"stderr: {res.stderr!r}"
    target = Path(args[args.index("-o") + 1])
    assert target.is_file(), f"{target} not written"
    if name in ("simulate", "scan", "observe", "params", "nca"):
        df = pd.read_csv(target)
        assert len(df) > 0
    if name == "simulate":
        sc = mscpk.load_scenario(args[1])
        result = mscpk.simulate(sc)
        dose = float(result.administered.max())
        finite_non_negative(df["value"], "simulate value", dose)
        assert np.allclose(sorted(set(df["time_h"])), sc.output_times(), rtol=0, atol=1e-9)
        occ = df.loc[df.quantity == "occlusion_fraction", "value"]
        assert (occ <= 1 + 1e-9).all(), f"a capillary bed above its capacity: occlusion {occ.max()!r}"
        cells = df[df.quantity.isin(["live_cells", "dead_cells"])].groupby("time_h")["value"].sum()
        assert np.allclose(cells.to_numpy(), result.administered, rtol=0, atol=1e-9 * max(dose, 1.0))
        assert result.mass_balance_error() < 1e-9
    elif name in ("scan", "observe"):
        finite_non_negative(df["value"], f"{name} value", float(df["value"].abs().max()))
        requested = {float(t) for t in args[args.index("--times") + 1].split(",") if t.strip()}
        assert set(df["time_h"]) == requested
    elif name == "params":
        assert list(df.columns) == ["name", "value", "unit", "source"] and df["value"].notna().all()
        assert df["name"].is_unique
    elif name == "sbml":
        assert "<sbml" in target.read_text(encoding="utf-8")[:500]
    elif name == "nca":
        assert not np.isinf(pd.to_numeric(df["PPORRES"], errors="coerce")).any()
    elif name in ("population", "sensitivity", "effect"):
        df = pd.read_csv(target)
        assert len(df) > 0
        numbers = df.select_dtypes("number").drop(columns=[c for c in ("persistence_h",) if c in df])
        assert np.isfinite(numbers.to_numpy(float)).all(), f"{name}: a value is not finite"
    elif name == "optimize":
        best = json.loads(target.read_text(encoding="utf-8"))
        assert math.isfinite(best["objective"]) and best["evaluations"] > 0
        assert 1e5 * (1 - 1e-9) <= best["best"]["dose[1].cells"] <= 1e6 * (1 + 1e-9)
    elif name == "translate":
        assert mscpk.load_scenario(target).subject.species == args[args.index("--to") + 1]
    elif name == "report":
        page = target.read_text(encoding="utf-8")
        for key in ("design", "biodistribution", "distribution", "migration", "homing", "persistence", "death",
                    "embolic", "limitations", "reproducibility"):
            assert f'<section id="{key}"' in page, key
        assert "http://" not in page and "https://" not in page
    elif name == "fit":
        fit = json.loads(target.read_text(encoding="utf-8"))
        est = fit["parameters"][LUNG_DEATH]["estimate"]
        assert math.isfinite(est) and est > 0 and math.isfinite(fit["objective"])


STUDY_CSV = ("study.csv", STUDY.to_csv(index=False).encode())


def run_case(name: str, scenario_file: tuple[str, bytes] | None, data_file: tuple[str, bytes] | None,
             path_case: str = "", option: tuple[str, str] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="mscpk-fuzz-") as tmp:
        inputs, out = Path(tmp) / "in", Path(tmp) / "out"
        inputs.mkdir()
        out.mkdir()
        scenario = str({"population": POPULATION, "sensitivity": POPULATION, "effect": EFFECT}.get(name, IV_MOUSE))
        data = None
        if scenario_file is not None:
            (inputs / scenario_file[0]).write_bytes(scenario_file[1])
            scenario = str(inputs / scenario_file[0])
        if data_file is not None:
            (inputs / data_file[0]).write_bytes(data_file[1])
            data = str(inputs / data_file[0])
        args = command(name, scenario, data, out)
        if path_case == "input_folder":  # the input file is a folder
            folder = inputs / "folder.toml" if data is None else inputs / "folder.csv"
            folder.mkdir()
            args[args.index(data if data is not None else scenario)] = str(folder)
        elif path_case == "output_folder":
            target = Path(args[args.index("-o") + 1])
            target.mkdir()
        elif path_case == "output_missing_folder":
            args[args.index("-o") + 1] = str(out / "missing" / Path(args[args.index("-o") + 1]).name)
        if option is not None:
            if option[0] in args:
                args[args.index(option[0]) + 1] = option[1]
            else:
                args += list(option)
        before = files_in(out)
        res = CliRunner().invoke(app, args)
        COUNTS["cases"] += 1
        assert res.exit_code in (0, 2), f"exit {res.exit_code}: {res.exception!r}\n{res.output}"
        if res.exit_code == 2:
            check_clean_error(res, out, before)
            COUNTS["clean"] += 1
        else:
            check_valid(name, args, res, out)
            COUNTS["valid"] += 1


# ---- the properties ------------------------------------------------------------------------

@settings(max_examples=130, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(["simulate"] * 3 + ["scan", "params", "sbml", "observe"]), scenario=scenario_texts())
def test_scenario_mutations_end_in_a_clean_error_or_a_valid_result(name, scenario):
    run_case(name, scenario, None)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(["population", "sensitivity", "optimize", "translate", "effect"]),
       scenario=scenario_texts())
def test_design_and_population_commands_on_mutated_scenarios(name, scenario):
    run_case(name, scenario, None)


@settings(max_examples=12, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenario_texts())
def test_report_on_mutated_scenarios_ends_in_a_clean_error_or_a_valid_page(scenario):
    run_case("report", scenario, None)


@settings(max_examples=70, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["nca"] * 3 + ["fit"]), data=study_texts())
def test_study_file_mutations_end_in_a_clean_error_or_a_valid_result(name, data):
    run_case(name, None, data)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["simulate", "scan", "params", "sbml", "observe", "nca", "fit", "population",
                             "optimize", "translate", "effect", "report"]),
       path_case=st.sampled_from(["input_folder", "output_folder", "output_missing_folder"]))
def test_paths_that_are_folders_or_missing_end_in_a_clean_error(name, path_case):
    run_case(name, None, STUDY_CSV if name in ("nca", "fit") else None, path_case)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(sorted(OPTIONS)).flatmap(lambda n: st.tuples(st.just(n), st.sampled_from(OPTIONS[n]))))
def test_option_values_end_in_a_clean_error_or_a_valid_result(case):
    name, option = case
    run_case(name, None, STUDY_CSV if name in ("nca", "fit") else None, option=option)


@pytest.mark.parametrize("args", [["db", "runs"], ["db", "show", "1"], ["db", "export", "1", "-o", "{out}/x"],
                                  ["db", "add-user", "ann"], ["db", "init"], ["db", "upgrade"]])
@pytest.mark.parametrize("url", BAD_STORE_URLS)
def test_store_commands_with_a_bad_url_end_in_a_clean_error(tmp_path, args, url):
    out = tmp_path / "out"
    out.mkdir()
    res = CliRunner().invoke(app, [a.format(out=out) for a in args] + ["--db", url], input="pw\n")
    COUNTS["cases"] += 1
    assert res.exit_code == 2, res.output
    check_clean_error(res, out, [])
    COUNTS["clean"] += 1


@pytest.mark.parametrize("run", ["7", "0", "-1", "x", "1e3", ""])
@pytest.mark.parametrize("command", ["show", "export"])
def test_unknown_runs_end_in_a_clean_error(tmp_path, run, command):
    out = tmp_path / "out"
    out.mkdir()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(app, ["db", "init", "--db", url]).exit_code == 0
    res = CliRunner().invoke(app, ["db", command, run, "--db", url] + (["-o", str(out / "x")] if command == "export" else []))
    COUNTS["cases"] += 1
    check_clean_error(res, out, [])
    assert res.exit_code == 2
    assert any(m in res.stderr for m in ("does not exist", "not a run id", "No such option: -1")), res.stderr
    COUNTS["clean"] += 1


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    line = (f"fuzz (issue 14): {COUNTS['cases']} cases run, {COUNTS['clean']} clean errors, "
            f"{COUNTS['valid']} valid results")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
