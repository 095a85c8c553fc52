"""Truncation degree and error bound of the spectral expansion of exp(beta x.A y).

Let kappa = beta * ||A|| (spectral norm). For a fixed target x on S^{d-1}, the
kernel as a function of the source y is exp(b.y) with b = beta A^T x and
|b| <= kappa. Its expansion in y is known in closed form:

* S^2 (Funk-Hecke, Jacobi-Anger in three dimensions), with i_l the modified
  spherical Bessel function i_l(r) = sqrt(pi / (2 r)) I_{l+1/2}(r):

      exp(b.y) = sum_l (2l + 1) i_l(|b|) P_l(b/|b| . y),   |P_l| <= 1.

* S^1 (Jacobi-Anger), with t the angle between b and y:

      exp(|b| cos t) = I_0(|b|) + 2 sum_{k>=1} I_k(|b|) cos(k t).

Both Bessel functions increase with |b|, so the sup norm over y of the part of
degree > L is at most the tail

    T_L = sum_{l>L} (2l + 1) i_l(kappa)   (S^2),   T_L = 2 sum_{k>L} I_k(kappa)   (S^1).

The series i_l(r) = r^l / (2l+1)!! * sum_n (r^2 / 2)^n / (n! (2l+3)(2l+5)...(2l+2n+1))
gives i_l(r) <= r^l / (2l+1)!! * sinh(r) / r <= (r/2)^l / l! * sinh(r) / r, and likewise
I_k(r) <= (r/2)^k / k! * cosh(r), so the tail falls off like (kappa/2)^L / L!.

Truncating in both variables at degree L (projections P_x, P_y onto degree <= L):

    k - P_x P_y k = (k - P_x k) + P_x (k - P_y k),

and since the kernel is symmetric in the roles of x and y (b = beta A y for fixed y),
sup |k - P_x P_y k| <= (1 + Lambda_L) T_L, where Lambda_L is the sup-norm operator
norm (Lebesgue constant) of the projection. By Cauchy-Schwarz on the projection
kernel, Lambda_L <= L + 1 on S^2 and Lambda_L <= sqrt(2L + 1) on S^1. For a zonal
kernel (A = sigma R with R orthogonal) the expansion is diagonal, P_x P_y k is the
partial sum itself and the bound is T_L alone.

All bounds are stated relative to exp(kappa), the maximum of the kernel: with the
kernel scaled by exp(-kappa), as the spectral method returns it, the error of every
scaled sum z and h_k at every target is at most ``bound * sum_j |q_j|``. Tail sums
use ``scipy.special.ive``, which contains the factor exp(-kappa) already.
"""

import numpy as np
from scipy.special import ive

#: The tail sum is accumulated up to degree 2 kappa + this. Past degree 2 kappa, each
#: term is at most a quarter of the one before, so the rest is below the last term.
_TAIL_EXTRA_DEGREES = 100


def bessel_terms(kappa: float, dim: int, max_degree: int) -> np.ndarray:
    """Return the degree-l terms of the y-expansion at |b| = kappa, scaled by exp(-kappa).

    Args:
        kappa: beta * ||A|| >= 0.
        dim: 3 for S^2, 2 for S^1.
        max_degree: Last degree returned.

    Returns:
        Shape (max_degree + 1,): (2l + 1) i_l(kappa) exp(-kappa) on S^2, and
        I_0(kappa) exp(-kappa), 2 I_k(kappa) exp(-kappa) (k >= 1) on S^1.
    """
    degrees = np.arange(max_degree + 1, dtype=np.float64)
    if kappa == 0.0:
        terms = np.zeros(max_degree + 1)
        terms[0] = 1.0
        return terms
    if dim == 3:
        return (2.0 * degrees + 1.0) * np.sqrt(np.pi / (2.0 * kappa)) * ive(degrees + 0.5, kappa)
    terms = 2.0 * ive(degrees, kappa)
    terms[0] /= 2.0
    return terms


def lebesgue_constant(degree: int, dim: int) -> float:
    """Return an upper bound on the sup-norm of the projection onto degree <= ``degree``."""
    if dim == 3:
        return float(degree + 1)
    return float(np.sqrt(2.0 * degree + 1.0))


def truncation_bounds(kappa: float, dim: int, zonal: bool, max_degree: int) -> np.ndarray:
    """Return the error bound of truncation at every degree L = 0 .. max_degree.

    Args:
        kappa: beta * ||A|| >= 0.
        dim: 3 for S^2, 2 for S^1.
        zonal: Whether A = sigma R with R orthogonal (the diagonal expansion).
        max_degree: Last degree L returned.

    Returns:
        Shape (max_degree + 1,): sup |k_L - k| exp(-kappa) with k_L the expansion
        truncated at degree L in each variable.
    """
    last = max(max_degree + 1, int(np.ceil(2.0 * kappa)) + _TAIL_EXTRA_DEGREES)
    terms = bessel_terms(kappa, dim, last)
    # tails[L] = sum_{l > L} terms[l]; the last term bounds what lies past `last`.
    tails = np.cumsum(terms[::-1])[::-1]
    tails = np.append(tails[1:], 0.0) + terms[-1]
    tails = tails[: max_degree + 1]
    if zonal:
        return tails
    factors = np.array([1.0 + lebesgue_constant(degree, dim) for degree in range(max_degree + 1)])
    return factors * tails


def required_degree(
    kappa: float, dim: int, zonal: bool, tolerance: float, search_limit: int = 100_000
) -> tuple[int, float]:
    """Return the smallest degree L whose truncation bound is at most ``tolerance``.

    Args:
        kappa: beta * ||A|| >= 0.
        dim: 3 for S^2, 2 for S^1.
        zonal: Whether A = sigma R with R orthogonal.
        tolerance: Requested bound, relative to exp(kappa) * sum_j |q_j|.
        search_limit: Largest degree tried.

    Returns:
        The degree L and its bound.

    Raises:
        ValueError: If no degree up to ``search_limit`` reaches the tolerance.
    """
    limit = min(search_limit, int(np.ceil(3.0 * kappa)) + _TAIL_EXTRA_DEGREES)
    bounds = truncation_bounds(kappa, dim, zonal, limit)
    meets = np.flatnonzero(bounds <= tolerance)
    if len(meets) == 0:
        raise ValueError(
            f"no expansion degree up to {limit} reaches tolerance {tolerance:g} "
            f"for beta*||A|| = {kappa:g}. Use interaction method direct"
        )
    degree = int(meets[0])
    return degree, float(bounds[degree])
