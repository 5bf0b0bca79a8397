"""Worker leases (docs/store.md, "Leases"), on SQLite and PostgreSQL: a run whose worker stops
sending heartbeats is re-queued once, then failed; a live worker's run is never taken."""

from __future__ import annotations

import time

import pytest

from mscpk.errors import StoreError
from mscpk.store.connect import settings

LEASE_S = 0.5


def _expire(seconds: float = LEASE_S) -> None:
    time.sleep(seconds * 1.5)


def test_a_claim_starts_a_lease(store):
    rid = store.create_run("scan")
    info = store.claim_run(lease_s=LEASE_S)
    assert (info.id, info.status, info.attempts) == (rid, "running", 1)
    assert info.heartbeat_at is not None and info.heartbeat_at == info.started_at


def test_an_expired_lease_is_requeued_once_then_failed(store):
    assert settings()["workers"]["max_attempts"] == 2
    rid = store.create_run("scan")
    assert store.claim_run(lease_s=LEASE_S).id == rid
    _expire()
    second = store.claim_run(lease_s=LEASE_S)  # the first worker died: the run comes back
    assert (second.id, second.attempts) == (rid, 2)
    _expire()
    assert store.claim_run(lease_s=LEASE_S) is None  # the second worker died too: failed
    run = store.run(rid)
    assert run.status == "failed" and run.finished_at is not None
    assert run.error.startswith("its worker stopped (no heartbeat for 0.5 s) 2 times; not retried again")
    with pytest.raises(StoreError, match="is failed"):
        store.finish_run(rid)


def test_heartbeats_and_progress_keep_the_lease(store):
    rid = store.create_run("scan")
    store.claim_run(lease_s=LEASE_S)
    for _ in range(3):
        time.sleep(LEASE_S / 2)
        assert store.heartbeat(rid) is True
        assert store.claim_run(lease_s=LEASE_S) is None
    time.sleep(LEASE_S / 2)
    store.set_progress(rid, 0.5, "half")  # progress renews the lease too
    time.sleep(LEASE_S / 2)
    assert store.claim_run(lease_s=LEASE_S) is None
    assert store.run(rid).status == "running" and store.run(rid).attempts == 1


def test_a_requeued_run_refuses_the_old_workers_heartbeat(store):
    rid = store.create_run("scan")
    store.claim_run(lease_s=LEASE_S)
    _expire()
    other = store.create_run("scan", status="running")  # not claimed by a worker: no lease
    assert store.claim_run(["nca"], lease_s=LEASE_S) is None  # expires rid without claiming it
    run = store.run(rid)
    assert (run.status, run.progress, run.heartbeat_at) == ("queued", 0.0, None)
    assert run.message == "re-queued: its worker stopped (no heartbeat for 0.5 s)"
    assert store.heartbeat(rid) is False
    assert store.run(other).status == "running"


@pytest.mark.parametrize("bad", [0, -1.0, True, "60"])
def test_a_lease_must_be_positive_seconds(store, bad):
    with pytest.raises(StoreError, match=r"lease_s: .* is not allowed; give a number of seconds > 0"):
        store.claim_run(lease_s=bad)


def test_a_worker_whose_claim_expired_cannot_store_its_result(store):
    rid = store.create_run("scan")
    first = store.claim_run(lease_s=LEASE_S)
    _expire()
    second = store.claim_run(lease_s=LEASE_S)  # another worker took the run over
    assert store.heartbeat(rid, first.attempts) is False and store.heartbeat(rid, second.attempts) is True
    for act in (lambda: store.finish_run(rid, attempt=first.attempts),
                lambda: store.fail_run(rid, "late", attempt=first.attempts)):
        with pytest.raises(StoreError, match=r"run \d+: its claim 1 expired \(now running, claim 2\); this worker cannot"):
            act()
    store.finish_run(rid, attempt=second.attempts)
    assert store.run(rid).status == "done"
