"""Scalar diagnostics of a density: mass, energy, extrema.

``DIAGNOSTIC_COLUMNS`` is the header of diagnostics.csv. Every function here
is collective: it reduces over the owned cells of all ranks.
"""

import numpy as np
from mpi4py import MPI

DIAGNOSTIC_COLUMNS = ("step", "time", "dt", "mass", "energy", "min_density", "max_density")


def total(comm, local_value: float) -> float:
    """Sum a rank-local number over comm."""
    return comm.allreduce(float(local_value), op=MPI.SUM)


def density_diagnostics(comm, density: np.ndarray, sizes: np.ndarray) -> dict:
    """Return mass, min_density and max_density of the owned density values.

    Args:
        density: Density at the owned cells, shape (num_owned,).
        sizes: Sizes of the same cells, shape (num_owned,).
    """
    local_min = float(density.min()) if len(density) else np.inf
    local_max = float(density.max()) if len(density) else -np.inf
    return {
        "mass": total(comm, np.dot(density, sizes)),
        "min_density": comm.allreduce(local_min, op=MPI.MIN),
        "max_density": comm.allreduce(local_max, op=MPI.MAX),
    }
