"""Long-time behaviour on S^2: stationary bumps, drift to the top eigenvector, return to uniform.

Mean directions and distances are computed here from the owned cell values, reduced over all
ranks, so the checks do not depend on the diagnostics of the solver.
"""

import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy.special import iv

from solver.simulation import Simulation
from support import make_settings

EPS = np.finfo(float).eps

EIGENVALUES = np.array([1.0, 3.0, 4.0])
"""Eigenvalues of D in the bump tests: positive definite with a simple top eigenvalue."""


def rotation(angle_z: float, angle_x: float) -> np.ndarray:
    """Return the rotation by angle_z about e_3 after the rotation by angle_x about e_1."""
    cz, sz = math.cos(angle_z), math.sin(angle_z)
    cx, sx = math.cos(angle_x), math.sin(angle_x)
    about_z = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return about_z @ about_x


# The eigenvectors of ROTATED_D are the columns of ROTATED_EIGENVECTORS. Unlike e_1, e_2 and
# e_3, none of them lies on a symmetry axis of the icosahedral mesh.
ROTATED_EIGENVECTORS = rotation(0.4, 0.7)
ROTATED_D = ROTATED_EIGENVECTORS @ np.diag(EIGENVALUES) @ ROTATED_EIGENVECTORS.T


def bump_simulation(comm, D: np.ndarray, direction, normalization="softmax", concentration=50.0):
    """Return an ascent simulation on the level-4 sphere started from one narrow bump."""
    settings = make_settings(
        mesh={"level": 4},
        model={"beta": 1.0, "D": D.tolist(), "normalization": normalization},
        initial={"type": "von_mises_fisher", "bumps": [
            {"direction": list(direction), "concentration": concentration, "weight": 1.0}
        ]},
    )
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    return simulation


def mean_direction(comm, simulation) -> np.ndarray:
    """Return the unit vector along int x rho(x) dS over all cells."""
    owned = simulation.num_owned
    weights = simulation.owned_density() * simulation.geometry.cell_sizes[:owned]
    first_moment = comm.allreduce(weights @ simulation.geometry.cell_points[:owned])
    return first_moment / np.linalg.norm(first_moment)


def axis_angle(vector: np.ndarray, axis: np.ndarray) -> float:
    """Return the angle between a unit vector and the line through +-axis, in radians.

    Computed from the orthogonal part, so angles below 1e-8 keep their relative accuracy.
    """
    along = float(vector @ axis)
    across = np.linalg.norm(vector - along * axis)
    return math.atan2(across, abs(along))


def cell_size(comm, simulation) -> float:
    """Return h, the square root of the largest cell area."""
    sizes = simulation.geometry.cell_sizes[: simulation.num_owned]
    return math.sqrt(comm.allreduce(float(sizes.max()) if len(sizes) else 0.0, op=MPI.MAX))


def angles_over_run(comm, simulation, axis, steps, dt=0.1) -> np.ndarray:
    """Step the simulation and return the angles of the mean direction to +-axis.

    The first angle is that of the initial density, and one angle follows each step.
    """
    angles = [axis_angle(mean_direction(comm, simulation), axis)]
    for _ in range(steps):
        simulation.step(dt)
        angles.append(axis_angle(mean_direction(comm, simulation), axis))
    return np.array(angles)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bump_on_symmetry_axis_stays(comm, index):
    # D = diag(1, 3, 4) and a bump at e_k: the mesh is symmetric under the reflections
    # x_i -> -x_i, so only round-off moves the mean direction off e_k. Along the unstable
    # directions round-off grows at most like exp((4 - 1) t) = exp(6) by t = 2. 1e3 eps
    # bounds the round-off of a sum over 5120 cells (about sqrt(5120) = 72 eps when random).
    axis = np.eye(3)[index]
    simulation = bump_simulation(comm, np.diag(EIGENVALUES), axis)
    angles = angles_over_run(comm, simulation, axis, steps=20)
    assert angles.max() < 1e3 * EPS * math.exp(6.0)


def test_bump_on_top_eigenvector_stays(comm):
    # The bump collapses into a cluster of a few cells, whose mean can sit anywhere within
    # about one cell of the eigenvector, so h bounds the drift.
    axis = ROTATED_EIGENVECTORS[:, 2]
    simulation = bump_simulation(comm, ROTATED_D, axis)
    h = cell_size(comm, simulation)
    angles = angles_over_run(comm, simulation, axis, steps=20)
    assert angles.max() < h


@pytest.mark.parametrize("normalization", ["softmax", "none"])
def test_bump_drifts_to_top_eigenvector(comm, normalization):
    # A point mass moves along x' = D x - (x.D x) x, so d|x_3|/dt = |x_3| (4 - x.D x) >= 0
    # and the angle to +-e_3 never increases.
    axis = np.array([0.0, 0.0, 1.0])
    start = np.ones(3) / math.sqrt(3.0)
    simulation = bump_simulation(comm, np.diag(EIGENVALUES), start, normalization, 20.0)
    angles = angles_over_run(comm, simulation, axis, steps=20)
    # NOTE: without normalization the collapsed cluster stops about 2h from e_3 (0.22, 0.11
    # and 0.054 rad on levels 3, 4 and 5). The likely cause is that its drift at its own facets
    # becomes weaker than its attraction toward its own centre there.
    # The mean direction is a normalized sum over cells, so its round-off is a few eps.
    assert np.diff(angles).max() <= 8 * EPS
    assert angles[-1] < angles[0] / 2


def l2_distance_to_uniform(comm, simulation) -> float:
    """Return (int (rho - mean)^2 dS)^(1/2) over all cells."""
    owned = simulation.num_owned
    sizes = simulation.geometry.cell_sizes[:owned]
    density = simulation.owned_density()
    area = comm.allreduce(float(sizes.sum()))
    mean = comm.allreduce(float(density @ sizes)) / area
    return math.sqrt(comm.allreduce(float(((density - mean) ** 2) @ sizes)))


def slowest_descent_rate(normalization: str, beta: float, max_degree: int) -> float:
    """Return the least negative linear rate of degrees 1 to max_degree for descent, D = I."""
    rates = []
    for l in range(1, max_degree + 1):  # noqa: E741
        unnormalized = l * (l + 1) * math.sqrt(math.pi / (2 * beta)) * iv(l + 0.5, beta) / beta
        uniform_z = math.sqrt(math.pi / (2 * beta)) * iv(0.5, beta)
        rate = unnormalized / uniform_z if normalization == "softmax" else unnormalized
        rates.append(-rate)
    return max(rates)


@pytest.mark.parametrize("normalization, end_time", [("softmax", 6.0), ("none", 2.0)])
def test_descent_returns_to_uniform(comm, normalization, end_time):
    beta, degree, steps = 3.0, 3, 30
    settings = make_settings(
        mesh={"level": 4},
        model={"beta": beta, "normalization": normalization, "direction": "descent"},
        initial={"perturbation": {"kind": "random", "amplitude": 0.1, "degree": degree,
                                  "seed": 2}},
    )
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    distances = [l2_distance_to_uniform(comm, simulation)]
    for _ in range(steps):
        simulation.step(end_time / steps)
        distances.append(l2_distance_to_uniform(comm, simulation))
    distances = np.array(distances)

    assert np.all(np.diff(distances) < 0.0)
    # Every mode of degree 1 to 3 decays at least at the slowest linear rate. The explicit
    # velocity decays a mode by 1 + gamma dt <= exp(gamma dt) per step, and upwinding damps
    # it further, so the discrete decay is at least as fast.
    bound = math.exp(slowest_descent_rate(normalization, beta, degree) * end_time)
    assert distances[-1] < bound * distances[0]
