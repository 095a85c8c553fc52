"""The result type shared by every method that computes the interaction sums."""

from dataclasses import dataclass

import numpy as np


@dataclass
class KernelSums:
    """Z and H at a set of targets, stored with a per-target scale against overflow.

    The true sums are Z = exp(log_scale) * z and H = exp(log_scale) * h. Ratios
    such as H / Z need no exponential at all, which is how the softmax-normalized
    velocity is computed even where exp(log_scale) overflows.

    Attributes:
        log_scale: Shape (num_targets,).
        z: Scaled Z, shape (num_targets,).
        h: Scaled H, shape (num_targets, d).
    """

    log_scale: np.ndarray
    z: np.ndarray
    h: np.ndarray

    def total_z(self) -> np.ndarray:
        """Return Z itself, shape (num_targets,); overflows to inf past exp(709)."""
        return np.exp(self.log_scale) * self.z

    def total_h(self) -> np.ndarray:
        """Return H itself, shape (num_targets, d)."""
        return np.exp(self.log_scale)[:, None] * self.h
