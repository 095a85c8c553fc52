"""Tests of the interaction sums: fused direct kernel, ring exchange, spectral method, selection.

The file runs serially and under ``mpirun -n 2 python -m pytest tests/test_interaction.py``.
Tests that take MPI.COMM_WORLD split global point sets (the same on every rank) between
the ranks and compare with a serial computation on COMM_SELF over all sources.

Tolerances come from the problem: the spectral tolerance bounds the error of z and h
relative to exp(beta ||A||) * sum |q|, and the direct sums may differ from a reference
by rounding, bounded by a small multiple of machine epsilon times the number of terms.
"""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.special import logsumexp

from solver.interaction import harmonics
from solver.interaction.direct import (
    DirectInteraction,
    evaluate_direct,
    evaluate_direct_ring,
    sum_kernel_blocked,
)
from solver.interaction.select import create_interaction
from solver.interaction.spectral import SpectralInteraction
from solver.interaction.truncation import bessel_terms, required_degree, truncation_bounds

EPS = np.finfo(np.float64).eps
TOLERANCE = 1e-10


def sphere_points(rng, count: int, dim: int) -> np.ndarray:
    """Return ``count`` random points on S^{dim-1}, shape (count, dim)."""
    points = rng.standard_normal((count, dim))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def unit_norm_matrix(rng, dim: int, symmetric: bool) -> np.ndarray:
    """Return a random dim x dim matrix with spectral norm 1."""
    A = rng.standard_normal((dim, dim))
    if symmetric:
        A = A + A.T
    return A / np.linalg.norm(A, 2)


def plain_sums(targets, sources, weights, beta, A):
    """Return (log_scale, z, h) from the full exponent matrix, shifted by each row's maximum."""
    exponents = beta * targets @ A @ sources.T
    shift = exponents.max(axis=1)
    kernel = np.exp(exponents - shift[:, None])
    return shift, kernel @ weights, kernel @ (weights[:, None] * sources)


def rescaled(sums, log_scale):
    """Return (z, h) of KernelSums ``sums`` expressed with the given log_scale."""
    factor = np.exp(sums.log_scale - log_scale)
    return sums.z * factor, sums.h * factor[:, None]


def split_for_rank(array: np.ndarray, comm, uneven: bool = False) -> np.ndarray:
    """Return this rank's part of ``array``; with ``uneven``, the last rank gets nothing."""
    parts = comm.size - 1 if uneven and comm.size > 1 else comm.size
    pieces = np.array_split(array, parts) + [array[:0]] * (comm.size - parts)
    return pieces[comm.rank]


# Direct sum ----------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("beta", [0.5, 5.0, 60.0])
def test_fused_direct_matches_numpy(dim, beta):
    rng = np.random.default_rng(10 + dim)
    targets = sphere_points(rng, 300, dim)
    sources = sphere_points(rng, 2500, dim)
    weights = rng.uniform(-0.5, 1.0, len(sources))
    A = unit_norm_matrix(rng, dim, symmetric=False)

    result = sum_kernel_blocked(targets, sources, weights, beta, A)
    shift, z, h = plain_sums(targets, sources, weights, beta, A)
    _, scale, _ = plain_sums(targets, sources, np.abs(weights), beta, A)
    fused_z, fused_h = rescaled(result, shift)

    # Exponents differ by rounding (FMA order), the sums by eps per term.
    exponent_rounding = 8.0 * EPS * beta
    assert np.all(np.abs(result.log_scale - shift) <= exponent_rounding)
    bound = (8.0 * EPS * len(sources) + 2.0 * exponent_rounding) * scale
    assert np.all(np.abs(fused_z - z) <= bound)
    assert np.all(np.abs(fused_h - h) <= bound[:, None])


def test_fused_direct_no_overflow_at_large_beta():
    rng = np.random.default_rng(3)
    targets = sphere_points(rng, 50, 3)
    sources = sphere_points(rng, 3000, 3)
    weights = rng.uniform(0.1, 1.0, len(sources))
    A = unit_norm_matrix(rng, 3, symmetric=True)
    beta = 5000.0  # exp(beta x.A y) overflows for beta x.A y > 709

    result = sum_kernel_blocked(targets, sources, weights, beta, A)
    exponents = beta * targets @ A @ sources.T
    log_z = logsumexp(exponents, b=weights, axis=1)

    assert np.all(np.isfinite(result.z))
    assert np.all(result.z > 0.0)
    log_rounding = 8.0 * EPS * beta + 8.0 * EPS * len(sources)
    assert np.all(np.abs(result.log_scale + np.log(result.z) - log_z) <= log_rounding)


def test_direct_without_sources_returns_zero():
    rng = np.random.default_rng(4)
    targets = sphere_points(rng, 7, 3)
    result = sum_kernel_blocked(targets, np.zeros((0, 3)), np.zeros(0), 2.0, np.eye(3))
    assert np.all(result.log_scale == 0.0)
    assert np.all(result.z == 0.0)
    assert np.all(result.h == 0.0)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("uneven", [False, True])
def test_direct_mpi_matches_serial(dim, uneven):
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(20 + dim)
    all_targets = sphere_points(rng, 400, dim)
    all_sources = sphere_points(rng, 3000, dim)
    all_weights = rng.uniform(0.0, 1.0, len(all_sources))
    A = unit_norm_matrix(rng, dim, symmetric=False)
    beta = 7.0
    targets = split_for_rank(all_targets, comm)
    sources = split_for_rank(all_sources, comm, uneven)
    weights = split_for_rank(all_weights, comm, uneven)

    serial = sum_kernel_blocked(targets, all_sources, all_weights, beta, A)
    gathered = evaluate_direct(comm, targets, sources, weights, beta, A)
    ring = evaluate_direct_ring(comm, targets, sources, weights, beta, A)
    ring_by_budget = evaluate_direct(
        comm, targets, sources, weights, beta, A, gather_budget_bytes=0
    )

    # The gather keeps the source order, so the sums agree exactly.
    assert np.array_equal(gathered.log_scale, serial.log_scale)
    assert np.array_equal(gathered.z, serial.z)
    # The ring adds the blocks in another order: rounding of one sum per term.
    bound = 4.0 * EPS * len(all_sources) * serial.z
    for result in (ring, ring_by_budget):
        z, h = rescaled(result, serial.log_scale)
        assert np.all(np.abs(z - serial.z) <= bound)
        assert np.all(np.abs(h - serial.h) <= bound[:, None])


# Truncation bound ----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kappa", [0.0, 0.3, 7.0, 40.0])
def test_bessel_terms_sum_to_kernel_maximum(dim, kappa):
    # At y = b/|b| every P_l (or cos k t) is 1, so the terms add up to exp(kappa) exp(-kappa).
    terms = bessel_terms(kappa, dim, int(3 * kappa) + 60)
    assert abs(terms.sum() - 1.0) <= 1e-13


@pytest.mark.parametrize("dim", [2, 3])
def test_truncation_bound_covers_zonal_error(dim):
    # For A = I and y = x the truncation error is exactly the tail of the terms.
    kappa = 6.0
    bounds = truncation_bounds(kappa, dim, zonal=True, max_degree=30)
    terms = bessel_terms(kappa, dim, 200)
    for degree in (2, 8, 15):
        exact_tail = terms[degree + 1 :].sum()
        assert exact_tail <= bounds[degree]
        assert bounds[degree] <= exact_tail * (1.0 + 1e-12) + terms[-1]


def test_required_degree_grows_with_kappa():
    degrees = [required_degree(kappa, 3, False, TOLERANCE)[0] for kappa in (1.0, 5.0, 20.0)]
    assert degrees[0] < degrees[1] < degrees[2]
    degree, bound = required_degree(10.0, 3, False, TOLERANCE)
    assert bound <= TOLERANCE
    assert truncation_bounds(10.0, 3, False, degree)[degree - 1] > TOLERANCE


# Harmonic conventions ------------------------------------------------------------------


def test_real_coefficients_round_trip():
    rng = np.random.default_rng(5)
    degree = 7
    coefficients = rng.standard_normal((2, (degree + 1) ** 2))
    alm = harmonics.from_real(coefficients, degree)
    assert np.allclose(harmonics.to_real(alm, degree), coefficients, rtol=0.0, atol=1e-15)


def test_grid_points_match_ducc0_rings():
    # z = cos(theta) = sqrt(4 pi / 3) Y~_10 exactly, and x = -sqrt(4 pi / 3) Y~_11^c.
    import ducc0

    grid_degree = 5
    grid = harmonics.gauss_legendre_grid(grid_degree)
    shape = (1, grid_degree + 1, 2 * grid_degree + 2)
    for axis, index, value in ((2, 1, 1.0), (0, grid_degree + 1, -1.0)):
        alm = ducc0.sht.analysis_2d(
            map=grid[:, axis].reshape(shape).copy(), spin=0, lmax=grid_degree, geometry="GL"
        )
        real = harmonics.to_real(alm[0], grid_degree)
        expected = np.zeros_like(real)
        expected[index] = value * np.sqrt(4.0 * np.pi / 3.0)
        assert np.allclose(real, expected, rtol=0.0, atol=1e-13)


def test_sphere_moments_match_pointwise_harmonics():
    # The moment of one unit point is the vector Y~(y); synthesis of c gives c . Y~(y).
    rng = np.random.default_rng(6)
    degree = 9
    points = sphere_points(rng, 5, 3)
    coefficients = rng.standard_normal((1, (degree + 1) ** 2))
    values = harmonics.sphere_synthesis(coefficients, points, degree, 1e-12)[0]
    for point, value in zip(points, values):
        basis = harmonics.sphere_moments(point[None], np.ones((1, 1)), degree, 1e-12)[0]
        assert abs(basis @ coefficients[0] - value) <= 1e-10


# Spectral against direct ---------------------------------------------------------------


def assert_within_tolerance(spectral, reference, weights, tolerance):
    """Assert that spectral z, h are within tolerance * sum |q| of the direct sums."""
    z, h = rescaled(reference, spectral.log_scale)
    allowed = tolerance * np.abs(weights).sum()
    assert np.max(np.abs(spectral.z - z)) <= allowed
    assert np.max(np.abs(spectral.h - h)) <= allowed


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("beta", [0.5, 3.0, 9.0])
def test_spectral_matches_direct(dim, symmetric, beta):
    rng = np.random.default_rng(int(30 + 10 * beta + dim + 2 * symmetric))
    targets = sphere_points(rng, 400, dim)
    sources = sphere_points(rng, 1500, dim)
    weights = rng.uniform(-0.2, 1.0, len(sources))
    A = unit_norm_matrix(rng, dim, symmetric)

    interaction = SpectralInteraction(beta, A, dim, TOLERANCE)
    result = interaction.evaluate(MPI.COMM_SELF, targets, sources, weights)
    reference = sum_kernel_blocked(targets, sources, weights, beta, A)

    assert not interaction.zonal
    assert interaction.error_estimate <= TOLERANCE
    assert abs(interaction.kappa - beta) <= 4.0 * EPS * beta  # ||A|| = 1
    assert np.all(result.log_scale == interaction.kappa)
    assert_within_tolerance(result, reference, weights, TOLERANCE)


@pytest.mark.parametrize("dim", [2, 3])
def test_spectral_meets_loose_tolerance(dim):
    rng = np.random.default_rng(40 + dim)
    targets = sphere_points(rng, 300, dim)
    sources = sphere_points(rng, 800, dim)
    weights = rng.uniform(0.0, 1.0, len(sources))
    A = unit_norm_matrix(rng, dim, symmetric=False)
    beta = 6.0

    loose = SpectralInteraction(beta, A, dim, 1e-4)
    tight = SpectralInteraction(beta, A, dim, TOLERANCE)
    result = loose.evaluate(MPI.COMM_SELF, targets, sources, weights)
    reference = sum_kernel_blocked(targets, sources, weights, beta, A)

    assert loose.degree < tight.degree
    assert_within_tolerance(result, reference, weights, 1e-4)


def zonal_matrices(dim: int):
    """Return matrices sigma R with R orthogonal: +-c I, a rotation and a reflection."""
    rng = np.random.default_rng(50 + dim)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    if np.linalg.det(rotation) < 0.0:
        rotation[:, 0] *= -1.0
    reflection = rotation.copy()
    reflection[:, -1] *= -1.0
    return [1.5 * np.eye(dim), -1.5 * np.eye(dim), 1.5 * rotation, 1.5 * reflection]


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("index", range(4))
def test_zonal_path_matches_dense_path(dim, index):
    A = zonal_matrices(dim)[index]
    rng = np.random.default_rng(60 + index)
    targets = sphere_points(rng, 300, dim)
    sources = sphere_points(rng, 900, dim)
    weights = rng.uniform(0.0, 1.0, len(sources))
    beta = 4.0

    zonal = SpectralInteraction(beta, A, dim, TOLERANCE)
    dense = SpectralInteraction(beta, A, dim, TOLERANCE, allow_zonal=False)
    zonal_result = zonal.evaluate(MPI.COMM_SELF, targets, sources, weights)
    dense_result = dense.evaluate(MPI.COMM_SELF, targets, sources, weights)
    reference = sum_kernel_blocked(targets, sources, weights, beta, A)

    assert zonal.zonal
    assert not dense.zonal
    # Both are within the tolerance of the exact sums, hence within twice of each other.
    assert_within_tolerance(zonal_result, dense_result, weights, 2.0 * TOLERANCE)
    assert_within_tolerance(zonal_result, reference, weights, TOLERANCE)


def test_spectral_constant_kernel_for_zero_matrix():
    rng = np.random.default_rng(7)
    targets = sphere_points(rng, 20, 3)
    sources = sphere_points(rng, 50, 3)
    weights = rng.uniform(0.0, 1.0, len(sources))
    interaction = SpectralInteraction(1.0, np.zeros((3, 3)), 3, TOLERANCE)
    result = interaction.evaluate(MPI.COMM_SELF, targets, sources, weights)

    assert interaction.degree == 0
    assert np.max(np.abs(result.z - weights.sum())) <= TOLERANCE * weights.sum()


# Selection -----------------------------------------------------------------------------


def test_large_degree_falls_back_to_direct_under_auto():
    A = unit_norm_matrix(np.random.default_rng(8), 3, symmetric=False)
    beta = 300.0
    interaction = create_interaction("auto", beta, A, 3, 10**6, 10**6, TOLERANCE)
    assert isinstance(interaction, DirectInteraction)
    assert "auto" in interaction.description


def test_large_degree_raises_under_spectral():
    A = unit_norm_matrix(np.random.default_rng(8), 3, symmetric=False)
    with pytest.raises(ValueError, match="use interaction.method direct") as error:
        create_interaction("spectral", 300.0, A, 3, 10**6, 10**6, TOLERANCE)
    assert "degree L = " in str(error.value)
    assert "beta*||A|| = 300" in str(error.value)


def test_auto_picks_by_estimated_cost():
    A = unit_norm_matrix(np.random.default_rng(9), 3, symmetric=True)
    large = create_interaction("auto", 5.0, A, 3, 10**5, 10**5, TOLERANCE)
    small = create_interaction("auto", 5.0, A, 3, 50, 50, TOLERANCE)
    assert isinstance(large, SpectralInteraction)
    assert "degree L = " in large.description
    assert "estimated error" in large.description
    assert isinstance(small, DirectInteraction)


@pytest.mark.parametrize(
    "method, tolerance, match",
    [("fast", TOLERANCE, "unknown interaction method"), ("spectral", 1e-15, "invalid tolerance")],
)
def test_create_interaction_rejects_invalid_arguments(method, tolerance, match):
    with pytest.raises(ValueError, match=match):
        create_interaction(method, 1.0, np.eye(3), 3, 100, 100, tolerance)


# MPI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("zonal", [True, False])
def test_spectral_mpi_matches_serial(dim, zonal):
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(70 + dim)
    all_targets = sphere_points(rng, 500, dim)
    all_sources = sphere_points(rng, 2000, dim)
    all_weights = rng.uniform(0.0, 1.0, len(all_sources))
    A = np.eye(dim) if zonal else unit_norm_matrix(rng, dim, symmetric=False)
    beta = 5.0
    targets = split_for_rank(all_targets, comm)
    sources = split_for_rank(all_sources, comm, uneven=True)
    weights = split_for_rank(all_weights, comm, uneven=True)

    interaction = create_interaction("spectral", beta, A, dim, 2000, 500, TOLERANCE)
    parallel = interaction.evaluate(comm, targets, sources, weights)
    serial = interaction.evaluate(MPI.COMM_SELF, targets, all_sources, all_weights)
    direct = create_interaction("direct", beta, A, dim, 2000, 500).evaluate(
        comm, targets, sources, weights
    )

    assert interaction.zonal == zonal
    assert_within_tolerance(parallel, serial, all_weights, 2.0 * TOLERANCE)
    assert_within_tolerance(parallel, direct, all_weights, TOLERANCE)
