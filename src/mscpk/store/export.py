"""A stored run back as files in a folder (``mscpk db export RUN -o DIR``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mscpk.errors import StoreError
from mscpk.utils import write_all_or_nothing


def export_run(store, run_id: int, out: Path, user_id: int | None = None) -> list[Path]:
    """Write into ``out`` the run's files (as stored), its tables as ``NAME.csv``, the
    parameters in force as ``params.csv``, each study's rows as ``STUDY.accepted.csv`` and
    ``STUDY.excluded.csv``, the scenario as ``scenario.toml`` and ``run.json`` (kind, status,
    inputs, versions, timings). ``out`` is created if missing; its parent must exist. All files
    are written or none."""
    info = store.run(run_id, user_id)
    if info is None:
        raise StoreError(f"run {run_id!r}: does not exist in {store.url}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"-o {str(out)!r}: is a file; give a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not out.exists() and not parent.is_dir():
        raise StoreError(f"-o {str(out)!r}: folder {str(parent)!r} does not exist")
    items: dict[str, object] = {}

    def put(name: str, writer) -> None:
        if name in items:
            raise StoreError(f"run {info.id}: two items would be exported as {name!r}")
        items[name] = writer

    for name in store.file_names(info.id, user_id):
        data = store.file(info.id, name, user_id)
        put(name, lambda tmp, d=data: Path(tmp).write_bytes(d))
    for name in store.table_names(info.id, user_id):
        df = store.table(info.id, name, user_id)
        put(f"{name}.csv", lambda tmp, df=df: df.to_csv(tmp, index=False))
    params = store.params(info.id, user_id)
    if params is not None:
        put("params.csv", lambda tmp: params.to_csv(tmp, index=False))
    for st in store.studies(info.id, user_id):
        for which in ("accepted", "excluded"):
            df = store.study_rows(info.id, st.name, which, user_id)
            put(f"{Path(st.name).stem}.{which}.csv", lambda tmp, df=df: df.to_csv(tmp, index=False))
    toml_text = store.scenario_toml(info.id, user_id)
    if toml_text is not None:
        put("scenario.toml", lambda tmp: Path(tmp).write_text(toml_text, encoding="utf-8"))
    meta = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in vars(info).items()}
    meta["studies"] = [vars(s) for s in store.studies(info.id, user_id)]
    put("run.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8"))
    if not os.access(out if out.exists() else parent, os.W_OK | os.X_OK):
        raise StoreError(f"-o {str(out)!r}: not writable (permission denied)")
    out.mkdir(exist_ok=True)
    return write_all_or_nothing([(out / name, writer) for name, writer in items.items()])
