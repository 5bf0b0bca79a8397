"""Migrations from an empty database and from the previous revision, on SQLite and PostgreSQL;
the ORM models match the migrated schema."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from mscpk.errors import StoreError
from mscpk.store.models import Base

REV1_TABLES = ["alembic_version", "project_members", "projects", "run_files", "run_tables", "runs",
               "scenarios", "settings", "users"]


def test_from_empty_to_head(empty_store):
    s = empty_store
    assert s.revision() is None
    s.init()
    assert s.revision() == "0003"
    assert s.tables() == sorted(REV1_TABLES + ["studies"])


def test_models_match_the_migrated_schema(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_from_the_previous_revision_keeps_the_runs(empty_store):
    s = empty_store
    s.upgrade_to("0001")
    assert s.revision() == "0001" and s.tables() == REV1_TABLES
    with s.engine.connect() as conn:
        assert "params" not in {c["name"] for c in inspect(conn).get_columns("runs")}
    with pytest.raises(StoreError, match="at revision 0001, this mscpk needs 0003; run `mscpk db upgrade"):
        s.runs()
    old = pd.DataFrame({"time_h": [0.0, 24.0], "value": [1.0, 0.5]})
    buf = io.BytesIO()
    old.to_parquet(buf, index=False)
    with s.engine.begin() as conn:  # a run stored by an mscpk of revision 1
        conn.execute(text("INSERT INTO runs (kind, status, inputs, mscpk_version, created_at, progress) "
                          "VALUES ('simulate', 'done', '{\"out\": \"r.csv\"}', '0.0.9', :t, 1.0)"),
                     {"t": pd.Timestamp("2026-01-02T03:04:05", tz="UTC").to_pydatetime()})
        old_id = conn.execute(text("SELECT id FROM runs")).scalar_one()
        conn.execute(text("INSERT INTO run_tables (run_id, name, n_rows, parquet) VALUES (:r, 'result', 2, :p)"),
                     {"r": old_id, "p": buf.getvalue()})
    s.upgrade()
    assert s.revision() == "0003" and "studies" in s.tables()
    run = s.run(old_id)
    assert (run.kind, run.status, run.mscpk_version, run.inputs) == ("simulate", "done", "0.0.9", {"out": "r.csv"})
    assert run.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    pd.testing.assert_frame_equal(s.table(old_id, "result"), old)
    assert s.params(old_id) is None and s.studies(old_id) == []
    # the new revision's columns and tables work for new runs; the old run's id is not reused
    with s.record("nca") as rec:
        rec.add_study("d.csv", b"x", pd.DataFrame({"ID": [1]}), pd.DataFrame({"ROW": [2], "REASON": ["r"]}))
        rec.set_params(pd.DataFrame({"name": ["k"], "value": [1.0]}))
    assert rec.run_id > old_id and s.studies(rec.run_id)[0].n_excluded == 1


def test_from_revision_2_leases_the_runs_left_running(empty_store):
    s = empty_store
    s.upgrade_to("0002")
    with s.engine.connect() as conn:
        assert not {"heartbeat_at", "attempts"} & {c["name"] for c in inspect(conn).get_columns("runs")}
    started = pd.Timestamp("2026-01-02T03:04:05", tz="UTC").to_pydatetime()
    with s.engine.begin() as conn:  # a worker of revision 2 died in its run; another run waits; one is done
        for status in ("running", "queued", "done"):
            conn.execute(text("INSERT INTO runs (kind, status, inputs, mscpk_version, created_at, started_at, progress) "
                              "VALUES ('scan', :st, '{}', '0.0.9', :t, :s, 0.5)"),
                         {"st": status, "t": started, "s": None if status == "queued" else started})
        ids = dict(conn.execute(text("SELECT status, id FROM runs")).all())
    s.upgrade()
    assert s.revision() == "0003"
    stuck, waiting, done = (s.run(ids[k]) for k in ("running", "queued", "done"))
    assert stuck.heartbeat_at == started and stuck.attempts == 1
    assert waiting.heartbeat_at is None and waiting.attempts == 0
    assert done.heartbeat_at is None and done.attempts == 0 and done.status == "done"
    # the first claim after the upgrade re-queues the stuck run (its lease expired long ago)
    # and hands out the oldest queued run: the stuck one, on its second attempt
    claimed = s.claim_run()
    assert (claimed.id, claimed.attempts) == (stuck.id, 2)
    assert s.run(waiting.id).status == "queued"
