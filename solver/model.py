"""The attention model: kernel matrices, SA/USA velocity, direction and energy.

Plain NumPy on arrays of points in R^d (rows on the unit sphere). The velocity
of the mean-field equation d rho/dt + div(rho v) = eps Lap rho is

    v(x) = s P(x) V H(x) / Z(x)      (softmax normalization, "SA")
    v(x) = s P(x) V H(x)             (no normalization, "USA")

with P(x) = I - x x^T, s = +1 for ascent and -1 for descent, and Z, H the
interaction sums of the kernel exp(beta x.A y) against the density.
When A = V = D with D symmetric the flow is a gradient flow of the energy

    E(rho) = 1/(2 beta) int int exp(beta x.D y) rho(x) rho(y) dS(x) dS(y).
"""

from dataclasses import dataclass

import numpy as np

from solver.config import Settings, matrices
from solver.interaction.sums import KernelSums


@dataclass(frozen=True)
class AttentionModel:
    """Parameters of the self-attention dynamics on S^{d-1}.

    Attributes:
        beta: Inverse temperature (> 0).
        A: Query-key matrix Q^T K, shape (d, d).
        V: Value matrix, shape (d, d).
        normalized: True for the softmax-normalized model (SA).
        sign: +1 for ascent, -1 for descent.
        diffusion: Noise strength eps >= 0.
    """

    beta: float
    A: np.ndarray
    V: np.ndarray
    normalized: bool = True
    sign: int = 1
    diffusion: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "AttentionModel":
        """Build the model of a validated experiment."""
        model = settings.model
        A, V = matrices(model, settings.dimension)
        return cls(
            beta=model.beta,
            A=A,
            V=V,
            normalized=model.normalization == "softmax",
            sign=1 if model.direction == "ascent" else -1,
            diffusion=model.diffusion,
        )

    @property
    def dimension(self) -> int:
        """Dimension d of the space R^d that contains the sphere."""
        return self.A.shape[0]

    @property
    def has_energy(self) -> bool:
        """Whether the dynamics is a gradient flow (A = V symmetric), so E exists."""
        return bool(np.array_equal(self.A, self.V) and np.array_equal(self.A, self.A.T))

    def velocity(self, points: np.ndarray, sums: KernelSums) -> np.ndarray:
        """Return the velocity v at the points, shape (num_points, d).

        Args:
            points: Points x on the unit sphere, shape (num_points, d).
            sums: Z and H at the same points.
        """
        if self.normalized:
            # H / Z: the per-point scale cancels, so nothing can overflow.
            with np.errstate(invalid="ignore", divide="ignore"):
                drift = sums.h / sums.z[:, None]
            drift[sums.z == 0.0] = 0.0
        else:
            drift = sums.total_h()
        drift = drift @ self.V.T
        normal_part = np.einsum("ij,ij->i", drift, points)
        return self.sign * (drift - normal_part[:, None] * points)

    def energy(self, weights: np.ndarray, sums: KernelSums) -> float:
        """Return this rank's part of E = 1/(2 beta) sum_i q_i Z(y_i).

        Args:
            weights: Source weights q_i (density times cell size), shape (n,).
            sums: Z at the source points themselves.
        """
        return float(np.dot(weights, sums.total_z())) / (2.0 * self.beta)

    def dissipation_rate(self, weights: np.ndarray, sums: KernelSums, speeds_squared) -> float:
        """Return this rank's part of dE/dt for eps = 0.

        dE/dt = s sum_i q_i Z_i |v_i|^2 with softmax normalization and
        s sum_i q_i |v_i|^2 without; this is the transport part only when eps > 0.

        Args:
            weights: Source weights q_i, shape (n,).
            sums: Z at the source points.
            speeds_squared: |v|^2 at the source points, shape (n,).
        """
        mobility = sums.total_z() if self.normalized else 1.0
        return self.sign * float(np.sum(weights * mobility * speeds_squared))
