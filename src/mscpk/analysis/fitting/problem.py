"""Problem: study rows (in each assay's unit) matched to the predictions of their group's
forward model; checks assays, units, censoring and sites, and reads summary (N, SD) rows.
Also the study data as the fit reads them: accepted units, each row's unit, row numbers in
messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mscpk.analysis.fitting.forward import ForwardModel, JointModel
from mscpk.errors import FitError, MscpkError, did_you_mean
from mscpk.inputs.catalogue import ASSAY_UNITS, ASSAYS, check_assay
from mscpk.inputs.studydata import StudyData, UnitOptions, study_from_frame

#: spellings of the optical unit (photons per second) accepted in DVU for bli/fluorescence
_OPTICAL_SPELLINGS = ("photons/s", "photons_per_s", "photons per s", "p/s", "ph/s", "photons/sec")
#: spellings of percent injected activity accepted for spect/pet (besides %ID)
_PIA_SPELLINGS = ("percent_injected_activity", "%IA", "percent injected activity")
#: read_study options for fitting: accept the optical unit (stored in DVU as ``cells`` with
#: the spelling kept in ``DVU_REPORTED``, which the fit checks against the assay) and
#: ``percent_injected_activity`` (= %ID).
FIT_UNIT_OPTIONS = UnitOptions(aliases={**{s: "cells" for s in _OPTICAL_SPELLINGS},
                                        **{s: "%ID" for s in _PIA_SPELLINGS}})
_OPTICAL_KEYS = {s.replace(" ", "").lower() for s in _OPTICAL_SPELLINGS}

#: a row in cells above this multiple of the cells dosed by its time is warned about: above
#: the assays' log-normal noise (3x is 3.8 SD at CV 30 %, 2.3 SD at CV 50 %), below the factor
#: by which a per-gram value of a mouse or rat organ under 1/3 g exceeds its cell count
DOSE_EXCESS_WARNING = 3.0
#: sigma key / assay label of rows without ASSAY
NO_ASSAY = "live_cells"


def as_frame(data: StudyData | pd.DataFrame) -> pd.DataFrame:
    """The normalised study frame of ``data`` (a raw DataFrame is read with
    :data:`FIT_UNIT_OPTIONS`)."""
    if isinstance(data, StudyData):
        return data.frame
    if isinstance(data, pd.DataFrame):
        if "ROW" in data.columns:  # already normalised (StudyData.frame or a combination)
            return data
        return study_from_frame(data, unit_options=FIT_UNIT_OPTIONS).frame
    raise FitError(f"data must be StudyData or a pandas DataFrame, not {type(data).__name__}")


def row_unit(dvu: Any, reported: Any) -> str | None:
    """Unit of DV for fitting (None: not stated, i.e. the assay's unit)."""
    rep = reported if isinstance(reported, str) else ""
    if rep.replace(" ", "").lower() in _OPTICAL_KEYS:
        return "photons_per_s"
    dvu = dvu if isinstance(dvu, str) else "cells"
    if dvu == "%ID":
        return "percent_injected_activity"
    if dvu == "cells" and rep.strip() == "":
        return None
    return dvu


def rows_of(sub: pd.DataFrame, limit: int = 6) -> str:
    """``"rows 2, 3, 5"``: the file row numbers of the rows ``sub`` (``dataset:row`` across
    datasets; at most ``limit`` shown) for an error message."""
    if "ROW" not in sub:
        rows: list[Any] = [int(i) + 2 for i in sub.index]
    elif "DATASET" in sub and sub["DATASET"].nunique() > 1:
        rows = [f"{d}:{r}" for d, r in zip(sub["DATASET"], sub["ROW"])]
    else:
        rows = [int(r) for r in sub["ROW"]]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _column(fr: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    return fr[name].to_numpy(float) if name in fr.columns else np.full(len(fr), fill)


class Problem:
    """Data (in each assay's unit) with a forward model.

    ``model``: a :class:`ForwardModel` (every row uses its scenario) or a :class:`JointModel`
    (each row uses its group's model; ``groups`` gives each row's group name, default the
    ``GROUP`` column).
    """

    def __init__(self, model: ForwardModel | JointModel, data: StudyData | pd.DataFrame,
                 groups: Sequence[str] | None = None) -> None:
        frame = as_frame(data)
        if len(frame) == 0:
            raise FitError("no observations to fit")
        self.model = model
        self.frame = fr = frame.reset_index(drop=True)
        self.times = fr["TIME"].to_numpy(float)
        self.sites = np.array([str(s) for s in fr["SITE"]], object)
        assays = fr["ASSAY"] if "ASSAY" in fr.columns else [""] * len(fr)
        self.assays = np.array([a.strip().lower() if isinstance(a, str) else "" for a in assays],
                               object)
        bad = sorted(set(self.assays) - set(ASSAYS) - {""})
        if bad:
            a = bad[0]
            raise FitError(f"{rows_of(fr[self.assays == a])}, column ASSAY: unknown assay "
                           f"{a!r}; {did_you_mean(a, ASSAYS)}allowed: {', '.join(ASSAYS)} "
                           "(or blank for live cells)")
        self._set_groups(groups)
        self._check_assays()
        self.units = self._units()
        self._set_values()
        self._check_sites()

    def _set_groups(self, groups: Sequence[str] | None) -> None:
        fr, n = self.frame, len(self.frame)
        if isinstance(self.model, JointModel):
            names = (list(groups) if groups is not None else
                     [str(g) for g in fr["GROUP"]] if "GROUP" in fr else ["all"] * n)
            if len(names) != n:
                raise FitError(f"{len(names)} group names for {n} rows")
            self.models = self.model.models
        else:
            names = ["*"] * n
            self.models = {"*": self.model}
        self.row_groups = np.asarray(names, object)
        self.group_rows: dict[str, np.ndarray] = {}
        for g in dict.fromkeys(names):
            if g not in self.models:
                raise FitError(f"GROUP {g!r} ({rows_of(fr[self.row_groups == g])}) has no scenario; "
                               f"scenarios are given for: {', '.join(map(repr, self.models))}")
            self.group_rows[g] = np.flatnonzero(self.row_groups == g)

    def _check_assays(self) -> None:
        """Every assay of a group can see its label (and product origin)."""
        for g, idx in self.group_rows.items():
            m = self.models[g]
            where = "" if g == "*" else f"GROUP {g!r}, "
            for a in sorted(set(self.assays[idx]) - {""}):
                try:
                    check_assay(a, m.label_name, m.scenario.product.origin)
                except MscpkError as exc:
                    mask = (self.row_groups == g) & (self.assays == a)
                    raise FitError(f"{where}{rows_of(self.frame[mask])}: {exc}") from None

    def _units(self) -> list[str]:
        """Each row's unit; DVU must be the assay's unit (a row without DVU is in it)."""
        fr, n = self.frame, len(self.frame)
        dvu = fr["DVU"].tolist() if "DVU" in fr else ["cells"] * n
        rep = fr["DVU_REPORTED"].tolist() if "DVU_REPORTED" in fr else [""] * n
        expected = np.array([ASSAY_UNITS[a] if a else "cells" for a in self.assays], object)
        stated = [row_unit(d, r) for d, r in zip(dvu, rep)]
        units = np.array([e if u is None else u for e, u in zip(expected, stated)], object)
        wrong = units != expected
        if wrong.any():
            i = int(np.argmax(wrong))
            mask = wrong & (units == units[i]) & (self.assays == self.assays[i])
            a = self.assays[i]
            what = f"ASSAY {a!r} reports {expected[i]}" if a else \
                "rows without ASSAY are live cells and need DVU cells"
            raise FitError(f"{rows_of(fr[mask])}, column DVU: DV in {units[i]} but {what} "
                           "(convert with mscpk.inputs.studydata.to_cells or the fit command's "
                           "conversion options, or set ASSAY)")
        return units.tolist()

    def _set_values(self) -> None:
        """DV, censoring (CENS, LLOQ) and the summary columns N, SD (moment matching on the
        log scale: ``sdlog = sqrt(log(1 + (SD/DV)^2))``)."""
        fr = self.frame
        self.censored = _column(fr, "CENS", 0) == 1
        self.dv = fr["DV"].to_numpy(float)
        self.lloq = _column(fr, "LLOQ", np.nan)
        bad_cens = self.censored & ~(self.lloq > 0)
        if bad_cens.any():
            raise FitError(f"{rows_of(fr[bad_cens])}: censored without a positive LLOQ")
        bad_dv = ~self.censored & ~(self.dv > 0)
        if bad_dv.any():
            raise FitError(f"{rows_of(fr[bad_dv])}, column DV: observed DV <= 0 cannot enter a "
                           "log-normal likelihood; report them as censored (CENS=1 with LLOQ)")
        if self.censored.all():
            raise FitError("all observations are below the LLOQ; nothing to fit")
        nn = _column(fr, "N", np.nan)
        sd = _column(fr, "SD", np.nan)
        self.n_animals = np.where(np.isfinite(nn) & (nn >= 1), nn, 1.0)
        has_sd = np.isfinite(sd) & ~self.censored
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(has_sd, sd / np.where(self.dv > 0, self.dv, 1.0), 0.0)
        self.sdlog = np.sqrt(np.log1p(cv * cv))
        self.summary = (self.n_animals > 1) | has_sd

    def _check_sites(self) -> None:
        """Probe each group's model once: every row's site is observed by its assay."""
        for g, idx in self.group_rows.items():
            g_assays = sorted(set(self.assays[idx]))
            try:
                sig = self.models[g].signals(self.model.x0, [float(np.min(self.times[idx]))], g_assays)
            except MscpkError as exc:
                raise FitError(f"GROUP {g!r}: the model cannot be evaluated: {exc}") from None
            for a in g_assays:
                s_list = sig[a][0]
                mask = (self.row_groups == g) & (self.assays == a)
                unknown = sorted(set(self.sites[mask]) - set(s_list))
                if unknown:
                    who = f"ASSAY {a!r}" if a else "the model (live cells)"
                    rows = rows_of(self.frame[mask & np.isin(self.sites, unknown)])
                    raise FitError(f"{rows}, column SITE: "
                                   f"site(s) {', '.join(unknown)} not observed by {who}; "
                                   f"sites: {', '.join(s_list)}")

    @property
    def n_obs(self) -> int:
        return len(self.frame)

    @property
    def n_blq(self) -> int:
        return int(self.censored.sum())

    @property
    def n_summary(self) -> int:
        return int(self.summary.sum())

    def dose_warnings(self) -> list[str]:
        """A warning per group in which the geometric mean of the quantified rows in cells at
        one site and time exceeds :data:`DOSE_EXCESS_WARNING` times the cells administered by
        then (at the start values): a site cannot hold more cells than were given."""
        out = []
        units = np.asarray(self.units, object)
        for g, idx in self.group_rows.items():
            idx = idx[(units[idx] == "cells") & ~self.censored[idx]]
            if not len(idx):
                continue
            cells = pd.DataFrame({"i": idx, "site": self.sites[idx], "t": self.times[idx],
                                  "log": np.log(self.dv[idx])})
            mean = cells.groupby(["site", "t"])["log"].mean()
            times = mean.index.get_level_values("t").to_numpy(float)
            utimes, at = np.unique(times, return_inverse=True)
            given = self.models[g].administered(utimes)[at]
            ratio = np.exp(mean.to_numpy()) / np.maximum(given, 1e-300)
            if not (ratio > DOSE_EXCESS_WARNING).any():
                continue
            k = int(np.argmax(ratio))
            site, t = mean.index[k]
            rows = cells.loc[(cells["site"] == site) & (cells["t"] == t), "i"].to_numpy()
            what = (f"{ratio[k]:.3g}x the {given[k]:g} cells dosed by then" if given[k] > 0
                    else "but no cells were dosed by then")
            where = "" if g == "*" else f"GROUP {g!r}, "
            out.append(f"{where}{rows_of(self.frame.iloc[rows])}, column DV: "
                       f"{np.exp(mean.iloc[k]):.4g} cells in {site} at TIME {t:g} h is {what}; "
                       "a site cannot hold more cells than were given: check DVU (per gram? "
                       "per organ?) and DOSE")
        return out

    def predict(self, theta_log: Sequence[float]) -> np.ndarray:
        """Prediction of every row (its group's model) at the log-parameters ``theta_log``."""
        out = np.empty(self.n_obs)
        for g, idx in self.group_rows.items():
            out[idx] = self.models[g].predict(theta_log, self.times[idx], self.sites[idx],
                                              self.assays[idx])
        return out
