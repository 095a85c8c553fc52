"""Direct summation of the interaction sums Z and H.

For targets x_i and weighted sources (y_j, q_j) on the unit sphere S^{d-1}, and
the kernel k(x, y) = exp(beta x.A y), the sums are

    Z(x_i) = sum_j q_j k(x_i, y_j)            (scalar)
    H(x_i) = sum_j q_j k(x_i, y_j) y_j        (vector in R^d)

The cost is O(num_targets * num_sources). The sums are accumulated block by
block with a running maximum of the exponent per target (log-sum-exp), so no
num_targets x num_sources array is formed. The largest term of each target is
exp(0) = 1, so exp never overflows and the sums never underflow to zero,
whatever beta * ||A|| (tests/test_interaction.py checks beta * ||A|| = 5000).
The work is done by the fused numba kernel in ``fused_kernel``.

Collective calls: ``gather_sources``, ``evaluate_direct``, ``evaluate_direct_ring``
and ``DirectInteraction.evaluate``. Every rank passes its own targets and its own
sources, and receives the sums over the sources of all ranks. ``evaluate_direct``
gathers all sources on every rank (Allgatherv) unless they exceed a memory budget,
in which case the source blocks travel around a ring of ranks (Sendrecv), so each
rank holds at most two blocks at a time.
"""

import numpy as np

from solver.interaction.fused_kernel import INITIAL_LOG_SCALE, accumulate_sums
from solver.interaction.sums import KernelSums

DEFAULT_GATHER_BUDGET_BYTES = 512 * 2**20
"""Largest size of all sources gathered on one rank before the ring exchange is used."""


def gather_sources(comm, points: np.ndarray, weights: np.ndarray):
    """Gather the sources of all ranks on every rank (collective).

    Returns points of shape (num_global_sources, d) and weights of shape
    (num_global_sources,), in rank order.
    """
    dim = points.shape[1]
    packed = np.ascontiguousarray(np.column_stack([points, weights]), dtype=np.float64)
    counts = np.array(comm.allgather(packed.size), dtype=np.int64)
    gathered = np.empty(counts.sum(), dtype=np.float64)
    comm.Allgatherv(packed, [gathered, counts])
    gathered = gathered.reshape(-1, dim + 1)
    return gathered[:, :dim], gathered[:, dim]


def _queries(targets: np.ndarray, beta: float, A: np.ndarray) -> np.ndarray:
    """Return beta A^T x_i padded to three coordinates, shape (num_targets, 3)."""
    queries = np.zeros((len(targets), 3))
    # x.A y = (A^T x).y: transform the targets once.
    queries[:, : targets.shape[1]] = beta * targets @ A
    return queries


def _source_arrays(sources: np.ndarray, weights: np.ndarray):
    """Return the source coordinates (3, M) and weighted columns [q, q y] (4, M), zero-padded."""
    dim = sources.shape[1]
    coordinates = np.zeros((3, len(sources)))
    coordinates[:dim] = sources.T
    weighted = np.zeros((4, len(sources)))
    weighted[0] = weights
    weighted[1 : dim + 1] = weights * sources.T
    return coordinates, weighted


def _finish(log_scale: np.ndarray, sums: np.ndarray, dim: int) -> KernelSums:
    """Return the KernelSums of the accumulated state, with log_scale 0 where no source was seen."""
    log_scale[log_scale == INITIAL_LOG_SCALE] = 0.0
    return KernelSums(log_scale=log_scale, z=sums[:, 0].copy(), h=sums[:, 1 : dim + 1].copy())


def sum_kernel_blocked(
    targets: np.ndarray, sources: np.ndarray, weights: np.ndarray, beta: float, A: np.ndarray
) -> KernelSums:
    """Compute Z and H at the targets from the given sources on this rank alone.

    Args:
        targets: Points x_i, shape (num_targets, d).
        sources: Points y_j, shape (num_sources, d).
        weights: Source weights q_j, shape (num_sources,).
        beta: Inverse temperature.
        A: Query-key matrix, shape (d, d).
    """
    dim = targets.shape[1]
    log_scale = np.full(len(targets), INITIAL_LOG_SCALE)
    sums = np.zeros((len(targets), 4))
    coordinates, weighted = _source_arrays(sources, weights)
    accumulate_sums(_queries(targets, beta, A), coordinates, weighted, log_scale, sums)
    return _finish(log_scale, sums, dim)


def evaluate_direct_ring(
    comm, targets: np.ndarray, sources: np.ndarray, weights: np.ndarray, beta: float, A: np.ndarray
) -> KernelSums:
    """Compute Z and H at this rank's targets, passing source blocks around a ring (collective).

    In step s, rank r adds the block of rank (r - s) mod p and sends it on to rank r + 1
    while receiving the next one from rank r - 1. The result equals that of
    ``evaluate_direct`` up to rounding, because the blocks are summed in another order.
    """
    dim = targets.shape[1]
    size, rank = comm.size, comm.rank
    right, left = (rank + 1) % size, (rank - 1) % size
    counts = comm.allgather(len(sources))

    queries = _queries(targets, beta, A)
    log_scale = np.full(len(targets), INITIAL_LOG_SCALE)
    sums = np.zeros((len(targets), 4))
    # Blocks travel as rows [y, q], shape (count, d + 1).
    block = np.ascontiguousarray(np.column_stack([sources, weights]), dtype=np.float64)
    for step in range(size):
        coordinates, weighted = _source_arrays(block[:, :dim], block[:, dim])
        accumulate_sums(queries, coordinates, weighted, log_scale, sums)
        if step == size - 1:
            break
        incoming = np.empty((counts[(rank - step - 1) % size], dim + 1))
        comm.Sendrecv(block, dest=right, recvbuf=incoming, source=left)
        block = incoming
    return _finish(log_scale, sums, dim)


def evaluate_direct(
    comm,
    targets: np.ndarray,
    sources: np.ndarray,
    weights: np.ndarray,
    beta: float,
    A: np.ndarray,
    gather_budget_bytes: int = DEFAULT_GATHER_BUDGET_BYTES,
) -> KernelSums:
    """Compute Z and H at this rank's targets from the sources of all ranks (collective).

    Args:
        comm: MPI communicator over which the sources are distributed.
        targets: This rank's x_i, shape (num_targets, d).
        sources: This rank's y_j, shape (num_sources, d).
        weights: This rank's q_j, shape (num_sources,).
        beta: Inverse temperature.
        A: Query-key matrix, shape (d, d).
        gather_budget_bytes: If all sources, as float64 rows [y, q], take more bytes
            than this, the ring exchange replaces the gather.
    """
    dim = targets.shape[1]
    gathered_bytes = comm.allreduce(len(sources)) * (dim + 1) * 8
    if gathered_bytes > gather_budget_bytes:
        return evaluate_direct_ring(comm, targets, sources, weights, beta, A)
    all_sources, all_weights = gather_sources(comm, sources, weights)
    return sum_kernel_blocked(targets, all_sources, all_weights, beta, A)


class DirectInteraction:
    """Direct evaluation of Z and H for one kernel exp(beta x.A y).

    Attributes:
        beta: Inverse temperature.
        A: Query-key matrix, shape (d, d).
        dim: d, 3 for S^2 and 2 for S^1.
        gather_budget_bytes: See ``evaluate_direct``.
        description: One line for the log.
    """

    def __init__(
        self,
        beta: float,
        A: np.ndarray,
        dim: int,
        gather_budget_bytes: int = DEFAULT_GATHER_BUDGET_BYTES,
    ):
        A = np.asarray(A, dtype=np.float64)
        if dim not in (2, 3):
            raise ValueError(f"invalid dimension {dim}: expected 2 (S^1) or 3 (S^2)")
        if A.shape != (dim, dim):
            raise ValueError(f"invalid matrix A of shape {A.shape}: expected ({dim}, {dim})")
        if not (np.isfinite(beta) and np.all(np.isfinite(A))):
            raise ValueError(f"invalid beta {beta} or matrix A: expected finite values")
        self.beta = float(beta)
        self.A = A
        self.dim = dim
        self.gather_budget_bytes = gather_budget_bytes
        sphere = "S^2" if dim == 3 else "S^1"
        self.description = (
            f"interaction: direct sum on {sphere} (exact up to rounding), "
            f"beta*||A|| = {self.beta * np.linalg.norm(A, 2):.4g}, sources gathered up to "
            f"{gather_budget_bytes / 2**20:.0f} MiB, ring exchange above"
        )

    def evaluate(
        self, comm, targets: np.ndarray, sources: np.ndarray, weights: np.ndarray
    ) -> KernelSums:
        """Compute Z and H at this rank's targets from the sources of all ranks (collective)."""
        return evaluate_direct(
            comm, targets, sources, weights, self.beta, self.A, self.gather_budget_bytes
        )
