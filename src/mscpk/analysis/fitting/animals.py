"""Animal random effect term: ``log DV_ij = mu_j + eta_i + eps_ij``, ``eta_i ~ N(0, omega^2)``
integrated out per animal (closed form without censored rows, else adaptive Gauss-Hermite)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from mscpk.analysis.fitting.terms import LogRows, log_censored, log_normal
from mscpk.errors import FitError

#: Gauss-Hermite nodes integrating the animal effect out of animals with censored rows
QUADRATURE_NODES = 20
METHODS = ("auto", "quadrature")


def _animal_index(problem) -> tuple[np.ndarray, int]:
    """Animal of every individual row (key ``DATASET``, ``GROUP``, ``ID``; a row without ID
    is an animal of its own; summary rows: -1) and the number of animals."""
    fr, n = problem.frame, problem.n_obs
    ids = fr["ID"].tolist() if "ID" in fr else [None] * n
    grp = fr["GROUP"].astype(str).tolist() if "GROUP" in fr else [""] * n
    ds = fr["DATASET"].tolist() if "DATASET" in fr else [0] * n
    index: dict[tuple, int] = {}
    animal = np.full(n, -1, int)
    for i in range(n):
        if problem.summary[i]:
            continue
        ident = ids[i]
        if ident is None or (isinstance(ident, float) and math.isnan(ident)) or \
                str(ident).strip() == "":
            key: tuple = ("row", i)
        else:
            key = (ds[i], grp[i], str(ident))
        animal[i] = index.setdefault(key, len(index))
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
        animal, self.n_animals = _animal_index(problem)
        self.animal = animal
        self.mask = animal >= 0  # rows with a random effect (not the summary rows)
        cens_animal = np.zeros(self.n_animals, bool)
        cens_animal[animal[self.mask & rows.censored]] = True
        self._closed = self.mask & ~cens_animal[np.maximum(animal, 0)]
        # quadrature rows sorted by animal (for reduceat)
        q = np.flatnonzero(self.mask & cens_animal[np.maximum(animal, 0)])
        self._q = self._layout(q)
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
        ll = 0.0
        layout = self._all
        if method == "auto" and self._closed.any():
            ll += self._closed_form(obs, logp, scale, omega2)
            layout = self._q
        if len(layout[0]) == 0:
            return ll
        return ll + self._quadrature(obs, logp, scale, omega2, *layout)

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
