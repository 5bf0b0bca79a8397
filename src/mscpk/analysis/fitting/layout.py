"""The fitting parameter vector, named: the log-parameters, then one log-sigma per sigma key
(``"all"`` or each assay), then log-omega when the animal random effect is fitted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: bounds of the log-scale residual SD sigma
SIGMA_BOUNDS = (0.01, 5.0)
#: bounds of the log-scale SD omega of the animal random effect (``animal_effect=True``)
OMEGA_BOUNDS = (1e-3, 5.0)
#: optimiser start of every sigma and of omega
SIGMA_START = 0.5
OMEGA_START = 0.3


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

    def split_noise(self, noise: Sequence[float] | float) -> tuple[np.ndarray, float | None]:
        """(log sigmas, log omega or None) of the noise part ``x[layout.noise]``."""
        noise = np.atleast_1d(np.asarray(noise, float))
        if self.animal_effect:
            return noise[: self.n_sigma], float(noise[self.n_sigma])
        return noise, None

    def bounds(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``x`` given those of the log-parameters."""
        lo = np.append(lower, np.full(self.n_sigma, math.log(SIGMA_BOUNDS[0])))
        hi = np.append(upper, np.full(self.n_sigma, math.log(SIGMA_BOUNDS[1])))
        if self.animal_effect:
            lo = np.append(lo, math.log(OMEGA_BOUNDS[0]))
            hi = np.append(hi, math.log(OMEGA_BOUNDS[1]))
        return lo, hi

    def start(self, x0: np.ndarray) -> np.ndarray:
        """Start vector: log-parameters ``x0``, every sigma :data:`SIGMA_START`, omega
        :data:`OMEGA_START`."""
        x = np.append(x0, np.full(self.n_sigma, math.log(SIGMA_START)))
        if self.animal_effect:
            x = np.append(x, math.log(OMEGA_START))
        return x
