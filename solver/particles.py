"""The finite-token system: N tokens on the sphere moved by self-attention.

Token i at x_i on S^{d-1} moves with the velocity of the mean-field model
evaluated against the empirical measure (1/N) sum_j delta_{x_j}:

    dx_i/dt = s P(x_i) V H_i / Z_i     (softmax)      or     s P(x_i) V H_i   (none)
    Z_i = (1/N) sum_j exp(beta x_i.A x_j),  H_i = (1/N) sum_j exp(beta x_i.A x_j) x_j

It is the reference the PDE approximates as N grows, and a model of its own
for d > 3. Time stepping is the classical Runge-Kutta method of order 4,
with the tokens projected back onto the sphere after each step (the exact
flow stays on it). Tokens are distributed over the ranks of a communicator,
and ``ParticleSystem`` methods are collective. The interaction sums use the
same ``solver.interaction`` objects as the PDE solver.
"""

import numpy as np

from solver.diagnostics import total
from solver.interaction.select import create_interaction
from solver.model import AttentionModel


class ParticleSystem:
    """Tokens on the unit sphere, distributed over the ranks of comm.

    Attributes:
        points: This rank's tokens, shape (n, d), rows of unit length.
        num_tokens: N, the number of tokens over all ranks.
    """

    def __init__(self, model: AttentionModel, points: np.ndarray, comm,
                 method: str = "direct", tolerance: float = 1e-10):
        """Set up the system.

        Args:
            model: The attention model (beta, A, V, normalization, direction).
                Its diffusion must be 0: the token system here is deterministic.
            points: This rank's tokens, shape (n, d); they are normalized to unit length.
            comm: Communicator over which the tokens are distributed.
            method: Interaction method, "direct", "spectral" or "auto".
            tolerance: Accuracy of the spectral method.
        """
        if model.diffusion != 0.0:
            raise ValueError(f"invalid diffusion {model.diffusion} for the token system: "
                             "expected 0 (noise is not modelled for finite N)")
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != model.dimension:
            raise ValueError(f"invalid token array of shape {points.shape}: expected "
                             f"(n, {model.dimension})")
        self.model = model
        self.comm = comm
        self.points = points / np.linalg.norm(points, axis=1, keepdims=True)
        self.num_tokens = int(total(comm, len(points)))
        self.interaction = create_interaction(
            method, model.beta, model.A, model.dimension, self.num_tokens, self.num_tokens,
            tolerance=tolerance,
        )

    def _weights(self, points: np.ndarray) -> np.ndarray:
        return np.full(len(points), 1.0 / self.num_tokens)

    def velocity(self, points: np.ndarray) -> np.ndarray:
        """Return the velocity of every token of this rank for the configuration points."""
        sums = self.interaction.evaluate(self.comm, points, points, self._weights(points))
        return self.model.velocity(points, sums)

    def energy(self) -> float:
        """Return E = 1/(2 beta N^2) sum_ij exp(beta x_i.D x_j) (NaN without a gradient flow)."""
        if not self.model.has_energy:
            return float("nan")
        weights = self._weights(self.points)
        sums = self.interaction.evaluate(self.comm, self.points, self.points, weights)
        return total(self.comm, self.model.energy(weights, sums))

    def step(self, dt: float):
        """Advance every token by one Runge-Kutta step of size dt (collective)."""
        x = self.points
        k1 = self.velocity(x)
        k2 = self.velocity(_project(x + 0.5 * dt * k1))
        k3 = self.velocity(_project(x + 0.5 * dt * k2))
        k4 = self.velocity(_project(x + dt * k3))
        self.points = _project(x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))


def _project(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)
