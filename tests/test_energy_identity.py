"""The discrete energy identity of the gradient-flow case A = V = D symmetric, without noise.

The energy E(rho) = 1/(2 beta) int int exp(beta x.D y) rho(x) rho(y) changes along the flow at
the rate dE/dt = s int rho Z |v|^2 (softmax) or s int rho |v|^2 (no normalization), with s = +1
for ascent and -1 for descent. ``diagnostics()["dissipation_rate"]`` evaluates that rate at the
cell points. One step from rho^n gives the difference quotient (E^{n+1} - E^n) / dt, which
differs from the rate at rho^n by a time error O(dt) and a space error O(h) (upwinding). The two
errors have opposite signs in some cases, so the tests refine h and dt together at a fixed
Courant number, where the gap is C h with one constant C.
"""

import numpy as np
import pytest
from mpi4py import MPI

from solver.simulation import Simulation
from support import make_settings

EPS = np.finfo(float).eps

BETA = 1.0
MATRICES = {
    # Full symmetric and positive definite, with eigenvectors off the mesh's symmetry axes.
    "S2": [[1.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 3.0]],
    "S1": [[1.0, 0.4], [0.4, 2.0]],
}
BUMP_DIRECTIONS = {"S2": [1.0, 2.0, 2.0], "S1": [1.0, 2.0]}
RESOLUTIONS = {"S2": (3, 4, 5), "S1": (64, 128, 256)}
"""Icosahedral levels on S^2 and segment counts on S^1. Each one halves the cell size."""

COURANT = 0.2
"""Courant number dt max|v| / h of the first step, on the coarsest mesh. Near Courant number 1
the time error of the implicit upwind step stops being linear in dt."""

MIN_GAP_RATIO = 2.0**0.7
"""Smallest gap reduction per halving of h and dt: order 0.7, against the expected order 1."""

CASES = [
    (sphere, normalization, direction)
    for sphere in ("S2", "S1")
    for normalization in ("softmax", "none")
    for direction in ("ascent", "descent")
]
CASE_IDS = ["-".join(case) for case in CASES]


def bump_simulation(comm, sphere, resolution, normalization, direction):
    """Return a simulation started from one von Mises-Fisher bump off the eigenvectors of D."""
    settings = make_settings(
        mesh={"sphere": sphere, "level" if sphere == "S2" else "segments": resolution},
        model={"beta": BETA, "D": MATRICES[sphere], "normalization": normalization,
               "direction": direction},
        initial={"type": "von_mises_fisher", "bumps": [
            {"direction": BUMP_DIRECTIONS[sphere], "concentration": 4.0, "weight": 1.0}
        ]},
    )
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    return simulation


def courant_time_step(comm, simulation) -> float:
    """Return the dt of Courant number COURANT for the current velocity and the largest cell."""
    sizes = simulation.geometry.cell_sizes[: simulation.num_owned]
    largest = comm.allreduce(float(sizes.max()) if len(sizes) else 0.0, op=MPI.MAX)
    # h is the segment length on S^1 and the square root of the cell area on S^2.
    h = largest if simulation.geometry.dim == 2 else np.sqrt(largest)
    speeds = np.linalg.norm(simulation.velocity_at_facets(), axis=1)
    speed = comm.allreduce(float(speeds.max()) if len(speeds) else 0.0, op=MPI.MAX)
    return COURANT * h / speed


@pytest.mark.parametrize("sphere, normalization, direction", CASES, ids=CASE_IDS)
def test_energy_gap_shrinks(comm, sphere, normalization, direction):
    gaps = []
    dt = None
    for resolution in RESOLUTIONS[sphere]:
        simulation = bump_simulation(comm, sphere, resolution, normalization, direction)
        if dt is None:
            dt = courant_time_step(comm, simulation)
        before = simulation.diagnostics()
        simulation.step(dt)
        slope = (simulation.energy() - before["energy"]) / dt
        rate = before["dissipation_rate"]
        gaps.append(abs(slope - rate) / abs(rate))
        dt /= 2
    gaps = np.array(gaps)
    assert np.all(gaps[:-1] / gaps[1:] > MIN_GAP_RATIO), gaps


@pytest.mark.parametrize("sphere, normalization, direction", CASES, ids=CASE_IDS)
def test_dissipation_rate_sign(comm, sphere, normalization, direction):
    simulation = bump_simulation(comm, sphere, RESOLUTIONS[sphere][0], normalization, direction)
    rate = simulation.diagnostics()["dissipation_rate"]
    assert np.sign(rate) == (1.0 if direction == "ascent" else -1.0)


@pytest.mark.parametrize("sphere, normalization, direction", CASES, ids=CASE_IDS)
def test_energy_monotone_each_step(comm, sphere, normalization, direction):
    simulation = bump_simulation(comm, sphere, RESOLUTIONS[sphere][0], normalization, direction)
    energies = [simulation.energy()]
    # dt = 0.25 starts at a Courant number of about 5 (SA) to 13 (USA), so monotonicity must
    # hold without small steps.
    for _ in range(40):
        simulation.step(0.25)
        energies.append(simulation.energy())
    energies = np.array(energies)
    sign = 1.0 if direction == "ascent" else -1.0
    signed_increments = sign * np.diff(energies)
    # E is a sum of positive terms, so its relative round-off is a few eps, and an increment
    # of two such values may be off by twice that.
    assert signed_increments.min() >= -8 * EPS * energies.max()
    # The run is long enough to change E by far more than round-off.
    assert sign * (energies[-1] - energies[0]) > 0.1 * energies[0]
