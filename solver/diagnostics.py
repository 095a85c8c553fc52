"""Diagnostics of a density: the columns of diagnostics.csv.

Every function here is collective: it reduces over the owned cells of all
ranks. Arrays passed in contain the owned cells of this rank unless a
docstring states otherwise.
"""

import numpy as np
import scipy.sparse
from mpi4py import MPI
from scipy.sparse.csgraph import connected_components

DIAGNOSTIC_COLUMNS = (
    "step", "time", "dt", "mass", "energy", "dissipation_rate", "entropy",
    "min_density", "max_density", "mean_direction_x", "mean_direction_y", "mean_direction_z",
    "order_parameter", "second_moment_eig_1", "second_moment_eig_2", "second_moment_eig_3",
    "l2_distance_to_uniform", "max_distance_to_uniform", "clusters", "max_speed_on_support",
)

CLUSTER_THRESHOLD = 2.0
"""A cluster is a connected group of cells whose density exceeds this multiple of uniform."""

SUPPORT_FRACTION = 1e-3
"""Cells with density above this fraction of the maximum count as the support."""


def total(comm, local_value) -> float:
    """Sum a rank-local number (or array) over comm."""
    if np.ndim(local_value):
        return comm.allreduce(np.asarray(local_value, dtype=np.float64), op=MPI.SUM)
    return comm.allreduce(float(local_value), op=MPI.SUM)


def _global_min(comm, values):
    return comm.allreduce(float(values.min()) if len(values) else np.inf, op=MPI.MIN)


def _global_max(comm, values):
    return comm.allreduce(float(values.max()) if len(values) else -np.inf, op=MPI.MAX)


def density_diagnostics(comm, density, sizes, points) -> dict:
    """Return mass, extrema, entropy, moments and distances to the uniform density.

    Args:
        density: Density at the owned cells, shape (n,).
        sizes: Sizes of the same cells, shape (n,).
        points: Cell points on the sphere, shape (n, d).
    """
    weights = density * sizes
    area = total(comm, sizes.sum())
    uniform = 1.0 / area
    positive = density > 0.0
    entropy = np.dot(weights[positive], np.log(density[positive]))

    mean = total(comm, weights @ points)
    second_moment = total(comm, np.einsum("i,ij,ik->jk", weights, points, points))
    eigenvalues = np.sort(np.linalg.eigvalsh(second_moment))[::-1]
    deviation = density - uniform

    values = {
        "mass": total(comm, weights.sum()),
        "entropy": total(comm, entropy),
        "min_density": _global_min(comm, density),
        "max_density": _global_max(comm, density),
        "order_parameter": float(np.linalg.norm(mean)),
        "l2_distance_to_uniform": float(np.sqrt(total(comm, np.dot(deviation**2, sizes)))),
        "max_distance_to_uniform": _global_max(comm, np.abs(deviation)),
    }
    for axis, name in enumerate("xyz"):
        values[f"mean_direction_{name}"] = float(mean[axis]) if axis < len(mean) else np.nan
        values[f"second_moment_eig_{axis + 1}"] = (
            float(eigenvalues[axis]) if axis < len(eigenvalues) else np.nan
        )
    return values


class ClusterCounter:
    """Counts clusters: connected groups of cells above a density threshold.

    Two cells are connected when they share a vertex. Counting needs the
    whole mesh, so rank 0 stores the cell adjacency (built once) and receives
    the density at every call. Creating the counter and calling it are
    collective.
    """

    def __init__(self, comm, cell_vertices: np.ndarray, original_cells: np.ndarray):
        """Build the adjacency of all cells on rank 0.

        Args:
            cell_vertices: Global vertex indices of the owned cells, shape (n, vertices_per_cell).
            original_cells: Input index of the owned cells, shape (n,).
        """
        self.comm = comm
        self.original_cells = original_cells
        all_vertices = comm.gather(cell_vertices, root=0)
        all_cells = comm.gather(original_cells, root=0)
        self.adjacency = None
        if comm.rank == 0:
            vertices = np.concatenate(all_vertices)
            cells = np.concatenate(all_cells)
            rows = np.repeat(cells, vertices.shape[1])
            incidence = scipy.sparse.csr_matrix(
                (np.ones(rows.size), (rows, vertices.ravel())),
                shape=(len(cells), int(vertices.max()) + 1),
            )
            self.adjacency = (incidence @ incidence.T).tocsr()

    def __call__(self, density: np.ndarray, threshold: float) -> int:
        """Return the number of clusters of the owned density values (collective)."""
        gathered_values = self.comm.gather(density, root=0)
        gathered_cells = self.comm.gather(self.original_cells, root=0)
        count = None
        if self.comm.rank == 0:
            values = np.empty(self.adjacency.shape[0])
            values[np.concatenate(gathered_cells)] = np.concatenate(gathered_values)
            above = np.flatnonzero(values > threshold)
            count = 0
            if len(above):
                subgraph = self.adjacency[above][:, above]
                count = int(connected_components(subgraph, directed=False)[0])
        return self.comm.bcast(count, root=0)


def max_speed_on_support(comm, density, speeds) -> float:
    """Return max |v| over the owned cells whose density exceeds SUPPORT_FRACTION of the max."""
    support = density > SUPPORT_FRACTION * _global_max(comm, density)
    return _global_max(comm, speeds[support])
