"""The store's API on SQLite and PostgreSQL: users, runs through the worker path (create, claim,
progress, finish or fail) and the command-line path (record), visibility, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mscpk.errors import StoreError
from mscpk.store import StudyImport, open_store
from mscpk.store.info import sha256

SCENARIO = 'name = "mMSC IV"\n[product]\nname = "mouse BM-MSC"\n'


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"time_h": [0.0, 1.5, 24.0], "site": ["lung", "liver", "lung"],
                         "quantity": ["live_cells"] * 3, "value": [5e5, 1.25e4, np.nan]})


def test_init_is_idempotent_and_makes_a_secret(store):
    secret = store.secret()
    store.init()
    assert store.revision() == "0003"
    assert len(secret) == 32 and store.secret() == secret


def test_users_wrong_password_and_duplicates(store):
    uid = store.add_user("ann", "correct horse")
    assert store.authenticate("ann", "correct horse").id == uid
    assert store.user(uid).name == "ann"
    assert store.authenticate("ann", "wrong") is None
    assert store.authenticate("nobody", "correct horse") is None
    assert store.user(uid + 100) is None
    with pytest.raises(StoreError, match="user 'ann': already exists"):
        store.add_user("ann", "other")
    with pytest.raises(StoreError, match="password is empty"):
        store.add_user("bob", "")
    with pytest.raises(StoreError, match="user name ''"):
        store.add_user("  ", "pw")


def test_passwords_are_stored_hashed(store):
    from sqlalchemy import text

    store.add_user("ann", "correct horse")
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert "correct horse" not in stored and stored.startswith("$argon2id$")


def test_worker_path_round_trip(store):
    uid = store.add_user("ann", "pw")
    rid = store.create_run("simulate", scenario_toml=SCENARIO, inputs={"end_h": 168}, user_id=uid)
    queued = store.run(rid)
    assert (queued.status, queued.started_at, queued.progress) == ("queued", None, 0.0)
    assert queued.scenario_name == "mMSC IV" and queued.scenario_hash == sha256(SCENARIO)
    claimed = store.claim_run(["simulate"])
    assert claimed.id == rid and claimed.status == "running" and claimed.started_at is not None
    assert store.claim_run() is None
    store.set_progress(rid, 0.5, "half way")
    assert (store.run(rid).progress, store.run(rid).message) == (0.5, "half way")
    params = pd.DataFrame({"name": ["k"], "value": [0.1], "unit": ["1/h"], "source": ["x"]})
    store.finish_run(rid, tables={"result": _frame()}, files={"plot.svg": b"<svg/>"}, params=params,
                     timings={"solve_s": 0.25})
    done = store.run(rid)
    assert (done.status, done.progress, done.timings) == ("done", 1.0, {"solve_s": 0.25})
    assert done.finished_at >= done.started_at >= done.created_at
    assert done.finished_at.tzinfo is not None and done.inputs == {"end_h": 168}
    pd.testing.assert_frame_equal(store.table(rid, "result"), _frame())
    pd.testing.assert_frame_equal(store.params(rid), params)
    assert store.file(rid, "plot.svg") == b"<svg/>"
    assert store.scenario_toml(rid) == SCENARIO
    assert (store.table_names(rid), store.file_names(rid)) == (["result"], ["plot.svg"])


def test_failed_run_keeps_its_error_and_cannot_finish(store):
    rid = store.create_run("fit", inputs={})
    store.claim_run()
    store.fail_run(rid, "fit: parameter 'x' is unknown")
    info = store.run(rid)
    assert (info.status, info.error) == ("failed", "fit: parameter 'x' is unknown")
    with pytest.raises(StoreError, match=f"run {rid}: is failed"):
        store.finish_run(rid, tables={"t": _frame()})
    assert store.table_names(rid) == []


def test_claim_takes_the_oldest_queued_of_the_kinds_asked(store):
    a = store.create_run("simulate")
    b = store.create_run("fit")
    c = store.create_run("simulate")
    assert store.claim_run(["fit"]).id == b
    assert [store.claim_run().id, store.claim_run().id, store.claim_run()] == [a, c, None]


def test_record_stores_one_done_run(store):
    study = pd.DataFrame({"ID": ["m1"], "TIME": [1.0], "DV": [3.0]})
    excluded = pd.DataFrame({"ROW": [3], "COLUMN": ["DV"], "VALUE": ["abc"], "REASON": ["not a number"]})
    with store.record("nca", inputs={"data": "d.csv"}) as rec:
        rec.add_table("nca", _frame())
        rec.add_file("summary.txt", b"ok")
        rec.add_study("d.csv", b"ID,TIME,DV\n", study, excluded)
        assert rec.run_id is None
    info = store.run(rec.run_id)
    assert (info.kind, info.status, info.inputs) == ("nca", "done", {"data": "d.csv"})
    assert info.timings["total_s"] >= 0
    (st,) = store.studies(rec.run_id)
    assert (st.name, st.sha256, st.n_accepted, st.n_excluded) == ("d.csv", sha256(b"ID,TIME,DV\n"), 1, 1)
    pd.testing.assert_frame_equal(store.study_rows(rec.run_id, "d.csv", "excluded"), excluded)
    pd.testing.assert_frame_equal(store.study_rows(rec.run_id, "d.csv"), study)


def test_an_exception_inside_record_stores_nothing(store):
    with pytest.raises(RuntimeError, match="half-way"):
        with store.record("simulate", scenario_toml=SCENARIO) as rec:
            rec.add_table("result", _frame())
            raise RuntimeError("half-way")
    assert store.runs() == [] and rec.run_id is None


def test_an_unstorable_table_stores_nothing(store):
    bad = pd.DataFrame({"x": [object()]})
    with pytest.raises(StoreError, match="table 'bad': cannot be stored as Parquet"):
        with store.record("simulate") as rec:
            rec.add_table("good", _frame())
            rec.add_table("bad", bad)
    assert store.runs() == []
    rid = store.create_run("simulate", status="running")
    with pytest.raises(StoreError, match="table 'bad'"):
        store.finish_run(rid, tables={"good": _frame(), "bad": bad})
    assert store.run(rid).status == "running" and store.table_names(rid) == []


def test_visibility_by_user_and_project(store):
    ann, bob, eve = (store.add_user(n, "pw") for n in ("ann", "bob", "eve"))
    project = store.add_project("knee OA", ann)
    store.add_member(project, bob)
    own = store.create_run("simulate", user_id=ann)
    shared = store.create_run("simulate", user_id=ann, project_id=project)
    cli = store.create_run("simulate")
    assert [r.id for r in store.runs()] == [cli, shared, own]  # newest first
    assert [r.id for r in store.runs(user_id=ann)] == [shared, own]
    assert [r.id for r in store.runs(user_id=bob)] == [shared]
    assert store.runs(user_id=eve) == [] and store.run(own, user_id=eve) is None
    assert store.run(own, user_id=bob) is None and store.run(shared, user_id=bob).id == shared
    with pytest.raises(StoreError, match=f"run {own}: does not exist"):
        store.table(own, "result", user_id=eve)
    assert [r.id for r in store.runs(kind="simulate", limit=1)] == [cli]


def test_missing_runs_tables_and_files(store):
    assert store.run(12345) is None and store.run("x") is None
    rid = store.create_run("simulate", status="running")
    store.finish_run(rid, tables={"result": _frame()})
    with pytest.raises(StoreError, match="no table 'other'; tables: result"):
        store.table(rid, "other")
    with pytest.raises(StoreError, match="no file 'x.png'; files: none"):
        store.file(rid, "x.png")
    with pytest.raises(StoreError, match="run 999: does not exist"):
        store.finish_run(999)


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b", "x" * 201])
def test_unsafe_names_are_refused(store, name):
    with pytest.raises(StoreError, match="name .*not allowed"):
        with store.record("simulate") as rec:
            rec.add_file(name, b"")


def test_bad_values_are_refused(store):
    with pytest.raises(StoreError, match="run kind 'Simulate!'"):
        store.create_run("Simulate!")
    rid = store.create_run("simulate")
    with pytest.raises(StoreError, match="progress 1.5: must be a number from 0 to 1"):
        store.set_progress(rid, 1.5)
    with pytest.raises(StoreError, match="status 'done'"):
        store.create_run("simulate", status="done")
    with pytest.raises(StoreError, match="inputs of the simulate run: not storable as JSON"):
        store.create_run("simulate", inputs={"path": object()})
    with pytest.raises(StoreError, match="project 77: does not exist"):
        store.create_run("simulate", project_id=77)


def test_a_scenario_text_is_stored_once(store):
    a = store.create_run("simulate", scenario_toml=SCENARIO)
    b = store.create_run("scan", scenario_toml=SCENARIO)
    c = store.create_run("simulate", scenario_toml="not = [toml")
    assert store.run(a).scenario_hash == store.run(b).scenario_hash
    assert store.run(c).scenario_name is None and store.scenario_toml(c) == "not = [toml"
    from sqlalchemy import text

    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scenarios")).scalar_one() == 2


def test_export_writes_the_run_back(store, tmp_path):
    with store.record("simulate", scenario_toml=SCENARIO, inputs={"out": "r.csv"}) as rec:
        rec.add_table("result", _frame())
        rec.add_file("plot.png", b"\x89PNG")
        rec.set_params(pd.DataFrame({"name": ["k"], "value": [1.0], "unit": ["1/h"], "source": ["s"]}))
    paths = store.export(rec.run_id, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["params.csv", "plot.png", "result.csv", "run.json", "scenario.toml"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "result.csv"), _frame())
    assert (tmp_path / "out" / "plot.png").read_bytes() == b"\x89PNG"
    assert (tmp_path / "out" / "scenario.toml").read_text() == SCENARIO
    with pytest.raises(StoreError, match="folder .* does not exist"):
        store.export(rec.run_id, tmp_path / "missing" / "out")
    with pytest.raises(StoreError, match="run 404: does not exist"):
        store.export(404, tmp_path / "x")


def test_finish_run_stores_studies(store):
    rid = store.create_run("fit", status="running")
    st = StudyImport("s.csv", sha256(b"x"), pd.DataFrame({"ID": [1]}), pd.DataFrame({"ROW": [], "REASON": []}))
    store.finish_run(rid, studies=[st])
    assert [(s.name, s.n_accepted, s.n_excluded) for s in store.studies(rid)] == [("s.csv", 1, 0)]


def test_uninitialised_and_bad_urls(tmp_path):
    fresh = tmp_path / "fresh.db"
    s = open_store(f"sqlite:///{fresh}")
    with pytest.raises(StoreError, match="not initialised; run `mscpk db init"):
        s.runs()
    assert not fresh.exists()  # looking does not create the file
    assert s._engine is None  # and keeps no pooled connection (psycopg warns when one is collected)
    with pytest.raises(StoreError, match="'mysql' is not supported"):
        open_store("mysql://db/lab")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("lab.db")
    with pytest.raises(StoreError, match="folder .* does not exist"):
        open_store(f"sqlite:///{tmp_path}/no/lab.db")


def test_default_url_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MSCPK_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert open_store().url == f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.delenv("MSCPK_DB")
    monkeypatch.chdir(tmp_path)
    assert open_store().url == "sqlite:///mscpk.db"


def test_sqlite_runs_in_wal_mode(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    s.init()
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    s.close()
