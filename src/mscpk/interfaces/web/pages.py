"""The server-rendered pages: login, scenario builder, runs and results, study data (NCA and
fits), qualification. Every form carries the session's CSRF token."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from mscpk.errors import MscpkError
from mscpk.inputs.studies import study_ids
from mscpk.interfaces.web.builder import (ROW_TABLES, TABLES, apply_form, check, example_names, example_text,
                                          field_name, form_rows)
from mscpk.interfaces.web.api import SCENARIO_KINDS, project_choice, stored_table, submit, visible_run
from mscpk.interfaces.web.jobs import read_study_bytes
from mscpk.interfaces.web.security import (Session, check_csrf, new_session, page_user, request_session,
                                           set_session_cookie)
from mscpk.store import RunInfo, User

router = APIRouter(include_in_schema=False)

PageUser = Annotated[User, Depends(page_user)]
Csrf = Annotated[str, Form(alias="csrf_token", max_length=200)]
#: Rows of a table shown on a page (the download has them all).
PREVIEW_ROWS = 200


def render(request: Request, template: str, status: int = 200, user: User | None = None, **context) -> Response:
    """A page; a visitor without a session gets one (with its CSRF token) in a cookie."""
    session = request_session(request)
    fresh = session is None
    session = session or new_session()
    response = request.app.state.templates.TemplateResponse(
        request, template, {"user": user, "csrf": session.csrf, **context}, status_code=status)
    if fresh:
        set_session_cookie(response, request, session)
    return response


def redirect(url: str, request: Request | None = None, session: Session | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    if session is not None:
        set_session_cookie(response, request, session)
    return response


@router.get("/")
def home() -> Response:
    return redirect("/builder")


@router.get("/login")
def login_page(request: Request) -> Response:
    return render(request, "login.html")


@router.post("/login")
def login(request: Request, csrf: Csrf, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)]) -> Response:
    check_csrf(request, csrf)
    user = request.app.state.store.authenticate(username, password)
    if user is None:
        return render(request, "login.html", status=401, error="wrong user name or password")
    return redirect("/builder", request, new_session(user.id))  # a new session (and CSRF token) at login


@router.post("/logout")
def logout(request: Request, csrf: Csrf) -> Response:
    check_csrf(request, csrf)
    return redirect("/login", request, new_session())


def _builder(request: Request, user: User, toml_text: str, *, errors=None, general=None, status=200,
             values=None, example: str | None = None) -> Response:
    try:
        raw = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError:
        raw = {}
    return render(request, "builder.html", status=status, user=user, toml_text=toml_text,
                  rows=form_rows(raw), tables=TABLES, row_tables=ROW_TABLES,
                  field_name=field_name, errors=errors or {}, general=general,
                  examples=example_names(), kinds=SCENARIO_KINDS, values=values or {},
                  example=example, projects=request.app.state.store.projects(user.id))


@router.get("/builder")
def builder_page(request: Request, user: PageUser, example: str | None = None, run: int | None = None) -> Response:
    text = example_text(example or "iv_mouse") or example_text("iv_mouse") or ""
    if run is not None:
        info = visible_run(request, run, user)
        text = request.app.state.store.scenario_toml(info.id) or text
    errors, general = check(text) if text else ({}, None)
    return _builder(request, user, text, errors=errors, general=general, example=None if run else example or "iv_mouse")


def _inputs(kind: str, form) -> dict:
    """The options of a run kind from the builder's form."""
    def number(name, cast=int):
        text = str(form.get(name) or "").strip()
        return cast(text) if text else None

    def items(name, sep):
        return [x.strip() for x in str(form.get(name) or "").split(sep) if x.strip()]

    if kind == "scan":
        return {"vary": items("scan_vary", "\n")}
    if kind == "population":
        return {k: v for k, v in (("n", number("pop_n")), ("seed", number("pop_seed")),
                                  ("metrics", items("metrics", ","))) if v}
    if kind == "sensitivity":
        return {k: v for k, v in (("n", number("sens_n")), ("method", str(form.get("sens_method") or "morris")),
                                  ("metrics", items("metrics", ","))) if v}
    return {"figure": True} if kind == "simulate" else {}


@router.post("/builder")
async def builder_submit(request: Request, user: PageUser) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    action = str(form.get("action") or "check")
    text = str(form.get("toml_text") or "") if action == "toml" else apply_form(
        str(form.get("toml_text") or ""), {k: str(v) for k, v in form.items() if isinstance(v, str)})
    if action == "download":
        return Response(text, media_type="application/toml",
                        headers={"Content-Disposition": 'attachment; filename="scenario.toml"'})
    errors, general = check(text)
    if errors or general or action not in SCENARIO_KINDS:
        return _builder(request, user, text, errors=errors, general=general, values=form,
                        status=422 if errors or general else 200)
    project_id = project_choice(request, user, form.get("project"))
    try:
        run_id = submit(request, action, text, user, _inputs(action, form), project_id)
    except (ValueError, MscpkError) as exc:
        return _builder(request, user, text, general=str(exc), values=form, status=422)
    return redirect(f"/runs/{run_id}")


@router.post("/builder/upload")
async def builder_upload(request: Request, user: PageUser, csrf: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    check_csrf(request, csrf)
    data = await file.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _builder(request, user, "", general=f"{file.filename}: not a UTF-8 text file", status=422)
    errors, general = check(text)
    return _builder(request, user, text, errors=errors, general=general, status=422 if errors or general else 200)


@router.get("/runs")
def runs_page(request: Request, user: PageUser, kind: str | None = None) -> Response:
    runs = request.app.state.store.runs(user_id=user.id, kind=kind or None, limit=500)
    return render(request, "runs.html", user=user, runs=runs, kind=kind)


def _preview(df, href: str) -> dict:
    """The first rows of a table for a page, with the download link (``href`` + ``.csv``)."""
    head = df.head(PREVIEW_ROWS)
    return {"columns": [str(c) for c in head.columns], "rows": head.astype(object).where(head.notna(), "").values.tolist(),
            "n": len(df), "href": href}


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, user: PageUser) -> Response:
    info: RunInfo = visible_run(request, run_id, user)
    store = request.app.state.store
    tables, files = {}, []
    if info.status == "done":
        tables = {name: _preview(stored_table(request, info, name, user), f"/api/runs/{info.id}/tables/{name}")
                  for name in store.table_names(info.id) if name != "result"}
        files = store.file_names(info.id)
        for study in store.studies(info.id, user_id=user.id):
            for which in ("accepted", "excluded"):
                rows = store.study_rows(info.id, study.name, which, user_id=user.id)
                tables[f"{which} rows"] = _preview(rows, f"/api/runs/{info.id}/studies/{study.name}/{which}")
    notes = (store.file(info.id, "warnings.txt", user_id=user.id).decode("utf-8").splitlines()
             if "warnings.txt" in files else [])
    return render(request, "run.html", user=user, run=info, tables=tables, files=files, notes=notes,
                  examples=example_names())


@router.get("/study")
def study_page(request: Request, user: PageUser) -> Response:
    runs = request.app.state.store.runs(user_id=user.id, kind="study", limit=100)
    return render(request, "study.html", user=user, runs=runs)


@router.post("/study")
async def study_upload(request: Request, user: PageUser, csrf: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    check_csrf(request, csrf)
    data, name = await file.read(), file.filename or "data.csv"
    store = request.app.state.store
    try:
        study = read_study_bytes(data, name)
    except MscpkError as exc:
        runs = store.runs(user_id=user.id, kind="study", limit=100)
        return render(request, "study.html", status=422, user=user, runs=runs, error=str(exc))
    name = safe_name(name)
    with store.record("study", inputs={"filename": name}, user_id=user.id) as rec:
        rec.add_file("data" + Path(name).suffix.lower(), data)  # read again by NCA and fit runs
        rec.add_study(name, data, study.frame, study.excluded)
    return redirect(f"/runs/{rec.run_id}")


def safe_name(filename: str) -> str:
    """An uploaded file's name as the store accepts names (letters, digits, ``_.+@ -``)."""
    stem, suffix = Path(filename).stem, Path(filename).suffix.lower()
    clean = re.sub(r"[^A-Za-z0-9_.+@ -]", "_", stem).lstrip(".+@ -")[:150] or "data"
    return clean + suffix


@router.post("/runs/{run_id}/nca")
def run_nca(request: Request, run_id: int, user: PageUser, csrf: Csrf,
            sparse: Annotated[str, Form(pattern="^(auto|yes|no)$")] = "auto") -> Response:
    check_csrf(request, csrf)
    info = visible_run(request, run_id, user, "study")
    new = request.app.state.store.create_run("nca", inputs={"data_run": info.id, "sparse": sparse}, user_id=user.id)
    return redirect(f"/runs/{new}")


@router.post("/runs/{run_id}/fit")
def run_fit(request: Request, run_id: int, user: PageUser, csrf: Csrf,
            estimate: Annotated[str, Form(max_length=2000)],
            example: Annotated[str, Form(max_length=200)] = "",
            scenario_toml: Annotated[str, Form(max_length=1_000_000)] = "") -> Response:
    check_csrf(request, csrf)
    info = visible_run(request, run_id, user, "study")
    text = scenario_toml.strip() or example_text(example) or ""
    new = submit(request, "fit", text, user, {"data_run": info.id, "estimate": estimate})
    return redirect(f"/runs/{new}")


@router.post("/runs/{run_id}/report")
def run_report(request: Request, run_id: int, user: PageUser, csrf: Csrf) -> Response:
    """The report of a run's scenario; of a fit: with its study data (NCA) and the fit."""
    check_csrf(request, csrf)
    info = visible_run(request, run_id, user)
    text = request.app.state.store.scenario_toml(info.id, user_id=user.id) or ""
    inputs = {"data_run": info.inputs["data_run"], "fit_run": info.id} if info.kind == "fit" else {}
    new = submit(request, "report", text, user, inputs)
    return redirect(f"/runs/{new}")


@router.get("/qualification")
def qualification_page(request: Request, user: PageUser) -> Response:
    runs = request.app.state.store.runs(user_id=user.id, kind="qualify", limit=20)
    return render(request, "qualification.html", user=user, runs=runs, studies=study_ids())


@router.post("/qualification")
def qualification_run(request: Request, user: PageUser, csrf: Csrf,
                      studies: Annotated[list[str] | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    known = set(study_ids())
    chosen = [s for s in studies or [] if s in known]
    new = request.app.state.store.create_run("qualify", inputs={"studies": chosen}, user_id=user.id)
    return redirect(f"/runs/{new}")
