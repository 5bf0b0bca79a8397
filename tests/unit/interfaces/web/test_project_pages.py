"""Projects in the pages: create one, add a member, choose the project of a run; members see
the project's runs, others get 404 (as for a run that does not exist)."""

from __future__ import annotations

import re

from unit.interfaces.web.test_pages import _form_fields


def _new_project(client, csrf, name: str) -> int:
    r = client.post("/projects", data={"name": name, "csrf_token": csrf(client.get("/projects").text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(re.fullmatch(r"/projects/(\d+)", r.headers["location"]).group(1))


def _simulate(client, csrf, project: str) -> tuple[int, str]:
    page = client.get("/builder").text
    r = client.post("/builder", data={**_form_fields(page), "action": "simulate", "project": project,
                                      "csrf_token": csrf(page)}, follow_redirects=False)
    return r.status_code, r.headers.get("location", r.text)


def test_members_see_a_projects_runs_others_get_404(alice, bob, csrf, app):
    pid = _new_project(alice, csrf, "knee OA")
    page = alice.get("/projects").text
    assert f'data-project="{pid}"' in page and "knee OA" in page
    assert f'<option value="{pid}">knee OA</option>' in alice.get("/builder").text
    status, where = _simulate(alice, csrf, str(pid))
    assert status == 303
    rid = int(where.rsplit("/", 1)[1])
    assert app.state.store.run(rid).project_id == pid
    # bob is not a member: the project, its run and adding members are all 404
    assert bob.get(f"/projects/{pid}").status_code == 404
    assert bob.get(f"/runs/{rid}").status_code == 404
    assert f'data-run="{rid}"' not in bob.get("/runs").text
    r = bob.post(f"/projects/{pid}/members", data={"username": "bob", "csrf_token": csrf(bob.get("/projects").text)})
    assert r.status_code == 404
    assert _simulate(bob, csrf, str(pid))[0] == 404  # nor can he put a run into it
    # alice adds him: now he sees the project and its run
    r = alice.post(f"/projects/{pid}/members", data={"username": "bob", "csrf_token": csrf(alice.get("/projects").text)},
                   follow_redirects=False)
    assert r.status_code == 303
    assert "alice, bob" in bob.get("/projects").text
    assert f'data-run="{rid}"' in bob.get(f"/projects/{pid}").text
    assert bob.get(f"/runs/{rid}").status_code == 200
    assert f'data-run="{rid}"' in bob.get("/runs").text


def test_project_forms_give_clear_messages(alice, csrf):
    r = alice.post("/projects", data={"name": "  ", "csrf_token": csrf(alice.get("/projects").text)})
    assert r.status_code == 422 and "project name &#39;  &#39;: give a name" in r.text
    pid = _new_project(alice, csrf, "heart")
    r = alice.post(f"/projects/{pid}/members", data={"username": "zed", "csrf_token": csrf(alice.get("/projects").text)})
    assert r.status_code == 422 and "user &#39;zed&#39;: no such user" in r.text
    assert _simulate(alice, csrf, "x1")[0] == 404
    r = alice.post("/projects", data={"name": "no token"})
    assert r.status_code in (403, 422) and len(alice.get("/projects").text.split("data-project=")) == 2


def test_api_runs_take_a_project_of_yours_only(alice, anon, token, csrf, app):
    from unit.interfaces.web.conftest import EXAMPLE

    pid = _new_project(alice, csrf, "api project")
    body = {"kind": "simulate", "scenario_toml": EXAMPLE.read_text(), "project_id": pid}
    r = anon.post("/api/runs", json=body, headers=token("alice"))
    assert r.status_code == 201, r.text
    assert app.state.store.run(r.json()["id"]).project_id == pid
    # bob is not a member: 404, as for a project that does not exist, and nothing queued
    before = len(app.state.store.runs())
    assert anon.post("/api/runs", json=body, headers=token("bob")).status_code == 404
    assert anon.post("/api/runs", json={**body, "project_id": pid + 99}, headers=token("alice")).status_code == 404
    assert len(app.state.store.runs()) == before
