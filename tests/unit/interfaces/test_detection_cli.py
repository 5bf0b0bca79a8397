"""CLI of the detection layer: observe, detection-window, design-study, knowledge.

The commands are registered on a local typer app here (the main app registers the same
functions as ``mscpk observe`` etc.).
"""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mscpk.interfaces.cli import detection as c

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("observe")(c.observe_command)
app.command("detection-window")(c.detection_window_command)
app.command("design-study")(c.design_study_command)
app.command("knowledge")(c.knowledge_command)

SCENARIO = """
name = "mMSC IV, C57BL/6"
[subject]
species = "mouse"
immune = "immunocompetent"
[product]
origin = "syngeneic"
label = "{label}"
[[dose]]
route = "iv"
cells = 5e5
[run]
end_h = {end}
"""


@pytest.fixture()
def make_scenario(tmp_path):
    def make(label="111In-oxine", end=168.0):
        p = tmp_path / f"sc_{label}.toml"
        p.write_text(SCENARIO.format(label=label, end=end))
        return p
    return make


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_observe_writes_the_contract_table_and_plot(make_scenario, tmp_path):
    sc = make_scenario()
    out, fig = tmp_path / "obs.csv", tmp_path / "obs.png"
    r = run("observe", sc, "--assay", "spect", "-o", out, "--plot", fig, "--times", "1,24,72")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns[:6]) == ["time_h", "site", "assay", "value", "unit", "detectable"]
    assert set(df["unit"]) == {"percent_injected_activity"}
    assert set(df["time_h"]) == {1.0, 24.0, 72.0}
    assert fig.stat().st_size > 1000
    # decay correction switch
    out2 = tmp_path / "obs_nc.csv"
    r = run("observe", sc, "--assay", "spect", "-o", out2, "--times", "72", "--no-decay-correction", "--no-noise")
    assert r.exit_code == 0, r.output
    nc = pd.read_csv(out2).set_index("site")["value"]
    r = run("observe", sc, "--assay", "spect", "-o", out2, "--times", "72", "--no-noise")
    dc = pd.read_csv(out2).set_index("site")["value"]
    assert nc["whole_body"] / dc["whole_body"] == pytest.approx(2 ** (-72 / 67.3), rel=1e-6)
    # --label overrides the product's label; the same seed gives the same file
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run("observe", sc, "--assay", "bli", "--label", "luciferase", "-o", a, "--seed", "5").exit_code == 0
    assert run("observe", sc, "--assay", "bli", "--label", "luciferase", "-o", b, "--seed", "5").exit_code == 0
    assert a.read_text() == b.read_text()


@pytest.mark.parametrize("args, words", [
    (["--assay", "bli"], "luciferase"),                               # label cannot support the assay
    (["--assay", "spect", "--label", "In111"], "label"),              # unknown label
    (["--assay", "spect", "--detection-limit", "-10"], "detection limit"),  # negative limit
    (["--assay", "xray"], "assay"),                                   # unknown assay
])
def test_observe_user_errors_exit_2_without_output(make_scenario, tmp_path, args, words):
    out = tmp_path / "bad.csv"
    r = run("observe", make_scenario(), *args, "-o", out, "--plot", tmp_path / "bad.png")
    assert r.exit_code == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]
    assert "Traceback" not in r.output
    assert not out.exists() and not (tmp_path / "bad.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]


def test_detection_window_command(make_scenario, tmp_path):
    sc = make_scenario(label="luciferase", end=336.0)
    out, fig = tmp_path / "win.csv", tmp_path / "win.png"
    r = run("detection-window", sc, "-o", out, "--plot", fig)
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns[:4]) == ["assay", "site", "first_h", "last_h"]
    assert set(df["assay"]) == {"qpcr", "ihc", "bli"}
    brain = df[(df.assay == "bli") & (df.site == "brain")].iloc[0]
    assert pd.isna(brain.first_h) and pd.isna(brain.last_h)  # empty when never detectable
    assert fig.stat().st_size > 1000
    # a stricter limit shrinks the BLI lung window
    out2 = tmp_path / "win2.csv"
    assert run("detection-window", sc, "-o", out2, "--detection-limit", "bli=3e3").exit_code == 0
    lung = lambda d: d[(d.assay == "bli") & (d.site == "lung")].iloc[0].last_h  # noqa: E731
    assert lung(pd.read_csv(out2)) < lung(df)
    bad = tmp_path / "bad.csv"
    r = run("detection-window", sc, "-o", bad, "--detection-limit", "bli=-3")
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and not bad.exists()


def test_design_study_command_writes_plan_and_virtual_study(make_scenario, tmp_path):
    sc = make_scenario(label="luciferase", end=336.0)
    plan, data = tmp_path / "plan.csv", tmp_path / "study.csv"
    r = run("design-study", sc, "-o", plan, "--study-out", data, "--precision", "0.25")
    assert r.exit_code == 0, r.output
    p = pd.read_csv(plan)
    assert {"item", "assay", "label", "can_show", "sampling_times_h", "animals_per_time"} <= set(p.columns)
    assert set(p["item"]) == {"dynamic distribution", "migration", "homing", "persistence", "death"}
    assert (p.loc[p.can_show, "animals_per_time"] >= 3).all()
    d = pd.read_csv(data)
    assert list(d.columns[:10]) == ["ID", "TIME", "DV", "SITE", "GROUP", "DOSE", "DVU", "LLOQ", "CENS", "ASSAY"]
    assert set(d["CENS"]) <= {0, 1} and d.loc[d.CENS == 1, "DV"].isna().all()
    r = run("design-study", sc, "-o", tmp_path / "p2.csv", "--precision", "-1")
    assert r.exit_code == 2 and not (tmp_path / "p2.csv").exists()


def test_knowledge_command(tmp_path):
    r = run("knowledge", "methods")
    assert r.exit_code == 0 and "qRT-PCR" in r.output and "bioluminescence" in r.output
    out = tmp_path / "products.csv"
    r = run("knowledge", "products", "-o", out)
    assert r.exit_code == 0 and "Prochymal" in r.output
    assert "Cartistem" in set(pd.read_csv(out)["product"])
    r = run("knowledge", "drugs")
    assert r.exit_code == 2 and r.stderr.startswith("error: ")


@pytest.mark.parametrize("label, args, words", [
    ("none", [], "no assay can see a product labelled 'none'"),         # was "label None, 0 rows", exit 0
    ("luciferase", ["--division-time", "24"], "changes none of the assays"),   # division changes no assay
    ("luciferase", ["--detection-limit", "spect=10"], "not among the assays"),  # was silently dropped
])
def test_detection_window_refuses_what_it_cannot_compute(make_scenario, tmp_path, label, args, words):
    out, fig = tmp_path / "win.csv", tmp_path / "win.png"
    r = run("detection-window", make_scenario(label=label, end=24.0), "-o", out, "--plot", fig, *args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]
    assert not out.exists() and not fig.exists()


def test_observe_refuses_a_division_time_that_changes_nothing(make_scenario, tmp_path):
    out = tmp_path / "obs.csv"
    r = run("observe", make_scenario(label="luciferase", end=24.0), "--assay", "bli", "-o", out,
            "--division-time", "24")
    assert r.exit_code == 2 and "changes nothing for bli" in r.stderr and not out.exists()
    # a dye seen by flow cytometry: label per cell dilutes, accepted
    r = run("observe", make_scenario(label="DiR", end=24.0), "--assay", "flow", "-o", out, "--division-time", "24")
    assert r.exit_code == 0, r.output
    # the detection window says to which assays the division time applied
    r = run("detection-window", make_scenario(label="DiR", end=24.0), "-o", tmp_path / "w.csv",
            "--division-time", "24")
    assert r.exit_code == 0 and "note: division time 24 h: applies to flow, ihc" in r.output


def test_design_study_refuses_an_infinite_between_animal_cv(make_scenario, tmp_path):
    out = tmp_path / "plan.csv"
    r = run("design-study", make_scenario(label="luciferase", end=24.0), "-o", out, "--between-animal-cv", "inf")
    assert r.exit_code == 2 and r.stderr.startswith("error: between_animal_cv") and "Traceback" not in r.output
    assert not out.exists()


def test_detection_window_refuses_a_repeated_assay(tmp_path):
    from typer.testing import CliRunner

    from mscpk.interfaces.cli import app

    res = CliRunner().invoke(app, ["detection-window", "examples/iv_mouse.toml", "-o", str(tmp_path / "w.csv"),
                                   "--assay", "qpcr,qpcr"])
    assert res.exit_code == 2 and "assays: 'qpcr' is listed 2 times; give it once" in res.output
    assert not (tmp_path / "w.csv").exists()
