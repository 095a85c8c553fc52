"""Direct summation of the interaction sums Z and H.

For targets x_i and weighted sources (y_j, q_j) on the unit sphere S^{d-1}, and
the kernel k(x, y) = exp(beta x.A y), the sums are

    Z(x_i) = sum_j q_j k(x_i, y_j)            (scalar)
    H(x_i) = sum_j q_j k(x_i, y_j) y_j        (vector in R^d)

The cost is O(num_targets * num_sources). The sums are accumulated block by
block with a running maximum of the exponent per target (log-sum-exp), so no
num_targets x num_sources array is formed and exp never overflows or
underflows to zero, whatever beta * ||A||.

``evaluate_direct`` is collective: every rank passes its own targets and its
own sources, and receives the sums over the sources of all ranks.
"""

import numpy as np

from solver.interaction.sums import KernelSums

TARGET_BLOCK = 512
SOURCE_BLOCK = 4096


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
    num_targets, dim = targets.shape
    log_scale = np.full(num_targets, -np.inf)
    z = np.zeros(num_targets)
    h = np.zeros((num_targets, dim))

    # Columns [q, q y] so that one matrix product accumulates Z and H together.
    weighted = np.column_stack([weights, weights[:, None] * sources])
    # x.A y = (A^T x).y: transform the targets once.
    queries = beta * targets @ A

    for t0 in range(0, num_targets, TARGET_BLOCK):
        t1 = min(t0 + TARGET_BLOCK, num_targets)
        block_scale = log_scale[t0:t1]
        block_sums = np.zeros((t1 - t0, dim + 1))
        for s0 in range(0, len(sources), SOURCE_BLOCK):
            s1 = min(s0 + SOURCE_BLOCK, len(sources))
            exponents = queries[t0:t1] @ sources[s0:s1].T

            # Rescale what was accumulated so far to the new running maximum.
            new_scale = np.maximum(block_scale, exponents.max(axis=1))
            block_sums *= np.exp(block_scale - new_scale)[:, None]
            block_scale = new_scale

            np.exp(exponents - block_scale[:, None], out=exponents)
            block_sums += exponents @ weighted[s0:s1]
        log_scale[t0:t1] = block_scale
        z[t0:t1] = block_sums[:, 0]
        h[t0:t1] = block_sums[:, 1:]

    if len(sources) == 0:
        log_scale[:] = 0.0
    return KernelSums(log_scale=log_scale, z=z, h=h)


def evaluate_direct(
    comm, targets: np.ndarray, sources: np.ndarray, weights: np.ndarray, beta: float, A: np.ndarray
) -> KernelSums:
    """Compute Z and H at this rank's targets from the sources of all ranks (collective)."""
    all_sources, all_weights = gather_sources(comm, sources, weights)
    return sum_kernel_blocked(targets, all_sources, all_weights, beta, A)
