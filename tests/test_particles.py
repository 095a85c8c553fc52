"""The finite-token system against an exact reduction and the PDE's structure."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.integrate import solve_ivp

from solver.model import AttentionModel
from solver.particles import ParticleSystem

EPS = np.finfo(float).eps


def model(dim, beta=2.0, D=None, normalized=True, sign=1):
    D = np.eye(dim) if D is None else np.asarray(D, dtype=float)
    if D.ndim == 1:
        D = np.diag(D)
    return AttentionModel(beta=beta, A=D, V=D, normalized=normalized, sign=sign)


def my_share(comm, points):
    """Split global tokens over the ranks in contiguous blocks."""
    return np.array_split(points, comm.size)[comm.rank]


def gather(comm, points):
    return np.concatenate(comm.allgather(points))


def test_two_tokens_on_circle_match_reduced_ode(comm):
    # Two tokens at angular distance theta, D = I, softmax ascent. By symmetry each
    # moves toward the other at angular speed exp(b cos t) sin t / (exp(b) + exp(b cos t)),
    # so theta' = -2 exp(b cos t) sin t / (exp(b) + exp(b cos t)).
    beta, theta0, t_end, dt = 2.0, 2.5, 3.0, 0.01
    tokens = np.array([[np.cos(theta0 / 2), np.sin(theta0 / 2)],
                       [np.cos(theta0 / 2), -np.sin(theta0 / 2)]])
    system = ParticleSystem(model(2, beta), my_share(comm, tokens), comm)
    for _ in range(round(t_end / dt)):
        system.step(dt)
    final = gather(comm, system.points)
    theta = np.arccos(np.clip(final[0] @ final[1], -1.0, 1.0))

    def rate(_, angle):
        weight = np.exp(beta * np.cos(angle[0]))
        return [-2.0 * weight * np.sin(angle[0]) / (np.exp(beta) + weight)]

    reference = solve_ivp(rate, (0.0, t_end), [theta0], rtol=1e-12, atol=1e-14).y[0, -1]
    # Runge-Kutta 4 with dt = 0.01 on an O(1) smooth problem: error about dt^4.
    assert abs(theta - reference) < 1e-7


@pytest.mark.parametrize("count", [12, 37])
def test_equispaced_ring_is_stationary(comm, count):
    angles = 2 * np.pi * np.arange(count) / count
    tokens = np.column_stack([np.cos(angles), np.sin(angles)])
    system = ParticleSystem(model(2, beta=3.0), my_share(comm, tokens), comm)
    speeds = np.linalg.norm(system.velocity(system.points), axis=1)
    local = float(speeds.max()) if len(speeds) else 0.0
    assert comm.allreduce(local, op=MPI.MAX) < 100 * EPS


@pytest.mark.parametrize("sign", [1, -1])
def test_energy_monotone_on_sphere(comm, sign):
    rng = np.random.default_rng(5)
    tokens = rng.standard_normal((120, 3))
    system = ParticleSystem(model(3, beta=1.5, D=[1.0, 2.0, 3.0], sign=sign),
                            my_share(comm, tokens), comm)
    energies = [system.energy()]
    for _ in range(20):
        system.step(0.05)
        energies.append(system.energy())
    increments = sign * np.diff(energies)
    assert increments.min() >= -8 * EPS * max(energies)
    assert sign * (energies[-1] - energies[0]) > 0.0


def test_tokens_stay_on_sphere(comm):
    rng = np.random.default_rng(6)
    system = ParticleSystem(model(3, beta=4.0, normalized=False),
                            my_share(comm, rng.standard_normal((50, 3))), comm)
    for _ in range(10):
        system.step(0.02)
    norms = np.linalg.norm(system.points, axis=1)
    assert np.all(np.abs(norms - 1.0) < 4 * EPS)


def test_distributed_equals_serial(comm):
    rng = np.random.default_rng(7)
    tokens = rng.standard_normal((64, 3))
    histories = {}
    for name, communicator in (("parallel", comm), ("serial", MPI.COMM_SELF)):
        share = my_share(communicator, tokens)
        system = ParticleSystem(model(3, beta=2.0, D=[1.0, 0.5, 2.0]), share, communicator)
        for _ in range(5):
            system.step(0.1)
        histories[name] = gather(communicator, system.points)
    assert np.abs(histories["parallel"] - histories["serial"]).max() < 1e-12


def test_spectral_tokens_match_direct(comm):
    rng = np.random.default_rng(8)
    tokens = my_share(comm, rng.standard_normal((300, 3)))
    results = {}
    for method in ("direct", "spectral"):
        system = ParticleSystem(model(3, beta=2.0), tokens, comm, method=method,
                                tolerance=1e-11)
        for _ in range(5):
            system.step(0.1)
        results[method] = gather(comm, system.points)
    # The spectral error bound is 1e-11 * exp(2 beta) per velocity evaluation.
    assert np.abs(results["direct"] - results["spectral"]).max() < 1e-11 * np.exp(4.0) * 20


def test_noise_rejected(comm):
    noisy = AttentionModel(beta=1.0, A=np.eye(3), V=np.eye(3), diffusion=0.1)
    with pytest.raises(ValueError, match="diffusion"):
        ParticleSystem(noisy, np.ones((2, 3)), comm)
