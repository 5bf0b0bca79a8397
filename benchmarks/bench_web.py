"""Load test of the web app (issue 13). Prints ONE JSON line.

Run:  python benchmarks/bench_web.py                       (20 users, 200 simulations)
      python benchmarks/bench_web.py --users 4 --per-user 5 --workers 2

Starts ``mscpk serve`` on a free loopback port over a fresh SQLite store, creates the users,
then each user (a thread with its own HTTP client) gets a bearer token, submits its
simulations of examples/iv_mouse.toml through ``POST /api/simulations`` and polls ``GET
/api/simulations/{id}`` until every one is done or failed, then fetches each result.csv.
Reported: ``simulations``, ``done``, ``failed``, ``lost`` (submitted but never finished
before the deadline), ``requests``, ``p50_ms``/``p95_ms``/``max_ms`` of every API request
(token, submit, poll, result), the same percentiles per kind of request (``token_p50_ms``,
``submit_...``, ``status_...``, ``result_...``: the 430 kB result.csv), ``wall_s`` and
``simulations_per_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(db_url: str, workers: int, log_path: Path, timeout_s: float = 60.0):
    """``mscpk serve`` in a subprocess on a free loopback port; yields its base URL once
    ``/healthz`` answers 200; stopped (SIGTERM) at the end."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mscpk.interfaces.cli", "serve", "--port", str(port),
                                 "--db", db_url, "--workers", str(workers)],
                                stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if urllib.request.urlopen(f"{base}/healthz", timeout=1).status == 200:
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"mscpk serve did not start: {Path(log_path).read_text()}") from None
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_users(db_url: str, names: list[str], password: str) -> None:
    from mscpk.store import open_store

    store = open_store(db_url)
    store.init()
    for name in names:
        store.add_user(name, password)
    store.close()


def load(base: str, names: list[str], password: str, per_user: int, deadline_s: float = 900.0) -> dict:
    """Every user submits ``per_user`` simulations and polls them to the end (threads)."""
    import httpx

    toml = EXAMPLE.read_text(encoding="utf-8")
    latencies: list[tuple[str, float]] = []
    outcome: dict[str, int] = {"done": 0, "failed": 0, "lost": 0, "csv_ok": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s

    def timed(client, method, url, **kw):
        t0 = time.perf_counter()
        r = client.request(method, url, **kw)
        what = ("token" if url.endswith("/token") else "submit" if method == "POST"
                else "result" if url.endswith(".csv") else "status")
        with lock:
            latencies.append((what, time.perf_counter() - t0))
        return r

    def user(name: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            tok = timed(c, "POST", "/api/token", data={"username": name, "password": password}).json()["access_token"]
            h = {"Authorization": f"Bearer {tok}"}
            ids = []
            for _ in range(per_user):
                r = timed(c, "POST", "/api/simulations", json={"scenario_toml": toml}, headers=h)
                r.raise_for_status()
                ids.append(r.json()["id"])
            pending = set(ids)
            while pending and time.monotonic() < stop_at:
                for rid in sorted(pending):
                    status = timed(c, "GET", f"/api/simulations/{rid}", headers=h).json()["status"]
                    if status in ("done", "failed"):
                        pending.discard(rid)
                        ok = status == "done" and timed(c, "GET", f"/api/simulations/{rid}/result.csv",
                                                        headers=h).text.startswith("time_h,site,quantity,value")
                        with lock:
                            outcome[status] += 1
                            outcome["csv_ok"] += int(ok)
                time.sleep(0.5)
            with lock:
                outcome["lost"] += len(pending)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array([t for _, t in latencies]) * 1000.0
    n = len(names) * per_user
    per = {}
    for what in ("token", "submit", "status", "result"):
        x = np.array([t for w, t in latencies if w == what]) * 1000.0
        if len(x):
            per[f"{what}_p50_ms"], per[f"{what}_p95_ms"] = (round(float(np.percentile(x, q)), 1) for q in (50, 95))
    return {"users": len(names), "simulations": n, **outcome, "requests": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1), **per, "wall_s": round(wall, 1),
            "simulations_per_s": round(n / wall, 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    names = [f"user{i:02d}" for i in range(args.users)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        make_users(url, names, "bench-password")
        with serve(url, args.workers, Path(tmp) / "server.log") as base:
            out = {"workers": args.workers, **load(base, names, "bench-password", args.per_user)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
