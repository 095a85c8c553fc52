"""Linear growth and decay rates of the uniform density for D = I against exact formulas.

A small perturbation rho = rho_uniform (1 + a Y) of the uniform density by a mode Y of degree l
(a real spherical harmonic on S^2, cos(l phi) on S^1) evolves as a(t) = a(0) exp(gamma t) in
the linearized equation, with gamma given by modified Bessel functions (``exact_rate``). The
tests measure the rate of the spatially discrete problem at three mesh sizes. It must be within
5% of gamma on the finest mesh, and its error must fall at least at order 1.5 (the scheme gives
order 2).

How a rate is measured: a step takes the velocity from rho^n (explicit) and solves the
transport-diffusion problem for rho^{n+1} (implicit), so one step of size dt multiplies the
amplitude of the mode by a factor r(dt). The rate of the spatially discrete problem is r'(0).
Upwinding adds nothing to it, because its numerical diffusion is proportional to |v| = O(a).
With s(dt) = (r(dt) - 1) / dt = gamma_h + O(dt), the Richardson value 2 s(dt) - s(2 dt) is
gamma_h + O(dt^2). The step dt must stay below the time h^2 / eps in which diffusion damps a
mesh-scale mode, because r(dt) is far from linear beyond it whenever the discrete Laplacian
couples the mode to mesh-scale modes.
"""

import math

import numpy as np
import pytest
from scipy.special import iv

from solver.initial import harmonic
from solver.simulation import Simulation
from support import make_settings

AMPLITUDE = 1e-5
"""Relative amplitude of the mode. Quadratic terms change a rate by a relative O(AMPLITUDE)."""

BETA = 2.0
TIME_STEP = 1e-5
"""Step of the rate measurement, below 1/300 of h^2 / eps on the finest meshes. Round-off then
changes a measured rate by an estimated 1e-6 of its value."""
DEGREES = (1, 2, 3)
RESOLUTIONS = {"S2": (3, 4, 5), "S1": (64, 128, 256)}
"""Icosahedral levels on S^2 and segment counts on S^1. Each one halves the cell size."""

MIN_ERROR_RATIO = 2.0**1.5
"""Smallest error reduction per halving of h that counts as convergence: order 1.5, against
the order 2 of the linearized scheme (midpoint rules, central flux at first order)."""

# name: (sphere, normalization, direction, diffusion). With noise, the diffusion is chosen so
# that no rate is near zero: on S^2 "USA-ascent-noise" makes l = 1, 2 grow and l = 3 decay.
CASES = {
    "S2-SA-ascent": ("S2", "softmax", "ascent", 0.0),
    "S2-USA-descent": ("S2", "none", "descent", 0.0),
    "S2-SA-descent-noise": ("S2", "softmax", "descent", 0.05),
    "S2-USA-ascent-noise": ("S2", "none", "ascent", 0.1),
    "S1-SA-ascent": ("S1", "softmax", "ascent", 0.0),
    "S1-USA-descent": ("S1", "none", "descent", 0.0),
    "S1-SA-descent-noise": ("S1", "softmax", "descent", 0.05),
    "S1-USA-ascent-noise": ("S1", "none", "ascent", 0.2),
}

def exact_rate(
    sphere: str, l: int, normalization: str, direction: str, diffusion: float  # noqa: E741
) -> float:
    """Return the growth rate gamma of a mode of degree l about the uniform density for D = I.

    Without normalization the attention part is s l(l+1) i_l(beta) / beta on S^2, where
    i_l(beta) = sqrt(pi / (2 beta)) I_{l+1/2}(beta) = (1/2) int_{-1}^{1} exp(beta t) P_l(t) dt
    by the Funk-Hecke formula, and s l^2 I_l(beta) / beta on S^1. Softmax divides it by the Z
    of the uniform density, i_0(beta) on S^2 and I_0(beta) on S^1. Noise adds -eps times the
    Laplacian eigenvalue, l(l+1) on S^2 and l^2 on S^1.
    """
    sign = 1.0 if direction == "ascent" else -1.0
    if sphere == "S2":
        laplacian = l * (l + 1)
        unnormalized = laplacian * math.sqrt(math.pi / (2 * BETA)) * iv(l + 0.5, BETA) / BETA
        uniform_z = math.sqrt(math.pi / (2 * BETA)) * iv(0.5, BETA)
    else:
        laplacian = l * l
        unnormalized = laplacian * iv(l, BETA) / BETA
        uniform_z = iv(0, BETA)
    attention = unnormalized / uniform_z if normalization == "softmax" else unnormalized
    return sign * attention - diffusion * laplacian


def mode_amplitude(comm, simulation, l: int) -> float:  # noqa: E741
    """Return sum_K (rho_K - mean) Y(x_K) |K| over all cells, the projection onto mode (l, 0)."""
    owned = simulation.num_owned
    points = simulation.geometry.cell_points[:owned]
    sizes = simulation.geometry.cell_sizes[:owned]
    density = simulation.owned_density()
    area = comm.allreduce(float(sizes.sum()))
    mass = comm.allreduce(float(density @ sizes))
    deviation = density - mass / area
    return comm.allreduce(float(np.sum(deviation * harmonic(l, 0, points) * sizes)))


def measured_rate(comm, case: str, resolution: int, l: int) -> float:  # noqa: E741
    """Return the discrete rate r'(0) of mode (l, 0) on one mesh (see the module docstring)."""
    sphere, normalization, direction, diffusion = CASES[case]
    mesh = {"sphere": sphere, "level" if sphere == "S2" else "segments": resolution}
    settings = make_settings(
        mesh=mesh,
        model={"beta": BETA, "normalization": normalization, "direction": direction,
               "diffusion": diffusion},
        initial={"perturbation": {"kind": "mode", "l": l, "m": 0, "amplitude": AMPLITUDE}},
    )
    simulation = Simulation(settings, comm)
    slopes = []
    for dt in (TIME_STEP, 2 * TIME_STEP):
        simulation.set_initial_density()
        before = mode_amplitude(comm, simulation, l)
        simulation.step(dt)
        slopes.append((mode_amplitude(comm, simulation, l) / before - 1.0) / dt)
    return 2 * slopes[0] - slopes[1]


_errors_by_case = {}
"""Relative errors by (case, l), shared by both tests so that each rate is measured once."""


def relative_errors(comm, case: str, l: int) -> tuple:  # noqa: E741
    """Return the relative rate error on each mesh of RESOLUTIONS, coarsest first (collective).

    Every rank runs the tests in the same order, so the cache is hit on all ranks or on none.
    """
    if (case, l) not in _errors_by_case:
        sphere, normalization, direction, diffusion = CASES[case]
        exact = exact_rate(sphere, l, normalization, direction, diffusion)
        _errors_by_case[case, l] = tuple(
            abs(measured_rate(comm, case, resolution, l) - exact) / abs(exact)
            for resolution in RESOLUTIONS[sphere]
        )
    return _errors_by_case[case, l]


def all_cases():
    """Return one pytest.param per case and degree."""
    return [
        pytest.param(case, l, id=f"{case}-l{l}") for case in CASES for l in DEGREES  # noqa: E741
    ]


@pytest.mark.parametrize("case, l", all_cases())
def test_rate_matches_formula(comm, case, l):  # noqa: E741
    errors = relative_errors(comm, case, l)
    assert errors[-1] < 0.05, errors


@pytest.mark.parametrize("case, l", all_cases())
def test_rate_error_converges(comm, case, l):  # noqa: E741
    errors = np.array(relative_errors(comm, case, l))
    # Without noise the S^1 rate of l = 1 is exact on every mesh, because the cell length
    # cancels between the divergence and the projection. Only the quadratic terms remain, so
    # an error below AMPLITUDE counts as converged.
    converged = (errors[1:] < errors[:-1] / MIN_ERROR_RATIO) | (errors[1:] < AMPLITUDE)
    assert np.all(converged), errors
