"""The JSON API of the contract (shared/INTERFACE.md) and its security: tokens, 404 across
users, clean 422 messages from mscpk's own loader."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import mscpk

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "iv_mouse.toml"
TOML = EXAMPLE.read_text(encoding="utf-8")


def test_healthz_and_openapi(anon):
    assert anon.get("/healthz").status_code == 200
    paths = anon.get("/openapi.json").json()["paths"]
    for p in ("/api/token", "/api/simulations", "/api/simulations/{run_id}", "/api/simulations/{run_id}/result.csv"):
        assert p in paths


def test_token_refused_for_a_wrong_password(anon):
    r = anon.post("/api/token", data={"username": "alice", "password": "nope"})
    assert r.status_code == 401 and r.json() == {"detail": "wrong user name or password"}


def test_api_needs_a_token(anon):
    r = anon.post("/api/simulations", json={"scenario_toml": TOML})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert anon.post("/api/simulations", json={"scenario_toml": TOML},
                     headers={"Authorization": "Bearer forged.token"}).status_code == 401


def test_simulation_round_trip_equals_mscpk_simulate(db_url, anon, token, drain):
    h = token("alice")
    r = anon.post("/api/simulations", json={"scenario_toml": TOML}, headers=h)
    assert r.status_code == 201
    rid = r.json()["id"]
    assert anon.get(f"/api/simulations/{rid}", headers=h).json() == {"id": rid, "status": "queued", "error": None}
    assert anon.get(f"/api/simulations/{rid}/result.csv", headers=h).status_code == 409
    assert drain() == [rid]
    assert anon.get(f"/api/simulations/{rid}", headers=h).json() == {"id": rid, "status": "done", "error": None}
    r = anon.get(f"/api/simulations/{rid}/result.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    expected = mscpk.simulate(mscpk.load_scenario(EXAMPLE)).to_frame().to_csv(index=False)
    assert r.text == expected
    got = pd.read_parquet(io.BytesIO(anon.get(f"/api/runs/{rid}/tables/result.parquet", headers=h).content))
    assert list(got.columns[:4]) == ["time_h", "site", "quantity", "value"]
    info = anon.get(f"/api/runs/{rid}", headers=h).json()
    assert info["tables"] == ["result", "summary"] and info["files"] == ["model.xml"]  # a figure on request only
    assert b"<sbml" in anon.get(f"/api/runs/{rid}/files/model.xml", headers=h).content
    tc = anon.get(f"/api/runs/{rid}/timecourses", headers=h).json()
    assert "lung" in tc["sites"] and len(tc["sites"]["lung"]["live"]) == len(tc["times_h"])


@pytest.mark.parametrize("text, needle", [
    ("name = [", "not valid TOML"),
    (TOML.replace('species = "mouse"', 'species = "mose"'), "subject.species: unknown value 'mose'; did you mean 'mouse'?"),
    (TOML.replace("cells = 5e5", "cells = -1"), "dose[1].cells"),
])
def test_bad_scenario_is_a_clean_422(anon, token, text, needle):
    r = anon.post("/api/simulations", json={"scenario_toml": text}, headers=token("alice"))
    assert r.status_code == 422
    assert needle in r.json()["detail"] and "Traceback" not in r.text


def test_malformed_body_is_a_clean_422(anon, token):
    r = anon.post("/api/simulations", json={"scenario": TOML}, headers=token("alice"))
    assert r.status_code == 422 and r.json()["detail"].startswith("scenario_toml:")


def test_another_users_run_is_404_everywhere(db_url, anon, alice, bob, token, drain):
    ha, hb = token("alice"), token("bob")
    rid = anon.post("/api/simulations", json={"scenario_toml": TOML}, headers=ha).json()["id"]
    drain()
    missing = rid + 1000
    for path in (f"/api/simulations/{rid}", f"/api/simulations/{rid}/result.csv", f"/api/runs/{rid}",
                 f"/api/runs/{rid}/tables/result.csv", f"/api/runs/{rid}/files/model.xml",
                 f"/api/runs/{rid}/timecourses"):
        r = anon.get(path, headers=hb)
        assert r.status_code == 404, path
        # the same answer as for a run that does not exist: nothing tells bob it is there
        assert r.json()["detail"] == f"run {rid} not found"
        assert anon.get(path.replace(str(rid), str(missing)), headers=hb).json()["detail"] == f"run {missing} not found"
    assert [r["id"] for r in anon.get("/api/runs", headers=hb).json()] == []
    assert [r["id"] for r in anon.get("/api/runs", headers=ha).json()] == [rid]
    assert bob.get(f"/runs/{rid}").status_code == 404
    assert f'href="/runs/{rid}"' not in bob.get("/runs").text
    assert f'href="/runs/{rid}"' in alice.get("/runs").text
    # nor can bob change it: an NCA or a fit on alice's upload is refused as well
    assert bob.post(f"/runs/{rid}/nca", data={"csrf_token": "x"}).status_code in (403, 404)


def test_expired_token_is_refused(tmp_path):
    from fastapi.testclient import TestClient

    from mscpk.interfaces.web import create_app

    app = create_app(f"sqlite:///{tmp_path / 'x.db'}", token_max_age_s=-1)
    app.state.store.add_user("carol", "pw-carol")
    with TestClient(app) as c:
        tok = c.post("/api/token", data={"username": "carol", "password": "pw-carol"}).json()["access_token"]
        r = c.get("/api/runs", headers={"Authorization": f"Bearer {tok}"})
    app.state.store.close()
    assert r.status_code == 401


def test_failed_run_reports_the_loaders_message(anon, token, drain):
    h = token("alice")
    rid = anon.post("/api/runs", json={"kind": "population", "scenario_toml": TOML}, headers=h).json()["id"]
    drain()
    status = anon.get(f"/api/simulations/{rid}", headers=h)
    assert status.status_code == 404  # not a simulation
    info = anon.get(f"/api/runs/{rid}", headers=h).json()
    assert info["status"] == "failed" and "[population.vary]" in info["error"]


def test_upload_above_the_limit_is_413(anon, token):
    r = anon.post("/api/simulations", json={"scenario_toml": "x" * 300_000}, headers=token("alice"))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
