"""Schemathesis against the app's /openapi.json: no generated request (bounded number of
examples per operation) gets a server error.

The operations are walked with schemathesis's Python API and hypothesis directly rather than
through schemathesis's pytest plugin (``schemathesis.pytest.from_fixture``), which reads pytest
internals that pytest 9.2 removed."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from mscpk.interfaces.web import create_app

    app = create_app(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'web.db'}")
    uid = app.state.store.add_user("alice", "alice-pw-1")
    app.state.auth = {"Authorization": f"Bearer {app.state.signer.token_for(uid)}"}
    yield app
    app.state.store.close()


def _operations(app) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_error(fuzz_app):
    operations = _operations(fuzz_app)
    assert len(operations) >= 4  # the contract's four endpoints at least
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, suppress_health_check=list(HealthCheck), deadline=None, database=None)
        def check(case):
            case.call_and_validate(headers=fuzz_app.state.auth, checks=[not_a_server_error])

        check()
