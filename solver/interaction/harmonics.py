"""Real spherical harmonic and Fourier transforms for the spectral interaction.

S^2 uses the real orthonormal harmonics built from ducc0's complex ones Y_lm
(Condon-Shortley phase, healpy storage order: m = 0, 1, ..., and l = m .. L inside
each m):

    Y~_l0 = Y_l0,   Y~_lm^c = sqrt(2) Re Y_lm,   Y~_lm^s = -sqrt(2) Im Y_lm   (m > 0).

A real coefficient vector of length (L+1)^2 stores the healpy-ordered cosine part
(nalm = (L+1)(L+2)/2 entries, the m = 0 entries first) followed by the sine part of
the m > 0 entries. ducc0's analysis and adjoint synthesis both return
a_lm = sum conj(Y_lm) f, and ``to_real`` maps them to the real coefficients
sum Y~_j f. ``from_real`` maps real coefficients to the a_lm that ducc0's synthesis
turns into sum_j c_j Y~_j.

S^1 uses complex Fourier modes exp(i m phi), m = -L .. L, transformed with
ducc0.nufft (index 0 is m = -L).

Nothing here communicates.
"""

import ducc0
import numpy as np

SQRT2 = np.sqrt(2.0)


def num_alm(degree: int) -> int:
    """Return the number of complex a_lm with 0 <= m <= l <= degree."""
    return (degree + 1) * (degree + 2) // 2


def to_real(alm: np.ndarray, degree: int) -> np.ndarray:
    """Convert ducc0 a_lm of shape (..., nalm) to real coefficients of shape (..., (L+1)^2)."""
    cosine = alm.real.copy()
    cosine[..., degree + 1 :] *= SQRT2
    sine = SQRT2 * alm[..., degree + 1 :].imag
    return np.concatenate([cosine, sine], axis=-1)


def from_real(coefficients: np.ndarray, degree: int) -> np.ndarray:
    """Convert real coefficients of shape (..., (L+1)^2) to ducc0 a_lm of shape (..., nalm)."""
    nalm = num_alm(degree)
    alm = coefficients[..., :nalm].astype(np.complex128)
    alm[..., degree + 1 :] = (
        coefficients[..., degree + 1 : nalm] + 1j * coefficients[..., nalm:]
    ) / SQRT2
    return alm


def real_degrees(degree: int) -> np.ndarray:
    """Return the degree l of every real coefficient, shape ((L+1)^2,)."""
    degrees = np.concatenate([np.arange(m, degree + 1) for m in range(degree + 1)])
    return np.concatenate([degrees, degrees[degree + 1 :]])


def sphere_angles(points: np.ndarray) -> np.ndarray:
    """Return colatitude and longitude of points on S^2, shape (N, 2), as ducc0's ``loc``."""
    colatitude = np.arctan2(np.hypot(points[:, 0], points[:, 1]), points[:, 2])
    longitude = np.mod(np.arctan2(points[:, 1], points[:, 0]), 2.0 * np.pi)
    return np.ascontiguousarray(np.column_stack([colatitude, longitude]))


def circle_angles(points: np.ndarray) -> np.ndarray:
    """Return the angle of points on S^1, shape (N, 1), as ducc0.nufft's ``coord``."""
    return np.ascontiguousarray(np.arctan2(points[:, 1], points[:, 0])[:, None])


def sphere_moments(
    points: np.ndarray, values: np.ndarray, degree: int, epsilon: float
) -> np.ndarray:
    """Compute sum_j values[c, j] Y~(points_j) for each row c of ``values``.

    Args:
        points: Shape (N, 3), on S^2.
        values: Shape (ncols, N).
        degree: Maximum degree L.
        epsilon: Accuracy passed to ducc0 (> 2e-13).

    Returns:
        Shape (ncols, (L+1)^2).
    """
    ncols = values.shape[0]
    moments = np.zeros((ncols, (degree + 1) ** 2))
    if len(points) == 0:
        return moments
    loc = sphere_angles(points)
    for col in range(ncols):
        alm = ducc0.sht.adjoint_synthesis_general(
            map=np.ascontiguousarray(values[col : col + 1]),
            spin=0,
            lmax=degree,
            loc=loc,
            epsilon=epsilon,
        )
        moments[col] = to_real(alm[0], degree)
    return moments


def sphere_synthesis(
    coefficients: np.ndarray, points: np.ndarray, degree: int, epsilon: float
) -> np.ndarray:
    """Evaluate sum_j coefficients[c, j] Y~_j at the points for each row c.

    Args:
        coefficients: Shape (ncols, (L+1)^2).
        points: Shape (N, 3), on S^2.
        degree: Maximum degree L.
        epsilon: Accuracy passed to ducc0 (> 2e-13).

    Returns:
        Shape (ncols, N).
    """
    ncols = coefficients.shape[0]
    values = np.zeros((ncols, len(points)))
    if len(points) == 0:
        return values
    loc = sphere_angles(points)
    alm = from_real(coefficients, degree)
    for col in range(ncols):
        values[col] = ducc0.sht.synthesis_general(
            alm=alm[col : col + 1], spin=0, lmax=degree, loc=loc, epsilon=epsilon
        )[0]
    return values


def gauss_legendre_grid(grid_degree: int) -> np.ndarray:
    """Return the points of ducc0's "GL" grid that resolves degree ``grid_degree``.

    Returns:
        Shape (ntheta * nphi, 3) with ntheta = grid_degree + 1 rings from the north pole
        southward and nphi = 2 grid_degree + 2 points per ring from longitude 0, in the
        row-major order of ducc0's (ntheta, nphi) maps.
    """
    ntheta, nphi = grid_degree + 1, 2 * grid_degree + 2
    nodes, _ = np.polynomial.legendre.leggauss(ntheta)
    cos_theta = nodes[::-1]
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = 2.0 * np.pi * np.arange(nphi) / nphi
    return np.stack(
        [
            np.outer(sin_theta, np.cos(phi)).ravel(),
            np.outer(sin_theta, np.sin(phi)).ravel(),
            np.repeat(cos_theta, nphi),
        ],
        axis=1,
    )


def sphere_coefficient_matrix(
    beta: float, A: np.ndarray, degree: int, grid_degree: int, log_scale: float
) -> np.ndarray:
    """Expand exp(beta x.A y - log_scale) in real harmonics of x and y up to ``degree``.

    The kernel is sampled on a Gauss-Legendre grid in both variables and analysed
    with ducc0 in y, then in x. Components of degree above 2 grid_degree + 1 - degree
    alias into the result.

    Args:
        beta: Inverse temperature.
        A: Shape (3, 3).
        degree: Maximum degree L of the expansion.
        grid_degree: Degree resolved by the grid, >= degree.
        log_scale: Subtracted from the exponent, normally beta * ||A||.

    Returns:
        C of shape ((L+1)^2, (L+1)^2) with k(x, y) exp(-log_scale) ~
        sum_{j, j'} C[j, j'] Y~_j(x) Y~_j'(y).
    """
    ntheta, nphi = grid_degree + 1, 2 * grid_degree + 2
    grid = gauss_legendre_grid(grid_degree)
    num_real = (degree + 1) ** 2
    rows_per_block = 256

    # 1. Analysis in y for each grid point x_i: F[:, i] = sum_y k(x_i, y) Y~(y) w_y,
    #    shape ((L+1)^2, ntheta * nphi). The exponents (beta A^T x_i).y come in blocks.
    queries = beta * grid @ A
    in_y = np.empty((num_real, len(grid)))
    for start in range(0, len(grid), rows_per_block):
        block = queries[start : start + rows_per_block]
        kernel_rows = np.exp(block @ grid.T - log_scale)
        for offset, row in enumerate(kernel_rows):
            alm = ducc0.sht.analysis_2d(
                map=row.reshape(1, ntheta, nphi), spin=0, lmax=degree, geometry="GL"
            )
            in_y[:, start + offset] = to_real(alm[0], degree)

    # 2. Analysis in x of every column: C[:, j'] from the map F[j', :].
    coefficients = np.empty((num_real, num_real))
    for column in range(num_real):
        alm = ducc0.sht.analysis_2d(
            map=in_y[column].reshape(1, ntheta, nphi), spin=0, lmax=degree, geometry="GL"
        )
        coefficients[:, column] = to_real(alm[0], degree)
    return coefficients


def circle_moments(points: np.ndarray, values: np.ndarray, degree: int, epsilon: float):
    """Compute sum_j values[c, j] exp(i m psi_j), m = -L .. L, for each row c.

    Args:
        points: Shape (N, 2), on S^1.
        values: Shape (ncols, N), real.
        degree: Maximum frequency L.
        epsilon: Accuracy passed to ducc0.nufft (> 2e-13).

    Returns:
        Complex, shape (ncols, 2L + 1), index 0 is m = -L.
    """
    ncols = values.shape[0]
    moments = np.zeros((ncols, 2 * degree + 1), dtype=np.complex128)
    if len(points) == 0:
        return moments
    ducc0.nufft.nu2u(
        points=values.astype(np.complex128),
        coord=circle_angles(points),
        forward=False,
        epsilon=epsilon,
        out=moments,
    )
    return moments


def circle_synthesis(coefficients: np.ndarray, points: np.ndarray, epsilon: float) -> np.ndarray:
    """Evaluate Re sum_m coefficients[c, m] exp(i m phi) at the points for each row c.

    Args:
        coefficients: Complex, shape (ncols, 2L + 1), index 0 is m = -L.
        points: Shape (N, 2), on S^1.
        epsilon: Accuracy passed to ducc0.nufft (> 2e-13).

    Returns:
        Shape (ncols, N).
    """
    ncols = coefficients.shape[0]
    if len(points) == 0:
        return np.zeros((ncols, 0))
    values = ducc0.nufft.u2nu(
        grid=np.ascontiguousarray(coefficients),
        coord=circle_angles(points),
        forward=False,
        epsilon=epsilon,
    )
    return values.real


def circle_coefficient_matrix(
    beta: float, A: np.ndarray, degree: int, grid_size: int, log_scale: float
) -> np.ndarray:
    """Expand exp(beta x.A y - log_scale) in Fourier modes of both angles up to ``degree``.

    Args:
        beta: Inverse temperature.
        A: Shape (2, 2).
        degree: Maximum frequency L.
        grid_size: Number of equispaced angles per variable, >= 2L + 1. Frequencies
            m and m + grid_size alias.
        log_scale: Subtracted from the exponent, normally beta * ||A||.

    Returns:
        Complex C of shape (2L+1, 2L+1), index 0 is m = -L, with
        k(phi, psi) exp(-log_scale) ~ sum_{m, m'} C[m, m'] exp(i m phi + i m' psi).
    """
    angles = 2.0 * np.pi * np.arange(grid_size) / grid_size
    circle = np.column_stack([np.cos(angles), np.sin(angles)])
    kernel = np.exp(beta * circle @ A @ circle.T - log_scale)
    spectrum = np.fft.fft2(kernel) / grid_size**2
    frequencies = np.arange(-degree, degree + 1) % grid_size
    return spectrum[np.ix_(frequencies, frequencies)]
