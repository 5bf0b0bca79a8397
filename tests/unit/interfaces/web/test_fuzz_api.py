"""Schemathesis against the app's /openapi.json: no generated request (bounded number of
examples per operation) gets a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from mscpk.interfaces.web import create_app

    app = create_app(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'web.db'}")
    uid = app.state.store.add_user("alice", "alice-pw-1")
    app.state.auth = {"Authorization": f"Bearer {app.state.signer.token_for(uid)}"}
    yield app
    app.state.store.close()


@pytest.fixture(scope="module")
def web_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
@settings(max_examples=12, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_server_error(case, fuzz_app):
    case.call_and_validate(headers=fuzz_app.state.auth, checks=[not_a_server_error])
