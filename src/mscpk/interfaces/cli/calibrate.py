"""``mscpk calibrate``: the joint fit of named parameters to the calibration studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.interfaces.cli.common import user_errors
from mscpk.inputs.parameters import split_names


@user_errors
def calibrate_command(
    estimate: Annotated[str, typer.Option(
        "--estimate", help="Parameter names to estimate, comma-separated (as `mscpk params` lists them)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for calibration.json")] = Path("calibration"),
    study: Annotated[Optional[list[str]], typer.Option(
        "--study", help="a calibration study id (repeatable; default: every calibration study with "
                        "quantitative observations)")] = None,
    n_starts: Annotated[int, typer.Option("--n-starts", help="optimiser starts")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="seed of the starts")] = 0,
    no_profile: Annotated[bool, typer.Option("--no-profile", help="skip the profile-likelihood CIs")] = False,
    petab: Annotated[Optional[Path], typer.Option(
        "--petab", help="write this calibration problem as PEtab v1 into this folder (with "
                        "README.txt: the terms left out and why) instead of fitting")] = None,
) -> None:
    """Fit the named parameters jointly to the calibration studies of the library (each read
    through its own assay as `mscpk qualify` reads it); write DIR/calibration.json (estimates
    with 95 % profile CIs, objective, convergence, per-study residuals). With --petab DIR:
    write the problem as PEtab instead (no fit)."""
    from mscpk.analysis.calibration import calibrate, export_calibration_petab
    from mscpk.errors import ScenarioError
    from mscpk.utils import write_all_or_nothing

    target, flag = (petab, "--petab") if petab is not None else (out, "-o")
    if target.exists() and not target.is_dir():
        raise ScenarioError(f"{flag} {str(target)!r}: is a file; give a folder")
    if not target.parent.is_dir() and str(target.parent) not in ("", "."):
        raise ScenarioError(f"{flag} {str(target)!r}: folder {str(target.parent)!r} does not exist")
    names = split_names(estimate)
    if petab is not None:
        cp = export_calibration_petab(petab, study or None, names)
        n = len(cp.exported) + len(cp.left_out)
        typer.echo(f"{len(cp.exported)} of {n} terms exported as PEtab measurements; "
                   f"{len(cp.left_out)} left out (see {petab / 'README.txt'})")
        typer.echo(f"wrote {petab}")
        return
    result = calibrate(study or None, names, n_starts=n_starts, seed=seed, profile=not no_profile)
    out.mkdir(exist_ok=True)
    text = result.to_json()
    write_all_or_nothing([(out / "calibration.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))])
    for name, p in result.parameters.items():
        ci = (f"95% CI {p['ci_low']:.4g} - {p['ci_high']:.4g}" if p["ci_low"] == p["ci_low"] else "no CI")
        flag = "" if p["identifiable"] else " (not identifiable: CI reaches a search bound)"
        typer.echo(f"{name}: {p['estimate']:.4g} {p['unit']} ({ci}; default {p['default']:.4g}){flag}")
    typer.echo(f"objective (-2 log L) {result.objective:.4g}; converged: {result.converged}")
    typer.echo(f"wrote {out / 'calibration.json'}")


__all__ = ["calibrate_command"]
