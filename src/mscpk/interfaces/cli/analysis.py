"""Command-line front end of the NCA: ``mscpk nca DATA -o PP.csv``.

:func:`nca_command` is a plain typer-annotated function; the application in ``mscpk.interfaces.cli``
registers it (``app.command("nca")(nca_command)``).

Behaviour:

* reads the study data (CSV or XLSX), runs :func:`mscpk.analysis.nca.nca`, writes the parameter
  table as CSV atomically (a temporary file in the output folder, then a rename; see
  :mod:`mscpk.utils`) and
  prints a short summary table;
* when rows were excluded from the data (e.g. DV missing and not censored), writes them with
  their reasons beside the output as ``<out stem>.excluded.csv`` and says so;
* on a user error (invalid data, invalid option, unwritable output) prints one line
  ``error: <message>`` to stderr and exits with status 2, leaving no output file behind (an
  existing output file is left untouched).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mscpk.interfaces.cli.common import PLOT_SUFFIXES, check_out, fail, print_table, user_errors
from mscpk.interfaces.cli.db import StoreDb, stored_run, write_outputs
from mscpk.inputs.parameters import split_names
from mscpk.utils import write_text_atomic

if TYPE_CHECKING:  # pandas is imported by the commands themselves (fast CLI start)
    import pandas as pd

__all__ = ["nca_command", "excluded_path_for"]

_SUMMARY_ROWS = 40


def excluded_path_for(out: Path) -> Path:
    """Where the excluded-rows report for output ``out`` goes: ``<out stem>.excluded.csv``."""
    return out.with_name(f"{out.stem}.excluded.csv")


def _csv_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8")


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(result: pd.DataFrame, console: Console) -> None:
    """Key parameters, one line per profile (values in the DV unit and hours)."""
    params = result[result["METHOD"] != "ratio"]
    any_sparse = bool((params["METHOD"] == "sparse").any())
    any_id = bool((params["ID"] != "").any())
    table = Table(title="NCA summary", caption="CMAX in the DV unit; AUCLST in DV unit x h")
    # every header and cell is escaped: units and assays such as "[spect]" are not rich markup
    cols = ["GROUP", "SITE"] + (["ID"] if any_id else []) + ["unit", "CMAX", "TMAX h", "AUCLST"]
    cols += (["SE"] if any_sparse else []) + ["t1/2 h", "flags"]
    for col in cols:
        table.add_column(escape(col))
    groups = list(params.groupby(["GROUP", "SITE", "ID", "ASSAY"], sort=False))
    for (group, site, ident, assay), sub in groups[:_SUMMARY_ROWS]:
        p = {r.PPTESTCD: r for r in sub.itertuples(index=False)}
        flags = sorted({f.split(":")[0] for r in p.values() for f in r.FLAGS.split(";") if f})
        cells = [str(group), site + (f" [{assay}]" if assay else "")]
        cells += [str(ident)] if any_id else []
        cells += [p["CMAX"].PPORRESU, _fmt(p["CMAX"].PPORRES), _fmt(p["TMAX"].PPORRES),
                  _fmt(p["AUCLST"].PPORRES)]
        cells += [_fmt(p["AUCLST"].SE)] if any_sparse else []
        cells += [_fmt(p["LAMZHL"].PPORRES), " ".join(flags)]
        table.add_row(*[escape(str(c)) for c in cells])
    print_table(table)
    if len(groups) > _SUMMARY_ROWS:
        console.print(f"... and {len(groups) - _SUMMARY_ROWS} more profiles (see the output file)",
                      markup=False)
    auc = params[params["PPTESTCD"] == "AUCLST"]
    for r in auc.itertuples(index=False):
        why = next((f.split(":", 1)[1] for f in r.FLAGS.split(";")
                    if f.startswith("SE_NOT_ESTIMABLE:")), None)
        if why:
            console.print(f"note: GROUP {r.GROUP}, SITE {r.SITE}: the SE of the sparse AUCLST is "
                          f"not estimable ({why} h: no variance there); as in PKNCA, SE and CI "
                          "are left empty rather than a variance assumed", markup=False,
                          highlight=False, soft_wrap=True)


#: units the conversion options turn into cells (cells/mg and cells/uL arrive as /g and /mL)
CONVERTED_UNITS = ("cells/g", "cells/mL", "copies/ug", "Ct")
_PAIR = "SITE=VALUE, repeatable"
TissueMass = Annotated[list[str] | None, typer.Option(
    "--tissue-mass", help=f"Mass of the whole sampled tissue [g] ({_PAIR}; e.g. lung=0.15): "
                          "converts cells/g and, with --cells-per-gram, copies/ug and Ct.",
    show_default=False)]
FluidVolume = Annotated[list[str] | None, typer.Option(
    "--fluid-volume", help=f"Volume of the whole sampled fluid [mL] ({_PAIR}; e.g. "
                           "blood=1.8): converts cells/mL.", show_default=False)]
DnaMass = Annotated[list[str] | None, typer.Option(
    "--dna-mass", help=f"Total DNA of the whole sampled site [ug] ({_PAIR}): converts "
                       "copies/ug and Ct (else tissue mass x --cells-per-gram x DNA per cell).",
    show_default=False)]
CellsPerGram = Annotated[float | None, typer.Option(
    "--cells-per-gram", help="Host cells per g of tissue [1/g], for the DNA of a site from its "
                             "mass.", show_default=False)]
CopiesPerCell = Annotated[float | None, typer.Option(
    "--copies-per-cell", help="Target copies per donor cell (1 for genome equivalents or one "
                              "transgene): needed for copies/ug and Ct with copies.",
    show_default=False)]
StandardCurve = Annotated[str | None, typer.Option(
    "--standard-curve", help="qPCR standard curve SLOPE,INTERCEPT (Ct = intercept + slope x "
                             "log10 quantity; slope about -3.32): converts Ct.",
    show_default=False)]
CurveQuantity = Annotated[str, typer.Option(
    "--curve-quantity", help="What the standard curve counts: copies, or pg of donor DNA.")]
DnaPerReaction = Annotated[float | None, typer.Option(
    "--dna-per-reaction", help="Total DNA per qPCR reaction [ug]: converts Ct.",
    show_default=False)]


def _site_values(items: list[str] | None, option: str) -> dict[str, float]:
    """``["lung=0.15", ...]`` -> ``{"lung": 0.15}`` (positive finite values)."""
    from mscpk.inputs.studydata.cells import site_name

    out: dict[str, float] = {}
    for item in items or []:
        site, sep, value = item.partition("=")
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not sep or not site.strip() or not (v > 0 and math.isfinite(v)):
            raise fail(f"{option}: {item!r} must be SITE=VALUE with a positive number")
        out[site_name(site)] = v
    return out


def convert_study(study, *, tissue_mass, fluid_volume, dna_mass, cells_per_gram,
                  copies_per_cell, standard_curve, curve_quantity, dna_per_reaction,
                  units=CONVERTED_UNITS, species=None):
    """``study`` with its rows in ``units`` converted to cells from the conversion options;
    ``species`` (the fit's scenario) gives what was not given: organ masses (volume at
    1 g/mL), blood volume, cells per g of tissue. Returns (study, lines saying what was
    used)."""
    from mscpk.inputs.studydata import dna_mass_ug, to_cells

    present = sorted(set(study.frame["DVU"]) & set(units))
    if not present:
        return study, []
    masses = _site_values(tissue_mass, "--tissue-mass")
    volumes = _site_values(fluid_volume, "--fluid-volume")
    dna = _site_values(dna_mass, "--dna-mass")
    curve = None
    if standard_curve is not None:
        try:
            curve = tuple(float(x) for x in standard_curve.split(","))
        except ValueError:
            curve = ()
        if len(curve) != 2:
            raise fail(f"--standard-curve: {standard_curve!r} must be SLOPE,INTERCEPT")
    notes = []
    if species is not None:
        sites = set(study.frame["SITE"])
        for site in sorted(sites & set(species.organs) - set(masses)):
            masses[site] = species.organs[site].volume_L * 1000.0
            notes.append(f"{site} mass {masses[site]:g} g (the scenario's organ volume at 1 g/mL)")
        if "blood" in sites and "blood" not in volumes:
            volumes["blood"] = species.blood_volume_L * 1000.0
            notes.append(f"blood volume {volumes['blood']:g} mL (the scenario's)")
        if cells_per_gram is None and {"copies/ug", "Ct"} & set(present):
            cells_per_gram = species.cells_per_gram_tissue
            notes.append(f"{cells_per_gram:g} cells per g of tissue (the scenario's species)")
    if cells_per_gram is not None:
        dna = {**dna_mass_ug({s: m for s, m in masses.items() if s not in dna}, cells_per_gram),
               **dna}
    converted = to_cells(study, tissue_mass_g=masses or None, fluid_volume_ml=volumes or None,
                         dna_mass_ug=dna or None, standard_curve=curve,
                         curve_quantity=curve_quantity, copies_per_cell=copies_per_cell,
                         dna_per_reaction_ug=dna_per_reaction, units=present)
    n = int(converted.frame["CONVERSION"].ne("").sum())
    return converted, [f"converted {n} row(s) in {', '.join(present)} to cells"
                       + (f" using {'; '.join(notes)}" if notes else "")]


@user_errors
def nca_command(
    data: Annotated[Path, typer.Argument(help="Study data file (.csv or .xlsx).",
                                         show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output CSV of NCA parameters.",
                                      show_default=False)],
    sparse: Annotated[str, typer.Option(
        "--sparse", help="Destructive (sparse) sampling: yes, no, or auto (detected per "
                         "group and site: one observation per animal).")] = "auto",
    auc_method: Annotated[str, typer.Option(
        "--auc-method", help="AUC rule: 'lin up/log down', 'linear' or 'log'.")
    ] = "lin up/log down",
    min_hl_points: Annotated[int, typer.Option(
        "--min-hl-points", help="Minimum points for lambda_z (>= 3).")] = 3,
    allow_tmax_in_half_life: Annotated[bool, typer.Option(
        "--allow-tmax-in-half-life/--exclude-tmax-from-half-life",
        help="May the Tmax point be used for lambda_z?")] = False,
    adj_r2_factor: Annotated[float, typer.Option(
        "--adj-r2-factor", help="Tolerance on adjusted R^2 within which more points win.")
    ] = 1e-4,
    blq_first: Annotated[str, typer.Option(
        "--blq-first", help="BLQ before the first measurable value: keep (as 0), drop, or "
                            "a number.")] = "keep",
    blq_middle: Annotated[str, typer.Option(
        "--blq-middle", help="BLQ between measurable values: keep (as 0), drop, or a "
                             "number.")] = "drop",
    blq_last: Annotated[str, typer.Option(
        "--blq-last", help="BLQ after the last measurable value: keep_first (first as 0, "
                           "rest dropped), keep, drop, or a number.")] = "keep_first",
    zero_at_time0: Annotated[bool, typer.Option(
        "--zero-at-time0/--no-zero-at-time0",
        help="Assume 0 at time 0 for profiles that start later (never for blood after IV "
             "or the administration site).")] = False,
    iv_bolus_c0: Annotated[bool, typer.Option(
        "--iv-bolus-c0/--no-iv-bolus-c0",
        help="IV bolus blood profiles (ROUTE iv, SITE blood): back-extrapolate C0, areas from "
             "time 0, with DOSE clearance and volumes (CLO, VZO, VSSO).")] = True,
    ci_level: Annotated[float, typer.Option(
        "--ci-level", help="Confidence level of the sparse AUC interval.")] = 0.95,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="XLSX worksheet name (default: the first sheet).")] = None,
    standard_curve: StandardCurve = None,
    curve_quantity: CurveQuantity = "copies",
    copies_per_cell: CopiesPerCell = None,
    dna_per_reaction: DnaPerReaction = None,
    dna_mass: DnaMass = None,
    tissue_mass: TissueMass = None,
    cells_per_gram: CellsPerGram = None,
    db: StoreDb = None,
) -> None:
    """Noncompartmental analysis per group and site (serial or destructive sampling); Ct
    data are converted to cells with the qPCR options."""
    stored = stored_run(db, "nca", locals())
    from mscpk.analysis.nca import AUC_METHODS, NCAOptions, nca
    from mscpk.inputs.studydata import read_study

    console = Console()
    sparse_choice = sparse.strip().lower()
    if sparse_choice not in ("yes", "no", "auto"):
        raise fail(f"--sparse must be yes, no or auto, not {sparse!r}")
    try:
        options = NCAOptions(
            auc_method=auc_method, min_hl_points=min_hl_points,
            allow_tmax_in_half_life=allow_tmax_in_half_life, adj_r2_factor=adj_r2_factor,
            blq_first=blq_first, blq_middle=blq_middle, blq_last=blq_last,
            assume_zero_at_time0=zero_at_time0, ci_level=ci_level, iv_bolus_c0=iv_bolus_c0,
        )
    except ValueError as exc:
        raise fail(f"invalid option: {exc} (AUC methods: {', '.join(AUC_METHODS)})") from None

    out = Path(out)
    if not out.parent.exists() or not out.parent.is_dir():
        raise fail(f"output folder {out.parent} does not exist")
    if out.exists() and out.is_dir():
        raise fail(f"output path {out} is a folder")
    with contextlib.suppress(OSError):
        if Path(data).resolve() == out.resolve():
            raise fail(f"output {out} is the input data file; choose another name")

    study = read_study(data, sheet=sheet)
    if stored is not None:
        stored.add_study(data, study)
    study, notes = convert_study(
        study, tissue_mass=tissue_mass, fluid_volume=None, dna_mass=dna_mass,
        cells_per_gram=cells_per_gram, copies_per_cell=copies_per_cell,
        standard_curve=standard_curve, curve_quantity=curve_quantity,
        dna_per_reaction=dna_per_reaction, units=("Ct",))
    result = nca(study, sparse=sparse_choice, options=options)  # "yes", "no" or "auto"

    excluded_path = excluded_path_for(out)
    items = [(excluded_path, _csv_writer(study.excluded))] if len(study.excluded) else []
    if stored is not None:
        stored.tables["nca"] = result
    try:
        write_outputs(stored, items + [(out, _csv_writer(result))])
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None

    _summary(result, console)
    for note in notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    n_prof = int((result["PPTESTCD"] == "CMAX").sum())
    console.print(f"wrote {len(result)} parameters of {n_prof} profile(s) to {out}",
                  highlight=False, soft_wrap=True, markup=False)
    if len(study.excluded):
        console.print(f"{len(study.excluded)} row(s) excluded from the data; reasons in "
                      f"{excluded_path}", highlight=False, soft_wrap=True, markup=False)
    if stored is not None:
        console.print(stored.note(), highlight=False, soft_wrap=True, markup=False)


@user_errors
def fit_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file (the base design).",
                                             show_default=False)],
    data: Annotated[Path, typer.Argument(
        help="Study data file (.csv or .xlsx): cells, %ID (spect/pet) or photons/s "
             "(bli/fluorescence) per ASSAY; GROUP/DOSE/ROUTE columns give each group its "
             "own variant of the scenario.", show_default=False)],
    estimate: Annotated[str, typer.Option(
        "--estimate", help="Parameter names to estimate, comma-separated (as `mscpk params` "
                           "lists them).", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSON file.",
                                      show_default=False)],
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Optional diagnostic figure (.png/.pdf/.svg).")] = None,
    n_starts: Annotated[int, typer.Option("--n-starts", min=1, max=200, help="Optimiser starts (1-200).")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random starts.")] = 0,
    sigma: Annotated[str, typer.Option(
        "--sigma", help="Residual SD: auto (one per assay when several assays, else one), "
                        "shared, or per-assay.")] = "auto",
    centre: Annotated[str, typer.Option(
        "--centre", help="What a prediction is for the log-normal error: median (real data, "
                         "default) or mean (data whose noise is mean-preserving, such as "
                         "`design-study --study-out` virtual studies).")] = "median",
    scenario_for: Annotated[list[str] | None, typer.Option(
        "--scenario-for", help="GROUP=FILE: a scenario of its own for a data group "
                               "(repeatable); the other groups derive from SCENARIO.",
        show_default=False)] = None,
    animal_effect: Annotated[bool, typer.Option(
        "--animal-effect", help="Add a per-animal random effect (log-scale SD omega, "
                                "estimated) shared by all rows of one ID: use it when each "
                                "animal gives several sites (destructive sampling); summary "
                                "rows get none.")] = False,
    doses_from_data: Annotated[bool, typer.Option(
        "--doses-from-data", help="Take the doses from the data's dosing records (EVID 1 rows: "
                                  "AMT, ROUTE or CMT, II, ADDL, RATE or DUR), per GROUP; they "
                                  "replace the scenario's [[dose]] tables.")] = False,
    tissue_mass: TissueMass = None,
    fluid_volume: FluidVolume = None,
    cells_per_gram: CellsPerGram = None,
    dna_mass: DnaMass = None,
    copies_per_cell: CopiesPerCell = None,
    standard_curve: StandardCurve = None,
    curve_quantity: CurveQuantity = "copies",
    dna_per_reaction: DnaPerReaction = None,
    db: StoreDb = None,
) -> None:
    """Estimate named model parameters from study data (profile-likelihood 95 % CIs).

    Several groups (doses, routes, designs) and assays are fitted jointly with one shared
    parameter vector; each datum goes through its assay's observation model.
    """
    stored = stored_run(db, "fit", locals())
    from mscpk.inputs.load import load_scenario
    from mscpk.inputs.resolve import scenario_species
    from mscpk.analysis.fitting import FIT_UNIT_OPTIONS, fit
    from mscpk.interfaces.plots.fit import plot_fit
    from mscpk.inputs.studydata import read_study, scenario_with_doses

    check_out(out, (".json",))
    if plot is not None:
        check_out(plot, PLOT_SUFFIXES, "plot")
    sigma_mode = sigma.strip().lower().replace("-", "_")
    if sigma_mode not in ("auto", "shared", "per_assay"):
        raise fail(f"--sigma: unknown value {sigma!r}; allowed: auto, shared, per-assay")
    centre_mode = centre.strip().lower()
    if centre_mode not in ("median", "mean"):
        raise fail(f"--centre: unknown value {centre!r}; allowed: median, mean")
    own: dict[str, Path] = {}
    for item in scenario_for or []:
        group, sep, path = item.partition("=")
        if not sep or not group.strip() or not path.strip():
            raise fail(f"--scenario-for: {item!r} must be GROUP=FILE")
        own[group.strip()] = Path(path.strip())
    names = split_names(estimate)
    sc = load_scenario(scenario)
    study = read_study(data, unit_options=FIT_UNIT_OPTIONS)
    if stored is not None:
        stored.add_scenario(scenario)
        stored.add_study(data, study)
    study, notes = convert_study(
        study, tissue_mass=tissue_mass, fluid_volume=fluid_volume, dna_mass=dna_mass,
        cells_per_gram=cells_per_gram, copies_per_cell=copies_per_cell,
        standard_curve=standard_curve, curve_quantity=curve_quantity,
        dna_per_reaction=dna_per_reaction, species=scenario_species(sc))
    mapping = None  # with --scenario-for: every data group's scenario
    if own:
        groups = list(dict.fromkeys(study.frame["GROUP"].astype(str)))
        unknown = [g for g in own if g not in groups]
        if unknown:
            raise fail(f"--scenario-for: GROUP {unknown[0]!r} is not in the data; groups: "
                       f"{', '.join(groups)}")
        mapping = {g: (load_scenario(own[g]) if g in own else sc) for g in groups}
    dose_note = []
    if doses_from_data:
        given = [c for c in ("DOSE", "ROUTE") if c in study.frame
                 and study.frame[c].notna().any() and (study.frame[c].astype(str) != "").any()]
        if given:
            raise fail(f"--doses-from-data: the observation rows give {' and '.join(given)}; "
                       "give the doses only as dosing records (EVID 1 rows)")
        groups = list(dict.fromkeys(study.frame["GROUP"].astype(str)))
        mapping = {g: scenario_with_doses(mapping[g] if mapping else sc, study, group=g)
                   for g in groups}
    elif len(study.dosing):
        dose_note = [f"{len(study.dosing)} dosing record(s) (EVID 1) in the data not used: the "
                     "scenario's doses are fitted (--doses-from-data takes the records')"]
    result = fit(None if mapping else sc, study, names, scenarios=mapping, n_starts=n_starts,
                 seed=seed, sigma=sigma_mode, centre=centre_mode, animal_effect=animal_effect)
    try:
        write_text_atomic(out, result.to_json())
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    if plot is not None:
        try:
            plot_fit(result, plot)
        except (OSError, ValueError) as exc:
            raise fail(f"cannot write plot {plot}: {exc}") from None
    if stored is not None:  # after the files: a fit whose output failed is not stored
        _store_fit(stored, sc, result, out, plot)
    console = Console(highlight=False, soft_wrap=True, markup=False)
    for note in notes + dose_note:
        console.print(note)
    if result.excluded:
        shown = "; ".join(f"row {e['ROW']} ({e['REASON']})" for e in result.excluded[:5])
        more = f"; ... and {len(result.excluded) - 5} more" if len(result.excluded) > 5 else ""
        console.print(f"{len(result.excluded)} row(s) of the data left out: {shown}{more} "
                      f"(listed under 'excluded' in {out})")
    for name, p in result.parameters.items():
        flag = "" if p["identifiable"] else "  (not identifiable from these data)"
        if p["at_bound"]:
            flag += f"  (at its {p['at_bound']} search bound)"
        console.print(f"{name}: {p['estimate']:.4g} {p['unit']} (95% CI {p['ci_low']:.4g} - "
                      f"{p['ci_high']:.4g}){flag}")
    if len(result.groups) > 1:
        parts = []
        for g, info in result.groups.items():
            doses = ", ".join(f"{d['route']} {d['cells']:g} cells" if d["cells"] is not None
                              else f"{d['route']} {d['cells_per_kg']:g} cells/kg"
                              for d in info["doses"])
            parts.append(f"{g} ({doses}; {info['n_obs']} rows)")
        console.print("groups: " + "; ".join(parts))
    sig = ", ".join(f"{k} {v:.3g}" for k, v in result.sigmas.items())
    if result.animal_effect and result.omega is not None:
        lo, hi = result.omega_ci or (math.nan, math.nan)
        console.print(f"animal effect: omega {result.omega:.3g} (95% CI {lo:.3g} - {hi:.3g}; "
                      f"{result.n_animals} animals)")
    console.print(f"objective (-2 log L) {result.objective:.4g}; sigma {sig}; "
                  f"{result.n_obs} observations ({result.n_blq} BLQ, {result.n_summary} "
                  f"summary); converged {result.converged}"
                  + ("" if result.converged else f" ({result.convergence})") + f"; wrote {out}"
                  + (f"; {stored.note()}" if stored else ""))


def _store_fit(stored, scenario, result, out: Path, plot: Path | None) -> None:
    """Store a fit: the JSON and figure as written, the estimates as a table, the parameters
    in force of the base scenario."""
    import pandas as pd

    from mscpk.analysis.params import parameters_in_force

    stored.params = parameters_in_force(scenario)
    stored.tables["estimates"] = pd.DataFrame(
        [{"name": n, **{k: v for k, v in p.items() if not isinstance(v, (dict, list))}}
         for n, p in result.parameters.items()])
    stored.commit({Path(p).name: Path(p).read_bytes() for p in (out, plot) if p is not None})
