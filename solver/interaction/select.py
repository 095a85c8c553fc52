"""Choice of the method that computes the interaction sums Z and H.

``create_interaction`` returns an object with ``evaluate(comm, targets, sources,
weights) -> KernelSums`` (collective) and a one-line ``description`` for the log.
Method "auto" takes the spectral method when the degree it needs is within the
maximum and its estimated cost per evaluation is below that of the direct sum.
Creating an interaction does not communicate, and every rank makes the same choice
from the same global counts.
"""

from typing import Protocol

import numpy as np

from solver.interaction.direct import DEFAULT_GATHER_BUDGET_BYTES, DirectInteraction
from solver.interaction.spectral import (
    DEFAULT_MAX_DEGREE_DENSE,
    DEFAULT_MAX_DEGREE_DIAGONAL,
    DEFAULT_TOLERANCE,
    SpectralInteraction,
    truncation_tolerance,
    validate_parameters,
    zonal_factorization,
)
from solver.interaction.sums import KernelSums
from solver.interaction.truncation import required_degree

METHODS = ("auto", "direct", "spectral")

# NOTE: cost constants are rough fits to timings of benchmarks/interaction.py on one
# core of an AMD EPYC (Zen 4) with ducc0 0.42. Only their ratios matter for "auto".
_DIRECT_SECONDS_PER_PAIR = 2.0e-9
_SPHERE_SECONDS_PER_POINT = 8.0e-8
_SPHERE_SECONDS_PER_CUBED_DEGREE = 2.0e-8
_CIRCLE_SECONDS_PER_POINT = 3.0e-8
_CIRCLE_SECONDS_PER_TRANSFORM = 5.0e-5
_SECONDS_PER_MULTIPLY_ADD = 1.0e-9


class Interaction(Protocol):
    """A method that computes Z and H, built once per run."""

    description: str

    def evaluate(
        self, comm, targets: np.ndarray, sources: np.ndarray, weights: np.ndarray
    ) -> KernelSums:
        """Compute Z and H at this rank's targets from the sources of all ranks (collective)."""


def estimate_direct_seconds(num_sources: int, num_targets: int) -> float:
    """Return the estimated time of one direct evaluation on one core."""
    return _DIRECT_SECONDS_PER_PAIR * num_sources * num_targets


def estimate_spectral_seconds(
    degree: int, dim: int, zonal: bool, num_sources: int, num_targets: int
) -> float:
    """Return the estimated time of one spectral evaluation on one core.

    There are d + 1 transforms of the sources and d + 1 at the targets, plus the
    product with the coefficient matrix unless the kernel is zonal.
    """
    transforms = dim + 1
    points = num_sources + num_targets
    if dim == 3:
        per_point = _SPHERE_SECONDS_PER_POINT * points
        fixed = 2.0 * _SPHERE_SECONDS_PER_CUBED_DEGREE * (degree + 1) ** 3
        matrix_size = (degree + 1) ** 4
    else:
        per_point = _CIRCLE_SECONDS_PER_POINT * points
        fixed = 2.0 * _CIRCLE_SECONDS_PER_TRANSFORM
        matrix_size = (2 * degree + 1) ** 2
    product = 0.0 if zonal else _SECONDS_PER_MULTIPLY_ADD * matrix_size
    return transforms * (per_point + fixed + product)


def create_interaction(
    method: str,
    beta: float,
    A: np.ndarray,
    dim: int,
    num_sources: int,
    num_targets: int,
    tolerance: float = DEFAULT_TOLERANCE,
    max_degree: int | None = None,
    gather_budget_bytes: int = DEFAULT_GATHER_BUDGET_BYTES,
) -> Interaction:
    """Create the interaction object for a run (not collective).

    Args:
        method: "auto", "direct" or "spectral".
        beta: Inverse temperature, > 0.
        A: Query-key matrix, shape (dim, dim).
        dim: 3 for S^2, 2 for S^1.
        num_sources: Number of sources over all ranks.
        num_targets: Number of targets over all ranks.
        tolerance: Error bound of the spectral method, relative to
            exp(beta ||A||) * sum |q| (see ``spectral``).
        max_degree: Largest expansion degree of the spectral method; None takes the
            defaults of ``SpectralInteraction``.
        gather_budget_bytes: Memory budget of the direct method's source gather.

    Returns:
        A ``DirectInteraction`` or ``SpectralInteraction``. Its ``description`` names the
        method, and for "spectral" and "auto" the degree and estimated error.

    Raises:
        ValueError: If ``method`` is unknown or an argument is invalid, or for "spectral"
            if the needed degree exceeds ``max_degree``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown interaction method {method!r}: expected one of {METHODS}")
    A = np.asarray(A, dtype=np.float64)
    if method == "direct":
        return DirectInteraction(beta, A, dim, gather_budget_bytes)
    validate_parameters(beta, A, dim, tolerance)
    if method == "spectral":
        return SpectralInteraction(beta, A, dim, tolerance, max_degree)

    # "auto": estimate both costs from the degree alone, before building anything.
    direct_seconds = estimate_direct_seconds(num_sources, num_targets)
    zonal = zonal_factorization(beta, A, tolerance) is not None
    if max_degree is None:
        dense = dim == 3 and not zonal
        max_degree = DEFAULT_MAX_DEGREE_DENSE if dense else DEFAULT_MAX_DEGREE_DIAGONAL
    kappa = beta * float(np.linalg.norm(A, 2))
    try:
        degree, _ = required_degree(kappa, dim, zonal, truncation_tolerance(tolerance))
    except ValueError:
        degree = None
    if degree is None or degree > max_degree:
        interaction = DirectInteraction(beta, A, dim, gather_budget_bytes)
        needed = "unreachable" if degree is None else f"L = {degree}"
        interaction.description += (
            f" (auto: spectral would need {needed} > maximum {max_degree})"
        )
        return interaction

    spectral_seconds = estimate_spectral_seconds(degree, dim, zonal, num_sources, num_targets)
    if spectral_seconds < direct_seconds:
        interaction = SpectralInteraction(beta, A, dim, tolerance, max_degree)
    else:
        interaction = DirectInteraction(beta, A, dim, gather_budget_bytes)
    interaction.description += (
        f" (auto: estimated {spectral_seconds:.2g} s spectral vs {direct_seconds:.2g} s "
        f"direct per evaluation on one core)"
    )
    return interaction
