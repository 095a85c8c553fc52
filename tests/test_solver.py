"""Properties of the discrete solver on S^2: mass, positivity, energy, stationarity."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.special import i0

from solver.diagnostics import total
from solver.simulation import Simulation
from support import make_settings

EPS = np.finfo(float).eps


def run_steps(simulation, dt, steps):
    """Advance a simulation; return the diagnostics of every state, the initial one first."""
    rows = [simulation.diagnostics()]
    for _ in range(steps):
        simulation.step(dt)
        rows.append(simulation.diagnostics())
    return rows


def perturbed_simulation(comm, **sections):
    settings = make_settings(
        mesh={"level": 3},
        initial={"perturbation": {"kind": "random", "amplitude": 0.3, "degree": 3, "seed": 4}},
        **sections,
    )
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    return simulation


def test_mass_conserved_over_run(comm):
    simulation = perturbed_simulation(comm, model={"beta": 3.0})
    rows = run_steps(simulation, dt=0.5, steps=20)
    masses = np.array([row["mass"] for row in rows])
    assert abs(masses[0] - 1.0) < 1e-13
    # Each step changes the mass by round-off only: a few eps per step.
    assert np.abs(masses - masses[0]).max() < 1e-12


def test_density_stays_nonnegative_for_huge_dt(comm):
    simulation = perturbed_simulation(comm, model={"beta": 5.0})
    rows = run_steps(simulation, dt=1e4, steps=3)
    assert min(row["min_density"] for row in rows) >= 0.0


def test_transport_matrix_is_m_matrix(comm):
    simulation = perturbed_simulation(comm, model={"beta": 2.0})
    transport = simulation.transport
    transport.set_velocity(simulation.velocity_at_facets())
    simulation.step(0.1)
    matrix = transport.matrix
    start, end = matrix.getOwnershipRange()
    off_diagonal_max = -np.inf
    diagonal_min = np.inf
    for row in range(start, end):
        columns, values = matrix.getRow(row)
        diagonal_min = min(diagonal_min, values[columns == row][0])
        if np.any(columns != row):
            off_diagonal_max = max(off_diagonal_max, values[columns != row].max())
    assert comm.allreduce(diagonal_min, op=MPI.MIN) > 0.0
    assert comm.allreduce(off_diagonal_max, op=MPI.MAX) <= 0.0


def test_energy_never_decreases_in_ascent(comm):
    simulation = perturbed_simulation(comm, model={"beta": 2.0})
    rows = run_steps(simulation, dt=0.25, steps=30)
    energies = np.array([row["energy"] for row in rows])
    increments = np.diff(energies)
    # Round-off in E is a few eps times E; anything below that is no decrease.
    assert increments.min() >= -8 * EPS * energies.max()
    assert energies[-1] > energies[0]


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_uniform_energy_converges(comm, beta):
    exact = np.sinh(beta) / (2 * beta**2)
    errors = []
    for level in range(1, 5):
        simulation = Simulation(make_settings(mesh={"level": level}, model={"beta": beta}), comm)
        simulation.set_initial_density()
        errors.append(abs(simulation.energy() - exact))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    # Second order (4x per level) at least; the symmetric icosahedral mesh gives
    # fourth order (about 16x) for this smooth integrand.
    assert np.all(ratios > 3.5), ratios
    assert errors[-1] < 1e-5 * exact


def max_velocity(comm, simulation):
    speeds = np.linalg.norm(simulation.velocity_at_facets(), axis=1)
    return comm.allreduce(float(speeds.max()) if len(speeds) else 0.0, op=MPI.MAX)


def test_uniform_velocity_vanishes_under_refinement(comm):
    # On S^2 no triangulation is symmetric about every edge midpoint, so the
    # discrete velocity of the uniform density is a quadrature error, O(h^2).
    speeds = []
    for level in range(2, 5):
        simulation = Simulation(make_settings(mesh={"level": level}), comm)
        simulation.set_initial_density()
        speeds.append(max_velocity(comm, simulation))
    ratios = np.array(speeds[:-1]) / np.array(speeds[1:])
    assert np.all(ratios > 3.5), ratios


@pytest.mark.parametrize("segments", [16, 101])
def test_uniform_velocity_zero_on_circle(comm, segments):
    # Equal segments are symmetric about every vertex: the velocity is round-off.
    simulation = Simulation(make_settings(mesh={"sphere": "S1", "segments": segments},
                                          model={"beta": 3.0}), comm)
    simulation.set_initial_density()
    assert max_velocity(comm, simulation) < 100 * EPS


def test_uniform_energy_exact_on_circle(comm):
    beta = 2.0
    simulation = Simulation(make_settings(mesh={"sphere": "S1", "segments": 64},
                                          model={"beta": beta}), comm)
    simulation.set_initial_density()
    # The equispaced rule is spectrally accurate for the periodic integrand.
    assert abs(simulation.energy() - i0(beta) / (2 * beta)) < 1e-13


def test_stationary_uniform_stays_uniform_on_circle(comm):
    simulation = Simulation(make_settings(mesh={"sphere": "S1", "segments": 40}), comm)
    simulation.set_initial_density()
    initial = simulation.owned_density().copy()
    run_steps(simulation, dt=0.5, steps=5)
    change = np.abs(simulation.owned_density() - initial)
    deviation = comm.allreduce(float(change.max()) if len(change) else 0.0, op=MPI.MAX)
    assert deviation < 1e-13


def test_mass_of_initial_density_is_one(comm):
    simulation = perturbed_simulation(comm)
    sizes = simulation.geometry.cell_sizes[: simulation.num_owned]
    assert abs(total(comm, np.dot(simulation.owned_density(), sizes)) - 1.0) < 1e-14
