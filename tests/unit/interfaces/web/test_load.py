"""A small version of benchmarks/bench_web.py: concurrent users submit and poll simulations
against ``mscpk serve`` with two worker processes; every job finishes, none is lost."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_concurrent_users_every_job_finishes(tmp_path, bench_web):
    names = [f"u{i}" for i in range(4)]
    url = f"sqlite:///{tmp_path / 'load.db'}"
    bench_web.make_users(url, names, "load-pw")
    with bench_web.serve(url, 2, tmp_path / "server.log") as base:
        out = bench_web.load(base, names, "load-pw", per_user=3, deadline_s=240)
    assert out["simulations"] == 12
    assert (out["done"], out["failed"], out["lost"], out["csv_ok"]) == (12, 0, 0, 12), out
