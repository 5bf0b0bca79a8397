"""Fixtures of the web app tests: an app over a temporary SQLite store with two users, clients
logged in through the login form, bearer tokens, and the job queue run in this process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"
USERS = {"alice": "alice-pw-1", "bob": "bob-pw-2"}


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty store: a SQLite file, or (the API tests) a fresh schema of the PostgreSQL server in
    MSCPK_TEST_POSTGRES_URL, as the store's own tests use it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'web.db'}"
        return
    from unit.store.conftest import pg_schema

    with pg_schema("w") as url:
        yield url


@pytest.fixture
def app(request, tmp_path):
    """The app over a SQLite store; tests that take ``db_url`` run on both backends."""
    from mscpk.interfaces.web import create_app

    url = request.getfixturevalue("db_url") if "db_url" in request.fixturenames else f"sqlite:///{tmp_path / 'web.db'}"
    app = create_app(url, workers=0, max_upload_bytes=200_000)
    for name, pw in USERS.items():
        app.state.store.add_user(name, pw)
    yield app
    app.state.store.close()


def _client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, headers={"Accept": "text/html"})


def login(client, name: str):
    r = client.post("/login", data={"csrf_token": csrf_of(client.get("/login").text), "username": name,
                                    "password": USERS[name]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def alice(app):
    with _client(app) as c:
        yield login(c, "alice")


@pytest.fixture
def bob(app):
    with _client(app) as c:
        yield login(c, "bob")


@pytest.fixture
def anon(app):
    with _client(app) as c:
        yield c


@pytest.fixture
def token(anon):
    """``token(name)``: the Authorization header of a bearer token of that user."""
    def get(name: str) -> dict:
        r = anon.post("/api/token", data={"username": name, "password": USERS[name]})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}
    return get


@pytest.fixture
def drain(app):
    """``drain()``: run every queued run in this process (what the worker processes do); the
    ids run."""
    from mscpk.interfaces.web.jobs import run_next

    def run_all() -> list[int]:
        done = []
        while (rid := run_next(app.state.store)) is not None:
            done.append(rid)
        return done
    return run_all


@pytest.fixture
def csrf():
    return csrf_of


@pytest.fixture(scope="session")
def bench_web():
    """benchmarks/bench_web.py as a module: its ``serve`` (``mscpk serve`` in a subprocess on a
    free loopback port), ``make_users`` and ``load``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_web", ROOT / "benchmarks" / "bench_web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
