"""Spectral evaluation of the interaction sums Z and H.

The kernel k(x, y) = exp(beta x.A y) on S^{d-1} is expanded up to degree L in each
variable, in real spherical harmonics Y~_j on S^2 and Fourier modes exp(i m phi) on
S^1 (see ``harmonics``):

    k(x, y) exp(-kappa) ~ sum_{j, j'} C[j, j'] Y~_j(x) Y~_j'(y),   kappa = beta ||A||_2.

Then Z(x) exp(-kappa) = sum_j Y~_j(x) sum_j' C[j, j'] mu_j' with the moments
mu_j' = sum_s q_s Y~_j'(y_s), and H likewise with the moments of q_s y_s. One
evaluation costs d + 1 adjoint transforms of the sources, d + 1 transforms at the
targets (ducc0's NUFFT-based ``synthesis_general``/``adjoint_synthesis_general`` on
S^2, ``ducc0.nufft`` on S^1) and the product with C.

Coefficients:

* Zonal kernel, A = sigma R with R orthogonal (for example A = c I, where R = sign(c) I):
  k(x, y) = exp(kappa (R^T x).y) and C is diagonal in the basis at R^T x (Funk-Hecke).
  On S^2 the eigenvalue of degree l is 4 pi i_l(kappa) = 4 pi sqrt(pi / (2 kappa))
  I_{l+1/2}(kappa), times (-1)^l for R = -I. On S^1, exp(kappa cos t) =
  sum_k I_k(kappa) exp(i k t), so the eigenvalue is 2 pi I_k(kappa) in the orthonormal
  basis exp(i k t) / sqrt(2 pi). ``scipy.special.ive`` gives the values times
  exp(-kappa).
* Any other A: a dense C from the kernel sampled on a grid in both variables and
  analysed with ducc0 (S^2, Gauss-Legendre grid) or numpy's FFT (S^1). The S^2 matrix
  has (L+1)^4 entries, 143 MB at L = 64. Building it takes one ducc0 analysis per grid
  point and one per coefficient, about (L+1)(2L+2) + (L+1)^2. That took 0.1 s at
  L = 26 and 2.4 s at L = 58 on one core of an AMD EPYC (Zen 4), with a peak of
  0.45 GB at L = 58. It is built once, in the constructor.

The degree L is the smallest one whose truncation bound is at most the part of the
tolerance left to truncation (see below).
``truncation`` derives the bound from the Jacobi-Anger / Funk-Hecke expansion
exp(b.y) = sum_l (2l+1) i_l(|b|) P_l(b/|b| . y) with |b| <= kappa:

    sup |k_L - k| exp(-kappa) <= (1 + Lambda_L) sum_{l>L} (2l+1) i_l(kappa) exp(-kappa),

with Lambda_L <= L + 1 (S^2), and on S^1 the same with 2 I_l(kappa) and
Lambda_L <= sqrt(2L + 1). A zonal kernel drops the factor (1 + Lambda_L). The terms
fall off like (kappa/2)^l / l!.

The tolerance is relative to the kernel maximum exp(kappa): every scaled sum z, h_k
at every target is to be within ``tolerance * sum_s |q_s|`` of the exact one. The
truncation bound gets all of it but small shares for the aliasing of the sampled
kernel and for the accuracy of ducc0's transforms. Those shares are estimates, so
``error_estimate`` (their sum) is an estimate as well. The result is a ``KernelSums``
with the constant log_scale kappa.

``SpectralInteraction.evaluate`` is collective: each rank transforms its own
sources, one ``comm.Allreduce`` sums the moments, and each rank evaluates its own
targets. The constructor does not communicate.
"""

import numpy as np
from mpi4py import MPI

from solver.interaction import harmonics
from solver.interaction.sums import KernelSums
from solver.interaction.truncation import bessel_terms, required_degree, truncation_bounds

DEFAULT_TOLERANCE = 1e-10
"""Default bound on the error, relative to exp(beta ||A||) * sum_s |q_s|."""

MIN_TOLERANCE = 1e-12
"""Smallest tolerance accepted: ducc0's transforms reach about 2e-13 at best."""

DEFAULT_MAX_DEGREE_DENSE = 64
"""Largest degree for a general A on S^2, where C has (L+1)^4 entries (143 MB at 64)."""

DEFAULT_MAX_DEGREE_DIAGONAL = 512
"""Largest degree for a zonal kernel on S^2 and for S^1, where C is diagonal or small."""

#: Shares of the tolerance left to the transforms and to either aliasing of the sampled
#: kernel (dense C) or the difference between A and sigma R (zonal C).
_ALIASING_SHARE = 0.01
_TRANSFORM_SHARE = 0.01
#: ducc0 rejects an accuracy of 2e-13 or below in double precision.
_MIN_TRANSFORM_EPSILON = 3e-13


def zonal_factorization(beta: float, A: np.ndarray, tolerance: float):
    """Return (sigma, R) with A = sigma R and R orthogonal, or None when A is not of that form.

    A counts as sigma R when beta times the spread of its singular values is at most
    ``_ALIASING_SHARE * tolerance``, so treating it as zonal changes the exponent by less.
    A = 0 gives sigma = 0 and R = I.
    """
    u, singular_values, vt = np.linalg.svd(A)
    sigma = float(singular_values.max())
    if sigma == 0.0:
        return 0.0, np.eye(len(A))
    if beta * float(singular_values.max() - singular_values.min()) > _ALIASING_SHARE * tolerance:
        return None
    return sigma, u @ vt


def transform_epsilon(tolerance: float) -> float:
    """Return the accuracy requested from ducc0's transforms for a given tolerance."""
    return max(_TRANSFORM_SHARE * tolerance, _MIN_TRANSFORM_EPSILON)


def truncation_tolerance(tolerance: float) -> float:
    """Return the part of the tolerance left to truncation, after aliasing and transforms."""
    return (1.0 - _ALIASING_SHARE) * tolerance - transform_epsilon(tolerance)


class SpectralInteraction:
    """Spectral evaluation of Z and H for one kernel exp(beta x.A y), built once per run.

    Attributes:
        beta: Inverse temperature.
        A: Query-key matrix, shape (d, d).
        dim: d, 3 for S^2 and 2 for S^1.
        tolerance: Requested error bound (see the module docstring).
        kappa: beta * ||A||_2, the constant log_scale of the results.
        zonal: Whether A = sigma R with R orthogonal, so C is diagonal.
        degree: Expansion degree L.
        truncation_error: Bound on the error of truncating at degree L.
        error_estimate: truncation_error plus the allowance for aliasing and for the
            accuracy of ducc0's transforms (an estimate, not a bound).
        description: One line for the log.
    """

    def __init__(
        self,
        beta: float,
        A: np.ndarray,
        dim: int,
        tolerance: float = DEFAULT_TOLERANCE,
        max_degree: int | None = None,
        allow_zonal: bool = True,
    ):
        """Choose the degree and compute the expansion coefficients (not collective).

        Args:
            beta: Inverse temperature, > 0.
            A: Query-key matrix, shape (dim, dim).
            dim: 3 for S^2, 2 for S^1.
            tolerance: Error bound relative to exp(beta ||A||) * sum_s |q_s|, at least
                ``MIN_TOLERANCE``.
            max_degree: Largest degree L accepted. Defaults to ``DEFAULT_MAX_DEGREE_DENSE``
                for a general A on S^2 and ``DEFAULT_MAX_DEGREE_DIAGONAL`` otherwise.
            allow_zonal: If False, use the dense coefficients even for a zonal kernel
                (for checks of one path against the other).

        Raises:
            ValueError: If an argument is invalid, or the degree needed for the tolerance
                exceeds ``max_degree``.
        """
        A = np.asarray(A, dtype=np.float64)
        validate_parameters(beta, A, dim, tolerance)
        self.beta = float(beta)
        self.A = A
        self.dim = dim
        self.tolerance = float(tolerance)
        self.kappa = self.beta * float(np.linalg.norm(A, 2))
        self._epsilon = transform_epsilon(tolerance)

        factorization = zonal_factorization(self.beta, A, tolerance) if allow_zonal else None
        self.zonal = factorization is not None
        if max_degree is None:
            dense = dim == 3 and not self.zonal
            max_degree = DEFAULT_MAX_DEGREE_DENSE if dense else DEFAULT_MAX_DEGREE_DIAGONAL
        self.max_degree = max_degree

        self.degree, self.truncation_error = required_degree(
            self.kappa, dim, self.zonal, truncation_tolerance(tolerance)
        )
        if self.degree > max_degree:
            raise ValueError(
                f"spectral interaction needs degree L = {self.degree} for tolerance "
                f"{tolerance:g} at beta*||A|| = {self.kappa:g}, above the maximum degree "
                f"{max_degree}; use interaction.method direct or a larger "
                f"interaction.tolerance"
            )
        self.error_estimate = (
            self.truncation_error + _ALIASING_SHARE * tolerance + self._epsilon
        )

        if self.zonal:
            _, rotation = factorization
            self._setup_zonal(rotation)
        else:
            self._setup_dense()

        kind = "zonal" if self.zonal else "dense"
        sphere = "S^2" if dim == 3 else "S^1"
        self.description = (
            f"interaction: spectral on {sphere} ({kind} coefficients), degree L = {self.degree}, "
            f"beta*||A|| = {self.kappa:.4g}, estimated error {self.error_estimate:.2e} "
            f"(relative to exp(beta*||A||) * sum |q|)"
        )

    def _setup_zonal(self, rotation: np.ndarray) -> None:
        """Store the eigenvalues and the rotation R of the targets for A = sigma R."""
        degree = self.degree
        self._rotation = rotation
        if self.dim == 3:
            sign = 1.0
            if np.allclose(rotation, -np.eye(3), rtol=0.0, atol=1e-14):
                # A = c I with c < 0: Y_lm(-x) = (-1)^l Y_lm(x) replaces the rotation.
                sign = -1.0
                self._rotation = np.eye(3)
            per_degree = 4.0 * np.pi * bessel_terms(self.kappa, 3, degree)
            per_degree /= 2.0 * np.arange(degree + 1) + 1.0
            per_degree *= sign ** np.arange(degree + 1)
            self._eigenvalues = per_degree[harmonics.real_degrees(degree)]
            return

        # S^1: x.R y = cos(phi - psi - alpha) for a rotation by alpha (det R = 1) and
        # cos(phi + psi - alpha) for a reflection (det R = -1), so the expansion
        # sum_m I_|m|(kappa) exp(i m (phi -+ psi - alpha)) couples m with -+m.
        frequencies = np.arange(-degree, degree + 1)
        alpha = np.arctan2(rotation[1, 0], rotation[0, 0])
        self._reflection = np.linalg.det(rotation) < 0.0
        bessel = bessel_terms(self.kappa, 2, degree)
        bessel[1:] /= 2.0
        self._eigenvalues = bessel[np.abs(frequencies)] * np.exp(-1j * frequencies * alpha)
        self._rotation = np.eye(2)

    def _setup_dense(self) -> None:
        """Compute the dense coefficient matrix C on a grid fine enough against aliasing."""
        plain_tails = truncation_bounds(self.kappa, self.dim, True, 4 * self.degree + 200)
        allowance = _ALIASING_SHARE * self.tolerance
        if self.dim == 3:
            # Degrees >= 2 grid_degree + 2 - L alias; each of the (L+1)^2 coefficients
            # errs by at most sqrt(4 pi) times their size, in each variable.
            count = 2.0 * (self.degree + 1) ** 2
            grid_degree = self.degree
            while count * plain_tails[2 * grid_degree + 1 - self.degree] > allowance:
                grid_degree += 1
            self._coefficients = harmonics.sphere_coefficient_matrix(
                self.beta, self.A, self.degree, grid_degree, self.kappa
            )
            return
        # S^1: frequencies m and m + n alias on n equispaced angles.
        count = 2.0 * (2 * self.degree + 1)
        grid_size = 2 * self.degree + 2
        while count * plain_tails[grid_size - self.degree - 1] > allowance:
            grid_size += 1
        self._coefficients = harmonics.circle_coefficient_matrix(
            self.beta, self.A, self.degree, grid_size, self.kappa
        )

    def evaluate(
        self, comm, targets: np.ndarray, sources: np.ndarray, weights: np.ndarray
    ) -> KernelSums:
        """Compute Z and H at this rank's targets from the sources of all ranks (collective).

        Args:
            comm: MPI communicator over which the sources are distributed.
            targets: This rank's x_i, shape (num_targets, d), on the unit sphere.
            sources: This rank's y_s, shape (num_sources, d), on the unit sphere.
            weights: This rank's q_s, shape (num_sources,).

        Returns:
            KernelSums with log_scale = beta ||A|| at every target.
        """
        validate_points(targets, sources, weights, self.dim)
        dim = self.dim
        # 1. Local moments of [q, q y_1, ..., q y_d], shape (d + 1, nbasis).
        values = np.vstack([weights[None, :], weights[None, :] * sources.T])
        if dim == 3:
            moments = harmonics.sphere_moments(sources, values, self.degree, self._epsilon)
        else:
            moments = harmonics.circle_moments(sources, values, self.degree, self._epsilon)

        # 2. Sum over the ranks.
        total = np.empty_like(moments)
        comm.Allreduce(moments, total, op=MPI.SUM)

        # 3. Coefficients of z and h in x, shape (d + 1, nbasis).
        if not self.zonal:
            coefficients = total @ self._coefficients.T
        elif dim == 3:
            coefficients = total * self._eigenvalues
        elif self._reflection:
            coefficients = total * self._eigenvalues
        else:
            coefficients = total[:, ::-1] * self._eigenvalues

        # 4. Values at the local targets, rotated for a zonal kernel, shape (d + 1, N).
        rotated = targets @ self._rotation if self.zonal else targets
        if dim == 3:
            sums = harmonics.sphere_synthesis(coefficients, rotated, self.degree, self._epsilon)
        else:
            sums = harmonics.circle_synthesis(coefficients, rotated, self._epsilon)

        log_scale = np.full(len(targets), self.kappa)
        return KernelSums(log_scale=log_scale, z=sums[0].copy(), h=sums[1:].T.copy())


def validate_parameters(beta: float, A: np.ndarray, dim: int, tolerance: float) -> None:
    """Raise ValueError unless beta, A, dim and tolerance define a valid spectral interaction."""
    if dim not in (2, 3):
        raise ValueError(f"invalid dimension {dim}: expected 2 (S^1) or 3 (S^2)")
    if A.shape != (dim, dim):
        raise ValueError(f"invalid matrix A of shape {A.shape}: expected ({dim}, {dim})")
    if not np.all(np.isfinite(A)):
        raise ValueError("invalid matrix A: it contains NaN or infinite entries")
    if not (np.isfinite(beta) and beta > 0.0):
        raise ValueError(f"invalid beta {beta}: expected a finite positive number")
    if not tolerance >= MIN_TOLERANCE:
        raise ValueError(
            f"invalid tolerance {tolerance:g}: expected at least {MIN_TOLERANCE:g}. "
            f"Use interaction method direct for more accuracy"
        )


def validate_points(
    targets: np.ndarray, sources: np.ndarray, weights: np.ndarray, dim: int
) -> None:
    """Raise ValueError unless the arrays have the shapes that ``evaluate`` expects."""
    if targets.ndim != 2 or targets.shape[1] != dim:
        raise ValueError(f"invalid targets of shape {targets.shape}: expected (N, {dim})")
    if sources.ndim != 2 or sources.shape[1] != dim:
        raise ValueError(f"invalid sources of shape {sources.shape}: expected (M, {dim})")
    if weights.shape != (len(sources),):
        raise ValueError(
            f"invalid weights of shape {weights.shape}: expected ({len(sources)},), "
            f"one per source"
        )
