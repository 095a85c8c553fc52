"""Fused, cache-blocked direct summation kernel compiled with numba.

``accumulate_sums`` adds the contributions of a block of sources to running
log-sum-exp sums at every target, evaluating each exponent, its exponential and the
weighted sums in one pass over an L1-sized buffer, so no num_targets x num_sources
array exists. Sources are stored as structure of arrays with three coordinates
(S^1 points get a zero third coordinate) and four weighted columns [q, q y_1, q y_2,
q y_3].

numba's scalar ``math.exp`` is a library call that blocks vectorization, so the
exponential of the shifted exponents t <= 0 is computed inline: t = k ln 2 + r with
k = round(t / ln 2) and |r| <= ln(2) / 2, exp(r) by its Taylor polynomial of degree
12 (truncation error below 2e-16 relative), and 2^k built from its IEEE-754 bits.
The relative error is a few units in the last place. Exponents below
``MIN_SHIFTED_EXPONENT`` are raised to it, which adds at most exp(-708) * sum |q|
to the scaled sums.

Compilation results are cached on disk (``cache=True``). Nothing here communicates.
"""

import math

import numpy as np
from numba import njit

SOURCE_BLOCK = 1024
"""Sources per block: the exponent buffers (3 x 8 KiB) stay in the L1 cache."""

MIN_SHIFTED_EXPONENT = -708.0
"""Lower clamp of the shifted exponent, so 2^k stays a normal double."""

INITIAL_LOG_SCALE = -1.0e300
"""log_scale of a target that has seen no source yet (finite, unlike -inf)."""

_LOG2_E = 1.4426950408889634
# ln 2 split into a part with 32 significant bits and the rest (Cody-Waite reduction).
_LN2_HIGH = 0.693147180369123816490
_LN2_LOW = 1.90821492927058770002e-10

# Reassociation allows vectorized reductions and contraction allows FMA. No flag
# assumes finite values, because the clamps and comparisons rely on IEEE semantics.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(fastmath=_FASTMATH, cache=True)
def _exponents_and_max(qx, qy, qz, cx, cy, cz, exponents, count):
    """Store the exponents of one target against ``count`` sources and return their max."""
    largest = INITIAL_LOG_SCALE
    for j in range(count):
        value = qx * cx[j] + qy * cy[j] + qz * cz[j]
        exponents[j] = value
        if value > largest:
            largest = value
    return largest


@njit(fastmath=_FASTMATH, cache=True)
def _shifted_exp_parts(exponents, shift, mantissas, exponent_bits, count):
    """Split exp(exponents[j] - shift) into mantissas[j] * 2^k with the bits of 2^k."""
    for j in range(count):
        t = max(exponents[j] - shift, MIN_SHIFTED_EXPONENT)
        k = math.floor(t * _LOG2_E + 0.5)
        r = t - k * _LN2_HIGH - k * _LN2_LOW
        p = 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        mantissas[j] = p
        exponent_bits[j] = (np.int64(k) + 1023) << 52


@njit(fastmath=_FASTMATH, cache=True)
def _weighted_sums(mantissas, powers, w0, w1, w2, w3, count):
    """Return sum_j mantissas[j] * powers[j] * w_c[j] for the four weight columns."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(count):
        value = mantissas[j] * powers[j]
        s0 += value * w0[j]
        s1 += value * w1[j]
        s2 += value * w2[j]
        s3 += value * w3[j]
    return s0, s1, s2, s3


@njit(fastmath=_FASTMATH, cache=True)
def accumulate_sums(queries, coordinates, weighted, log_scale, sums):
    """Add the kernel sums of a set of sources to the running sums of every target.

    On return, for each target i and column c,
    exp(log_scale[i]) * sums[i, c] = (old value) + sum_j exp(queries[i].y_j) weighted[c, j],
    with log_scale[i] the running maximum exponent.

    Args:
        queries: beta A^T x_i, shape (num_targets, 3), C-contiguous.
        coordinates: Source points y_j, shape (3, num_sources), C-contiguous.
        weighted: [q, q y_1, q y_2, q y_3], shape (4, num_sources), C-contiguous.
        log_scale: Running maximum exponent, shape (num_targets,), updated in place.
            ``INITIAL_LOG_SCALE`` before the first source.
        sums: Scaled sums, shape (num_targets, 4), updated in place.
    """
    num_targets = queries.shape[0]
    num_sources = coordinates.shape[1]
    exponents = np.empty(SOURCE_BLOCK)
    mantissas = np.empty(SOURCE_BLOCK)
    exponent_bits = np.empty(SOURCE_BLOCK, dtype=np.int64)
    powers = exponent_bits.view(np.float64)

    # Loop over source blocks outside the targets, so a block's 7 arrays
    # (56 KiB) stay in the L2 cache while every target passes over them.
    for start in range(0, num_sources, SOURCE_BLOCK):
        count = min(SOURCE_BLOCK, num_sources - start)
        stop = start + count
        cx = coordinates[0, start:stop]
        cy = coordinates[1, start:stop]
        cz = coordinates[2, start:stop]
        w0 = weighted[0, start:stop]
        w1 = weighted[1, start:stop]
        w2 = weighted[2, start:stop]
        w3 = weighted[3, start:stop]
        for i in range(num_targets):
            largest = _exponents_and_max(
                queries[i, 0], queries[i, 1], queries[i, 2], cx, cy, cz, exponents, count
            )
            # Rescale what was accumulated so far to the new running maximum.
            shift = log_scale[i]
            if largest > shift:
                factor = math.exp(shift - largest)
                for c in range(4):
                    sums[i, c] *= factor
                shift = largest
                log_scale[i] = largest
            _shifted_exp_parts(exponents, shift, mantissas, exponent_bits, count)
            s0, s1, s2, s3 = _weighted_sums(mantissas, powers, w0, w1, w2, w3, count)
            sums[i, 0] += s0
            sums[i, 1] += s1
            sums[i, 2] += s2
            sums[i, 3] += s3
