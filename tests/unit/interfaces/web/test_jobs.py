"""Every run kind of the web app through its worker code: what it stores, and its errors as
clean messages on a failed run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
IV = (EXAMPLES / "iv_mouse.toml").read_text(encoding="utf-8")
POP = (EXAMPLES / "population_iv_mouse.toml").read_text(encoding="utf-8")
LUNG = "ID,TIME,DV,SITE,DVU\n" + "".join(f"m{i},{t},{v},lung,cells\n" for i, (t, v) in
                                          enumerate([(1, 4e5), (6, 2e5), (24, 3e4), (72, 5e3)], 1))


def _run(anon, h, drain, body) -> dict:
    rid = anon.post("/api/runs", json=body, headers=h).json()["id"]
    drain()
    return anon.get(f"/api/runs/{rid}", headers=h).json()


@pytest.mark.slow
@pytest.mark.parametrize("kind, toml, inputs, tables", [
    ("scan", IV, {"vary": ["dose[1].cells=1e5,1e6"]}, ["scan"]),
    ("population", POP, {"n": 12, "seed": 3, "metrics": ["lung:cell_days"]}, ["bands", "subjects"]),
    ("sensitivity", POP, {"method": "morris", "n": 4, "metrics": ["lung:cell_days"]}, ["indices"]),
    ("detection", IV.replace('label = "none"', 'label = "luciferase"'), {}, ["plan", "windows"]),
], ids=["scan", "population", "sensitivity", "detection"])
def test_scenario_kinds_store_their_tables(anon, token, drain, kind, toml, inputs, tables):
    h = token("alice")
    info = _run(anon, h, drain, {"kind": kind, "scenario_toml": toml, "inputs": inputs})
    assert info["status"] == "done", info
    assert info["tables"] == tables
    if kind == "population":
        subjects = anon.get(f"/api/runs/{info['id']}/tables/subjects.json", headers=h).json()
        assert len(subjects["data"]) == 12 and "lung:cell_days" in subjects["columns"]


@pytest.mark.parametrize("inputs, needle", [
    ({"n": "many"}, "inputs.n: 'many' is not allowed; give an integer"),
    ({"subjects": 5}, "inputs.subjects: unknown for population; allowed: n, seed, metrics"),
    ({"metrics": "lung:cell_days"}, "give a list of text"),
])
def test_bad_inputs_are_refused_before_queueing(anon, token, inputs, needle):
    h = token("alice")
    r = anon.post("/api/runs", json={"kind": "population", "scenario_toml": POP, "inputs": inputs}, headers=h)
    assert r.status_code == 422 and needle in r.json()["detail"]
    assert anon.get("/api/runs", headers=h).json() == []


def test_bad_options_fail_the_run_with_a_clean_message(anon, token, drain):
    h = token("alice")
    info = _run(anon, h, drain, {"kind": "scan", "scenario_toml": IV, "inputs": {"vary": ["no_such_key=1,2"]}})
    assert info["status"] == "failed" and "no_such_key" in info["error"] and "Traceback" not in info["error"]


@pytest.mark.slow
def test_fit_from_an_uploaded_study(alice, csrf, drain):
    page = alice.get("/study").text
    r = alice.post("/study", data={"csrf_token": csrf(page)}, files={"file": ("lung.csv", LUNG.encode(), "text/csv")},
                   follow_redirects=False)
    study = alice.get(r.headers["location"]).text
    name = "Lung arrested cell death half-life [h]"
    r = alice.post(r.headers["location"] + "/fit", data={"csrf_token": csrf(study), "example": "iv_mouse",
                                                          "estimate": name}, follow_redirects=False)
    fit_id = int(r.headers["location"].rsplit("/", 1)[1])
    drain()
    info = alice.get(f"/api/runs/{fit_id}").json()
    assert info["status"] == "done" and info["files"] == ["fit.json", "fit.png"], info
    result = json.loads(alice.get(f"/api/runs/{fit_id}/files/fit.json").content)
    p = result["parameters"][name]
    assert p["ci_low"] < p["estimate"] < p["ci_high"] and p["unit"] == "h"
    fit_page = alice.get(f"/runs/{fit_id}").text
    assert "Fit diagnostics" in fit_page
    # the report of this fit: scenario, the study's NCA and the fit, one self-contained page
    r = alice.post(f"/runs/{fit_id}/report", data={"csrf_token": csrf(fit_page)}, follow_redirects=False)
    report_id = int(r.headers["location"].rsplit("/", 1)[1])
    drain()
    assert alice.get(f"/api/runs/{report_id}").json()["status"] == "done"
    page = alice.get(f"/api/runs/{report_id}/files/report.html").text
    sections = re.findall(r'<section id="([a-z_]+)"', page)
    assert "nca" in sections and "fit" in sections and name in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert 'id="download-report"' in alice.get(f"/runs/{report_id}").text


@pytest.mark.slow
def test_qualification_of_one_study(alice, csrf, drain):
    from mscpk.inputs.studies import study_ids

    sid = study_ids()[0]
    page = alice.get("/qualification").text
    r = alice.post("/qualification", data={"csrf_token": csrf(page), "studies": [sid, "not-a-study"]},
                   follow_redirects=False)
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    drain()
    info = alice.get(f"/api/runs/{rid}").json()
    assert info["status"] == "done", info
    table = alice.get(f"/api/runs/{rid}/tables/qualification.csv").text
    assert table.startswith("study,species,route,assay,site,time_h,observed,predicted,unit,fold_error,used_for")
    assert {line.split(",")[0] for line in table.splitlines()[1:]} == {sid}
    assert b"<html" in alice.get(f"/api/runs/{rid}/files/report.html").content[:500].lower()
