"""``mscpk report SCENARIO [--data DATA] [--fit FIT.json] -o REPORT.html [--pdf REPORT.pdf]``:
the druggability report as one self-contained HTML page (docs/report.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.interfaces.cli.common import check_out, user_errors

#: File types of the HTML output.
HTML_SUFFIXES = (".html", ".htm")


@user_errors
def report_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output HTML file (self-contained).",
                                      show_default=False)],
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Study data file (.csv or .xlsx): adds the NCA section.")] = None,
    fit: Annotated[Optional[Path], typer.Option(
        "--fit", help="Fit output JSON (mscpk fit -o): adds the fit section with its diagnostics.")] = None,
    pdf: Annotated[Optional[Path], typer.Option(
        "--pdf", help="Also print the report to this PDF file (needs headless Chromium).")] = None,
    qualify: Annotated[bool, typer.Option(
        "--qualify", help="Run the study library now for the qualification section (about 30 s) instead "
                          "of quoting the packaged baseline.")] = False,
) -> None:
    """The druggability report of a scenario: product and design, predicted biodistribution,
    the NMPA guidance items (distribution, migration, homing, persistence, death) with the
    assays that would show them, embolic safety, NCA and fit when given, qualification,
    parameters, limitations, versions and inputs."""
    from mscpk.analysis.qualification import qualify as run_library
    from mscpk.analysis.report import ReportError
    from mscpk.interfaces.report import report
    from mscpk.interfaces.report.pdf import chromium, html_to_pdf
    from mscpk.utils import write_all_or_nothing

    check_out(out, HTML_SUFFIXES)
    if pdf is not None:
        check_out(pdf, (".pdf",), "--pdf")
        with contextlib.suppress(OSError):
            if pdf.resolve() == out.resolve():
                raise ReportError(f"--pdf {str(pdf)!r} is the HTML output; give another name")
        chromium()  # absent: the error before any work
    for given, what in ((scenario, "scenario"), (data, "--data"), (fit, "--fit")):
        with contextlib.suppress(OSError):
            if given is not None and given.resolve() in {out.resolve(), *([pdf.resolve()] if pdf else [])}:
                raise ReportError(f"the output {str(out)!r} would overwrite the {what} file; choose another name")
    rep = report(scenario, data=data, fit=fit, qualification=run_library() if qualify else None)
    page = rep.html()
    items = [(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))]
    if pdf is not None:
        items.append((pdf, lambda tmp: html_to_pdf(page, Path(tmp))))
    try:
        write_all_or_nothing(items)
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out} ({len(rep.keys)} sections: {', '.join(rep.keys)})"
               + (f" and {pdf}" if pdf is not None else ""))


__all__ = ["report_command", "HTML_SUFFIXES"]
