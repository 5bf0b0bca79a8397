"""A worker process killed in the middle of a run: its lease expires and another worker
finishes the run (docs/store.md, "Leases")."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mscpk.interfaces.web.jobs import WorkerPool, heartbeat_interval, run_next
from mscpk.store import open_store

POP = (Path(__file__).resolve().parents[4] / "examples" / "population_iv_mouse.toml").read_text(encoding="utf-8")
LEASE_S = 1.0


def _wait(what, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := what()) is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout_s} s")


def test_the_heartbeat_is_a_quarter_of_the_lease():
    assert heartbeat_interval(LEASE_S) == 0.25


@pytest.mark.slow
def test_a_killed_workers_run_is_finished_by_another(tmp_path):
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    store = open_store(url)
    store.init()
    rid = store.create_run("population", scenario_toml=POP, inputs={"n": 3000, "seed": 2})
    pool = WorkerPool(url, 1, poll_s=0.05, lease_s=LEASE_S)
    pool.start()
    try:
        # mid-run: claimed, and its progress (the first chunk of 2,000 subjects) reported
        def mid_run():
            run = store.run(rid)
            return run if run.status == "running" and 0 < run.progress < 1 else None

        mid = _wait(mid_run)
        os.kill(pool.processes[0].pid, signal.SIGKILL)
        pool.processes[0].join(10)
    finally:
        pool.stop()
    assert mid.attempts == 1
    assert store.run(rid).status == "running"  # nobody else knows yet
    assert run_next(store, lease_s=LEASE_S) is None  # the lease has not expired yet: not taken over
    time.sleep(LEASE_S * 1.2)
    assert run_next(store, lease_s=LEASE_S) == rid  # another worker re-queues and finishes it
    done = store.run(rid)
    assert (done.status, done.attempts, done.progress) == ("done", 2, 1.0)
    assert len(store.table(rid, "subjects")) == 3000
    store.close()
