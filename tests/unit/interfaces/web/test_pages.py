"""The pages: login, CSRF refusal, the builder's messages beside the field, study upload with
accepted and excluded rows, NCA, and clean error pages."""

from __future__ import annotations

import re
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "iv_mouse.toml"
STUDY = ("ID,TIME,DV,SITE,GROUP\n" + "".join(f"m{i},{t},{v},blood,A\n" for i, (t, v) in
         enumerate([(0.5, 900.0), (1, 800.0), (2, 610.0), (4, 400.0), (8, 160.0), (24, 20.0)], 1))
         + "m9,48,,blood,A\n")


def _form_fields(html: str) -> dict:
    """The builder form's current values (inputs and selected options), as a browser posts them."""
    form = html[html.index('id="builder"'):]
    fields = dict(re.findall(r'<input name="([^"]+)" data-field="[^"]+" value="([^"]*)"', form))
    for name, body in re.findall(r'<select name="([^"]+)" data-field="[^"]+">(.*?)</select>', form, re.S):
        chosen = re.search(r"<option selected>([^<]*)</option>", body)
        fields[name] = chosen.group(1) if chosen else ""
    fields["toml_text"] = re.search(r'<textarea name="toml_text"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    import html as h

    return {k: h.unescape(v) for k, v in fields.items()}


def test_pages_need_a_login(anon):
    r = anon.get("/builder", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_session_cookie_is_httponly_and_samesite(anon, csrf):
    r = anon.post("/login", data={"csrf_token": csrf(anon.get("/login").text), "username": "alice",
                                  "password": "alice-pw-1"}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_wrong_password_is_refused(anon, csrf):
    r = anon.post("/login", data={"csrf_token": csrf(anon.get("/login").text), "username": "alice",
                                  "password": "wrong"})
    assert r.status_code == 401 and "wrong user name or password" in r.text


def test_forms_without_the_csrf_token_are_refused(alice, csrf):
    page = alice.get("/builder").text
    fields = _form_fields(page)
    for token in (None, "forged"):
        data = {**fields, "action": "simulate", **({"csrf_token": token} if token else {})}
        r = alice.post("/builder", data=data)
        assert r.status_code == 403 and "CSRF" in r.text and "Traceback" not in r.text
    assert alice.get("/api/runs").json() == []  # nothing was queued
    r = alice.post("/builder", data={**fields, "action": "simulate", "csrf_token": csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/runs/\d+", r.headers["location"])


def test_login_form_needs_its_csrf_token(anon):
    anon.get("/login")
    r = anon.post("/login", data={"username": "alice", "password": "alice-pw-1"})
    assert r.status_code in (403, 422) and "Traceback" not in r.text


def test_builder_shows_the_loaders_message_beside_the_field(alice, csrf):
    page = alice.get("/builder?example=iv_mouse").text
    fields = {**_form_fields(page), "subject.species": "mose", "action": "check", "csrf_token": csrf(page)}
    r = alice.post("/builder", data=fields)
    assert r.status_code == 422
    message = re.search(r'data-error-for="subject.species">([^<]*)<', r.text).group(1)
    assert "did you mean &#39;mouse&#39;?" in message or "did you mean 'mouse'?" in message
    fields = {**_form_fields(page), "dose[1].cells": "-5", "action": "check", "csrf_token": csrf(page)}
    r = alice.post("/builder", data=fields)
    assert re.search(r'data-error-for="dose\[1\].cells">dose\[1\].cells: ', r.text)


def test_builder_download_keeps_the_keys_the_form_does_not_show(alice, csrf):
    import tomllib

    page = alice.get("/builder?example=population_iv_mouse").text
    r = alice.post("/builder", data={**_form_fields(page), "run.end_h": "100", "action": "download",
                                     "csrf_token": csrf(page)})
    raw = tomllib.loads(r.text)
    assert r.headers["content-disposition"].endswith('filename="scenario.toml"')
    assert raw["run"]["end_h"] == 100 and raw["population"]["vary"]


def test_upload_toml(alice, csrf):
    page = alice.get("/builder").text
    text = EXAMPLE.read_text(encoding="utf-8").replace("5e5", "7e5")
    r = alice.post("/builder/upload", data={"csrf_token": csrf(page)},
                   files={"file": ("mine.toml", text.encode(), "text/plain")})
    assert r.status_code == 200 and 'name="dose[1].cells" data-field="dose[1].cells" value="700000.0"' in r.text


def test_study_upload_shows_excluded_rows_and_runs_nca(alice, csrf, drain):
    page = alice.get("/study").text
    r = alice.post("/study", data={"csrf_token": csrf(page)}, files={"file": ("pk (1).csv", STUDY.encode(), "text/csv")},
                   follow_redirects=False)
    assert r.status_code == 303
    study_page = alice.get(r.headers["location"])
    assert "accepted rows" in study_page.text and "excluded rows" in study_page.text
    sid = int(r.headers["location"].rsplit("/", 1)[1])
    excluded = alice.get(f"/api/runs/{sid}/studies/pk _1_.csv/excluded.csv").text
    assert excluded.count("\n") == 2  # the header and the row of m9 without a value
    r = alice.post(f"/runs/{sid}/nca", data={"csrf_token": csrf(study_page.text), "sparse": "no"},
                   follow_redirects=False)
    nca_id = int(r.headers["location"].rsplit("/", 1)[1])
    drain()
    info = alice.get(f"/api/runs/{nca_id}").json()
    assert info["status"] == "done", info
    nca = alice.get(f"/api/runs/{nca_id}/tables/nca.csv").text
    assert nca.startswith("GROUP,SITE,PPTESTCD,PPORRES,PPORRESU") and "CMAX" in nca


def test_bad_study_file_is_a_clean_message(alice, csrf):
    page = alice.get("/study").text
    r = alice.post("/study", data={"csrf_token": csrf(page)}, files={"file": ("x.csv", b"A,B\n1,2\n", "text/csv")})
    assert r.status_code == 422 and 'id="study-error"' in r.text and "Traceback" not in r.text


def test_unknown_page_and_run_are_clean_html_errors(alice):
    r = alice.get("/runs/99999")
    assert r.status_code == 404 and 'id="error-message"' in r.text
    r = alice.get("/runs/not-a-number")
    assert r.status_code == 422 and "Traceback" not in r.text
