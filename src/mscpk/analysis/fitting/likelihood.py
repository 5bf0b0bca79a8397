"""Log-likelihood of a problem: log-normal errors with estimated log-sigma(s), M3 for
censored rows, summary rows as log-scale means, optionally the animal random effect
``log DV_ij = mu_j + eta_i + eps_ij``, ``eta_i ~ N(0, omega^2)`` integrated out per animal
(closed form without censored rows, else adaptive Gauss-Hermite). The parameter vector is
named by a :class:`Layout`: the log-parameters, then one log-sigma per sigma key (``"all"``
or each assay), then log-omega when the animal random effect is fitted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from mscpk.analysis.fitting.forward import PRED_FLOOR
from mscpk.analysis.fitting.problem import NO_ASSAY, Problem
from mscpk.errors import FitError, MscpkError

#: bounds of the log-scale residual SD sigma
SIGMA_BOUNDS = (0.01, 5.0)
#: bounds of the log-scale SD omega of the animal random effect (``animal_effect=True``)
OMEGA_BOUNDS = (1e-3, 5.0)
#: optimiser start of every sigma and of omega
SIGMA_START = 0.5
OMEGA_START = 0.3
#: Gauss-Hermite nodes integrating the animal effect out of animals with censored rows
QUADRATURE_NODES = 20
METHODS = ("auto", "quadrature")
#: what the prediction is in the log-normal error model (see :class:`LogLikelihood`)
CENTRES = ("median", "mean")
SIGMA_MODES = ("auto", "shared", "per_assay")
#: log-likelihood of a parameter vector that cannot be simulated or gives a non-finite value:
#: the worst finite value (keeps the optimiser going; -inf turns its differences into NaN)
WORST_LOGLIK = -1e300
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Layout:
    """Which entries of the vector ``x`` are what: ``x[layout.theta]`` the log-parameters
    (``names``), ``x[layout.sigmas]`` the log-sigmas (``sigma_keys``), ``x[layout.omega]``
    the log-omega (``None`` without the animal effect); ``x[layout.noise]`` both noise parts.

    >>> lay = Layout(("a", "b"), ("qpcr", "bli"), animal_effect=True)
    >>> lay.size, lay.theta, lay.sigmas, lay.omega, lay.index("b")
    (5, slice(0, 2, None), slice(2, 4, None), 4, 1)
    """

    names: tuple[str, ...]
    sigma_keys: tuple[str, ...]
    animal_effect: bool = False

    @property
    def n_theta(self) -> int:
        return len(self.names)

    @property
    def n_sigma(self) -> int:
        return len(self.sigma_keys)

    @property
    def size(self) -> int:
        return self.n_theta + self.n_sigma + int(self.animal_effect)

    @property
    def theta(self) -> slice:
        return slice(0, self.n_theta)

    @property
    def sigmas(self) -> slice:
        return slice(self.n_theta, self.n_theta + self.n_sigma)

    @property
    def omega(self) -> int | None:
        return self.n_theta + self.n_sigma if self.animal_effect else None

    @property
    def noise(self) -> slice:
        return slice(self.n_theta, self.size)

    def index(self, name: str) -> int:
        """Position of the log of the estimated parameter ``name``."""
        return self.names.index(name)

    def _vector(self, theta: np.ndarray, sigma: float, omega: float) -> np.ndarray:
        """``x`` of the log-parameters ``theta``, every sigma ``sigma`` and omega ``omega``."""
        omegas = [math.log(omega)] if self.animal_effect else []
        return np.concatenate([theta, np.full(self.n_sigma, math.log(sigma)), omegas])

    def bounds(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``x`` given those of the log-parameters."""
        return (self._vector(lower, SIGMA_BOUNDS[0], OMEGA_BOUNDS[0]),
                self._vector(upper, SIGMA_BOUNDS[1], OMEGA_BOUNDS[1]))

    def start(self, x0: np.ndarray) -> np.ndarray:
        """Start vector: log-parameters ``x0``, every sigma :data:`SIGMA_START`, omega
        :data:`OMEGA_START`."""
        return self._vector(x0, SIGMA_START, OMEGA_START)


@dataclass(frozen=True)
class LogRows:
    """The rows of a :class:`~mscpk.analysis.fitting.problem.Problem` on the log scale.

    ``logdv``: log DV (0 for censored rows); ``logobs``: the row's log-scale mean (a summary
    row's moment-matched ``log(mean) - sdlog^2/2``, log DV otherwise); ``loglloq``: log LLOQ
    of censored rows (0 otherwise); a row's log-scale variance is ``sigma^2 * weight +
    extra`` with ``weight = 1/N`` and ``extra = sdlog^2/N``.
    """

    censored: np.ndarray
    logdv: np.ndarray
    logobs: np.ndarray
    loglloq: np.ndarray
    weight: np.ndarray
    extra: np.ndarray

    @classmethod
    def of(cls, p) -> "LogRows":
        """The rows of the problem ``p``."""
        logdv = np.log(np.where(p.censored, 1.0, p.dv))
        return cls(censored=p.censored, logdv=logdv, logobs=logdv - 0.5 * p.sdlog ** 2,
                   loglloq=np.log(np.where(p.censored, p.lloq, 1.0)),
                   weight=1.0 / p.n_animals, extra=p.sdlog ** 2 / p.n_animals)

    def scale(self, sigma: np.ndarray) -> np.ndarray:
        """Each row's log-scale SD given its residual SD ``sigma`` (one value per row)."""
        return np.sqrt(sigma * sigma * self.weight + self.extra)


def log_normal(resid: np.ndarray, scale: np.ndarray, logdv: np.ndarray) -> np.ndarray:
    """Log density of DV (log-normal) given its log residual ``resid`` and log-scale SD."""
    z = resid / scale
    return -0.5 * z * z - np.log(scale) - 0.5 * _LOG_2PI - logdv


def log_censored(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """M3: log probability of a value below the LLOQ, ``resid`` = log LLOQ - log centre."""
    return stats.norm.logcdf(resid / scale)


def independent(rows: LogRows, obs: np.ndarray, logp: np.ndarray, scale: np.ndarray,
                mask: np.ndarray) -> float:
    """log L of the rows ``mask`` taken independently: log-normal density of the quantified
    rows, ``log Phi((log LLOQ - logp) / scale)`` of the censored ones (M3)."""
    u = mask & ~rows.censored
    ll = float(np.sum(log_normal(obs[u] - logp[u], scale[u], rows.logdv[u])))
    cr = mask & rows.censored
    if cr.any():
        ll += float(np.sum(log_censored(rows.loglloq[cr] - logp[cr], scale[cr])))
    return ll


def _animal_index(problem) -> tuple[np.ndarray, int]:
    """Animal of every individual row (key ``DATASET``, ``GROUP``, ``ID``; a row without ID
    is an animal of its own; summary rows: -1) and the number of animals."""
    fr, n = problem.frame, problem.n_obs
    ids = fr["ID"].tolist() if "ID" in fr else [None] * n
    grp = fr["GROUP"].astype(str).tolist() if "GROUP" in fr else [""] * n
    ds = fr["DATASET"].tolist() if "DATASET" in fr else [0] * n
    index: dict[tuple, int] = {}
    animal = np.full(n, -1, int)
    for i in np.flatnonzero(~problem.summary):
        ident = ids[i]
        blank = (ident is None or (isinstance(ident, float) and math.isnan(ident))
                 or str(ident).strip() == "")
        animal[i] = index.setdefault(("row", i) if blank else (ds[i], grp[i], str(ident)),
                                     len(index))
    return animal, len(index)


class AnimalEffect:
    """log L of the individual rows of a problem with a per-animal random effect.

    ``adaptive``: centre and scale the quadrature nodes on the (normal) posterior of eta
    given the animal's quantified rows; ``nodes``: Gauss-Hermite nodes.
    """

    def __init__(self, problem, rows: LogRows, nodes: int = QUADRATURE_NODES,
                 adaptive: bool = True) -> None:
        self.rows = rows
        self.adaptive = bool(adaptive)
        self.animal, self.n_animals = _animal_index(problem)
        self.mask = self.animal >= 0  # rows with a random effect (not the summary rows)
        cens_animal = np.zeros(self.n_animals, bool)
        cens_animal[self.animal[self.mask & rows.censored]] = True
        quad = self.mask & cens_animal[np.maximum(self.animal, 0)]  # animals with censored rows
        self._closed = self.mask & ~quad
        self._q = self._layout(np.flatnonzero(quad))  # quadrature rows sorted by animal
        self._all = self._layout(np.flatnonzero(self.mask))
        x, w = np.polynomial.hermite.hermgauss(int(nodes))
        self._gh_x = x
        self._gh_logw = np.log(w) + x * x

    def _layout(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(rows sorted by animal, first row of each animal, animal position of each row,
        number of animals)."""
        rows = rows[np.argsort(self.animal[rows], kind="stable")]
        animals, starts = np.unique(self.animal[rows], return_index=True)
        return rows, starts, np.searchsorted(animals, self.animal[rows]), len(animals)

    def __call__(self, obs: np.ndarray, logp: np.ndarray, scale: np.ndarray, omega2: float,
                 method: str = "auto") -> float:
        """Sum over animals of the log of the integral over eta of the animal's likelihood;
        ``method="quadrature"`` integrates every animal (for checks; ``"auto"``: closed
        form where there are no censored rows)."""
        if method not in METHODS:
            raise FitError(f"method: unknown value {method!r}; allowed: {', '.join(METHODS)}")
        if method == "auto" and self._closed.any():
            ll, layout = self._closed_form(obs, logp, scale, omega2), self._q
        else:
            ll, layout = 0.0, self._all
        return ll + self._quadrature(obs, logp, scale, omega2, *layout) if len(layout[0]) else ll

    def _closed_form(self, obs, logp, scale, om2) -> float:
        """Multivariate normal, covariance ``diag(s^2) + omega^2 J`` (Sherman-Morrison;
        ``det = prod s_j^2 (1 + omega^2 sum 1/s_j^2)``)."""
        closed = self._closed
        ai = self.animal[closed]
        s2 = scale[closed] ** 2
        w = 1.0 / s2
        r = obs[closed] - logp[closed]
        W = np.bincount(ai, w, minlength=self.n_animals)
        S = np.bincount(ai, w * r, minlength=self.n_animals)
        den = 1.0 + om2 * W
        return float(-0.5 * np.sum(np.log(s2)) - 0.5 * len(ai) * math.log(2 * math.pi)
                     - 0.5 * np.sum(np.log(den)) - 0.5 * np.sum(w * r * r)
                     + 0.5 * np.sum(om2 * S * S / den) - np.sum(self.rows.logdv[closed]))

    def _quadrature(self, obs, logp, scale, om2, rows, starts, apos, n_q) -> float:
        """Gauss-Hermite over eta of the product of the rows' densities and M3 CDFs."""
        cq = self.rows.censored[rows]
        sq = scale[rows]
        if self.adaptive:  # the normal posterior of eta given the quantified rows
            wq = np.where(cq, 0.0, 1.0 / sq ** 2)
            rq = np.where(cq, 0.0, obs[rows] - logp[rows])
            W = np.bincount(apos, wq, minlength=n_q)
            S = np.bincount(apos, wq * rq, minlength=n_q)
            m = om2 * S / (1.0 + om2 * W)
            v = om2 / (1.0 + om2 * W)
        else:
            m = np.zeros(n_q)
            v = np.full(n_q, om2)
        eta = m[:, None] + np.sqrt(2.0 * v)[:, None] * self._gh_x[None, :]  # (animals, K)
        e_rows = eta[apos]  # (rows, K)
        dens = np.empty_like(e_rows)
        u = ~cq
        dens[u] = log_normal((obs[rows][u] - logp[rows][u])[:, None] - e_rows[u],
                             sq[u, None], self.rows.logdv[rows][u, None])
        if cq.any():
            dens[cq] = log_censored((self.rows.loglloq[rows][cq] - logp[rows][cq])[:, None]
                                    - e_rows[cq], sq[cq, None])
        per = np.add.reduceat(dens, starts, axis=0)  # (animals, K)
        log_prior = -0.5 * np.log(2 * math.pi * om2) - eta * eta / (2.0 * om2)
        terms = self._gh_logw[None, :] + per + log_prior
        return float(np.sum(logsumexp(terms, axis=1) + 0.5 * np.log(2.0 * v)))


class LogLikelihood:
    """log L(x) of ``problem`` for the vector ``x`` described by :attr:`layout`
    (log-parameters, log-sigmas, log-omega with ``animal_effect``); see docs/fitting.md.

    ``sigma``: ``"auto"`` (one per assay when the data have several assays, a row without
    ASSAY counting as ``live_cells``, else one shared), ``"shared"`` or ``"per_assay"``;
    ``sigma_keys`` names them (``["all"]`` when shared). ``centre``: ``"median"`` (``log DV ~
    N(log PRED, s^2)``) or ``"mean"`` (PRED is the arithmetic mean of DV).
    """

    def __init__(self, problem: Problem, sigma: str = "auto", centre: str = "median",
                 animal_effect: bool = False, quadrature_nodes: int = QUADRATURE_NODES,
                 adaptive: bool = True) -> None:
        if sigma not in SIGMA_MODES:
            raise FitError(f"sigma: unknown value {sigma!r}; allowed: {', '.join(SIGMA_MODES)}")
        if centre not in CENTRES:
            raise FitError(f"centre: unknown value {centre!r}; allowed: {', '.join(CENTRES)}")
        self.centre = centre
        self.problem = p = problem
        keys = [a or NO_ASSAY for a in p.assays]
        distinct = list(dict.fromkeys(keys))
        if sigma == "auto":
            sigma = "per_assay" if len(distinct) > 1 else "shared"
        self.sigma_mode = sigma
        per_assay = sigma == "per_assay"
        self.sigma_keys = distinct if per_assay else ["all"]
        self.sigma_index = np.array([distinct.index(k) if per_assay else 0 for k in keys], int)
        self.layout = Layout(tuple(p.model.names), tuple(self.sigma_keys), bool(animal_effect))
        self.rows = LogRows.of(p)
        self.animals = (AnimalEffect(p, self.rows, quadrature_nodes, adaptive)
                        if animal_effect else None)
        self.n_animals = None if self.animals is None else self.animals.n_animals
        # rows taken independently: all, or those without a random effect (summary rows)
        self._independent = np.ones(p.n_obs, bool) if self.animals is None else ~self.animals.mask

    @property
    def n_parameters(self) -> int:
        return self.layout.size

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.problem.model
        return self.layout.bounds(m.lower, m.upper)

    def start(self) -> np.ndarray:
        return self.layout.start(self.problem.model.x0)

    def from_prediction(self, pred: np.ndarray, log_noise: Sequence[float] | float, *,
                        method: str = "auto") -> float:
        """log L at predictions ``pred``; ``log_noise``: ``x[layout.noise]`` (the log sigmas,
        and log omega with the animal effect). ``method="quadrature"`` integrates every
        animal by Gauss-Hermite quadrature (for checks; ``"auto"``: closed form where
        possible)."""
        noise = np.atleast_1d(np.asarray(log_noise, float))
        n_sigma = self.layout.n_sigma
        omega = 0.0 if self.animals is None else float(np.exp(noise[n_sigma]))
        scale = self.rows.scale(np.exp(noise[:n_sigma])[self.sigma_index])
        logp = np.log(np.maximum(pred, PRED_FLOOR))
        obs = self.rows.logobs
        om2 = omega * omega
        if self.centre == "mean":  # PRED is the arithmetic mean: the log median is lower
            logp = logp - 0.5 * scale * scale
            if self.animals is not None:  # ... by half the total log variance s^2 + omega^2
                logp = logp - 0.5 * om2 * self.animals.mask
            obs = self.rows.logdv  # a summary row's log mean against the log mean of the mean
        ll = independent(self.rows, obs, logp, scale, self._independent)
        if self.animals is None:
            return ll
        return ll + self.animals(obs, logp, scale, om2, method)

    def __call__(self, x: Sequence[float]) -> float:
        x = np.asarray(x, float)
        try:
            pred = self.problem.predict(x[self.layout.theta])
        except MscpkError:  # a value the model refuses: the worst finite value, as a non-finite
            return WORST_LOGLIK  # likelihood (an infinite one turns L-BFGS-B's differences into NaN)
        ll = self.from_prediction(pred, x[self.layout.noise])
        return ll if math.isfinite(ll) else WORST_LOGLIK
