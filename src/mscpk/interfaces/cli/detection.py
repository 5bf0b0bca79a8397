"""Command-line front end of the detection layer.

Plain typer-annotated functions; the application in ``mscpk.interfaces.cli`` registers them:

* ``mscpk observe SCENARIO --assay ASSAY -o OUT.csv`` (:func:`observe_command`)
* ``mscpk detection-window SCENARIO -o OUT.csv`` (:func:`detection_window_command`)
* ``mscpk design-study SCENARIO -o PLAN.csv [--study-out DATA.csv]`` (:func:`design_study_command`)
* ``mscpk knowledge products|methods|labels`` (:func:`knowledge_command`)

On a user error (any :class:`~mscpk.errors.MscpkError`) each prints one line
``error: <message>`` on stderr and exits with status 2, writing no output file. Outputs are
written atomically, all or nothing (:func:`mscpk.utils.write_all_or_nothing`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.errors import DetectionError
from mscpk.interfaces.cli.common import PLOT_SUFFIXES, check_out
from mscpk.interfaces.cli.common import parse_times as _parse_times
from mscpk.interfaces.cli.common import user_errors as _user_errors
from mscpk.utils import write_all_or_nothing

__all__ = ["observe_command", "detection_window_command", "design_study_command", "knowledge_command"]


def _check_csv(out: Path, what: str = "output") -> None:
    check_out(out, (".csv",), what)


def _check_outputs(out: Path, plot: Optional[Path]) -> None:
    """Check the table path (.csv) and the figure path, if any, before any work starts."""
    _check_csv(out)
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES, "plot")


def _write_csvs(frames: list[tuple["object", Path]]) -> None:
    """Write every frame to a temporary file first, then move all into place."""
    try:
        write_all_or_nothing([(Path(target), lambda tmp, f=frame: f.to_csv(tmp, index=False, encoding="utf-8"))
                              for frame, target in frames])
    except OSError as exc:
        raise DetectionError(f"cannot write {frames[0][1]}: {exc.strerror or exc}") from None


def _parse_limits(text: Optional[str]) -> dict[str, float]:
    """``"bli=1e4,qpcr=50"`` -> {assay: cells}."""
    out: dict[str, float] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise DetectionError(f"--detection-limit: {part!r} must look like ASSAY=CELLS, e.g. bli=1e4")
        try:
            out[name] = float(value)
        except ValueError:
            raise DetectionError(f"--detection-limit: {value!r} for {name!r} is not a number") from None
        if not (out[name] > 0) or not math.isfinite(out[name]):
            raise DetectionError(f"--detection-limit: {name}={value}: the limit must be a number > 0 [cells]")
    return out


def _division(division_time_h: Optional[float]) -> float:
    if division_time_h is None:
        return math.inf
    if not (division_time_h > 0):
        raise DetectionError(f"--division-time: {division_time_h!r} must be > 0 [h]")
    return float(division_time_h)


@_user_errors
def observe_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    assay: Annotated[str, typer.Option("--assay", help="qpcr | flow | ihc | bli | fluorescence | mri | spect | pet")],
    out: Annotated[Path, typer.Option("-o", "--out", help="readout table (.csv)")],
    label: Annotated[Optional[str], typer.Option("--label", help="label (default: the product's label)")] = None,
    no_decay_correction: Annotated[bool, typer.Option("--no-decay-correction", help="spect/pet: % injected activity without decay correction")] = False,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the measurement noise")] = 0,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="figure: observed signal vs true live cells (.png/.pdf/.svg)")] = None,
    detection_limit: Annotated[Optional[float], typer.Option("--detection-limit", help="detection limit in cells (default: review Table 2)")] = None,
    detection_limit_ratio: Annotated[Optional[float], typer.Option("--detection-limit-ratio", help="qpcr/flow/ihc: donor cells per host cell, e.g. 1e-5")] = None,
    times: Annotated[Optional[str], typer.Option("--times", help="output times in h, e.g. 1,24,72")] = None,
    no_noise: Annotated[bool, typer.Option("--no-noise", help="noise-free (expected) readout")] = False,
    division_time: Annotated[Optional[float], typer.Option("--division-time", help="cell division time in h: dilutes a direct label per cell (flow, ihc only)")] = None,
) -> None:
    """Simulated readout of ASSAY for SCENARIO (time_h, site, assay, value, unit, detectable)."""
    from mscpk.analysis.detection import observe
    from mscpk.interfaces.plots.detection import plot_observation

    _check_outputs(out, plot)
    df = observe(scenario, assay, label=label, times_h=_parse_times(times),
                 decay_correct=not no_decay_correction, seed=None if no_noise else seed,
                 detection_limit=detection_limit, detection_limit_ratio=detection_limit_ratio,
                 division_time_h=_division(division_time))
    if plot is not None:
        plot_observation(df, plot)
    _write_csvs([(df, out)])
    body = df[df["site"] != "whole_body"]
    seen = sorted(set(body.loc[body["detectable"], "site"]))
    typer.echo(f"wrote {out}: {assay} ({df['label'].iloc[0]}), {len(df)} rows, unit {df['unit'].iloc[0]}; "
               f"detectable at some time in: {', '.join(seen) if seen else 'no site'}")
    for note in df.attrs.get("notes", []):
        typer.echo(f"note: {note}")
    if plot is not None:
        typer.echo(f"wrote {plot}")


@_user_errors
def detection_window_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    out: Annotated[Path, typer.Option("-o", "--out", help="window table (.csv)")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Gantt chart of the windows (.png/.pdf/.svg)")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="label (default: the product's label)")] = None,
    assay: Annotated[Optional[str], typer.Option("--assay", help="comma-separated assays (default: all the label allows)")] = None,
    detection_limit: Annotated[Optional[str], typer.Option("--detection-limit", help="per-assay limits in cells, e.g. bli=1e4,qpcr=50")] = None,
    times: Annotated[Optional[str], typer.Option("--times", help="time grid in h (default: the scenario's)")] = None,
    division_time: Annotated[Optional[float], typer.Option("--division-time", help="cell division time in h: dilutes a direct label per cell (flow, ihc only)")] = None,
) -> None:
    """First and last detectable time (and every detectable interval) per assay and site.

    Detection parameters in the scenario's [parameters] (e.g. "BLI detection limit [cells]",
    "Luciferase optical background per site [photons/s]") apply.
    """
    from mscpk.analysis.detection import detection_windows
    from mscpk.interfaces.plots.detection import plot_detection_windows

    _check_outputs(out, plot)
    assays = [a.strip() for a in assay.split(",") if a.strip()] if assay else None
    df = detection_windows(scenario, assays=assays, label=label, times_h=_parse_times(times),
                           detection_limits=_parse_limits(detection_limit),
                           division_time_h=_division(division_time))
    if plot is not None:
        plot_detection_windows(df, plot)
    _write_csvs([(df, out)])
    typer.echo(f"wrote {out}: label {df['label'].iloc[0]}, {len(df)} rows")
    for a, g in df.groupby("assay", sort=False):
        ok = g[g["first_h"].notna() & (g["site"] != "whole_body")]
        if ok.empty:
            typer.echo(f"  {a}: never detectable")
        else:
            span = ", ".join(f"{r.site} " + (r.intervals.replace(";", ", ") if ";" in str(r.intervals)
                                             else f"{r.first_h:.3g}-{r.last_h:.3g}")
                             + f" h{'+' if r.until_end else ''}" for r in ok.itertuples())
            typer.echo(f"  {a}: {span}")
    for note in df.attrs.get("notes", []):
        typer.echo(f"note: {note}")
    if plot is not None:
        typer.echo(f"wrote {plot}")


@_user_errors
def design_study_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    out: Annotated[Path, typer.Option("-o", "--out", help="study plan (.csv)")],
    label: Annotated[Optional[str], typer.Option("--label", help="label (default: the product's label)")] = None,
    precision: Annotated[float, typer.Option("--precision", help="relative CI half-width of a time point's mean")] = 0.3,
    confidence: Annotated[float, typer.Option("--confidence", help="confidence level")] = 0.95,
    between_animal_cv: Annotated[float, typer.Option("--between-animal-cv", help="biological CV between animals")] = 0.0,
    product_label_only: Annotated[bool, typer.Option("--product-label-only", help="do not propose other labels")] = False,
    study_out: Annotated[Optional[Path], typer.Option("--study-out", help="also write a virtual study dataset (.csv, Study data format)")] = None,
    study_assay: Annotated[Optional[str], typer.Option("--study-assay", help="assay of the virtual study (default: qpcr if possible)")] = None,
    animals: Annotated[Optional[int], typer.Option("--animals-per-time", help="animals per time point in the virtual study (default: the plan's)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the virtual study")] = 0,
) -> None:
    """Methods, sampling times and animals per time point for the guidance items."""
    from mscpk.analysis.detection import ASSAYS, design_study, simulate_study
    from mscpk.analysis.detection.study import SAMPLING_GRID_H

    _check_csv(out)
    if study_out is not None:
        _check_csv(study_out, "--study-out")
    plan = design_study(scenario, label=label, precision=precision, confidence=confidence,
                        between_animal_cv=between_animal_cv, consider_other_labels=not product_label_only)
    frames = [(plan, out)]
    if study_out is not None:
        ok = plan[plan["can_show"] & plan["assay"].isin(list(ASSAYS))]
        a = study_assay or (ok["assay"].iloc[0] if "qpcr" not in set(ok["assay"]) and len(ok) else "qpcr")
        rows = ok[ok["assay"] == a]
        lab = rows["label"].iloc[0] if len(rows) else label
        n = animals if animals is not None else (int(rows["animals_per_time"].max()) if len(rows) else 3)
        times = sorted({float(x) for s in rows["sampling_times_h"] if s for x in s.split(";")})
        data = simulate_study(scenario, assay=a, label=lab, times_h=times or list(SAMPLING_GRID_H[:8]),
                              animals_per_time=n, seed=seed, between_animal_cv=between_animal_cv)
        frames.append((data, study_out))
    _write_csvs(frames)
    shown = plan[plan["can_show"]]
    typer.echo(f"wrote {out}: {len(plan)} rows (precision {precision:g} at {confidence:g} confidence)")
    for item, g in shown.groupby("item", sort=False):
        typer.echo(f"  {item}: " + ", ".join(f"{r.assay}[{r.label}] n={int(r.animals_per_time)}" for r in g.itertuples()))
    for item in sorted(set(plan["item"]) - set(shown["item"])):
        typer.echo(f"  {item}: no method can show it here")
    if study_out is not None:
        d = frames[1][0]
        typer.echo(f"wrote {study_out}: {d['ASSAY'].iloc[0] if len(d) else ''} virtual study, {d['ID'].nunique()} animals, "
                   f"{len(d)} rows, {int(d['CENS'].sum())} below LLOQ")


@_user_errors
def knowledge_command(
    table: Annotated[str, typer.Argument(help="products (review Table 1) | methods (review Table 2) | labels")],
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="write the full table (.csv)")] = None,
) -> None:
    """Print a knowledge table from the review (Table 1 products, Table 2 methods) or the labels."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mscpk.analysis.detection import knowledge_table

    if out is not None:
        _check_csv(out)
    df = knowledge_table(table)
    show = {"products": ["indication", "product", "market", "source", "chemokines", "route"],
            "methods": ["assay", "method", "clinical", "in_vivo", "single_cell", "detection_limit_cells",
                        "strengths", "weaknesses"],
            "labels": ["label", "kind", "assays", "half_life_h", "efflux_half_life_h", "retained_in_cells_24h"]}[table]
    if out is not None:
        _write_csvs([(df, out)])
    console = Console(width=max(Console().width, 160))
    t = Table(title={"products": "Review Table 1: marketed MSC products",
                     "methods": "Review Table 2: detection methods",
                     "labels": "Cell labels"}[table], show_lines=False)
    for c in show:
        t.add_column(escape(c), overflow="fold")
    for _, r in df.iterrows():
        t.add_row(*[escape(f"{r[c]:g}" if isinstance(r[c], float) else str(r[c])) for c in show])
    console.print(t)
    if out is not None:
        typer.echo(f"wrote {out}")
