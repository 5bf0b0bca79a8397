"""The engine's commands: ``simulate``, ``params``, ``export sbml``, ``export petab``, ``scan``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from typing import Annotated, Optional

import typer

from mscpk.errors import ScenarioError
from mscpk.interfaces.cli.app import app, export_app
from mscpk.interfaces.cli.common import PLOT_SUFFIXES, check_out, parse_times, print_table, user_errors
from mscpk.interfaces.cli.db import StoreDb, stored_run, write_outputs
from mscpk.inputs.parameters import split_names

@app.command()
@user_errors
def simulate(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    out: Annotated[Path, typer.Option("-o", "--out", help="result table (.csv or .parquet)")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="figure of time courses and heat map (.png/.pdf/.svg)")] = None,
    summary_times: Annotated[Optional[str], typer.Option("--summary-times", help="times [h] for % of dose, e.g. 1,24,72")] = None,
    saturation: Annotated[Optional[str], typer.Option("--saturation", help="auto | on | off (overrides run.saturation)")] = None,
    db: StoreDb = None,
) -> None:
    """Simulate SCENARIO and write the tidy result table (time_h, site, quantity, value)."""
    stored = stored_run(db, "simulate", locals())
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mscpk.analysis.summary import DEFAULT_TIMES_H, summarize
    from mscpk.engine.saturation import check_mode
    from mscpk.engine.simulate import simulate as run
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table

    check_out(out, (".csv", ".parquet"))
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES, "plot")
    if saturation is not None:
        check_mode(saturation, "--saturation")
    times = parse_times(summary_times, "--summary-times") or list(DEFAULT_TIMES_H)
    sc = load_scenario(scenario)
    late = [t for t in times if t > sc.run.end_h] if summary_times is not None else []
    if late:
        raise ScenarioError(f"--summary-times: {late[0]:g} h is after run.end_h = {sc.run.end_h:g} h; "
                            "give times within the run")
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"simulating {sc.run.end_h:g} h", total=1.0)
        result = run(sc, saturation=saturation, progress=lambda f: bar.update(task, completed=f))
        bar.update(task, completed=1.0)
    table = result.to_frame()
    files = [(out, lambda tmp: save_table(table, tmp, out.suffix))]
    if plot is not None:  # the table and the figure are written together or not at all
        from mscpk.interfaces.plots.result import result_figure, save_figure

        fig = result_figure(result)
        files.append((plot, lambda tmp: save_figure(fig, tmp, plot.suffix)))
    if stored is not None:
        from mscpk.analysis.params import parameters_in_force

        stored.add_scenario(scenario)
        stored.tables["result"], stored.params = table, parameters_in_force(sc)
    write_outputs(stored, files, keep=(plot,))
    # peaks and exposures need a dense grid even when run.times_h asks for a coarse table
    dense = result if sc.run.times_h is None else run(sc, times_h=sc.dense_times(), saturation=saturation)
    summ = summarize(dense, times)
    # titles, headers and cells are escaped: "[h]" etc. must not be read as rich markup
    table = Table(title=escape(f"{sc.name}: {result.administered.max():.3g} cells, solver {result.solver}, "
                               f"peak occlusion {summ.set_index('site')['peak_occlusion'].get('lung', 0.0):.2%} (lung), "
                               f"{dense.metadata['peak_occlusion']:.2%} (worst bed: "
                               f"{dense.metadata['peak_occlusion_site']})"))
    cols = ["site", "peak_live_cells", "t_peak_h", "exposure_cell_days", "peak_occlusion"] + [
        c for c in summ.columns if c.startswith("pct_dose_live_")]
    heads = {"site": "site", "peak_live_cells": "peak live", "t_peak_h": "t peak [h]",
             "exposure_cell_days": "cell-days", "peak_occlusion": "peak occlusion [%]"}
    for c in cols:
        table.add_column(escape(heads.get(c, c.replace("pct_dose_live_", "% live "))), justify="right")
    for _, row in summ.iterrows():
        if row["peak_live_cells"] < 1e-6 * result.administered.max():
            continue  # eliminated (never live) and sites the cells never reach
        table.add_row(*[escape(_cell(c, row[c])) for c in cols])
    given = float(result.administered[-1])
    live_end = float(result.live_total()[-1])
    gone = float(result.quantity("eliminated", "dead_cells")[-1])
    table.caption = (f"at {result.times_h[-1]:g} h: {100 * live_end / given:.3g} % of the dose alive, "
                     f"{100 * (given - live_end - gone) / given:.3g} % dead material, "
                     f"{100 * gone / given:.3g} % degraded or excreted") if given > 0 else None
    print_table(table)
    typer.echo(f"wrote {out}" + (f" and {plot}" if plot else "") + (f"; {stored.note()}" if stored else ""))


def _cell(column: str, value) -> str:
    """One cell of the simulate summary table."""
    if isinstance(value, str):
        return value
    if column == "peak_occlusion":
        return "" if value != value else f"{100 * value:.3g}"
    return f"{value:.3g}"


@app.command()
@user_errors
def params(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    format: Annotated[str, typer.Option("--format", help="table | csv")] = "table",
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="write CSV here instead of stdout")] = None,
) -> None:
    """List every model parameter in force: name, value, unit, source."""
    from mscpk.analysis.params import parameters_in_force
    from mscpk.inputs.load import load_scenario

    if format not in ("table", "csv"):
        raise ScenarioError(f"--format: {format!r} is not allowed; allowed: table, csv")
    if out is not None:
        check_out(out, (".csv",))
    df = parameters_in_force(load_scenario(scenario))
    if out is not None:
        from mscpk.utils import write_table

        write_table(df, out)
        typer.echo(f"wrote {out}")
    elif format == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        # escaped: parameter names carry units such as "[h]", "[um]" that rich would eat
        table = Table(title=f"{len(df)} parameters")
        for c in df.columns:
            table.add_column(escape(str(c)), overflow="fold")
        for _, r in df.iterrows():
            table.add_row(*(escape(str(x)) for x in (r["name"], f"{r['value']:.6g}", r["unit"], r["source"])))
        Console(width=200).print(table)


@export_app.command("sbml")
@user_errors
def export_sbml_cmd(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    out: Annotated[Path, typer.Option("-o", "--out", help="SBML file (.xml or .sbml)")],
    saturation: Annotated[Optional[str], typer.Option("--saturation", help="auto | on | off (default: the scenario's run.saturation, as simulate)")] = None,
) -> None:
    """Write the scenario's model as SBML Level 3 (amounts in cells, time in hours)."""
    from mscpk.analysis.sbml import export_sbml
    from mscpk.engine.saturation import check_mode
    from mscpk.inputs.load import load_scenario

    check_out(out, (".xml", ".sbml"))
    if saturation is not None:
        check_mode(saturation, "--saturation")
    export_sbml(load_scenario(scenario), out, saturation=saturation)
    typer.echo(f"wrote {out}")


@export_app.command("petab")
@user_errors
def export_petab_cmd(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file (the base design)")],
    data: Annotated[Path, typer.Argument(help="study data (.csv or .xlsx), as for `mscpk fit`")],
    estimate: Annotated[str, typer.Option("--estimate", help="parameters to estimate, comma-separated (as `mscpk params` lists them)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder (created if missing; its parent must exist)")],
    sigma: Annotated[str, typer.Option("--sigma", help="residual SD: auto, shared or per-assay (as `mscpk fit`)")] = "auto",
) -> None:
    """Write the estimation problem as PEtab v1 (SBML model, conditions, measurements,
    observables, parameters and the YAML problem file)."""
    from mscpk.analysis.fitting import FIT_UNIT_OPTIONS
    from mscpk.analysis.petab import FILES, export_petab
    from mscpk.inputs.load import load_scenario
    from mscpk.inputs.studydata import read_study

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"output {str(out)!r}: is a file; give a folder")
    if out.is_dir():
        for name in FILES.values():  # the same checks as every output file
            check_out(out / name, (Path(name).suffix,))
    elif not out.parent.is_dir() or not os.access(out.parent, os.W_OK | os.X_OK):
        raise ScenarioError(f"output {str(out)!r}: folder {str(out.parent)!r} does not exist or "
                            "is not writable")
    names = split_names(estimate)
    sigma_mode = sigma.strip().lower().replace("-", "_")
    export_petab(load_scenario(scenario), read_study(data, unit_options=FIT_UNIT_OPTIONS), names,
                 out, sigma=sigma_mode)
    typer.echo(f"wrote {', '.join(FILES.values())} to {out}")


@app.command()
@user_errors
def scan(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    vary: Annotated[list[str], typer.Option("--vary", help='KEY=v1,v2,... (repeatable, each KEY once); KEY a scenario path such as "product.diameter_um.mean", "dose[1].cells", "subject.immune", or a parameter name; KEY=[...] a JSON list of values; KEY={...},{...} JSON tables that update the table at KEY, e.g. dose[1]={"route":"local","site":"heart"},{"route":"iv"} (null removes a key)')],
    out: Annotated[Path, typer.Option("-o", "--out", help="tidy table (.csv or .parquet): varied keys, time_h, site, quantity, value")],
    times: Annotated[Optional[str], typer.Option("--times", help="output times [h], e.g. 1,24,168 (default: the scenario's grid)")] = None,
    quantities: Annotated[str, typer.Option("--quantities", help="comma-separated quantities of the simulate table (default live_cells,dead_cells), e.g. live_cells,occlusion_fraction, or all")] = "live_cells,dead_cells",
) -> None:
    """Simulate every combination of the --vary values (full factorial) into one table."""
    from mscpk.utils import write_table
    from mscpk.analysis.scans import check_quantities, parse_vary, scan as run_scan
    from mscpk.inputs.load import load_scenario

    check_out(out, (".csv", ".parquet"))
    names = quantities.strip() if quantities.strip() == "all" else [q.strip() for q in quantities.split(",") if q.strip()]
    check_quantities(names, "--quantities")
    grid = parse_vary(vary)
    da = run_scan(load_scenario(scenario), grid, times_h=parse_times(times), quantities=names)
    df = da.to_dataframe().reset_index().rename(columns={"cells": "value"})
    # rows only for the quantities a site has (as the simulate table: no arrested blood cells)
    df = df[df.groupby(["site", "quantity"])["value"].transform("count") > 0]
    write_table(df, out)
    typer.echo(f"wrote {out}: {len(df)} rows, {int(np.prod([len(v) for v in grid.values()]))} scenarios")
