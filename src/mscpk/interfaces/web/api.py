"""The JSON API (contract: shared/INTERFACE.md, "Report, project store and web app"), for
scripts and notebooks, and the JSON the pages' own scripts read."""

from __future__ import annotations

import io
import math
from pathlib import Path
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from mscpk.errors import StoreError
from mscpk.interfaces.web.jobs import check_inputs, scenario_from_text
from mscpk.interfaces.web.security import api_user
from mscpk.store import ProjectInfo, RunInfo, User

router = APIRouter(prefix="/api", tags=["api"])

#: Run kinds that take a scenario and may be submitted through the API.
SCENARIO_KINDS = ("simulate", "scan", "population", "sensitivity", "detection", "report")
#: Download formats of a stored table.
TABLE_FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet",
                 "json": "application/json"}
FILE_TYPES = {".png": "image/png", ".xml": "application/xml", ".json": "application/json",
              ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
              ".csv": "text/csv; charset=utf-8", ".xlsx": "application/octet-stream"}

ApiUser = Annotated[User, Depends(api_user)]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class SimulationIn(BaseModel):
    scenario_toml: str = Field(max_length=1_000_000, description="the scenario file's TOML text")


class RunIn(SimulationIn):
    kind: Literal["simulate", "scan", "population", "sensitivity", "detection", "report"]
    inputs: dict[str, Any] = Field(default_factory=dict, description="options of the kind (docs/web.md)")
    project_id: int | None = Field(default=None, description="a project you are a member of (its members see the run)")


class Created(BaseModel):
    id: int


class SimulationStatus(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed"]
    error: str | None


class RunOut(SimulationStatus):
    kind: str
    scenario_name: str | None
    created_at: datetime | None
    finished_at: datetime | None
    progress: float | None
    message: str | None
    tables: list[str]
    files: list[str]


class Message(BaseModel):
    detail: str


NOT_FOUND = {404: {"model": Message, "description": "no such run of yours"}}


def visible_run(request: Request, run_id: int, user: User, kind: str | None = None) -> RunInfo:
    """The run if ``user`` may see it (and it is of ``kind``); else 404, the same answer as
    for a run that does not exist."""
    info = request.app.state.store.run(run_id, user_id=user.id) if 0 < run_id < 2**63 else None
    if info is None or (kind is not None and info.kind != kind):
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return info


def member_project(request: Request, project_id: int, user: User) -> ProjectInfo:
    """The project if ``user`` is a member; else 404, the same answer as a missing project."""
    for p in request.app.state.store.projects(user.id):
        if p.id == project_id:
            return p
    raise HTTPException(status_code=404, detail=f"project {project_id} not found")


def project_choice(request: Request, user: User, value) -> int | None:
    """The project a form chose for a run (empty: none, the run is yours only); 404 unless
    ``user`` is a member."""
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise HTTPException(status_code=404, detail=f"project {text!r} not found")
    return member_project(request, int(text), user).id


def run_out(request: Request, info: RunInfo) -> RunOut:
    store = request.app.state.store
    done = info.status == "done"
    return RunOut(id=info.id, status=info.status, error=info.error, kind=info.kind,
                  scenario_name=info.scenario_name, created_at=info.created_at,
                  finished_at=info.finished_at, progress=info.progress, message=info.message,
                  tables=store.table_names(info.id) if done else [],
                  files=store.file_names(info.id) if done else [])


def stored_table(request: Request, info: RunInfo, name: str, user: User):
    if info.status != "done":
        raise HTTPException(status_code=409, detail=f"run {info.id} is {info.status}; its tables exist once it is done")
    try:
        return request.app.state.store.table(info.id, name, user_id=user.id)
    except StoreError:
        raise HTTPException(status_code=404, detail=f"run {info.id} has no table {name!r}") from None


def table_response(df, fmt: str, filename: str) -> Response:
    """A stored table as CSV (as ``mscpk simulate -o x.csv`` writes it), Parquet or JSON."""
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        body = buf.getvalue()
    elif fmt == "json":
        body = df.to_json(orient="split", index=False).encode("utf-8")
    else:
        body = df.to_csv(index=False).encode("utf-8")
    return Response(body, media_type=TABLE_FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})


def submit(request: Request, kind: str, scenario_toml: str, user: User, inputs: dict | None = None,
           project_id: int | None = None) -> int:
    """Validate the scenario with mscpk's loader and queue a run of ``kind`` for ``user`` (in
    ``project_id``, a project of the user's, when given)."""
    inputs = check_inputs(kind, inputs or {})
    scenario_from_text(scenario_toml)
    return request.app.state.store.create_run(kind, scenario_toml=scenario_toml, inputs=inputs, user_id=user.id,
                                              project_id=project_id)


@router.post("/token", response_model=Token, responses={401: {"model": Message}})
def token(request: Request, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)]) -> Token:
    """A signed, expiring bearer token for the user (form fields ``username``, ``password``)."""
    user = request.app.state.store.authenticate(username, password)
    if user is None:
        raise HTTPException(status_code=401, detail="wrong user name or password",
                            headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=request.app.state.signer.token_for(user.id))


@router.post("/simulations", status_code=201, response_model=Created,
             responses={422: {"model": Message}, 401: {"model": Message}})
def create_simulation(request: Request, body: SimulationIn, user: ApiUser) -> Created:
    """Queue a simulation of the scenario; 422 with the loader's message when it is invalid."""
    return Created(id=submit(request, "simulate", body.scenario_toml, user))


@router.get("/simulations/{run_id}", response_model=SimulationStatus, responses=NOT_FOUND)
def simulation(request: Request, run_id: int, user: ApiUser) -> SimulationStatus:
    """The status of one of your simulations."""
    info = visible_run(request, run_id, user, "simulate")
    return SimulationStatus(id=info.id, status=info.status, error=info.error)


@router.get("/simulations/{run_id}/result.csv", response_class=Response,
            responses={**NOT_FOUND, 409: {"model": Message}, 200: {"content": {"text/csv": {}}}})
def simulation_csv(request: Request, run_id: int, user: ApiUser) -> Response:
    """The result table (time_h, site, quantity, value) of a finished simulation, as CSV."""
    info = visible_run(request, run_id, user, "simulate")
    return table_response(stored_table(request, info, "result", user), "csv", "result")


@router.post("/runs", status_code=201, response_model=Created, responses={422: {"model": Message}, **NOT_FOUND})
def create_run(request: Request, body: RunIn, user: ApiUser) -> Created:
    """Queue a run of a kind that takes a scenario (its options in ``inputs``, docs/web.md), in
    ``project_id`` when given (404 unless you are a member)."""
    project = None if body.project_id is None else member_project(request, body.project_id, user).id
    return Created(id=submit(request, body.kind, body.scenario_toml, user, body.inputs, project))


@router.get("/runs", response_model=list[RunOut])
def runs(request: Request, user: ApiUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RunOut]:
    """Your runs and those of your projects, newest first."""
    return [run_out(request, r) for r in request.app.state.store.runs(user_id=user.id, limit=limit)]


@router.get("/runs/{run_id}", response_model=RunOut, responses=NOT_FOUND)
def run(request: Request, run_id: int, user: ApiUser) -> RunOut:
    """One run: status, progress and the names of its tables and files."""
    return run_out(request, visible_run(request, run_id, user))


@router.get("/runs/{run_id}/tables/{name}.{fmt}", response_class=Response,
            responses={**NOT_FOUND, 409: {"model": Message}})
def table(request: Request, run_id: int, name: str, fmt: Literal["csv", "parquet", "json"],
          user: ApiUser) -> Response:
    """A table of a finished run as CSV, Parquet or JSON (pandas' "split" layout)."""
    info = visible_run(request, run_id, user)
    return table_response(stored_table(request, info, name, user), fmt, name)


@router.get("/runs/{run_id}/studies/{name}/{which}.{fmt}", response_class=Response, responses=NOT_FOUND)
def study_rows(request: Request, run_id: int, name: str, which: Literal["accepted", "excluded"],
               fmt: Literal["csv", "parquet", "json"], user: ApiUser) -> Response:
    """The accepted rows, or the excluded rows with their reasons, of uploaded study data."""
    info = visible_run(request, run_id, user, "study")
    try:
        df = request.app.state.store.study_rows(info.id, name, which, user_id=user.id)
    except StoreError:
        raise HTTPException(status_code=404, detail=f"run {run_id} has no study {name!r}") from None
    return table_response(df, fmt, f"{Path(name).stem}.{which}")


@router.get("/runs/{run_id}/files/{name}", response_class=Response, responses=NOT_FOUND)
def file(request: Request, run_id: int, name: str, user: ApiUser) -> Response:
    """A file of a finished run (figure, SBML model, fit JSON, report)."""
    info = visible_run(request, run_id, user)
    try:
        data = request.app.state.store.file(info.id, name, user_id=user.id)
    except StoreError:
        raise HTTPException(status_code=404, detail=f"run {run_id} has no file {name!r}") from None
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return Response(data, media_type=FILE_TYPES.get(suffix, "application/octet-stream"),
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _finite(values) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


@router.get("/runs/{run_id}/timecourses", responses={**NOT_FOUND, 409: {"model": Message}})
def timecourses(request: Request, run_id: int, user: ApiUser) -> dict:
    """A simulation's live and dead cells per site over time and the dose given so far, for
    the results page's figures: ``{"times_h", "administered", "sites": {SITE: {"live",
    "dead"}}}``."""
    info = visible_run(request, run_id, user, "simulate")
    df = stored_table(request, info, "result", user)
    wide = df[df["quantity"].isin(["live_cells", "dead_cells"])].pivot_table(
        index="time_h", columns=["site", "quantity"], values="value", aggfunc="first", observed=True)
    times = [float(t) for t in wide.index]
    total = wide.T.groupby(level=0, observed=True).sum().T.sum(axis=1)  # every site's live + dead
    sites = {}
    for site in dict.fromkeys(wide.columns.get_level_values(0)):
        if site == "eliminated":
            continue
        sites[str(site)] = {"live": _finite(wide[(site, "live_cells")]) if (site, "live_cells") in wide else [],
                            "dead": _finite(wide[(site, "dead_cells")]) if (site, "dead_cells") in wide else []}
    return {"times_h": times, "administered": _finite(total), "sites": sites}
