"""``mscpk qualify``: the library of published studies through the default model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.interfaces.cli.common import user_errors
from mscpk.interfaces.cli.db import StoreDb, stored_run, write_outputs


@user_errors
def qualify_command(
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for qualification.csv and report.html")] = Path("qualification"),
    study: Annotated[Optional[list[str]], typer.Option("--study", help="a study id (repeatable; default: all)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the studies of the library and exit")] = False,
    db: StoreDb = None,
) -> None:
    """Run every bundled published study (or those named) through the default model and the
    study's own assay; write DIR/qualification.csv and DIR/report.html; print one summary line
    per used_for (calibration, validation)."""
    stored = stored_run(db, "qualify", locals()) if not list_ else None
    from mscpk.analysis.qualification import library_curves, qualify
    from mscpk.errors import ScenarioError
    from mscpk.inputs.studies import load_study, study_ids
    from mscpk.interfaces.plots.qualification import qualification_html

    if list_:
        for sid in study_ids():
            s = load_study(sid)
            typer.echo(f"{sid}\t{s.used_for}\t{s.scenario.subject.species}\t{s.method}\t{s.citation[:80]}")
        return
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"-o {str(out)!r}: is a file; give a folder")
    if not out.parent.is_dir() and str(out.parent) not in ("", "."):
        raise ScenarioError(f"-o {str(out)!r}: folder {str(out.parent)!r} does not exist")
    ids = study or None
    for sid in ids or ():
        load_study(sid)  # unknown ids are refused before any work
    q = qualify(ids)
    page = qualification_html(q, library_curves())
    out.mkdir(exist_ok=True)
    if stored is not None:
        stored.tables["qualification"] = q.table
    write_outputs(stored, [(out / "qualification.csv", lambda tmp: q.table.to_csv(tmp, index=False)),
                           (out / "report.html", lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))],
                  keep=(out / "report.html",))
    for line in q.lines():
        typer.echo(line)
    typer.echo(f"wrote {out / 'qualification.csv'} and {out / 'report.html'}" + (f"; {stored.note()}" if stored else ""))


__all__ = ["qualify_command"]
