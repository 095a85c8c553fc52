"""Results on several ranks equal the serial ones.

Under mpirun every rank also runs the same problem alone on COMM_SELF; the
distributed density, gathered by input cell index, must match it.
"""

import numpy as np
import pytest
from mpi4py import MPI

from solver.simulation import Simulation
from support import gather_by_input_index, make_settings

CASES = {
    "sphere": {"mesh": {"level": 3}, "model": {"beta": 2.0, "D": [1.0, 2.0, 3.0]}},
    "circle": {"mesh": {"sphere": "S1", "segments": 90}, "model": {"beta": 4.0}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_parallel_equals_serial(comm, case):
    settings = make_settings(
        initial={"perturbation": {"kind": "random", "amplitude": 0.5, "seed": 7}}, **CASES[case]
    )
    histories = {}
    for name, communicator in (("parallel", comm), ("serial", MPI.COMM_SELF)):
        simulation = Simulation(settings, communicator)
        simulation.set_initial_density()
        energies = []
        for _ in range(8):
            simulation.step(0.3)
            energies.append(simulation.energy())
        histories[name] = (gather_by_input_index(communicator, simulation), np.array(energies))

    parallel_density, parallel_energy = histories["parallel"]
    serial_density, serial_energy = histories["serial"]
    scale = np.abs(serial_density).max()
    assert np.abs(parallel_density - serial_density).max() <= 1e-10 * scale
    assert np.abs(parallel_energy - serial_energy).max() <= 1e-10 * np.abs(serial_energy).max()
