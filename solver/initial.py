"""Initial densities, evaluated at cell points and normalized to mass 1.

``initial_density`` is collective: the normalization sums over the owned
cells of all ranks. Values depend only on the cell's position (or its input
index, for densities read from a checkpoint), never on the partition.
"""

import math

import numpy as np
from mpi4py import MPI
from scipy.special import lpmv

from solver.config import ConfigError, InitialSettings, PerturbationSettings


def real_spherical_harmonic(l: int, m: int, points: np.ndarray) -> np.ndarray:
    """Evaluate the orthonormal real spherical harmonic Y_lm at points on S^2.

    Orthonormal with respect to dS on the unit sphere; m > 0 is the cosine and
    m < 0 the sine part, with the polar angle measured from e_3.
    """
    polar_cosine = np.clip(points[:, 2], -1.0, 1.0)
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    order = abs(m)
    norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - order)
                     / math.factorial(l + order))
    legendre = lpmv(order, l, polar_cosine)
    if m == 0:
        return norm * legendre
    if m > 0:
        return math.sqrt(2.0) * norm * legendre * np.cos(order * azimuth)
    return math.sqrt(2.0) * norm * legendre * np.sin(order * azimuth)


def fourier_mode(l: int, m: int, points: np.ndarray) -> np.ndarray:
    """Evaluate cos(l phi) (m >= 0) or sin(l phi) (m < 0) at points on S^1, phi from e_1."""
    angle = np.arctan2(points[:, 1], points[:, 0])
    return np.sin(l * angle) if m < 0 else np.cos(l * angle)


def harmonic(l: int, m: int, points: np.ndarray) -> np.ndarray:
    """Evaluate the mode (l, m) of the sphere the points lie on (S^1 or S^2)."""
    if points.shape[1] == 2:
        return fourier_mode(l, m, points)
    return real_spherical_harmonic(l, m, points)


def _random_field(settings: PerturbationSettings, points: np.ndarray) -> np.ndarray:
    """Evaluate a smooth random field: modes of degree 1 to settings.degree, normal coefficients."""
    rng = np.random.default_rng(settings.seed)
    field = np.zeros(len(points))
    for l in range(1, settings.degree + 1):  # noqa: E741
        orders = range(-l, l + 1) if points.shape[1] == 3 else (-1, 1)
        for m in orders:
            field += rng.standard_normal() * harmonic(l, m, points)
    return field


def _global_max(comm, values: np.ndarray) -> float:
    local = float(np.abs(values).max()) if len(values) else 0.0
    return comm.allreduce(local, op=MPI.MAX)


def _perturbation(settings: PerturbationSettings, points, owned, comm) -> np.ndarray:
    """Return f with max |f| = 1 over the owned cells of all ranks (zero for kind 'none')."""
    if settings.kind == "none" or settings.amplitude == 0.0:
        return np.zeros(len(points))
    if settings.kind == "mode":
        field = harmonic(settings.l, settings.m, points)
    else:
        field = _random_field(settings, points)
    scale = _global_max(comm, field[:owned])
    if scale == 0.0:
        raise ConfigError(
            "initial perturbation vanishes at every cell point; "
            "use a finer mesh or another mode"
        )
    return field / scale


def _von_mises_fisher_mixture(bumps, points: np.ndarray) -> np.ndarray:
    """Sum of weight * vMF density of each bump (each one integrates to its weight)."""
    dim = points.shape[1]
    values = np.zeros(len(points))
    for bump in bumps:
        direction = np.asarray(bump.direction) / np.linalg.norm(bump.direction)
        kappa = bump.concentration
        # exp(kappa (mu.x - 1)) <= 1, and the normalization uses expm1 and i0e,
        # so nothing overflows.
        if kappa == 0.0:
            normalization = 1.0 / (2 * math.pi if dim == 2 else 4 * math.pi)
        elif dim == 3:
            normalization = kappa / (2 * math.pi * -math.expm1(-2.0 * kappa))
        else:
            from scipy.special import i0e

            normalization = 1.0 / (2 * math.pi * i0e(kappa))
        values += bump.weight * normalization * np.exp(kappa * (points @ direction - 1.0))
    return values


def initial_density(
    settings: InitialSettings, points: np.ndarray, sizes: np.ndarray, owned: int, comm,
    checkpoint_values: np.ndarray | None = None,
) -> np.ndarray:
    """Return the initial density at the local cells, with integral 1 over the mesh.

    Args:
        settings: Validated initial settings.
        points: Cell points on the sphere, shape (num_cells, d); owned cells first.
        sizes: Cell sizes, shape (num_cells,).
        owned: Number of owned cells on this rank.
        comm: Communicator of the mesh.
        checkpoint_values: Density values at the local cells, for type 'file'.
    """
    if settings.type == "file":
        values = np.array(checkpoint_values, dtype=np.float64)
    elif settings.type == "von_mises_fisher":
        values = _von_mises_fisher_mixture(settings.bumps, points)
    else:
        values = np.ones(len(points))
    values *= 1.0 + settings.perturbation.amplitude * _perturbation(
        settings.perturbation, points, owned, comm
    )

    local_min = float(values[:owned].min()) if owned else np.inf
    finite = comm.allreduce(bool(np.all(np.isfinite(values))), op=MPI.LAND)
    if comm.allreduce(local_min, op=MPI.MIN) < 0.0 or not finite:
        raise ConfigError("initial density is negative or not finite somewhere; "
                          "lower initial.perturbation.amplitude")
    # Scale to max 1 first, so the mass sum cannot overflow (values up to 1e308).
    peak = _global_max(comm, values[:owned])
    if peak > 0.0:
        values = values / peak
    mass = comm.allreduce(float(np.dot(values[:owned], sizes[:owned])), op=MPI.SUM)
    if not mass > 0.0:
        hint = ("a von Mises-Fisher bump is narrower than a cell: lower "
                "initial.bumps[].concentration or refine the mesh"
                if settings.type == "von_mises_fisher" else "check the initial settings")
        raise ConfigError(f"initial density has zero mass on this mesh; {hint}")
    return values / mass
