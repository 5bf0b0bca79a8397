"""The population commands: ``population`` and ``sensitivity`` (shared/INTERFACE.md,
"Populations and sensitivity")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.interfaces.cli.common import PLOT_SUFFIXES, check_out, print_table, user_errors
from mscpk.interfaces.cli.db import StoreDb, stored_run, write_outputs

TABLES = (".parquet", ".csv")


@user_errors
def population_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file with a [population] table")],
    out: Annotated[Path, typer.Option("-o", "--out", help="per-subject table (.parquet or .csv): subject, each varied key, the metrics")],
    n: Annotated[Optional[int], typer.Option("-n", help="number of subjects (default: population.n)")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="random seed (default: population.seed)")] = None,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", help="a metric (repeatable): SITE:cell_days, SITE:peak_live, SITE:peak_occlusion, SITE:live_at_{H}h or persistence_h (default: lung and liver cell-days, and the responder's)")] = None,
    bands: Annotated[Optional[Path], typer.Option("--bands", help="percentile bands (.csv or .parquet): time_h, site, quantity, p05, p50, p95")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="a varied key: responders by stratum (categories, or quartiles of a number)")] = None,
    responders: Annotated[Optional[Path], typer.Option("--responders", help="responder table (.csv): stratum, n, responders, fraction, ci_low, ci_high")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="figure (.png, .pdf, .svg): bands per organ, metric histograms, metric vs the most influential factors")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="a running dask.distributed scheduler, tcp://HOST:PORT (default: this machine)")] = None,
    workers: Annotated[int, typer.Option("--workers", help="processes on this machine without --scheduler (default 1: this process)")] = 1,
    db: StoreDb = None,
) -> None:
    """Simulate a virtual population: one row per subject with its varied values and metrics."""
    stored = stored_run(db, "population", locals())
    from mscpk.analysis.population import population
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table

    check_out(out, TABLES)
    for path, suffixes in ((bands, TABLES), (responders, (".csv",)), (plot, PLOT_SUFFIXES)):
        if path is not None:
            check_out(path, suffixes)
    sc = load_scenario(scenario)
    if responders is not None and (sc.population is None or sc.population.responder is None):
        from mscpk.errors import ScenarioError

        raise ScenarioError("--responders needs a [population.responder] table in the scenario")
    stream = _Stream(out)
    try:
        with _progress() as bar:
            task = bar.add_task("subjects", total=None)

            def on_chunk(table, done, total):
                stream.write(table)
                bar.update(task, completed=done, total=total)

            res = population(sc, metric, n=n, seed=seed, bands=bands is not None or plot is not None, by=by,
                             scheduler=scheduler, workers=workers, on_chunk=on_chunk)
        items = [(out, stream.finish)]
        if bands is not None:
            items.append((bands, lambda p: save_table(res.bands, p, bands.suffix)))
        if responders is not None:
            items.append((responders, lambda p: save_table(res.responders, p, ".csv")))
        if plot is not None:
            from mscpk.interfaces.plots.population import plot_population

            items.append((plot, lambda p: plot_population(res, p, plot.suffix)))
        if stored is not None:
            from mscpk.analysis.params import parameters_in_force

            stored.add_scenario(scenario)
            stored.params = parameters_in_force(sc)
            stored.tables.update({k: v for k, v in (("subjects", res.subjects), ("bands", res.bands),
                                                    ("responders", res.responders)) if v is not None})
        write_outputs(stored, items, keep=(plot,))
    finally:
        stream.discard()
    _print_summary(res)
    typer.echo(f"wrote {', '.join(str(p) for p, _ in items)}: {len(res.subjects)} subjects"
               + (f"; {stored.note()}" if stored else ""))


class _Stream:
    """The subject table written chunk by chunk to a hidden file beside ``out`` (Parquet row
    groups, or CSV appended), moved onto ``out`` only when every file of the command is ready."""

    def __init__(self, out: Path) -> None:
        self.out, self.writer = Path(out), None
        self.path = self.out.with_name(f".{self.out.name}.{os.getpid()}.partial")

    def write(self, table) -> None:
        if self.out.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            t = pa.Table.from_pandas(table, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, t.schema)
            self.writer.write_table(t)
        else:
            table.to_csv(self.path, mode="a", header=self.writer is None, index=False)
            self.writer = True

    def _close(self) -> None:
        if self.writer not in (None, True):  # a ParquetWriter (CSV appends need no closing)
            self.writer.close()
        self.writer = None

    def finish(self, target: Path) -> None:
        self._close()
        os.replace(self.path, target)

    def discard(self) -> None:
        self._close()
        self.path.unlink(missing_ok=True)


def _progress():
    """A progress bar of subjects done on standard error (only on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _print_summary(res) -> None:
    from rich.table import Table

    t = Table(title="population metrics (5th, 50th, 95th percentile)")
    for col in ("metric", "p05", "p50", "p95"):
        t.add_column(col)
    for m in res.metrics:
        q = res.subjects[m].quantile([0.05, 0.5, 0.95]).tolist()
        t.add_row(m, *(f"{v:.4g}" for v in q))
    print_table(t)
    if res.responders is not None:
        for row in res.responders.itertuples():
            typer.echo(f"responders ({row.stratum}): {row.responders}/{row.n} = {100 * row.fraction:.1f} % "
                       f"(95 % CI {100 * row.ci_low:.1f}-{100 * row.ci_high:.1f} %)")


@user_errors
def sensitivity_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file with a [population.vary] table")],
    metric: Annotated[list[str], typer.Option("--metric", help="a metric (repeatable), as for population")],
    out: Annotated[Path, typer.Option("-o", "--out", help="indices table (.csv or .parquet)")],
    method: Annotated[str, typer.Option("--method", help="sobol (first-order and total indices), morris (screening) or local (elasticities at the medians)")] = "sobol",
    n: Annotated[int, typer.Option("-n", help="base sample size (sobol: rounded up to a power of two; morris: trajectories)")] = 256,
    seed: Annotated[Optional[int], typer.Option("--seed", help="random seed (default: population.seed)")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="bar chart with CIs (.png, .pdf, .svg)")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="a running dask.distributed scheduler, tcp://HOST:PORT (default: this machine)")] = None,
) -> None:
    """Global sensitivity of metrics to the [population.vary] factors."""
    from mscpk.analysis.sensitivity import sensitivity
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table, write_all_or_nothing

    check_out(out, TABLES)
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES)
    df = sensitivity(load_scenario(scenario), metric, method=method, n=n, seed=seed, scheduler=scheduler)
    items = [(out, lambda p: save_table(df, p, out.suffix))]
    if plot is not None:
        from mscpk.interfaces.plots.population import plot_sensitivity

        items.append((plot, lambda p: plot_sensitivity(df, p, plot.suffix)))
    write_all_or_nothing(items)
    typer.echo(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo(f"wrote {', '.join(str(p) for p, _ in items)}")


__all__ = ["population_command", "sensitivity_command"]
