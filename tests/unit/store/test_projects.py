"""Projects in the store, on SQLite and PostgreSQL: a user's projects with their members, and
only members add runs to a project."""

from __future__ import annotations

import pytest

from mscpk.errors import StoreError
from mscpk.store import ProjectInfo


def test_a_users_projects_and_members(store):
    ann, bob, cy = (store.add_user(n, "pw") for n in ("ann", "bob", "cy"))
    knee = store.add_project("knee OA", ann)
    heart = store.add_project(" heart ", bob)
    store.add_member(knee, cy)
    store.add_member(knee, bob)
    store.add_member(knee, bob)  # idempotent
    assert store.projects(ann) == [ProjectInfo(knee, "knee OA", ann, ("ann", "bob", "cy"))]
    assert store.projects(bob) == [ProjectInfo(knee, "knee OA", ann, ("ann", "bob", "cy")),
                                   ProjectInfo(heart, "heart", bob, ("bob",))]
    assert store.projects(cy) == [ProjectInfo(knee, "knee OA", ann, ("ann", "bob", "cy"))]
    assert store.projects(999) == []
    assert store.user_named("bob").id == bob and store.user_named("nobody") is None


def test_only_members_add_runs_to_a_project(store):
    ann, bob = store.add_user("ann", "pw"), store.add_user("bob", "pw")
    knee = store.add_project("knee OA", ann)
    with pytest.raises(StoreError, match=rf"project {knee}: user {bob} is not a member; only members add runs to it"):
        store.create_run("simulate", user_id=bob, project_id=knee)
    store.add_member(knee, bob)
    rid = store.create_run("simulate", user_id=bob, project_id=knee)
    assert [r.id for r in store.runs(user_id=ann)] == [rid]
