"""Several processes at once, on SQLite (WAL, busy timeout, BEGIN IMMEDIATE) and PostgreSQL
(SELECT ... FOR UPDATE SKIP LOCKED): writers lose nothing, a run is claimed by one worker only."""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest

from mscpk.store import open_store

CTX = multiprocessing.get_context("fork")  # the children inherit the test's imports
N_WRITES = 15
N_RUNS = 40


def _writer(url: str, who: int, start, out) -> None:
    store = open_store(url)
    start.wait()
    ids = []
    for i in range(N_WRITES):
        with store.record("simulate", inputs={"writer": who, "i": i}) as rec:
            rec.add_table("result", pd.DataFrame({"writer": [who] * 50, "i": [i] * 50, "x": range(50)}))
        ids.append(rec.run_id)
    store.close()
    out.put(ids)


def _claimer(url: str, start, out) -> None:
    store = open_store(url)
    start.wait()
    got = []
    while (run := store.claim_run()) is not None:
        got.append(run.id)
        store.finish_run(run.id, tables={"who": pd.DataFrame({"pid": [multiprocessing.current_process().pid]})})
    store.close()
    out.put(got)


def _run_all(targets) -> list:
    out = CTX.Queue()
    start = CTX.Barrier(len(targets))
    procs = [CTX.Process(target=f, args=(*args, start, out)) for f, args in targets]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.mark.slow
def test_two_concurrent_writers_lose_nothing(store, store_url):
    store.close()  # no connection is shared with the children
    results = _run_all([(_writer, (store_url, w)) for w in (0, 1)])
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 2 * N_WRITES
    runs = store.runs()
    assert len(runs) == 2 * N_WRITES and {r.id for r in runs} == set(ids)
    seen = set()
    for r in runs:
        t = store.table(r.id, "result")
        assert list(t["x"]) == list(range(50))
        assert (t["writer"] == r.inputs["writer"]).all() and (t["i"] == r.inputs["i"]).all()
        seen.add((r.inputs["writer"], r.inputs["i"]))
    assert seen == {(w, i) for w in (0, 1) for i in range(N_WRITES)}


@pytest.mark.slow
def test_concurrent_claimers_never_share_a_run(store, store_url):
    queued = [store.create_run("simulate", inputs={"n": i}) for i in range(N_RUNS)]
    store.close()
    results = _run_all([(_claimer, (store_url,)) for _ in range(4)])
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == queued  # every run once, none twice
    assert all(store.run(i).status == "done" for i in queued)
    assert store.claim_run() is None
