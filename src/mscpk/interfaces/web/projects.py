"""The project pages: your projects and their members, create a project, add a member; a
project's runs are seen by its members only (others get 404, as for a run that does not
exist)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from mscpk.errors import StoreError
from mscpk.interfaces.web.api import member_project
from mscpk.interfaces.web.pages import Csrf, PageUser, redirect, render
from mscpk.interfaces.web.security import check_csrf
from mscpk.store import User

router = APIRouter(include_in_schema=False)


def _page(request: Request, user: User, status: int = 200, error: str | None = None) -> Response:
    return render(request, "projects.html", status=status, user=user,
                  projects=request.app.state.store.projects(user.id), error=error)


@router.get("/projects")
def projects_page(request: Request, user: PageUser) -> Response:
    return _page(request, user)


@router.post("/projects")
def create_project(request: Request, user: PageUser, csrf: Csrf,
                   name: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, csrf)
    try:
        new = request.app.state.store.add_project(name, user.id)
    except StoreError as exc:
        return _page(request, user, 422, str(exc))
    return redirect(f"/projects/{new}")


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: int, user: PageUser) -> Response:
    project = member_project(request, project_id, user)
    runs = [r for r in request.app.state.store.runs(user_id=user.id, limit=2000) if r.project_id == project.id]
    return render(request, "project.html", user=user, project=project, runs=runs)


@router.post("/projects/{project_id}/members")
def add_member(request: Request, project_id: int, user: PageUser, csrf: Csrf,
               username: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, csrf)
    project = member_project(request, project_id, user)
    other = request.app.state.store.user_named(username.strip())
    if other is None:
        runs = [r for r in request.app.state.store.runs(user_id=user.id, limit=2000) if r.project_id == project.id]
        return render(request, "project.html", status=422, user=user, project=project, runs=runs,
                      error=f"user {username.strip()!r}: no such user; ask an administrator to add it (mscpk db add-user)")
    request.app.state.store.add_member(project.id, other.id)
    return redirect(f"/projects/{project.id}")
