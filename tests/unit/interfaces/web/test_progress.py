"""Progress of the kinds whose analysis has no callback (scan, sensitivity, fit, qualify): the
worker reports its stages, and qualify's report page one study at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscpk.inputs.studies import study_ids
from mscpk.interfaces.web.jobs import run_next
from mscpk.store import Store, open_store

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """A store, and the (run, fraction, message) of every set_progress call."""
    calls = []
    original = Store.set_progress

    def spy(self, run_id, fraction, message=None):
        calls.append((run_id, fraction, message))
        return original(self, run_id, fraction, message)

    monkeypatch.setattr(Store, "set_progress", spy)
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    store.init()
    yield store, calls
    store.close()


def test_scan_and_sensitivity_report_their_stage(reports):
    store, calls = reports
    iv = (EXAMPLES / "iv_mouse.toml").read_text(encoding="utf-8")
    pop = (EXAMPLES / "population_iv_mouse.toml").read_text(encoding="utf-8")
    scan_id = store.create_run("scan", scenario_toml=iv, inputs={"vary": ["dose[1].cells=1e5,1e6,1e7"]})
    sens_id = store.create_run("sensitivity", scenario_toml=pop, inputs={"n": 2, "metrics": ["lung:cell_days"]})
    assert run_next(store) == scan_id and run_next(store) == sens_id
    assert calls == [(scan_id, 0.0, "simulating 3 grid points"), (sens_id, 0.0, "evaluating the morris sample")]
    assert store.run(scan_id).status == "done" and store.run(scan_id).message == "simulating 3 grid points"


def test_qualify_reports_each_study_of_its_report_page(reports):
    store, calls = reports
    chosen = list(study_ids())[:2]
    rid = store.create_run("qualify", inputs={"studies": chosen})
    assert run_next(store) == rid and store.run(rid).status == "done"
    assert calls[0] == (rid, 0.0, "simulating 2 studies")
    later = [c[1:] for c in calls[1:]]
    assert later and later[0] == (0.5, "report page: study 1 of 2")
    assert all(msg.startswith("report page: study ") for _, msg in later)
    assert [f for f, _ in later] == sorted(f for f, _ in later) and all(0.5 <= f < 1 for f, _ in later)
