"""``mscpk db ...`` and ``--db URL`` on simulate, nca, fit, qualify and population, on SQLite
and PostgreSQL: each command's run round-trips; a command failing half-way stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.errors import ScenarioError, StoreError
from mscpk.store import open_store
from mscpk.store.info import sha256
from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
IV_MOUSE = ROOT / "examples" / "iv_mouse.toml"
POPULATION = ROOT / "examples" / "population_iv_mouse.toml"
LUNG_DEATH = "Lung arrested cell death half-life [h]"


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(*args: str, input: str | None = None):
    res = cli(*args, input=input)
    assert res.exit_code == 0, res.output
    return res


def clean_error(res, match: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]  # (a finished progress bar leaves a blank line)
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], res.stderr


@pytest.fixture
def db(store_url):
    ok("db", "init", "--db", store_url)
    return store_url


def _runs(url: str):
    with open_store(url) as s:
        return s.runs()


def _study_csv(path: Path) -> Path:
    """Lung cells of iv_mouse at 1, 24, 72 h in three animals, and one row with no DV (excluded)."""
    lung = mscpk.simulate(mscpk.load_scenario(IV_MOUSE), times_h=[1, 24, 72]).quantity("lung", "live_cells")
    rows = [{"ID": a, "TIME": t, "DV": round(float(v) * f, 1), "SITE": "lung"}
            for a, f in ((1, 0.9), (2, 1.0), (3, 1.1)) for t, v in zip((1, 24, 72), lung)]
    rows.append({"ID": 4, "TIME": 24, "DV": None, "SITE": "lung"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_db_commands(db, tmp_path):
    assert "revision 0003" in ok("db", "upgrade", "--db", db).stdout
    assert ok("db", "runs", "--db", db).stdout == ""
    assert "added user 'ann'" in ok("db", "add-user", "ann", "--db", db, input="s3cret\n").stdout
    clean_error(cli("db", "add-user", "ann", "--db", db, input="other\n"), "user 'ann': already exists")
    clean_error(cli("db", "add-user", "bob", "--db", db, input=""), "no password on standard input")
    with open_store(db) as s:
        assert s.authenticate("ann", "s3cret") is not None and s.authenticate("ann", "s3cret\n") is None
    clean_error(cli("db", "show", "99", "--db", db), "run 99: does not exist")
    clean_error(cli("db", "show", "one", "--db", db), "run 'one': not a run id")
    clean_error(cli("db", "export", "99", "-o", tmp_path / "x", "--db", db), "run 99: does not exist")


def test_simulate_round_trip(db, tmp_path):
    out, plot = tmp_path / "res.csv", tmp_path / "fig.svg"
    res = ok("simulate", IV_MOUSE, "-o", out, "--plot", plot, "--db", db)
    (run,) = _runs(db)
    assert f"stored run {run.id}" in res.stdout
    assert (run.kind, run.status, run.scenario_name) == ("simulate", "done", "mMSC IV in C57BL/6 mouse")
    assert run.scenario_hash == sha256(IV_MOUSE.read_text(encoding="utf-8"))
    assert run.inputs["out"] == str(out) and "db" not in run.inputs and run.timings["total_s"] > 0
    wall = (run.finished_at - run.started_at).total_seconds()  # the run started with the command
    assert run.created_at == run.started_at and wall >= 0.999 * run.timings["total_s"] - 0.01
    with open_store(db) as s:
        pd.testing.assert_frame_equal(s.table(run.id, "result"), pd.read_csv(out), check_dtype=False)
        assert s.file(run.id, "fig.svg") == plot.read_bytes()
        pd.testing.assert_frame_equal(s.params(run.id).reset_index(drop=True),
                                      mscpk.parameters_in_force(mscpk.load_scenario(IV_MOUSE)))
    listed = ok("db", "runs", "--db", db).stdout.strip().split("\t")
    assert listed[:3] == [str(run.id), "simulate", "mMSC IV in C57BL/6 mouse"] and listed[4] == "done"
    shown = ok("db", "show", str(run.id), "--db", db).stdout
    assert "table result:" in shown and "file fig.svg:" in shown and "parameters in force: " in shown
    exported = ok("db", "export", str(run.id), "-o", tmp_path / "back", "--db", db)
    assert "wrote 5 files" in exported.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "back" / "result.csv"), pd.read_csv(out))
    assert (tmp_path / "back" / "scenario.toml").read_text(encoding="utf-8") == IV_MOUSE.read_text(encoding="utf-8")
    assert json.loads((tmp_path / "back" / "run.json").read_text())["kind"] == "simulate"


def test_nca_round_trip_keeps_the_excluded_rows(db, tmp_path):
    data = _study_csv(tmp_path / "lung.csv")
    out = tmp_path / "pp.csv"
    ok("nca", data, "-o", out, "--db", db)
    (run,) = _runs(db)
    assert run.kind == "nca" and run.inputs["data"] == str(data) and run.scenario_hash is None
    with open_store(db) as s:
        assert s.table(run.id, "nca").to_csv(index=False) == out.read_text(encoding="utf-8")
        (study,) = s.studies(run.id)
        assert (study.name, study.sha256, study.n_accepted, study.n_excluded) == ("lung.csv", sha256(data.read_bytes()), 9, 1)
        excluded = s.study_rows(run.id, "lung.csv", "excluded")
    assert list(excluded["ROW"]) == [11] and excluded["REASON"].str.len().gt(0).all()


@pytest.mark.slow
def test_fit_round_trip(db, tmp_path):
    data = _study_csv(tmp_path / "lung.csv")
    out, plot = tmp_path / "fit.json", tmp_path / "fit.png"
    ok("fit", IV_MOUSE, data, "--estimate", LUNG_DEATH, "--n-starts", "1", "-o", out, "--plot", plot, "--db", db)
    (run,) = _runs(db)
    with open_store(db) as s:
        assert s.file(run.id, "fit.json") == out.read_bytes() and s.file(run.id, "fit.png") == plot.read_bytes()
        est = s.table(run.id, "estimates")
        assert s.studies(run.id)[0].n_excluded == 1 and s.params(run.id) is not None
    fit = json.loads(out.read_text())
    assert est.loc[0, "name"] == LUNG_DEATH and est.loc[0, "estimate"] == fit["parameters"][LUNG_DEATH]["estimate"]


@pytest.mark.slow
def test_population_round_trip(db, tmp_path):
    out, bands = tmp_path / "pop.parquet", tmp_path / "bands.csv"
    ok("population", POPULATION, "-n", "6", "--metric", "lung:cell_days", "-o", out, "--bands", bands, "--db", db)
    (run,) = _runs(db)
    with open_store(db) as s:
        pd.testing.assert_frame_equal(s.table(run.id, "subjects"), pd.read_parquet(out), check_dtype=False)
        assert len(s.table(run.id, "bands")) == len(pd.read_csv(bands))
        assert run.kind == "population" and s.params(run.id) is not None


@pytest.mark.slow
def test_qualify_round_trip(db, tmp_path):
    ok("qualify", "-o", tmp_path / "q", "--study", "toupet2013", "--db", db)
    (run,) = _runs(db)
    with open_store(db) as s:
        assert s.file(run.id, "report.html") == (tmp_path / "q" / "report.html").read_bytes()
        assert len(s.table(run.id, "qualification")) == len(pd.read_csv(tmp_path / "q" / "qualification.csv"))
    assert run.inputs["study"] == ["toupet2013"]


def test_a_command_failing_half_way_stores_nothing(db, tmp_path, monkeypatch):
    import mscpk.interfaces.plots.result as plots

    def broken(fig, path, suffix):
        Path(path).write_bytes(b"half a figure")
        raise ScenarioError("plot: the figure could not be drawn")

    monkeypatch.setattr(plots, "save_figure", broken)
    clean_error(cli("simulate", IV_MOUSE, "-o", tmp_path / "r.csv", "--plot", tmp_path / "f.png", "--db", db),
                "the figure could not be drawn")
    assert _runs(db) == [] and sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".db") == []


def test_a_store_failing_at_the_end_writes_no_file(db, tmp_path, monkeypatch):
    from mscpk.store.store import Store

    def down(self, *args, **kwargs):
        raise StoreError(f"store {self.url}: server closed the connection unexpectedly")

    monkeypatch.setattr(Store, "_store_recorded", down)
    clean_error(cli("simulate", IV_MOUSE, "-o", tmp_path / "r.csv", "--db", db), "server closed the connection")
    assert not (tmp_path / "r.csv").exists() and not list(tmp_path.glob(".r.csv*"))
    monkeypatch.undo()
    assert _runs(db) == []


@pytest.mark.parametrize("url, match", [
    ("mysql://db/lab", "'mysql' is not supported"),
    ("lab.db", "not a database URL"),
    ("sqlite:///{tmp}/missing/lab.db", "does not exist"),
    ("sqlite:///{tmp}/fresh.db", "not initialised; run `mscpk db init"),
    ("postgresql://mscpk@127.0.0.1:1/lab", "connection failed"),
])
@pytest.mark.parametrize("command", ["simulate", "db runs", "db show"])
def test_bad_store_urls_are_one_line_errors(tmp_path, url, match, command):
    url = url.format(tmp=tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    args = {"simulate": ["simulate", IV_MOUSE, "-o", out / "r.csv"], "db runs": ["db", "runs"],
            "db show": ["db", "show", "1"]}[command]
    clean_error(cli(*args, "--db", url), match)
    assert list(out.iterdir()) == [] and not (tmp_path / "fresh.db").exists()
