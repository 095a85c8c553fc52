"""The solver with each interaction method: spectral runs match direct ones."""

import numpy as np
import pytest

from solver.cli import INPUT_ERROR, main
from solver.simulation import Simulation
from support import gather_by_input_index, make_settings

TOLERANCE = 1e-11

CASES = {
    "S2 zonal": {"mesh": {"level": 3}, "model": {"beta": 3.0}},
    "S2 general": {"mesh": {"level": 3},
                   "model": {"beta": 2.0, "A": [[1, 0.5, 0], [0, 1, 0.2], [0.1, 0, -1]],
                             "V": [1.0, 2.0, 0.5]}},
    "S1 descent": {"mesh": {"sphere": "S1", "segments": 200},
                   "model": {"beta": 4.0, "D": [1.0, 1.5], "direction": "descent"}},
}


def evolve(comm, sections, method):
    settings = make_settings(
        interaction={"method": method, "tolerance": TOLERANCE},
        initial={"perturbation": {"kind": "random", "amplitude": 0.5, "seed": 9}},
        **sections,
    )
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    for _ in range(5):
        simulation.step(0.2)
    return simulation


@pytest.mark.parametrize("case", sorted(CASES))
def test_spectral_run_matches_direct(comm, case):
    direct = evolve(comm, CASES[case], "direct")
    spectral = evolve(comm, CASES[case], "spectral")
    assert "spectral" in spectral.interaction.description
    direct_density = gather_by_input_index(comm, direct)
    spectral_density = gather_by_input_index(comm, spectral)
    # Each step perturbs the velocity by about TOLERANCE * exp(2 beta ||A||) relative
    # to its size; five steps of an O(1) map keep the density error of that order.
    beta_norm = spectral.model.beta * np.linalg.norm(spectral.model.A, 2)
    bound = 5 * TOLERANCE * np.exp(2 * beta_norm) * direct_density.max()
    assert np.abs(spectral_density - direct_density).max() < bound


def test_auto_picks_spectral_for_default_size(comm):
    settings = make_settings(mesh={"level": 4}, interaction={"method": "auto"})
    simulation = Simulation(settings, comm)
    assert "spectral" in simulation.interaction.description


def test_auto_falls_back_to_direct(comm):
    settings = make_settings(
        mesh={"level": 2},
        model={"beta": 100.0, "A": [[1, 0.3, 0], [0, 1, 0], [0, 0, 0.5]], "V": "identity"},
        interaction={"method": "auto"},
    )
    simulation = Simulation(settings, comm)
    assert simulation.interaction.description.startswith("interaction: direct")


def test_spectral_too_large_degree_exits_2(comm, shared_tmp_path, capsys):
    config = shared_tmp_path / "hot.yaml"
    if comm.rank == 0:
        config.write_text(
            "mesh: {level: 2}\n"
            "model: {beta: 100.0, A: [[1, 0.3, 0], [0, 1, 0], [0, 0, 0.5]], V: identity}\n"
            "interaction: {method: spectral}\n"
            "time: {dt: 0.1, t_end: 0.2}\n"
        )
    comm.Barrier()
    results = shared_tmp_path / "never"
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert not results.exists()
    if comm.rank == 0:
        message = capsys.readouterr().err
        assert "interaction" in message
        assert "direct" in message
