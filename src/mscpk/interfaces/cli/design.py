"""The design commands: ``optimize`` and ``translate`` (shared/INTERFACE.md, "Translation and design")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mscpk.interfaces.cli.common import PLOT_SUFFIXES, check_out, user_errors


@user_errors
def optimize_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    maximize: Annotated[str, typer.Option("--maximize", help="the metric to maximise (SITE:cell_days, SITE:peak_live, SITE:live_at_{H}h, ...) or 'responders' (the responder fraction of the scenario's [population])")],
    vary: Annotated[list[str], typer.Option("--vary", help='a design key (repeatable): KEY=LOW..HIGH (continuous; log scale when HIGH/LOW >= 10) or KEY=a,b,c (choices), KEY as in scan, e.g. "dose[1].cells=1e5..1e7", "dose[1].route=iv,ia", "dose[1].count=1,2,3"')],
    out: Annotated[Path, typer.Option("-o", "--out", help="best design (.json): best, objective, constraints, feasible, evaluations")],
    constraint: Annotated[Optional[list[str]], typer.Option("--constraint", help='"METRIC<=X" or "METRIC>=X" (repeatable), e.g. "lung:peak_occlusion<=0.05"')] = None,
    history: Annotated[Optional[Path], typer.Option("--history", help="every evaluated design (.csv or .parquet)")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Pareto figure (.png, .pdf, .svg): objective vs the first constraint's metric")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed of the Latin-hypercube stage")] = 0,
    embolic_limits: Annotated[bool, typer.Option("--embolic-limits/--no-embolic-limits", help="constrain every capillary bed's peak occlusion to its embolic limit (data/embolic.toml; on by default; a bed given in --constraint keeps that bound)")] = True,
) -> None:
    """The best design for a metric within the --vary ranges under the constraints (and the
    per-bed embolic limits, unless --no-embolic-limits)."""
    from mscpk.analysis.design import optimize
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table, write_all_or_nothing

    check_out(out, (".json",))
    if history is not None:
        check_out(history, (".csv", ".parquet"))
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES)
    res = optimize(load_scenario(scenario), maximize, vary, constraint or [], seed=seed, embolic=embolic_limits)
    items = [(out, lambda p: Path(p).write_text(res.to_json() + "\n", encoding="utf-8"))]
    if history is not None:
        items.append((history, lambda p: save_table(res.history, p, history.suffix)))
    if plot is not None:
        from mscpk.interfaces.plots.design import plot_pareto

        items.append((plot, lambda p: plot_pareto(res, p, plot.suffix)))
    write_all_or_nothing(items)
    typer.echo(res.to_json())
    if res.embolic_limits:
        applied = ", ".join(f"{m.split(':')[0]} <= {100 * v['limit']:.3g} %"
                            + (f" ({v['bed']}'s)" if v["bed"] != m.split(":")[0] else "")
                            for m, v in res.embolic_limits.items())
        typer.echo(f"embolic limits applied (peak occlusion, data/embolic.toml; --no-embolic-limits to drop): {applied}")
    else:
        typer.echo("embolic limits: none applied" + ("" if embolic_limits else " (--no-embolic-limits)"))
    state = "feasible" if res.feasible else "NOT feasible (the least violating design is shown)"
    typer.echo(f"wrote {', '.join(str(p) for p, _ in items)}: {res.evaluations} designs evaluated; best {state}")


@user_errors
def translate_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    to: Annotated[str, typer.Option("--to", help="target species (mouse, rat, dog, pig, human)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="the translated scenario (.toml)")],
    table: Annotated[Optional[Path], typer.Option("--table", help="every scaled quantity (.csv): parameter, from_value, to_value, unit, rule, source")] = None,
    dose: Annotated[Optional[str], typer.Option("--dose", help="per_kg (default: cells per kg kept) or capacity (cells per lung capillary-bed capacity kept)")] = None,
    body_weight: Annotated[Optional[float], typer.Option("--body-weight", help="target body weight [kg] (default: the species' reference)")] = None,
) -> None:
    """Carry a scenario to another species by the documented rules (data/translation.toml)."""
    from mscpk.analysis.design import translate
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table, write_all_or_nothing

    check_out(out, (".toml",))
    if table is not None:
        check_out(table, (".csv",))
    res = translate(load_scenario(scenario), to, dose=dose, body_weight_kg=body_weight)
    items = [(out, lambda p: Path(p).write_text(res.to_toml(), encoding="utf-8"))]
    if table is not None:
        items.append((table, lambda p: save_table(res.table, p, ".csv")))
    write_all_or_nothing(items)
    for row in res.table.itertuples():
        to_v = "dropped" if row.to_value is None or row.to_value != row.to_value else f"{row.to_value:.4g}"
        typer.echo(f"{row.parameter}: {row.from_value:.4g} -> {to_v} ({row.rule})")
    typer.echo(f"wrote {', '.join(str(p) for p, _ in items)}")


@user_errors
def effect_command(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file with an [effect] table")],
    out: Annotated[Path, typer.Option("-o", "--out", help="time course (.csv or .parquet): time_h, driver, effect")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="figure (.png, .pdf, .svg): driver and effect over time")] = None,
) -> None:
    """The scenario's exposure-response ([effect]) over time: driver and effect."""
    from mscpk.analysis.effect import effect
    from mscpk.engine.simulate import simulate
    from mscpk.errors import ScenarioError
    from mscpk.inputs.load import load_scenario
    from mscpk.utils import save_table, write_all_or_nothing

    check_out(out, (".csv", ".parquet"))
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES)
    sc = load_scenario(scenario)
    if sc.effect is None:
        raise ScenarioError("the scenario has no [effect] table (docs/effect.md)")
    df = effect(simulate(sc, times_h=sc.dense_times() if sc.run.times_h is None else None), sc.effect)
    items = [(out, lambda p: save_table(df, p, out.suffix))]
    if plot is not None:
        from mscpk.interfaces.plots.design import plot_effect

        items.append((plot, lambda p: plot_effect(df, sc.effect, p, plot.suffix)))
    write_all_or_nothing(items)
    k = int(df.effect.abs().idxmax())
    typer.echo(f"effect ({sc.effect.unit}): largest {df.effect[k]:.4g} at {df.time_h[k]:g} h; "
               f"at the end {df.effect.iloc[-1]:.4g}")
    typer.echo(f"wrote {', '.join(str(p) for p, _ in items)}")


__all__ = ["optimize_command", "translate_command", "effect_command"]
